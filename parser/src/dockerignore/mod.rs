//! `.dockerignore`: reading the file into patterns, and matching context paths against them with
//! moby/patternmatcher semantics (`*`, `?`, `[...]`, `**`, `\` escapes; the last matching pattern
//! wins, `!` re-includes; a path is excluded when it or one of its parent directories is).

mod gopath;

use regex::Regex;
use std::path::{Path, PathBuf};

/// Reads `.dockerignore` text into patterns: `#` comment lines and blank lines dropped, surrounding
/// whitespace trimmed, paths cleaned (`./a/../b` → `b`), a leading `/` removed (patterns are
/// relative to the context), a leading `!` kept.
pub fn read_patterns(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut patterns = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut cleaned = String::new();
        if !pattern.is_empty() {
            cleaned = gopath::clean(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
        }
        patterns.push(if invert {
            format!("!{cleaned}")
        } else {
            cleaned
        });
    }
    patterns
}

/// Where the ignore file for a build is: `<Dockerfile>.dockerignore` next to the Dockerfile wins
/// over `.dockerignore` at the root of the context. `None` when neither exists.
pub fn find_ignore_file(context_dir: &Path, dockerfile: &Path) -> Option<PathBuf> {
    if let Some(name) = dockerfile.file_name() {
        let mut specific = name.to_os_string();
        specific.push(".dockerignore");
        let candidate = dockerfile.with_file_name(specific);
        if candidate.is_file() {
            return Some(candidate);
        }
    }
    let default = context_dir.join(".dockerignore");
    default.is_file().then_some(default)
}

/// A pattern that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid .dockerignore pattern {pattern:?}: {reason}")]
pub struct PatternError {
    pub pattern: String,
    pub reason: String,
}

/// How one pattern is matched (cheap string tests where the pattern allows it).
#[derive(Debug, Clone)]
enum Rule {
    Exact,
    /// `dir/**`: a prefix test on everything before the `**`.
    Prefix,
    /// `**/name` or `**name`: a suffix test.
    Suffix,
    Regex(Regex),
}

#[derive(Debug, Clone)]
struct Pattern {
    /// The cleaned pattern without its `!`.
    text: String,
    exclusion: bool,
    rule: Rule,
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.rule {
            Rule::Exact => path == self.text,
            Rule::Prefix => path.starts_with(&self.text[..self.text.len() - 2]),
            Rule::Suffix => {
                let suffix = &self.text[2..];
                path.ends_with(suffix) || (suffix.starts_with('/') && path == &suffix[1..])
            }
            Rule::Regex(re) => re.is_match(path),
        }
    }
}

/// Translates a cleaned pattern into its rule, as patternmatcher compiles it.
fn compile(pattern: &str) -> Result<Rule, String> {
    #[derive(PartialEq)]
    enum Kind {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let mut re = String::from("^");
    let mut kind = Kind::Exact;
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut index = 0; // how many tokens came before this one
    let mut in_class = false;
    while i < chars.len() {
        let first = index == 0;
        index += 1;
        let ch = chars[i];
        i += 1;
        match ch {
            // Wildcards mean themselves inside a class, as in Go's filepath.Match.
            '*' | '?' if in_class => {
                re.push('\\');
                re.push(ch);
            }
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                // `**/` is the same as `**`.
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    // A trailing `**` matches everything below, like .gitignore.
                    if kind == Kind::Exact {
                        kind = Kind::Prefix;
                    } else {
                        re.push_str(".*");
                        kind = Kind::Regex;
                    }
                } else {
                    re.push_str("(.*/)?");
                    kind = Kind::Regex;
                }
                if first {
                    kind = Kind::Suffix;
                }
            }
            '*' => {
                re.push_str("[^/]*");
                kind = Kind::Regex;
            }
            '?' => {
                re.push_str("[^/]");
                kind = Kind::Regex;
            }
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' => {
                re.push('\\');
                re.push(ch);
            }
            '\\' => match chars.get(i) {
                Some(&next) => {
                    i += 1;
                    re.push('\\');
                    re.push(next);
                    kind = Kind::Regex;
                }
                None => re.push_str("\\\\"),
            },
            // Inside a class `[` is literal (Go), but would open a nested class for the regex
            // engine; `&&` and `~~` would be set operations.
            '[' | '&' | '~' if in_class => {
                re.push('\\');
                re.push(ch);
            }
            '[' | ']' => {
                in_class = ch == '[';
                re.push(ch);
                if in_class && chars.get(i) == Some(&'^') {
                    re.push('^');
                    i += 1;
                }
                kind = Kind::Regex;
            }
            _ => re.push(ch),
        }
    }
    Ok(match kind {
        Kind::Exact => Rule::Exact,
        Kind::Prefix => Rule::Prefix,
        Kind::Suffix => Rule::Suffix,
        Kind::Regex => {
            re.push('$');
            Rule::Regex(Regex::new(&re).map_err(|e| e.to_string())?)
        }
    })
}

