//! The exec-form test: is the argument text a JSON array of strings? Decided as Go's
//! `json.Decoder` decides it for BuildKit: the first JSON value is read (whatever follows it is
//! ignored); a syntax error means "not JSON" (shell form), a valid array with a non-string
//! element is a hard error.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1, take_while_m_n};
use nom::character::complete::{char, one_of};
use nom::combinator::{opt, recognize};
use nom::{IResult, Parser};

/// What a `[`-led argument text turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum JsonArgs {
    Strings(Vec<String>),
    NotJson,
    NotStrings,
}

/// Go's decoder refuses deeper nesting than this (a syntax error, so shell form).
const MAX_DEPTH: usize = 10_000;

type Res<'a, T> = IResult<&'a str, T>;

fn ws(input: &str) -> Res<'_, &str> {
    take_while(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))(input)
}

fn hex4(input: &str) -> Res<'_, u32> {
    let (rest, digits) = take_while_m_n(4, 4, |c: char| c.is_ascii_hexdigit())(input)?;
    // Four hex digits always fit.
    Ok((rest, u32::from_str_radix(digits, 16).unwrap_or(0)))
}

/// A JSON string, decoded. Lone UTF-16 surrogates become U+FFFD, as in Go.
fn string(input: &str) -> Res<'_, String> {
    let (mut input, _) = char('"')(input)?;
    let mut out = String::new();
    loop {
        let (rest, plain) = take_while(|c: char| c != '"' && c != '\\' && c >= ' ')(input)?;
        out.push_str(plain);
        input = rest;
        let (rest, c) = one_of("\"\\")(input)?;
        input = rest;
        if c == '"' {
            return Ok((input, out));
        }
        let (rest, esc) = one_of("\"\\/bfnrtu")(input)?;
        input = rest;
        match esc {
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'u' => {
                let (rest, unit) = hex4(input)?;
                input = rest;
                if (0xd800..0xdc00).contains(&unit) {
                    // A high surrogate combines with an immediately following low one.
                    let low: Res<'_, u32> =
                        (tag("\\u"), hex4).parse(input).map(|(r, (_, v))| (r, v));
                    if let Ok((rest, low)) = low {
                        if (0xdc00..0xe000).contains(&low) {
                            let combined = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
                            out.push(char::from_u32(combined).unwrap_or('\u{fffd}'));
                            input = rest;
                            continue;
                        }
                    }
                }
                out.push(char::from_u32(unit).unwrap_or('\u{fffd}'));
            }
            other => out.push(other),
        }
    }
}

fn number(input: &str) -> Res<'_, &str> {
    let digits = |i| take_while1(|c: char| c.is_ascii_digit())(i);
    recognize((
        opt(char('-')),
        alt((
            tag("0"),
            recognize((
                one_of("123456789"),
                take_while(|c: char| c.is_ascii_digit()),
            )),
        )),
        opt((char('.'), digits)),
        opt((one_of("eE"), opt(one_of("+-")), digits)),
    ))
    .parse(input)
}

fn scalar(input: &str) -> Res<'_, ()> {
    alt((
        string.map(|_| ()),
        number.map(|_| ()),
        tag("true").map(|_| ()),
        tag("false").map(|_| ()),
        tag("null").map(|_| ()),
    ))
    .parse(input)
}

/// Skips one JSON value of any kind. Iterative (an explicit stack of open containers), so deep
/// nesting cannot exhaust the call stack.
fn skip_value(mut input: &str, depth: usize) -> Res<'_, ()> {
    let fail = |i| {
        Err(nom::Err::Error(nom::error::Error::new(
            i,
            nom::error::ErrorKind::Verify,
        )))
    };
    let mut open: Vec<char> = Vec::new();
    'value: loop {
        // Expecting a value.
        input = ws(input)?.0;
        match input.chars().next() {
            Some(c @ ('[' | '{')) => {
                if depth + open.len() + 1 > MAX_DEPTH {
                    return fail(input);
                }
                input = ws(&input[1..])?.0;
                let close = if c == '[' { ']' } else { '}' };
                if let Some(rest) = input.strip_prefix(close) {
                    input = rest;
                } else {
                    open.push(c);
                    if c == '{' {
                        input = member_key(input)?.0;
                    }
                    continue 'value;
                }
            }
            _ => input = scalar(input)?.0,
        }
        // After a value: close containers or move on to the next element.
        loop {
            let Some(&top) = open.last() else {
                return Ok((input, ()));
            };
            input = ws(input)?.0;
            if let Some(rest) = input.strip_prefix(',') {
                input = rest;
                if top == '{' {
                    input = member_key(ws(input)?.0)?.0;
                }
                continue 'value;
            }
            let close = if top == '[' { ']' } else { '}' };
            match input.strip_prefix(close) {
                Some(rest) => {
                    input = rest;
                    open.pop();
                }
                None => return fail(input),
            }
        }
    }
}

