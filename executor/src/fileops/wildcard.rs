//! Wildcard sources (`*`, `?`, `[a-z]`, `[^x]`, `\` escapes), matched like Go's `filepath.Match`:
//! a wildcard never matches `/`, and a leading dot is not special.

use super::error::{CopyError, Result};

/// True when `component` holds an unescaped `*`, `?` or `[`.
pub(crate) fn has_wildcards(component: &str) -> bool {
    let mut chars = component.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// A compiled pattern for one path component.
pub(crate) struct ComponentPattern {
    tokens: Vec<Token>,
}

enum Token {
    Literal(char),
    AnyOne,
    AnySequence,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl ComponentPattern {
    pub(crate) fn compile(pattern: &str, shown: &str) -> Result<Self> {
        let bad = |reason| CopyError::InvalidPattern {
            pattern: shown.to_string(),
            reason,
        };
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' => {
                    // Consecutive stars mean the same as one.
                    if !matches!(tokens.last(), Some(Token::AnySequence)) {
                        tokens.push(Token::AnySequence);
                    }
                    i += 1;
                }
                '?' => {
                    tokens.push(Token::AnyOne);
                    i += 1;
                }
                '\\' => {
                    let c = *chars
                        .get(i + 1)
                        .ok_or_else(|| bad("it ends with a lone backslash"))?;
                    tokens.push(Token::Literal(c));
                    i += 2;
                }
                '[' => {
                    i += 1;
                    let negated = chars.get(i) == Some(&'^');
                    if negated {
                        i += 1;
                    }
                    let mut ranges = Vec::new();
                    loop {
                        let Some(&c) = chars.get(i) else {
                            return Err(bad("a character class '[' is not closed"));
                        };
                        if c == ']' && !ranges.is_empty() {
                            i += 1;
                            break;
                        }
                        let (low, next) =
                            class_char(&chars, i).ok_or_else(|| bad("bad character class"))?;
                        i = next;
                        let mut high = low;
                        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|c| *c != ']')
                        {
                            let (h, next) = class_char(&chars, i + 1)
                                .ok_or_else(|| bad("bad character range"))?;
                            high = h;
                            i = next;
                            if high < low {
                                return Err(bad("a character range is reversed"));
                            }
                        }
                        ranges.push((low, high));
                    }
                    tokens.push(Token::Class { negated, ranges });
                }
                c => {
                    tokens.push(Token::Literal(c));
                    i += 1;
                }
            }
        }
        Ok(ComponentPattern { tokens })
    }

    /// Whether `name` (one path component) matches, with backtracking over `*`.
    pub(crate) fn matches(&self, name: &str) -> bool {
        let s: Vec<char> = name.chars().collect();
        let (mut ti, mut si) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while si < s.len() {
            if let Some(token) = self.tokens.get(ti) {
                let step = match token {
                    Token::AnySequence => {
                        star = Some((ti, si));
                        ti += 1;
                        continue;
                    }
                    Token::AnyOne => true,
                    Token::Literal(c) => *c == s[si],
                    Token::Class { negated, ranges } => {
                        ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&s[si])) != *negated
                    }
                };
                if step {
                    ti += 1;
                    si += 1;
                    continue;
                }
            }
            match star {
                Some((star_ti, star_si)) => {
                    ti = star_ti + 1;
                    si = star_si + 1;
                    star = Some((star_ti, star_si + 1));
                }
                None => return false,
            }
        }
        self.tokens[ti..]
            .iter()
            .all(|t| matches!(t, Token::AnySequence))
    }
}

/// One character of a class, with `\` escapes; returns it and the index after it.
fn class_char(chars: &[char], i: usize) -> Option<(char, usize)> {
    match chars.get(i)? {
        '\\' => chars.get(i + 1).map(|c| (*c, i + 2)),
        c => Some((*c, i + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, name: &str) -> bool {
        ComponentPattern::compile(pattern, pattern)
            .unwrap()
            .matches(name)
    }

    #[test]
    fn go_match_semantics() {
        assert!(m("*.txt", "one.txt"));
        assert!(m("*.txt", ".hidden.txt"));
        assert!(!m("*.txt", "one.md"));
        assert!(m("d?r", "dir"));
        assert!(!m("d?r", "dr"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[^a-c]x", "bx"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "x"));
        assert!(m("*", ""));
        assert!(has_wildcards("a*"));
        assert!(!has_wildcards("a\\*"));
        assert!(ComponentPattern::compile("[abc", "x").is_err());
        assert!(ComponentPattern::compile("[z-a]", "x").is_err());
    }
}