/// A compiled pattern list.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    patterns: Vec<Pattern>,
}

impl Matcher {
    /// Compiles patterns (as [`read_patterns`] returns them, or given directly); empty ones are
    /// skipped, each is cleaned (`./a/` → `a`, leading `/` dropped). A lone `!` and malformed
    /// character classes are errors.
    pub fn new(patterns: &[String]) -> Result<Matcher, PatternError> {
        let mut compiled = Vec::with_capacity(patterns.len());
        for original in patterns {
            let fail = |reason: String| PatternError {
                pattern: original.clone(),
                reason,
            };
            let trimmed = original.trim();
            if trimmed.is_empty() {
                continue;
            }
            let mut text = gopath::clean(trimmed);
            let exclusion = text.starts_with('!');
            if exclusion {
                if text.len() == 1 {
                    return Err(fail(
                        "\"!\" alone excludes nothing: write !<path> to re-include a path".into(),
                    ));
                }
                text.remove(0);
            }
            // Patterns are relative to the context root; read_patterns already strips a leading
            // `/`, this does the same for patterns given directly.
            if text.len() > 1 && text.starts_with('/') {
                text.remove(0);
            }
            gopath::validate_match_pattern(&text).map_err(fail)?;
            let rule = compile(&text).map_err(fail)?;
            compiled.push(Pattern {
                text,
                exclusion,
                rule,
            });
        }
        Ok(Matcher { patterns: compiled })
    }

    /// Whether `rel_path` (relative to the context, `/`-separated) or one of its parent
    /// directories is excluded: patterns apply in order, the last one that matches decides.
    pub fn excluded(&self, rel_path: &str) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        let parent = gopath::dir(rel_path);
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut matched = false;
        for pattern in &self.patterns {
            // An include pattern cannot change an excluded path, nor an exclusion an included one.
            if pattern.exclusion != matched {
                continue;
            }
            let mut hit = pattern.matches(rel_path);
            if !hit && parent != "." {
                hit = (1..=parent_dirs.len()).any(|n| pattern.matches(&parent_dirs[..n].join("/")));
            }
            if hit {
                matched = !pattern.exclusion;
            }
        }
        matched
    }

    /// Whether a `!` pattern could re-include something below the directory `dir_rel`, so a
    /// walker must descend into it even though the directory itself is excluded. Conservative:
    /// it may say yes when nothing below ends up included, never no when something would.
    pub fn may_reinclude_under(&self, dir_rel: &str) -> bool {
        let dir = gopath::clean(dir_rel);
        let dir_parts: Vec<&str> = if dir == "." {
            Vec::new()
        } else {
            dir.split('/').collect()
        };
        self.patterns
            .iter()
            .filter(|p| p.exclusion)
            .any(|p| pattern_reaches_below(&p.text, &dir_parts))
    }

    /// Whether a pattern leaves out every entry of the context root (`*`, `**`, `**/*`), so that even
    /// `COPY . /dst` copies what is re-included only.
    pub fn ignores_everything(&self) -> bool {
        self.patterns
            .iter()
            .any(|p| !p.exclusion && matches!(p.text.as_str(), "*" | "**" | "**/*"))
    }

    /// Whether any `!` pattern is present.
    pub fn has_exclusions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }
}

/// Whether `pattern` can match a path strictly below the directory whose components are `dir`.
fn pattern_reaches_below(pattern: &str, dir: &[&str]) -> bool {
    let parts: Vec<&str> = pattern.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        if part.contains("**") {
            return true;
        }
        let Some(dir_part) = dir.get(i) else {
            // The pattern goes deeper than the directory: it names something below it.
            return true;
        };
        if !component_may_match(part, dir_part) {
            return false;
        }
    }
    // The pattern matches the directory itself or one of its parents: that re-includes everything below.
    true
}

/// Whether one pattern component matches one path component (a wildcard-only regex test; classes
/// and escapes are treated as "may match").
fn component_may_match(part: &str, name: &str) -> bool {
    if part.contains(['[', '\\']) {
        return true;
    }
    let mut re = String::from("^");
    for ch in part.chars() {
        match ch {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    Regex::new(&re).map(|r| r.is_match(name)).unwrap_or(true)
}

#[cfg(test)]
mod tests;
