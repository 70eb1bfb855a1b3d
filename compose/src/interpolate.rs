//! `${VAR}` interpolation as compose does it in the values of a compose file.
//!
//! Not the parser crate's shell expansion: that one is BuildKit's Dockerfile word lexer, which removes quotes and
//! backslash escapes (compose keeps `"`, `'` and `\` as written), splits words, knows `${V#pattern}`/`${V/a/b}`
//! (compose does not) and has no `$$` escape (compose's only one). The rules here are compose-go's template
//! package: `$$` → `$`; `$VAR`, `${VAR}`; `${VAR:-default}` / `${VAR-default}` (unset or empty / unset);
//! `${VAR:?message}` / `${VAR?message}` (an error); `${VAR:+alt}` / `${VAR+alt}`; defaults may themselves hold
//! `${…}`. An unset variable without a default is an empty string and a warning.

/// Why a value could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpolateError {
    /// `${VAR:?message}` with VAR unset or empty (or `${VAR?message}` with VAR unset).
    Required { name: String, message: String },
    /// A `$` that starts nothing compose knows (`${`, `${}`, `$ `, `${A:x}`).
    Invalid { template: String },
}

impl std::fmt::Display for InterpolateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InterpolateError::Required { name, message } if message.is_empty() => {
                write!(f, "required variable {name} is missing a value")
            }
            InterpolateError::Required { name, message } => {
                write!(f, "required variable {name} is missing a value: {message}")
            }
            InterpolateError::Invalid { template } => write!(
                f,
                "invalid interpolation format for {template:?}; you may need to escape any $ with another $"
            ),
        }
    }
}

/// The result: the text, and the variables that were used unset with no default (one warning each).
pub struct Interpolated {
    pub text: String,
    pub unset: Vec<String>,
}

