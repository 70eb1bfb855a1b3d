//! `# check=skip=Rule1,Rule2;error=true` (or the `BUILDKIT_DOCKERFILE_CHECK` build arg): which checks run and
//! whether a failed one fails the build, parsed as BuildKit's `ParseLintOptions` does.

use super::CheckWarning;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckConfig {
    /// `skip=all`: no check runs.
    pub skip_all: bool,
    /// `skip=Rule1,Rule2`.
    pub skip: Vec<String>,
    /// `error=true`: a failed check fails the build before any step runs.
    pub error: bool,
}

impl CheckConfig {
    /// Parses the directive's (or build arg's) value; the error says which part is wrong.
    pub fn parse(text: &str) -> Result<CheckConfig, String> {
        let text = text.trim();
        let mut config = CheckConfig::default();
        if text.is_empty() {
            return Ok(config);
        }
        // BuildKit reads at most three `;`-separated options; a fourth stays in the third's value.
        for part in text.splitn(3, ';') {
            let Some((key, value)) = part.split_once('=') else {
                return Err(format!(
                    "invalid check option {part:?}: expected skip=RULE,… / skip=all / error=true|false"
                ));
            };
            let value = value.trim();
            match key.trim() {
                "skip" if value == "all" => config.skip_all = true,
                "skip" => config.skip = value.split(',').map(|r| r.trim().to_string()).collect(),
                // Experimental rules: hoist has none, so there is nothing to enable.
                "experimental" => {}
                "error" => {
                    config.error = parse_go_bool(value).ok_or_else(|| {
                        format!("failed to parse check option {part:?}: error= takes true or false")
                    })?
                }
                other => {
                    return Err(format!(
                        "invalid check option {other:?}: the options are skip=, error= and experimental="
                    ))
                }
            }
        }
        Ok(config)
    }

    /// Whether `rule` runs.
    pub fn runs(&self, rule: &str) -> bool {
        !self.skip_all && !self.skip.iter().any(|s| s == rule)
    }

    /// The warnings of the rules that run.
    pub fn filter(&self, warnings: Vec<CheckWarning>) -> Vec<CheckWarning> {
        warnings
            .into_iter()
            .filter(|w| self.runs(w.rule.name))
            .collect()
    }

    /// With `error=true`, the build's error for these warnings (BuildKit's wording): `None` when the build may go
    /// on.
    pub fn violation(&self, warnings: &[CheckWarning]) -> Option<String> {
        if !self.error || warnings.is_empty() {
            return None;
        }
        let mut names: Vec<&str> = warnings.iter().map(|w| w.rule.name).collect();
        names.sort_unstable();
        names.dedup();
        Some(format!(
            "lint violation found for rules: {}",
            names.join(", ")
        ))
    }
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}
