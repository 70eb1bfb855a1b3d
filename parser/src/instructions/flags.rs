//! Instruction flags (`--from=…`), checked against what each instruction accepts, the way
//! BuildKit's `BFlags` does: unknown and duplicate flags are errors, booleans take `=true`/`=false`
//! or nothing, strings need `=value`, list flags may repeat.

use super::suggest::closest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FlagKind {
    Bool,
    String,
    /// May be given several times; every value is kept.
    Strings,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum FlagValue {
    Bool(bool),
    String(String),
    Strings(Vec<String>),
}

/// A flag problem, with the flag word (as written) to point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FlagError {
    pub word: String,
    pub message: String,
}

#[derive(Debug, Default)]
pub(super) struct Flags {
    values: Vec<(&'static str, FlagValue)>,
}

impl Flags {
    /// Parses `words` (each `--name` or `--name=value`) for `instruction`, which accepts `specs`.
    pub fn parse(
        instruction: &str,
        words: &[String],
        specs: &[(&'static str, FlagKind)],
    ) -> Result<Flags, FlagError> {
        let mut flags = Flags::default();
        for word in words {
            let fail = |message: String| FlagError {
                word: word.clone(),
                message,
            };
            let Some(body) = word.strip_prefix("--") else {
                return Err(fail(format!(
                    "invalid flag {word:?} for {instruction}: flags start with --"
                )));
            };
            if body.is_empty() {
                return Ok(flags);
            }
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some(&(spec_name, kind)) = specs.iter().find(|(n, _)| *n == name) else {
                return Err(fail(unknown_flag_message(instruction, name, specs)));
            };
            let existing = flags.values.iter_mut().find(|(n, _)| *n == spec_name);
            if existing.is_some() && kind != FlagKind::Strings {
                return Err(fail(format!(
                    "duplicate flag specified: --{name} (give it once)"
                )));
            }
            let missing = || format!("missing a value on flag --{name}: write --{name}=<value>");
            let parsed = match kind {
                FlagKind::Bool => match value.map(str::to_ascii_lowercase).as_deref() {
                    None => FlagValue::Bool(true),
                    Some("") => return Err(fail(missing())),
                    Some("true") => FlagValue::Bool(true),
                    Some("false") => FlagValue::Bool(false),
                    Some(_) => {
                        return Err(fail(format!(
                            "expecting boolean value for flag --{name}, not: {}",
                            value.unwrap_or_default()
                        )))
                    }
                },
                FlagKind::String => {
                    FlagValue::String(value.ok_or_else(|| fail(missing()))?.to_string())
                }
                FlagKind::Strings => {
                    let value = value.ok_or_else(|| fail(missing()))?.to_string();
                    if let Some((_, FlagValue::Strings(list))) = existing {
                        list.push(value);
                        continue;
                    }
                    FlagValue::Strings(vec![value])
                }
            };
            flags.values.push((spec_name, parsed));
        }
        Ok(flags)
    }

    fn get(&self, name: &str) -> Option<&FlagValue> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    pub fn string(&self, name: &str) -> Option<String> {
        match self.get(name) {
            Some(FlagValue::String(s)) => Some(s.clone()),
            _ => None,
        }
    }

    pub fn strings(&self, name: &str) -> Vec<String> {
        match self.get(name) {
            Some(FlagValue::Strings(list)) => list.clone(),
            _ => Vec::new(),
        }
    }

    pub fn bool(&self, name: &str) -> bool {
        self.bool_opt(name).unwrap_or(false)
    }

    /// `None` when the flag was not given.
    pub fn bool_opt(&self, name: &str) -> Option<bool> {
        match self.get(name) {
            Some(FlagValue::Bool(b)) => Some(*b),
            _ => None,
        }
    }
}

fn unknown_flag_message(
    instruction: &str,
    name: &str,
    specs: &[(&'static str, FlagKind)],
) -> String {
    if specs.is_empty() {
        return format!("unknown flag --{name} for {instruction} ({instruction} takes no flags)");
    }
    let names: Vec<&str> = specs.iter().map(|(n, _)| *n).collect();
    match closest(name, &names) {
        Some(s) => format!("unknown flag --{name} for {instruction} (did you mean --{s}?)"),
        None => {
            let list: Vec<String> = names.iter().map(|n| format!("--{n}")).collect();
            format!(
                "unknown flag --{name} for {instruction} (it accepts {})",
                list.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COPY: &[(&str, FlagKind)] = &[
        ("from", FlagKind::String),
        ("link", FlagKind::Bool),
        ("exclude", FlagKind::Strings),
    ];

    fn w(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_each_kind() {
        let f = Flags::parse(
            "COPY",
            &w(&["--from=a", "--link", "--exclude=x", "--exclude=y"]),
            COPY,
        )
        .unwrap();
        assert_eq!(f.string("from").as_deref(), Some("a"));
        assert!(f.bool("link"));
        assert_eq!(f.strings("exclude"), vec!["x", "y"]);
        let f = Flags::parse("COPY", &w(&["--link=FALSE"]), COPY).unwrap();
        assert!(!f.bool("link"));
    }

    #[test]
    fn unknown_flag_suggests() {
        let e = Flags::parse("COPY", &w(&["--frm=a"]), COPY).unwrap_err();
        assert_eq!(
            e.message,
            "unknown flag --frm for COPY (did you mean --from?)"
        );
        assert_eq!(e.word, "--frm=a");
        let e = Flags::parse("CMD", &w(&["--x"]), &[]).unwrap_err();
        assert!(e.message.contains("takes no flags"));
    }

    #[test]
    fn value_rules() {
        assert!(Flags::parse("COPY", &w(&["--from"]), COPY)
            .unwrap_err()
            .message
            .contains("missing a value"));
        assert!(Flags::parse("COPY", &w(&["--link="]), COPY)
            .unwrap_err()
            .message
            .contains("missing a value"));
        assert!(Flags::parse("COPY", &w(&["--link=maybe"]), COPY)
            .unwrap_err()
            .message
            .contains("boolean"));
        assert!(Flags::parse("COPY", &w(&["--from=a", "--from=b"]), COPY)
            .unwrap_err()
            .message
            .contains("duplicate"));
        assert_eq!(
            Flags::parse("COPY", &w(&["--from="]), COPY)
                .unwrap()
                .string("from")
                .as_deref(),
            Some("")
        );
    }
}