/// Interpolates `template` with variables from `lookup`.
pub fn interpolate(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Interpolated, InterpolateError> {
    let mut unset = Vec::new();
    let chars: Vec<char> = template.chars().collect();
    let mut at = 0;
    let text = expand(&chars, &mut at, lookup, &mut unset, false).map_err(|e| match e {
        InterpolateError::Invalid { .. } => InterpolateError::Invalid {
            template: template.to_string(),
        },
        other => other,
    })?;
    Ok(Interpolated { text, unset })
}

fn is_name_start(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_name_char(c: char) -> bool {
    c == '_' || c.is_ascii_alphanumeric()
}

fn invalid() -> InterpolateError {
    InterpolateError::Invalid {
        template: String::new(),
    }
}

/// Expands from `chars[*at]` to the end, or (inside a `${…}` default) to its closing `}`, which is consumed.
fn expand(
    chars: &[char],
    at: &mut usize,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
    nested: bool,
) -> Result<String, InterpolateError> {
    let mut out = String::new();
    while *at < chars.len() {
        let c = chars[*at];
        if nested && c == '}' {
            *at += 1;
            return Ok(out);
        }
        if c != '$' {
            out.push(c);
            *at += 1;
            continue;
        }
        *at += 1;
        match chars.get(*at) {
            Some('$') => {
                out.push('$');
                *at += 1;
            }
            Some('{') => {
                *at += 1;
                out.push_str(&braced(chars, at, lookup, unset)?);
            }
            Some(&c) if is_name_start(c) => {
                let start = *at;
                while *at < chars.len() && is_name_char(chars[*at]) {
                    *at += 1;
                }
                let name: String = chars[start..*at].iter().collect();
                out.push_str(&value_or_warn(&name, lookup, unset));
            }
            _ => return Err(invalid()),
        }
    }
    if nested {
        return Err(invalid());
    }
    Ok(out)
}

fn value_or_warn(
    name: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> String {
    match lookup(name) {
        Some(v) => v,
        None => {
            if !unset.iter().any(|n| n == name) {
                unset.push(name.to_string());
            }
            String::new()
        }
    }
}

/// One `${…}` after its `{`: the name, then `}` or a modifier and its (nested) word.
fn braced(
    chars: &[char],
    at: &mut usize,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<String, InterpolateError> {
    let start = *at;
    if !chars.get(*at).is_some_and(|&c| is_name_start(c)) {
        return Err(invalid());
    }
    while *at < chars.len() && is_name_char(chars[*at]) {
        *at += 1;
    }
    let name: String = chars[start..*at].iter().collect();
    let colon = chars.get(*at) == Some(&':');
    if colon {
        *at += 1;
    }
    let op = chars.get(*at).copied().ok_or_else(invalid)?;
    if op == '}' && !colon {
        *at += 1;
        return Ok(value_or_warn(&name, lookup, unset));
    }
    if !matches!(op, '-' | '?' | '+') {
        return Err(invalid());
    }
    *at += 1;
    // The word is expanded only when it is used, so a default's unset variables warn only then.
    let word_start = *at;
    let mut ignored = Vec::new();
    let word = expand(chars, at, lookup, &mut ignored, true)?;
    let value = lookup(&name);
    let missing = match &value {
        None => true,
        Some(v) => colon && v.is_empty(),
    };
    match op {
        '-' => {
            if missing {
                let mut at2 = word_start;
                return expand(chars, &mut at2, lookup, unset, true);
            }
            Ok(value.unwrap_or_default())
        }
        '?' => match value {
            Some(v) if !missing => Ok(v),
            _ => Err(InterpolateError::Required {
                name,
                message: word,
            }),
        },
        _ => {
            if missing {
                return Ok(String::new());
            }
            let mut at2 = word_start;
            expand(chars, &mut at2, lookup, unset, true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SET" => Some("value".into()),
            "EMPTY" => Some(String::new()),
            "B" => Some("bee".into()),
            _ => None,
        }
    }

    fn run(t: &str) -> String {
        interpolate(t, &env).unwrap().text
    }

    #[test]
    fn plain_and_braced() {
        assert_eq!(run("a $SET b ${SET}c"), "a value b valuec");
        assert_eq!(run("$SET-x"), "value-x");
        assert_eq!(
            run("no dollars, 'quotes' \"kept\" \\n"),
            "no dollars, 'quotes' \"kept\" \\n"
        );
    }

    #[test]
    fn double_dollar_is_a_dollar() {
        assert_eq!(run("$$SET $${SET} $$"), "$SET ${SET} $");
    }

    #[test]
    fn defaults() {
        assert_eq!(run("${UNSET:-d}"), "d");
        assert_eq!(run("${EMPTY:-d}"), "d");
        assert_eq!(run("${UNSET-d}"), "d");
        assert_eq!(run("${EMPTY-d}"), "");
        assert_eq!(run("${SET:-d}"), "value");
        assert_eq!(run("${UNSET:-}"), "");
        assert_eq!(run("${UNSET:-a b:c}"), "a b:c");
    }

    #[test]
    fn nested_defaults() {
        assert_eq!(run("${UNSET:-${B}}"), "bee");
        assert_eq!(run("${UNSET:-${ALSO_UNSET:-x${B}y}}z"), "xbeeyz");
        assert_eq!(run("${SET:-${B}}"), "value");
    }

    #[test]
    fn alternatives() {
        assert_eq!(run("${SET:+alt}"), "alt");
        assert_eq!(run("${EMPTY:+alt}"), "");
        assert_eq!(run("${EMPTY+alt}"), "alt");
        assert_eq!(run("${UNSET+alt}"), "");
    }

    #[test]
    fn required() {
        let err = interpolate("${UNSET:?give it}", &env).err().unwrap();
        assert_eq!(
            err.to_string(),
            "required variable UNSET is missing a value: give it"
        );
        assert!(interpolate("${EMPTY:?x}", &env).is_err());
        assert_eq!(run("${EMPTY?x}"), "");
        assert_eq!(run("${SET:?x}"), "value");
    }

    #[test]
    fn unset_warns_once_and_is_blank() {
        let r = interpolate("$NOPE ${NOPE} ${SET:-$OTHER}", &env).unwrap();
        assert_eq!(r.text, "  value");
        assert_eq!(r.unset, vec!["NOPE".to_string()]);
        let r = interpolate("${NOPE:-$OTHER}", &env).unwrap();
        assert_eq!(r.unset, vec!["OTHER".to_string()]);
    }

    #[test]
    fn invalid_templates() {
        for t in ["${", "${SET", "${}", "cost $ 5", "${SET:x}", "${1A}"] {
            let err = interpolate(t, &env).err().unwrap_or_else(|| panic!("{t}"));
            assert!(matches!(err, InterpolateError::Invalid { .. }), "{t}");
        }
    }
}
