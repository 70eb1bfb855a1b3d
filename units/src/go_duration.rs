//! Go's `time.ParseDuration` and `Duration.String`.
use std::time::Duration;

/// Why a text is not a Go duration; the messages are Go's (`time: invalid duration "x"`), with a hint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("time: invalid duration {0:?} (write e.g. 30s, 1m30s, 500ms)")]
    Invalid(String),
    #[error("time: missing unit in duration {0:?}")]
    MissingUnit(String),
    #[error("time: unknown unit {unit:?} in duration {text:?}")]
    UnknownUnit { unit: String, text: String },
    #[error("duration {0:?} cannot be negative")]
    Negative(String),
}

/// Parses a Go duration: an optional sign, then one or more `<number><unit>` with units `ns us µs ms s m h`
/// (`1h2m3.5s`, `300ms`), or a bare `0`. Negative durations are refused: none is meaningful where hoist reads
/// one (`-0s` is zero, as in Go).
pub fn parse_go_duration(text: &str) -> Result<Duration, DurationError> {
    let invalid = || DurationError::Invalid(text.to_string());
    let negative = text.starts_with('-');
    let mut rest = text.strip_prefix(['-', '+']).unwrap_or(text);
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut nanos = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(DurationError::MissingUnit(text.to_string())),
            unit => {
                return Err(DurationError::UnknownUnit {
                    unit: unit.to_string(),
                    text: text.to_string(),
                })
            }
        };
        nanos += value * nanos_per_unit;
        rest = &rest[unit_len..];
    }
    if negative && nanos > 0.0 {
        return Err(DurationError::Negative(text.to_string()));
    }
    if !nanos.is_finite() || nanos > u64::MAX as f64 {
        return Err(invalid());
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

/// A duration as Go's `Duration.String` writes it: `1m30s`, `1h0m0s`, `500ms`, `1.5s`, `0s` (what Docker prints
/// in `inspect` and in its health-check timeout message).
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000_000_000 {
        let (value, unit) = if nanos < 1_000 {
            (nanos as f64, "ns")
        } else if nanos < 1_000_000 {
            (nanos as f64 / 1e3, "µs")
        } else {
            (nanos as f64 / 1e6, "ms")
        };
        return format!("{}{unit}", trim_float(value));
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = (nanos / 60_000_000_000) % 60;
    let seconds = (nanos % 60_000_000_000) as f64 / 1e9;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&format!("{}s", trim_float(seconds)));
    out
}

/// `1.500000` → `1.5`, `2.0` → `2`: Go prints the shortest decimal that reads back the same.
fn trim_float(value: f64) -> String {
    let text = format!("{value:.9}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_go_parses() {
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_go_duration("-0s"), Ok(Duration::ZERO));
        assert_eq!(parse_go_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_go_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_go_duration("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_go_duration("10µs"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_go_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(
            parse_go_duration("1h2m3.5s"),
            Ok(Duration::from_millis(3_723_500))
        );
    }

    #[test]
    fn refuses_what_go_refuses() {
        assert!(matches!(
            parse_go_duration(""),
            Err(DurationError::Invalid(_))
        ));
        assert!(matches!(
            parse_go_duration("s"),
            Err(DurationError::Invalid(_))
        ));
        assert!(matches!(
            parse_go_duration(".s"),
            Err(DurationError::Invalid(_))
        ));
        assert!(matches!(
            parse_go_duration("5"),
            Err(DurationError::MissingUnit(_))
        ));
        assert!(matches!(
            parse_go_duration("5d"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_go_duration("-5s"),
            Err(DurationError::Negative(_))
        ));
        assert_eq!(
            parse_go_duration("5x").unwrap_err().to_string(),
            "time: unknown unit \"x\" in duration \"5x\""
        );
    }

    #[test]
    fn formats_as_go_does() {
        assert_eq!(format_go_duration(Duration::ZERO), "0s");
        assert_eq!(format_go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_go_duration(Duration::from_micros(10)), "10µs");
        assert_eq!(format_go_duration(Duration::from_nanos(7)), "7ns");
        assert_eq!(format_go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(format_go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(
            format_go_duration(Duration::from_millis(3_723_500)),
            "1h2m3.5s"
        );
    }

    #[test]
    fn reads_back_what_it_writes() {
        for millis in [1, 250, 1000, 1500, 59_999, 61_000, 3_600_000, 86_400_500] {
            let d = Duration::from_millis(millis);
            assert_eq!(
                parse_go_duration(&format_go_duration(d)),
                Ok(d),
                "{millis} ms"
            );
        }
    }
}
