//! Per-instruction argument shapes: which instructions take JSON-or-shell form, which take
//! whitespace lists, `KEY=value` pairs, a single string, or a nested instruction.

use super::flags::extract_builder_flags;
use super::json::{parse_json, JsonArgs};
use super::{Arg, Node};
use nom::bytes::complete::{take_till1, take_while1};
use nom::combinator::rest;
use nom::sequence::separated_pair;
use nom::{IResult, Parser};

/// Argument separators inside a line: Go's `[\t\v\f\r ]+`.
fn is_separator(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Splits off the first whitespace-separated word: `(word, rest)`; `rest` is `None` without a separator.
fn split_first_word(text: &str) -> (&str, Option<&str>) {
    let parsed: IResult<&str, (&str, &str)> =
        separated_pair(take_till1(is_separator), take_while1(is_separator), rest).parse(text);
    match parsed {
        Ok((_, (word, rest))) => (word, Some(rest)),
        Err(_) => (text, None),
    }
}

fn split_whitespace_list(text: &str) -> Vec<String> {
    text.split(is_separator)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Builds the node for one joined instruction line.
pub(super) fn node_from_line(line: &str, escape: char) -> Result<Node, String> {
    node_at_depth(line, escape, 0)
}

/// `ONBUILD ONBUILD …` nests; bounded so hostile input cannot exhaust the stack.
const MAX_ONBUILD_NESTING: usize = 16;

fn node_at_depth(line: &str, escape: char, depth: usize) -> Result<Node, String> {
    let (keyword, rest) = split_first_word(line.trim());
    let (args_text, flags) = match rest {
        Some(rest) => extract_builder_flags(rest),
        None => (String::new(), Vec::new()),
    };
    let args_text = args_text.trim();
    let (args, json) = match keyword.to_ascii_lowercase().as_str() {
        "add" | "copy" | "volume" => maybe_json_to_list(args_text)?,
        "cmd" | "entrypoint" | "run" | "shell" => maybe_json(args_text)?,
        "arg" => (values(parse_words(args_text, escape)), false),
        "env" => (name_values(args_text, "ENV", escape)?, false),
        "label" => (name_values(args_text, "LABEL", escape)?, false),
        "expose" | "from" => (values(split_whitespace_list(args_text)), false),
        "healthcheck" => health_config(args_text)?,
        "maintainer" | "stopsignal" | "user" | "workdir" => (single(args_text), false),
        "onbuild" => {
            if args_text.is_empty() {
                (Vec::new(), false)
            } else if depth >= MAX_ONBUILD_NESTING {
                return Err(format!(
                    "ONBUILD nested more than {MAX_ONBUILD_NESTING} deep"
                ));
            } else {
                (
                    vec![Arg::Sub(Box::new(node_at_depth(
                        args_text,
                        escape,
                        depth + 1,
                    )?))],
                    false,
                )
            }
        }
        // Unknown instructions keep an empty argument; the instruction layer rejects them.
        _ => (vec![Arg::Value(String::new())], false),
    };
    Ok(Node {
        keyword: keyword.to_string(),
        flags,
        args,
        json,
        heredocs: Vec::new(),
        original: line.to_string(),
        start_line: 0,
        end_line: 0,
        col: 1,
        comments: Vec::new(),
    })
}

fn values(words: Vec<String>) -> Vec<Arg> {
    words.into_iter().map(Arg::Value).collect()
}

fn single(text: &str) -> Vec<Arg> {
    if text.is_empty() {
        Vec::new()
    } else {
        vec![Arg::Value(text.to_string())]
    }
}

const NOT_STRING_ARRAY: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

/// CMD/ENTRYPOINT/RUN/SHELL: a JSON array, or else the whole text as one shell-form argument.
fn maybe_json(text: &str) -> Result<(Vec<Arg>, bool), String> {
    if text.is_empty() {
        return Ok((Vec::new(), false));
    }
    match parse_json(text) {
        JsonArgs::Strings(items) => Ok((values(items), true)),
        JsonArgs::NotStrings => Err(NOT_STRING_ARRAY.to_string()),
        JsonArgs::NotJson => Ok((vec![Arg::Value(text.to_string())], false)),
    }
}

/// ADD/COPY/VOLUME: a JSON array, or else whitespace-separated words.
fn maybe_json_to_list(text: &str) -> Result<(Vec<Arg>, bool), String> {
    match parse_json(text) {
        JsonArgs::Strings(items) => Ok((values(items), true)),
        JsonArgs::NotStrings => Err(NOT_STRING_ARRAY.to_string()),
        JsonArgs::NotJson => Ok((values(split_whitespace_list(text)), false)),
    }
}

/// HEALTHCHECK: a type word (`CMD`, `NONE` …), then JSON-or-shell form.
fn health_config(text: &str) -> Result<(Vec<Arg>, bool), String> {
    let type_end = text.find(char::is_whitespace).unwrap_or(text.len());
    if type_end == 0 {
        return Ok((Vec::new(), false));
    }
    let (kind, after) = text.split_at(type_end);
    let (mut command, json) = maybe_json(after.trim_start())?;
    let mut args = vec![Arg::Value(kind.to_string())];
    args.append(&mut command);
    Ok((args, json))
}

/// ENV/LABEL: `KEY=value …`, or the legacy `KEY value` (everything after the key is the value).
/// Each pair becomes three arguments: key, value as written, and the separator (`=` or empty).
fn name_values(text: &str, instruction: &str, escape: char) -> Result<Vec<Arg>, String> {
    let words = parse_words(text, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let (key, value) = split_first_word(text);
        let Some(value) = value else {
            return Err(format!(
                "{instruction} must have two arguments: {instruction} {key} <value> (or {instruction} {key}=<value>)"
            ));
        };
        return Ok(values(vec![
            key.to_string(),
            value.to_string(),
            String::new(),
        ]));
    }
    let mut out = Vec::with_capacity(words.len() * 3);
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {word:?}. Must be of the form: name=value"
            ));
        };
        out.extend([
            Arg::Value(key.to_string()),
            Arg::Value(value.to_string()),
            Arg::Value("=".to_string()),
        ]);
    }
    Ok(out)
}

