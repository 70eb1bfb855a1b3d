//! Build checks (BuildKit's Dockerfile linter): run before the first step of a build, or alone for
//! `hoist build --check`.
//!
//! The checks that need only the AST are the parser's ([`hoist_parser::lint`]); the ones that need what the
//! solver knows — the ARG/ENV scope of each instruction, the `.dockerignore`, a base image's config — are in
//! [`scope_walk`]. The `# check=` directive, or the `BUILDKIT_DOCKERFILE_CHECK` build arg (which wins, as in
//! BuildKit), says which run and whether a warning fails the build.
mod scope_walk;

use std::collections::BTreeSet;
use std::sync::Arc;

use hoist_parser::lint::{self, CheckConfig, CheckWarning};

use crate::error::{BuildError, Result};
use crate::stage::Build;

/// The build arg that overrides the Dockerfile's `# check=` directive.
pub const CHECK_BUILD_ARG: &str = "BUILDKIT_DOCKERFILE_CHECK";

/// What the checks found.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// In line order; the skipped rules' already left out.
    pub warnings: Vec<CheckWarning>,
    pub config: CheckConfig,
    /// The Dockerfile's name (for `Dockerfile:LINE`) and text (for the excerpts).
    pub file_name: String,
    pub text: String,
}

impl CheckReport {
    /// With `error=true` and a warning: the error that fails the build.
    pub fn violation(&self) -> Option<String> {
        self.config.violation(&self.warnings)
    }
}

/// Called once the checks of a build have run, before its first step (`hoist build` prints the warnings after
/// the build; they are handed over here so that a failed build shows them too).
#[derive(Clone)]
pub struct ChecksSink(pub Arc<dyn Fn(&CheckReport) + Send + Sync>);

impl std::fmt::Debug for ChecksSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChecksSink")
    }
}

impl Build<'_> {
    /// Runs the checks on the stages the build needs (`all_stages`: every stage, as `--check` without `--target`).
    pub(crate) fn checks(&self, all_stages: bool) -> Result<CheckReport> {
        let config = self.check_config()?;
        let stages: BTreeSet<usize> = if all_stages {
            (0..self.dockerfile.stages.len()).collect()
        } else {
            self.needed_stages(self.target_index()?)?
        };
        let mut warnings = Vec::new();
        if !config.skip_all {
            let platform_args = crate::args::platform_args();
            let built = |i: usize| stages.contains(&i);
            warnings = lint::check(&lint::Input {
                dockerfile: &self.dockerfile,
                parse_warnings: &self.parse_warnings,
                platform_args: &platform_args,
                built: &built,
            });
            warnings.extend(scope_walk::check(self, &stages));
        }
        // Not deduplicated: BuildKit reports a variable once per word that uses it (`ENV A=$X B=$X`: twice).
        let mut warnings = config.filter(warnings);
        warnings.sort_by_key(|w| w.line);
        Ok(CheckReport {
            warnings,
            config,
            file_name: self.file_name.clone(),
            text: self.dockerfile_text.clone(),
        })
    }

    /// The build arg's configuration when given, else the directive's.
    fn check_config(&self) -> Result<CheckConfig> {
        let (source, text) = match self.build_args.take(CHECK_BUILD_ARG) {
            Some(value) => (format!("--build-arg {CHECK_BUILD_ARG}="), value),
            None => match &self.dockerfile.directives.check {
                Some(value) => (format!("{}: # check=", self.file_name), value.clone()),
                None => return Ok(CheckConfig::default()),
            },
        };
        CheckConfig::parse(&text).map_err(|e| {
            BuildError::other(format!(
                "failed to parse check options ({source}{text}): {e}"
            ))
        })
    }
}
