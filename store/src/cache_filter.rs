//! `--filter` and `--keep-storage` values of the `hoist cache` commands, as BuildKit (`buildx prune`/`du`)
//! spells them: `type=…`, `until=24h`, `description=…` (or a bare substring), sizes such as `2GB`.

use std::time::Duration;

use crate::cache_admin::{CacheItem, CacheItemKind};

/// Which cache items a command applies to. Every given condition must hold; several `type=` values are
/// alternatives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheFilter {
    /// Item types, lower case: a BuildKit record type (`regular`, `exec.cachemount`, `source.local`) or a
    /// step kind (`run`, `copy`, `add`, `workdir`).
    pub types: Vec<String>,
    /// Only items last used longer ago than this.
    pub until: Option<Duration>,
    /// Substrings the description must contain (case-insensitive).
    pub description: Vec<String>,
}

/// A `--filter` or size value hoist does not understand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: {expected}")]
pub struct FilterError {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl CacheFilter {
    /// Parse `--filter` values: `type=T`, `until=DURATION`, `description=TEXT`, or `TEXT` (a description
    /// substring).
    pub fn parse<S: AsRef<str>>(filters: &[S]) -> Result<CacheFilter, FilterError> {
        let mut filter = CacheFilter::default();
        for raw in filters {
            let raw = raw.as_ref();
            match raw.split_once('=') {
                Some(("type", t)) => filter.types.push(canonical_type(t).ok_or_else(|| FilterError {
                    what: "filter",
                    value: raw.to_string(),
                    expected: "type= takes regular (or layer), exec.cachemount (or cachemount), \
                               source.local (or context), or a step kind: run, copy, add, workdir",
                })?),
                Some(("until", d)) => {
                    filter.until = Some(parse_duration(d).ok_or_else(|| FilterError {
                        what: "filter",
                        value: raw.to_string(),
                        expected: "until= takes a duration such as 24h, 90m, 1h30m or 30s",
                    })?)
                }
                Some(("description" | "desc", text)) => filter.description.push(text.to_lowercase()),
                Some((key, _)) if key.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_') => {
                    return Err(FilterError {
                        what: "filter",
                        value: raw.to_string(),
                        expected: "filters are type=…, until=…, description=… or a plain description substring",
                    })
                }
                _ => filter.description.push(raw.to_lowercase()),
            }
        }
        Ok(filter)
    }

    /// Whether `item` passes every condition (`now` in Unix seconds).
    pub fn matches(&self, item: &CacheItem, now: i64) -> bool {
        if !self.types.is_empty() && !self.types.iter().any(|t| type_matches(t, &item.kind)) {
            return false;
        }
        if let Some(until) = self.until {
            let age = now.saturating_sub(item.last_used);
            if age < 0 || (age as u64) < until.as_secs() {
                return false;
            }
        }
        let description = item.description.to_lowercase();
        self.description
            .iter()
            .all(|s| description.contains(s.as_str()))
    }
}

fn type_matches(wanted: &str, kind: &CacheItemKind) -> bool {
    match kind {
        CacheItemKind::Step(step) => wanted == "regular" || wanted.eq_ignore_ascii_case(step),
        CacheItemKind::CacheMount => wanted == "exec.cachemount",
        CacheItemKind::ContextChecksums => wanted == "source.local",
    }
}

fn canonical_type(t: &str) -> Option<String> {
    let t = t.trim().to_lowercase();
    let canonical = match t.as_str() {
        "regular" | "layer" | "layers" => "regular",
        "exec.cachemount" | "cachemount" | "cache-mount" | "cachemounts" => "exec.cachemount",
        "source.local" | "context" | "context-checksums" => "source.local",
        "run" | "copy" | "add" | "workdir" => t.as_str(),
        _ => return None,
    };
    Some(canonical.to_string())
}

/// A Go duration (`24h`, `1h30m`, `90s`, `1.5h`); a bare number is seconds. Days are accepted too, as a leading
/// `<N>d` (`2d`, `1d12h`): Go has no day unit, but "keep a week" is what people type.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let (days, rest) = match s.split_once('d') {
        Some((days, rest))
            if !days.is_empty() && days.bytes().all(|b| b.is_ascii_digit() || b == b'.') =>
        {
            let days: f64 = days.parse().ok()?;
            (Duration::try_from_secs_f64(days * 86400.0).ok()?, rest)
        }
        _ => (Duration::ZERO, s),
    };
    let rest = if rest.is_empty() && !days.is_zero() {
        "0"
    } else {
        rest
    };
    days.checked_add(hoist_units::parse_go_duration(rest).ok()?)
}

