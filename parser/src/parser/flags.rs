//! Splits leading `--flag[=value]` words off an instruction's arguments. Quotes in a flag word are
//! removed and `\` escapes the next character; `--` on its own ends the flags. The first word that
//! does not start with `--` begins the arguments.

#[derive(PartialEq, Clone, Copy)]
enum Phase {
    Spaces,
    Word,
    Quote(char),
}

/// Returns the remaining argument text and the flag words.
pub(super) fn extract_builder_flags(line: &str) -> (String, Vec<String>) {
    let chars: Vec<char> = line.chars().collect();
    let mut flags = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut blank_ok = false;
    let rest_from = |i: usize| chars[i..].iter().collect::<String>();

    let mut pos = 0;
    while pos <= chars.len() {
        let at_end = pos == chars.len();
        let ch = if at_end { '\0' } else { chars[pos] };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            if ch != '-' || chars.get(pos + 1) != Some(&'-') {
                return (rest_from(pos), flags);
            }
            phase = Phase::Word;
        }
        if at_end {
            if word != "--" && (blank_ok || !word.is_empty()) {
                flags.push(word);
            }
            break;
        }
        match phase {
            Phase::Word => {
                if ch.is_whitespace() {
                    phase = Phase::Spaces;
                    if word == "--" {
                        return (rest_from(pos), flags);
                    }
                    if blank_ok || !word.is_empty() {
                        flags.push(std::mem::take(&mut word));
                    }
                    word.clear();
                    blank_ok = false;
                } else if ch == '\'' || ch == '"' {
                    phase = Phase::Quote(ch);
                    blank_ok = true;
                } else if ch == '\\' {
                    if pos + 1 < chars.len() {
                        pos += 1;
                        word.push(chars[pos]);
                    }
                } else {
                    word.push(ch);
                }
            }
            Phase::Quote(quote) => {
                if ch == quote {
                    phase = Phase::Word;
                } else if ch == '\\' {
                    if pos + 1 < chars.len() {
                        pos += 1;
                        word.push(chars[pos]);
                    } else {
                        phase = Phase::Word;
                    }
                } else {
                    word.push(ch);
                }
            }
            Phase::Spaces => {}
        }
        pos += 1;
    }
    (String::new(), flags)
}

#[cfg(test)]
mod tests {
    use super::extract_builder_flags as x;

    fn flags(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn no_flags() {
        assert_eq!(x("foo /tmp/"), ("foo /tmp/".to_string(), vec![]));
        assert_eq!(x("-x foo"), ("-x foo".to_string(), vec![]));
    }

    #[test]
    fn flags_then_args() {
        assert_eq!(
            x("--from=a --chown=1:1 src dst"),
            ("src dst".to_string(), flags(&["--from=a", "--chown=1:1"]))
        );
    }

    #[test]
    fn double_dash_ends_flags() {
        assert_eq!(
            x("--a=1 -- --b x"),
            (" --b x".to_string(), flags(&["--a=1"]))
        );
        assert_eq!(x("-- foo"), (" foo".to_string(), vec![]));
    }

    #[test]
    fn quotes_and_escapes_are_removed() {
        assert_eq!(
            x(r#"--label="a b" x"#),
            ("x".to_string(), flags(&["--label=a b"]))
        );
        assert_eq!(x(r"--a=b\ c x"), ("x".to_string(), flags(&["--a=b c"])));
    }

    #[test]
    fn only_flags() {
        assert_eq!(x("--doit"), (String::new(), flags(&["--doit"])));
        assert_eq!(x("--"), (String::new(), vec![]));
    }
}
