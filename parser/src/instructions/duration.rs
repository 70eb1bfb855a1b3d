//! Go duration strings (`1m30s`, `500ms`), as HEALTHCHECK's interval flags take them: `hoist-units` reads
//! them for every crate; this gives its error the parser's message form.

use std::time::Duration;

pub(crate) fn parse_go_duration(text: &str) -> Result<Duration, String> {
    hoist_units::parse_go_duration(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_durations() {
        for bad in ["", "5", "s", "5x", "-1s", "1s2"] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_go_duration("1m30s"), Ok(Duration::from_secs(90)));
    }
}