/// `"key" :` inside an object.
fn member_key(input: &str) -> Res<'_, ()> {
    let (input, _) = (string, ws, char(':')).parse(input)?;
    Ok((input, ()))
}

/// The top-level array: its string elements, or a note that some element is not a string.
fn array(input: &str) -> Res<'_, Option<Vec<String>>> {
    let (mut input, _) = (char('['), ws).parse(input)?;
    let mut items = Some(Vec::new());
    if let Ok((rest, _)) = char::<&str, nom::error::Error<&str>>(']')(input) {
        return Ok((rest, items));
    }
    loop {
        input = ws(input)?.0;
        if let Ok((rest, s)) = string(input) {
            if let Some(list) = items.as_mut() {
                list.push(s);
            }
            input = rest;
        } else {
            input = skip_value(input, 1)?.0;
            items = None;
        }
        let (rest, (_, sep)) = (ws, one_of(",]")).parse(input)?;
        input = rest;
        if sep == ']' {
            return Ok((input, items));
        }
    }
}

/// Reads the exec-form array at the start of `text` (leading whitespace allowed).
pub(super) fn parse_json(text: &str) -> JsonArgs {
    let text = text.trim_start();
    if !text.starts_with('[') {
        return JsonArgs::NotJson;
    }
    match array(text) {
        Ok((_, Some(items))) => JsonArgs::Strings(items),
        Ok((_, None)) => JsonArgs::NotStrings,
        Err(_) => JsonArgs::NotJson,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> JsonArgs {
        JsonArgs::Strings(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn arrays_of_strings() {
        assert_eq!(parse_json(r#"[]"#), strings(&[]));
        assert_eq!(parse_json(" [ \"a\" ,\t\"b c\" ] "), strings(&["a", "b c"]));
        assert_eq!(
            parse_json(r#"["\" \\ \/ \b \f \n \r \t \u0000 \u2665"]"#),
            strings(&["\" \\ / \u{8} \u{c} \n \r \t \0 ♥"])
        );
    }

    #[test]
    fn trailing_text_is_ignored() {
        assert_eq!(parse_json(r#"["a"] tail"#), strings(&["a"]));
    }

    #[test]
    fn surrogates_like_go() {
        assert_eq!(parse_json(r#"["\ud83d\ude00"]"#), strings(&["😀"]));
        assert_eq!(parse_json(r#"["\ud800x"]"#), strings(&["\u{fffd}x"]));
        assert_eq!(
            parse_json(r#"["\udc00\ud800\u0041"]"#),
            strings(&["\u{fffd}\u{fffd}A"])
        );
    }

    #[test]
    fn syntax_errors_are_not_json() {
        for bad in [
            "['a']",
            r#"["a""#,
            r#"["a",]"#,
            r#"["a" "b"]"#,
            r#"["\x"]"#,
            r#"["\u12"]"#,
            "[\"a\u{1}\"]",
            "[01]",
            "[1.]",
            "[tru]",
            r#"[{"a" 1}]"#,
            r#"[{"a":1,}]"#,
            "x",
        ] {
            assert_eq!(parse_json(bad), JsonArgs::NotJson, "{bad}");
        }
    }

    #[test]
    fn valid_non_strings_are_a_hard_error() {
        for bad in [
            r#"["a", 1]"#,
            r#"[null]"#,
            r#"[["a"]]"#,
            r#"["a", {"k": [1, -2.5e3, true, {}]}]"#,
            "[[], {}]",
        ] {
            assert_eq!(parse_json(bad), JsonArgs::NotStrings, "{bad}");
        }
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let deep = format!("[\"a\", {}{}]", "[".repeat(5000), "]".repeat(5000));
        assert_eq!(parse_json(&deep), JsonArgs::NotStrings);
        let too_deep = format!("[{}{}]", "[".repeat(20_000), "]".repeat(20_000));
        assert_eq!(parse_json(&too_deep), JsonArgs::NotJson);
        let unclosed = format!("[{}", "[".repeat(20_000));
        assert_eq!(parse_json(&unclosed), JsonArgs::NotJson);
    }
}