/// Splits at unquoted whitespace, keeping quotes and escapes in the words (they are removed when
/// the value is expanded).
pub(super) fn parse_words(text: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = text.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut pos = 0;
    while pos <= chars.len() {
        let at_end = pos == chars.len();
        let mut ch = if at_end { '\0' } else { chars[pos] };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                pos += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if at_end {
            if blank_ok || !word.is_empty() {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if pos + 1 == chars.len() {
                    pos += 1;
                    continue; // an escape at the very end is dropped
                }
                // Outside quotes the escape and the character it protects both stay.
                word.push(ch);
                pos += 1;
                ch = chars[pos];
            }
            word.push(ch);
            pos += 1;
            continue;
        }
        // Inside quotes; single quotes cannot escape anything.
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            if pos + 1 == chars.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            word.push(ch);
            ch = chars[pos];
        }
        word.push(ch);
        pos += 1;
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_quotes_and_escapes() {
        assert_eq!(
            parse_words(r#"a="x y" b\ c 'd'"#, '\\'),
            vec![r#"a="x y""#, r"b\ c", "'d'"]
        );
        assert_eq!(parse_words(r#"x="" "#, '\\'), vec![r#"x="""#]);
        assert_eq!(parse_words("a\\", '\\'), vec!["a"]);
    }

    #[test]
    fn escaped_quote_inside_double_quotes() {
        assert_eq!(parse_words(r#""a\"b" c"#, '\\'), vec![r#""a\"b""#, "c"]);
    }

    #[test]
    fn first_word_split() {
        assert_eq!(split_first_word("RUN  echo hi"), ("RUN", Some("echo hi")));
        assert_eq!(split_first_word("RUN"), ("RUN", None));
    }
}
