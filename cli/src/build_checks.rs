//! How `hoist build` shows the build checks' findings, as buildx does: a short list on stderr after a build,
//! and with `--check` (the checks alone, no build) each warning in full on stdout, with the Dockerfile lines
//! around it.
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use hoist_solver::checks::{CheckReport, ChecksSink};

/// Keeps the report the solver hands over before the first step, for printing once the build is over.
#[derive(Clone, Default)]
pub struct Kept(Arc<Mutex<Option<CheckReport>>>);

impl Kept {
    pub fn sink(&self) -> ChecksSink {
        let kept = self.0.clone();
        ChecksSink(Arc::new(move |report: &CheckReport| {
            *kept.lock().unwrap_or_else(|e| e.into_inner()) = Some(report.clone());
        }))
    }

    pub fn take(&self) -> Option<CheckReport> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// buildx's `printWarnings`: after the build's progress, one line each; with `expand` (`--debug`) also each rule's
/// description and link and the Dockerfile lines. Empty when there is nothing to say.
pub fn summary(report: &CheckReport, expand: bool) -> String {
    let mut out = String::new();
    match report.warnings.len() {
        0 => return out,
        1 => out.push_str("\n 1 warning found"),
        n => {
            let _ = write!(out, "\n {n} warnings found");
        }
    }
    if !expand {
        out.push_str(" (use --debug to expand)");
    }
    out.push_str(":\n");
    for w in &report.warnings {
        let _ = writeln!(out, " - {}", w.short());
        if expand {
            let _ = writeln!(out, "{}", w.rule.description);
            if !w.rule.url.is_empty() {
                let _ = writeln!(out, "More info: {}", w.rule.url);
            }
            out.push_str(&excerpt(&report.file_name, &report.text, w.line));
            out.push('\n');
        }
    }
    out
}

/// `--check`'s output (BuildKit's lint result as buildx prints it): the count, then each warning with its rule's
/// link, its message and the Dockerfile lines around it.
pub fn full(report: &CheckReport) -> String {
    let mut out = String::new();
    match report.warnings.len() {
        0 => {
            out.push_str("Check complete, no warnings found.\n");
            return out;
        }
        1 => out.push_str("Check complete, 1 warning has been found!\n"),
        n => {
            let _ = writeln!(out, "Check complete, {n} warnings have been found!");
        }
    }
    for w in &report.warnings {
        let _ = write!(out, "\nWARNING: {}", w.rule.name);
        if !w.rule.url.is_empty() {
            let _ = write!(out, " - {}", w.rule.url);
        }
        let _ = writeln!(out, "\n{}", w.message);
        out.push_str(&excerpt(&report.file_name, &report.text, w.line));
    }
    out
}

/// The lines around `line` with that line marked `>>>`, as BuildKit prints a source location: up to two lines
/// before and after.
fn excerpt(file_name: &str, text: &str, line: usize) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    if line < 1 || line > lines.len() {
        return String::new();
    }
    let first = line.saturating_sub(2).max(1);
    let last = (line + 2).min(lines.len());
    let mut out = format!("{file_name}:{line}\n--------------------\n");
    for n in first..=last {
        let marker = if n == line { ">>>" } else { "   " };
        let _ = writeln!(
            out,
            " {n:>3} | {marker} {}",
            lines[n - 1].trim_end_matches('\r')
        );
    }
    out.push_str("--------------------\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoist_parser::lint::{rules, CheckConfig, CheckWarning};

    fn report(warnings: Vec<CheckWarning>) -> CheckReport {
        CheckReport {
            warnings,
            config: CheckConfig::default(),
            file_name: "Dockerfile".into(),
            text: "FROM busybox\nRUN true\nCMD echo hi\nRUN a\nRUN b\nRUN c\n".into(),
        }
    }

    #[test]
    fn the_summary_lists_each_warning_with_its_line() {
        let w = CheckWarning::new(
            &rules::JSON_ARGS_RECOMMENDED,
            rules::json_args_recommended("CMD"),
            3,
        );
        assert_eq!(
            summary(&report(vec![w.clone()]), false),
            "\n 1 warning found (use --debug to expand):\n - JSONArgsRecommended: JSON arguments \
             recommended for CMD to prevent unintended behavior related to OS signals (line 3)\n"
        );
        assert!(
            summary(&report(vec![w.clone(), w.clone()]), false).starts_with("\n 2 warnings found")
        );
        assert_eq!(summary(&report(Vec::new()), false), "");
        let expanded = summary(&report(vec![w]), true);
        assert!(
            expanded.starts_with(
                "\n 1 warning found:\n - JSONArgsRecommended: JSON arguments recommended for CMD to prevent \
                 unintended behavior related to OS signals (line 3)\nJSON arguments recommended for ENTRYPOINT/CMD \
                 to prevent unintended behavior related to OS signals\nMore info: \
                 https://docs.docker.com/go/dockerfile/rule/json-args-recommended/\nDockerfile:3\n"
            ),
            "{expanded}"
        );
        assert!(expanded.contains("   3 | >>> CMD echo hi\n"), "{expanded}");
    }

    #[test]
    fn the_full_form_marks_the_line_among_its_neighbours() {
        let w = CheckWarning::new(
            &rules::JSON_ARGS_RECOMMENDED,
            rules::json_args_recommended("CMD"),
            3,
        );
        assert_eq!(
            full(&report(vec![w])),
            "Check complete, 1 warning has been found!\n\
             \nWARNING: JSONArgsRecommended - https://docs.docker.com/go/dockerfile/rule/json-args-recommended/\n\
             JSON arguments recommended for CMD to prevent unintended behavior related to OS signals\n\
             Dockerfile:3\n\
             --------------------\n   \
             1 |     FROM busybox\n   \
             2 |     RUN true\n   \
             3 | >>> CMD echo hi\n   \
             4 |     RUN a\n   \
             5 |     RUN b\n\
             --------------------\n"
        );
        assert_eq!(
            full(&report(Vec::new())),
            "Check complete, no warnings found.\n"
        );
    }
}
