//! The pieces of Go's `path/filepath` that `.dockerignore` semantics are defined by: lexical
//! `Clean`, `Dir`, and the syntax check of `Match` patterns.

/// Go's `filepath.Clean` for `/`-separated paths.
pub(super) fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Go's `filepath.Dir`: everything before the last `/`, cleaned.
pub(super) fn dir(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => clean(&path[..=i]),
        None => ".".to_string(),
    }
}

/// Checks `pattern` the way Go's `filepath.Match` does (bad character classes, a trailing `\`).
pub(super) fn validate_match_pattern(pattern: &str) -> Result<(), String> {
    let bad = |why: &str| format!("syntax error in pattern {pattern:?}: {why}");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if i + 1 >= chars.len() {
                    return Err(bad("trailing \\ escapes nothing"));
                }
                i += 2;
            }
            '[' => {
                i += 1;
                if chars.get(i) == Some(&'^') {
                    i += 1;
                }
                let mut ranges = 0;
                loop {
                    if chars.get(i) == Some(&']') && ranges > 0 {
                        i += 1;
                        break;
                    }
                    i = class_char(&chars, i).ok_or_else(|| bad("malformed character class"))?;
                    if chars.get(i) == Some(&'-') {
                        i = class_char(&chars, i + 1)
                            .ok_or_else(|| bad("malformed character range"))?;
                    }
                    ranges += 1;
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// One possibly escaped character inside `[...]`; returns the index after it, or `None` when the
/// class is malformed there (unescaped `-` or `]`, the end of the pattern, or nothing after it).
fn class_char(chars: &[char], mut i: usize) -> Option<usize> {
    match chars.get(i)? {
        '-' | ']' => return None,
        '\\' => i += 1,
        _ => {}
    }
    chars.get(i)?;
    i += 1;
    // Go requires something (at least the closing `]`) after a class character.
    if i >= chars.len() {
        return None;
    }
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_like_go() {
        assert_eq!(clean("./a//b/../c/"), "a/c");
        assert_eq!(clean("/../a"), "/a");
        assert_eq!(clean("../a"), "../a");
        assert_eq!(clean(""), ".");
        assert_eq!(clean("**/"), "**");
    }

    #[test]
    fn dir_like_go() {
        assert_eq!(dir("a/b/c"), "a/b");
        assert_eq!(dir("a/b/"), "a/b");
        assert_eq!(dir("a"), ".");
        assert_eq!(dir("/a"), "/");
    }

    #[test]
    fn validates_patterns() {
        for ok in ["a[b-d]e", "[\\]a]", "[\\-x]", "a\\*b", "*.go", "[^a]"] {
            assert!(validate_match_pattern(ok).is_ok(), "{ok}");
        }
        for bad in [
            "[", "[^", "[^bc", "a[", "[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]",
        ] {
            assert!(validate_match_pattern(bad).is_err(), "{bad}");
        }
    }
}
