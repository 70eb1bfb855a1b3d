//! Docker's list output: `--format` (a Go template, `table …` for aligned columns with a header, `json` for one
//! JSON object per line), tab-aligned columns as Docker's `tabwriter` lays them out, and Docker's words for sizes
//! and ages, so scripts written against `docker images` / `docker ps` read hoist's output unchanged.
use anyhow::anyhow;
use serde_json::Value;

use crate::gotemplate::{Missing, Template};

/// How a list is printed: the default table, or what `--format` asked for.
pub struct Listing {
    template: Template,
    /// `table …`: a header row, and columns aligned.
    table: bool,
}

impl Listing {
    /// `format` as the user gave it (`None`: `default_table`, a `table …` template).
    pub fn new(format: Option<&str>, default_table: &str) -> anyhow::Result<Listing> {
        let format = match format {
            None | Some("") | Some("table") => default_table.to_string(),
            Some("json") => "{{json .}}".to_string(),
            Some(f) => f.to_string(),
        };
        let (table, body) = match format.strip_prefix("table") {
            Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => {
                (true, rest.trim_start().to_string())
            }
            _ => (false, format),
        };
        // Docker's formats take `\t` and `\n` written as two characters, as shells pass them.
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        let template =
            Template::parse(&body).map_err(|e| anyhow!("invalid --format template: {e}"))?;
        Ok(Listing { template, table })
    }

    /// The text for `rows` (each a JSON object of the row's fields) under `headers` (field → column title).
    pub fn render(&self, rows: &[Value], headers: &[(&str, &str)]) -> anyhow::Result<String> {
        let mut lines = Vec::with_capacity(rows.len() + 1);
        if self.table {
            let titles: serde_json::Map<String, Value> = headers
                .iter()
                .map(|(field, title)| (field.to_string(), Value::String(title.to_string())))
                .collect();
            lines.push(self.render_one(&Value::Object(titles))?);
        }
        for row in rows {
            lines.push(self.render_one(row)?);
        }
        let mut text = if self.table {
            align(&lines)
        } else {
            lines.iter().map(|l| format!("{l}\n")).collect()
        };
        // A template that prints nothing for a row prints an empty line in Docker too; keep it.
        if text.is_empty() && !rows.is_empty() {
            text.push('\n');
        }
        Ok(text)
    }

    fn render_one(&self, row: &Value) -> anyhow::Result<String> {
        self.template
            .render(row, Missing::Error)
            .map_err(|e| anyhow!("{e}"))
    }
}

