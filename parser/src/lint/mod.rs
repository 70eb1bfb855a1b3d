//! Build checks: BuildKit's Dockerfile linter (`docker build --check`), for the rules that need only the AST.
//!
//! The rules that need the build's meaning (UndefinedVar, CopyIgnoredFile, InvalidBaseImagePlatform: the
//! ARG/ENV scope, the `.dockerignore`, a base image's config) live in the solver and report through the same
//! [`CheckWarning`]. Which rules run, and whether a warning fails the build, is the [`CheckConfig`] that the
//! `# check=` directive (or the `BUILDKIT_DOCKERFILE_CHECK` build arg) sets.

mod config;
mod from_line;
mod reference;
pub mod rules;
mod stages;

pub use config::CheckConfig;
pub use rules::Rule;

use crate::ast::Dockerfile;
use crate::parser::Warning;

/// One failed check, at a place in the Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckWarning {
    pub rule: &'static Rule,
    pub message: String,
    /// 1-based line the warning is about (0: the whole file).
    pub line: usize,
}

impl CheckWarning {
    pub fn new(rule: &'static Rule, message: String, line: usize) -> Self {
        CheckWarning {
            rule,
            message,
            line,
        }
    }

    /// buildx's one-line form: `Rule: message (line N)`.
    pub fn short(&self) -> String {
        if self.line > 0 {
            format!("{}: {} (line {})", self.rule.name, self.message, self.line)
        } else {
            format!("{}: {}", self.rule.name, self.message)
        }
    }
}

/// What the AST checks need besides the Dockerfile.
pub struct Input<'a> {
    pub dockerfile: &'a Dockerfile,
    /// The parser's warnings ([`crate::parse_with_warnings`]): empty continuation lines become
    /// NoEmptyContinuation.
    pub parse_warnings: &'a [Warning],
    /// The automatic platform ARGs (`TARGETPLATFORM` …) with this build's values: FROM lines may use them.
    pub platform_args: &'a [(String, String)],
    /// Whether stage `i` is built: BuildKit checks the instructions of the stages it builds only (all of them
    /// with `--check`), and the FROM lines and names of every stage.
    pub built: &'a dyn Fn(usize) -> bool,
}

/// The AST checks, in line order (every rule; [`CheckConfig::filter`] drops the skipped ones).
pub fn check(input: &Input) -> Vec<CheckWarning> {
    let mut out = Vec::new();
    for w in input.parse_warnings {
        if w.message.starts_with("empty continuation line") {
            out.push(CheckWarning::new(
                &rules::NO_EMPTY_CONTINUATION,
                rules::no_empty_continuation(),
                w.line,
            ));
        }
    }
    stages::check(input, &mut out);
    from_line::check(input, &mut out);
    out.sort_by_key(|w| w.line);
    out
}

/// "Did you mean …?": the closest of `candidates` to `word`, when close enough to be a typo.
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    crate::instructions::closest(word, candidates)
}

#[cfg(test)]
mod tests;
