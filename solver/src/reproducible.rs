//! `SOURCE_DATE_EPOCH` (BuildKit ≥ 0.11): an image whose timestamps do not depend on when it was built.
//! The config's `created` is the epoch, history entries later than the epoch are clamped to it (earlier ones,
//! a base image's, stay), and layer tar entries get `min(mtime, epoch)` (see `hoist_executor::layer`).
use crate::image::ImageState;

/// The epoch as BuildKit writes it into a config: RFC 3339, UTC, whole seconds.
pub(crate) fn timestamp(epoch: i64) -> String {
    chrono::DateTime::from_timestamp(epoch, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The final image's `created` and history, clamped to `epoch`; returns the config's `created`.
pub(crate) fn clamp(image: &mut ImageState, epoch: i64) -> String {
    let stamp = timestamp(epoch);
    for entry in &mut image.history {
        let later = chrono::DateTime::parse_from_rfc3339(&entry.created)
            .map(|t| t.timestamp() >= epoch)
            .unwrap_or(true);
        if later {
            entry.created = stamp.clone();
        }
    }
    stamp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::HistoryEntry;

    #[test]
    fn history_after_the_epoch_is_clamped() {
        let mut image = ImageState::scratch();
        for created in ["2001-01-01T00:00:00Z", "2030-05-05T10:00:00.123456789Z", ""] {
            image.history.push(HistoryEntry {
                created: created.into(),
                created_by: "x".into(),
                comment: None,
                empty_layer: true,
            });
        }
        let created = clamp(&mut image, 1_700_000_000);
        assert_eq!(created, "2023-11-14T22:13:20Z");
        let got: Vec<&str> = image.history.iter().map(|h| h.created.as_str()).collect();
        assert_eq!(
            got,
            [
                "2001-01-01T00:00:00Z",
                "2023-11-14T22:13:20Z",
                "2023-11-14T22:13:20Z"
            ]
        );
    }
}