/// Columns separated by tabs, aligned as Go's `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)` (Docker's
/// table writer) does: each tab-terminated cell padded to its column's widest cell plus 3, at least 10;
/// the text after a line's last tab is not padded.
pub fn align(lines: &[String]) -> String {
    let split: Vec<Vec<&str>> = lines
        .iter()
        .flat_map(|l| l.split('\n'))
        .map(|l| l.split('\t').collect())
        .collect();
    let mut widths: Vec<usize> = Vec::new();
    for cells in &split {
        for (i, cell) in cells.iter().enumerate().take(cells.len().saturating_sub(1)) {
            let w = cell.chars().count();
            if widths.len() <= i {
                widths.push(0);
            }
            widths[i] = widths[i].max(w);
        }
    }
    let mut out = String::new();
    for cells in &split {
        let last = cells.len().saturating_sub(1);
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let width = (widths[i] + 3).max(10);
                out.push_str(&" ".repeat(width - cell.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

/// Docker's size words (`units.HumanSizeWithPrecision(n, 3)`): `999B`, `1.23kB`, `4.26MB`, `1.5GB`.
pub fn docker_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", go_g3(size), UNITS[unit])
}

/// Go's `%.3g` for 0 ≤ x < 1000: three significant digits, trailing zeros dropped.
fn go_g3(x: f64) -> String {
    let digits_before = if x < 1.0 {
        1
    } else {
        x.log10().floor() as i32 + 1
    };
    let decimals = (3 - digits_before).max(0) as usize;
    let text = format!("{x:.decimals$}");
    // Rounding may carry into a fourth digit (999.5 → "1000"): Go prints `1e+03` there, which Docker never
    // shows because the unit loop divides first; keep the plain number.
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// Docker's words for a duration (`units.HumanDuration`): `Less than a second`, `5 seconds`, `About a minute`,
/// `3 minutes`, `About an hour`, `5 hours`, `3 days`, `2 weeks`, `4 months`, `2 years`.
pub fn human_duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let minutes = seconds / 60;
    // Go rounds hours (`int(d.Hours() + 0.5)`).
    let hours = (seconds as f64 / 3600.0 + 0.5) as i64;
    match () {
        _ if seconds < 1 => "Less than a second".into(),
        _ if seconds == 1 => "1 second".into(),
        _ if seconds < 60 => format!("{seconds} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", seconds / 3600 / 24 / 365),
    }
}

/// `human_duration` of the time since an RFC 3339 timestamp, with ` ago`; `N/A` when there is none.
pub fn since(timestamp: Option<&str>) -> String {
    match timestamp.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()) {
        Some(when) => format!(
            "{} ago",
            human_duration((chrono::Utc::now() - when.with_timezone(&chrono::Utc)).num_seconds())
        ),
        None => "N/A".into(),
    }
}

/// Go's `time.Time.String()` in UTC as Docker prints `CreatedAt`: `2024-01-02 15:04:05 +0000 UTC`.
pub fn created_at(timestamp: Option<&str>) -> String {
    timestamp
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S +0000 UTC")
                .to_string()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_dockers_words() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(59), "59 seconds");
        assert_eq!(human_duration(60), "About a minute");
        assert_eq!(human_duration(119), "About a minute");
        assert_eq!(human_duration(120), "2 minutes");
        assert_eq!(human_duration(3599), "59 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(5400), "2 hours");
        assert_eq!(human_duration(47 * 3600), "47 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(15 * 86400), "2 weeks");
        assert_eq!(human_duration(90 * 86400), "3 months");
        assert_eq!(human_duration(800 * 86400), "2 years");
    }

    #[test]
    fn sizes_in_dockers_words() {
        assert_eq!(docker_size(0), "0B");
        assert_eq!(docker_size(999), "999B");
        assert_eq!(docker_size(1234), "1.23kB");
        assert_eq!(docker_size(4_261_552), "4.26MB");
        assert_eq!(docker_size(1_500_000_000), "1.5GB");
        assert_eq!(docker_size(12_000), "12kB");
        assert_eq!(docker_size(123_456_789), "123MB");
    }

    #[test]
    fn tables_align_as_tabwriter() {
        let text = align(&["A\tBB\tC".to_string(), "LONGER-THAN-TEN\tx\ty".to_string()]);
        assert_eq!(
            text,
            "A                 BB        C\nLONGER-THAN-TEN   x         y\n"
        );
    }

    #[test]
    fn formats() {
        let rows = vec![serde_json::json!({"ID": "abc", "Tag": "v1"})];
        let headers = [("ID", "IMAGE ID"), ("Tag", "TAG")];
        let table = Listing::new(None, "table {{.ID}}\\t{{.Tag}}").unwrap();
        assert_eq!(
            table.render(&rows, &headers).unwrap(),
            "IMAGE ID   TAG\nabc        v1\n"
        );
        let plain = Listing::new(Some("{{.ID}}:{{.Tag}}"), "table {{.ID}}").unwrap();
        assert_eq!(plain.render(&rows, &headers).unwrap(), "abc:v1\n");
        let json = Listing::new(Some("json"), "table {{.ID}}").unwrap();
        assert_eq!(
            json.render(&rows, &headers).unwrap(),
            "{\"ID\":\"abc\",\"Tag\":\"v1\"}\n"
        );
        let bad = Listing::new(Some("{{.Nope}}"), "table {{.ID}}").unwrap();
        assert!(bad.render(&rows, &headers).is_err());
        assert!(Listing::new(Some("{{.ID"), "").is_err());
    }
}