/// A size as docker's `--keep-storage` takes it: `2GB`, `512m`, `1.5g`, `100MiB`, a bare number of bytes.
/// Units are powers of 1024, as in docker (`units.RAMInBytes`).
pub fn parse_size(s: &str) -> Result<u64, FilterError> {
    let err = || FilterError {
        what: "size",
        value: s.to_string(),
        expected: "expected a number of bytes with an optional unit: 500MB, 2GB, 1.5g, 100MiB",
    };
    let t = s.trim().to_lowercase();
    let number_len = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let number: f64 = t[..number_len].parse().map_err(|_| err())?;
    let unit = t[number_len..].trim();
    let unit = unit.strip_suffix('b').unwrap_or(unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let multiplier: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        _ => return Err(err()),
    };
    Ok((number * multiplier as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(kind: CacheItemKind, description: &str, last_used: i64) -> CacheItem {
        CacheItem {
            id: "x".into(),
            kind,
            description: description.into(),
            size: 0,
            created: last_used,
            last_used,
            used_count: 0,
            shared: false,
            in_image: false,
            layer: None,
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h"), Some(Duration::from_secs(86400)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("45"), Some(Duration::from_secs(45)));
        assert_eq!(parse_duration("2d"), Some(Duration::from_secs(172800)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("3 weeks"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("2GB"), Ok(2 << 30));
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("100MiB"), Ok(100 << 20));
        assert_eq!(parse_size("1.5g"), Ok(3 << 29));
        assert_eq!(parse_size("1234"), Ok(1234));
        assert!(parse_size("2 parsecs").is_err());
        assert!(parse_size("GB").is_err());
    }

    #[test]
    fn filters_combine() {
        let f = CacheFilter::parse(&["type=run", "until=1h", "apt-get"]).unwrap();
        let now = 100_000;
        let old_run = item(
            CacheItemKind::Step("RUN".into()),
            "[2/3] RUN apt-get update",
            now - 7200,
        );
        let new_run = item(
            CacheItemKind::Step("RUN".into()),
            "[2/3] RUN apt-get update",
            now - 60,
        );
        let old_copy = item(
            CacheItemKind::Step("COPY".into()),
            "[3/3] COPY apt-get /x",
            now - 7200,
        );
        let old_other = item(
            CacheItemKind::Step("RUN".into()),
            "[2/3] RUN make",
            now - 7200,
        );
        assert!(f.matches(&old_run, now));
        assert!(!f.matches(&new_run, now));
        assert!(!f.matches(&old_copy, now));
        assert!(!f.matches(&old_other, now));
    }

    #[test]
    fn type_aliases() {
        let f = CacheFilter::parse(&["type=cachemount", "type=layer"]).unwrap();
        assert_eq!(f.types, vec!["exec.cachemount", "regular"]);
        assert!(f.matches(&item(CacheItemKind::CacheMount, "cache mount", 0), 0));
        assert!(f.matches(&item(CacheItemKind::Step("COPY".into()), "COPY", 0), 0));
        assert!(!f.matches(&item(CacheItemKind::ContextChecksums, "context", 0), 0));
    }

    #[test]
    fn bad_filters_say_what_is_accepted() {
        let e = CacheFilter::parse(&["type=blob"]).unwrap_err();
        assert!(e.to_string().contains("type= takes"), "{e}");
        let e = CacheFilter::parse(&["until=soon"]).unwrap_err();
        assert!(e.to_string().contains("duration"), "{e}");
        let e = CacheFilter::parse(&["label=x"]).unwrap_err();
        assert!(e.to_string().contains("filters are"), "{e}");
        // A description may itself contain '=' after a non-key prefix.
        let f = CacheFilter::parse(&["RUN A=1 make"]).unwrap();
        assert_eq!(f.description, vec!["run a=1 make"]);
    }
}
