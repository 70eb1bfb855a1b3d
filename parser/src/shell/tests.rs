use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn x(word: &str, e: &[(&str, &str)]) -> Result<String, ShellError> {
    expand_word(word, &env(e), '\\')
}

fn ok(word: &str, e: &[(&str, &str)]) -> String {
    x(word, e).unwrap_or_else(|err| panic!("{word}: {err}"))
}

#[test]
fn plain_and_braced_variables() {
    let e = [("A", "1"), ("LONG_name2", "v")];
    assert_eq!(ok("$A-${A}x$LONG_name2.", &e), "1-1xv.");
    assert_eq!(ok("$UNSET|${UNSET}|", &e), "||");
    assert_eq!(ok("cost: $", &e), "cost: $");
    assert_eq!(ok("$.x", &e), "$.x");
}

#[test]
fn positional_and_special_parameters_are_empty() {
    assert_eq!(ok("a$1b$@c$#d$0", &[]), "abcd");
    assert_eq!(ok("${12:-def}", &[]), "def");
}

#[test]
fn defaults_and_alternatives() {
    let e = [("SET", "v"), ("EMPTY", "")];
    assert_eq!(ok("${SET:-d} ${EMPTY:-d} ${NONE:-d}", &e), "v d d");
    assert_eq!(ok("${SET-d} ${EMPTY-d} ${NONE-d}", &e), "v  d");
    assert_eq!(ok("${SET:+a} ${EMPTY:+a} ${NONE:+a}", &e), "a  ");
    assert_eq!(ok("${SET+a} ${EMPTY+a} ${NONE+a}", &e), "a a ");
    assert_eq!(ok("${NONE:-${SET:-z}}", &e), "v");
}

#[test]
fn required_variables() {
    let e = [("SET", "v"), ("EMPTY", "")];
    assert_eq!(ok("${SET:?msg}", &e), "v");
    assert_eq!(ok("${EMPTY?msg}", &e), "");
    let err = x("${EMPTY:?must be set}", &e).unwrap_err();
    assert_eq!(
        err.reason,
        ShellErrorReason::Required {
            name: "EMPTY".into(),
            message: "must be set".into()
        }
    );
    assert!(x("${NONE?}", &e)
        .unwrap_err()
        .to_string()
        .contains("NONE: is not allowed to be unset"));
    assert!(x("${EMPTY:?}", &e)
        .unwrap_err()
        .to_string()
        .contains("is not allowed to be empty"));
}

#[test]
fn prefix_and_suffix_removal() {
    let e = [("P", "/usr/local/bin/app.tar.gz")];
    assert_eq!(ok("${P#*/}", &e), "usr/local/bin/app.tar.gz");
    assert_eq!(ok("${P##*/}", &e), "app.tar.gz");
    assert_eq!(ok("${P%.*}", &e), "/usr/local/bin/app.tar");
    assert_eq!(ok("${P%%.*}", &e), "/usr/local/bin/app");
    assert_eq!(ok("${P#nomatch}", &e), "/usr/local/bin/app.tar.gz");
    assert_eq!(ok(r"${P%.gz}", &e), "/usr/local/bin/app.tar");
    // Only `*`, `?` and `\` may be escaped in a pattern.
    assert!(x(r"${P%\.gz}", &e).is_err());
    assert_eq!(ok(r"${P%\*}", &[("P", "a*")]), "a");
    assert!(x("${P:#x}", &e).is_err());
}

#[test]
fn pattern_replacement() {
    let e = [("V", "a-b-c")];
    assert_eq!(ok("${V/-/+}", &e), "a+b-c");
    assert_eq!(ok("${V//-/+}", &e), "a+b+c");
    assert_eq!(ok("${V//?/x}", &e), "xxxxx");
    assert!(x("${V/-}", &e).is_err(), "the replacement part is required");
    assert_eq!(ok("${V/-/}", &e), "ab-c");
    assert!(x("${V/-", &e).is_err());
}

#[test]
fn quotes_and_escapes() {
    let e = [("A", "1")];
    assert_eq!(ok(r#"'$A' "$A" \$A"#, &e), "$A 1 $A");
    assert_eq!(
        ok(r#""a\"b\\c\d""#, &e),
        r"a\b\c\d".replacen(r"a\b", "a\"b", 1)
    );
    assert_eq!(ok(r"a\ b", &e), "a b");
    assert_eq!(ok(r"trailing\", &e), "trailing");
    assert!(x("'open", &e).is_err());
    assert!(x("\"open", &e).is_err());
}

#[test]
fn backtick_escape() {
    let v = env(&[("A", "1")]);
    assert_eq!(expand_word(r"C:\dir`$A", &v, '`').unwrap(), r"C:\dir$A");
    assert_eq!(expand_word(r"C:\dir$A", &v, '`').unwrap(), r"C:\dir1");
}

#[test]
fn syntax_errors() {
    for bad in ["${}", "${A", "${:-x}", "${A:x}", "${A=x}", "${.}", "${{A}"] {
        assert!(x(bad, &[]).is_err(), "{bad} should fail");
    }
    assert_eq!(
        x("${A", &[]).unwrap_err().reason,
        ShellErrorReason::MissingBrace
    );
    assert_eq!(
        x("${}", &[]).unwrap_err().reason,
        ShellErrorReason::BadSubstitution
    );
}

#[test]
fn word_splitting() {
    let e = env(&[("S", " a  b "), ("E", "")]);
    assert_eq!(
        expand_words("x${S}y", &e, '\\').unwrap(),
        vec!["x", "a", "b", "y"]
    );
    assert_eq!(
        expand_words("x\"${S}\"y", &e, '\\').unwrap(),
        vec!["x a  b y"]
    );
    assert_eq!(
        expand_words(r"80/tcp  443\ x", &e, '\\').unwrap(),
        vec!["80/tcp", "443 x"]
    );
    assert!(expand_words("$E", &e, '\\').unwrap().is_empty());
}

#[test]
fn unset_variable_names() {
    let e = env(&[("SET", "1")]);
    assert_eq!(
        unset_variables("$SET $A ${B:-x} ${A} $1", &e, '\\'),
        vec!["A", "B", "1"]
    );
    assert!(unset_variables("'$QUOTED'", &e, '\\').is_empty());
}

#[test]
fn env_implementations_agree() {
    let mut h = std::collections::HashMap::new();
    h.insert("K".to_string(), "h".to_string());
    let mut b = std::collections::BTreeMap::new();
    b.insert("K".to_string(), "b".to_string());
    let v = env(&[("K", "first"), ("K", "last")]);
    assert_eq!(expand_word("$K", &h, '\\').unwrap(), "h");
    assert_eq!(expand_word("$K", &b, '\\').unwrap(), "b");
    assert_eq!(expand_word("$K", &v, '\\').unwrap(), "last");
    assert_eq!(expand_word("$K", &v.as_slice(), '\\').unwrap(), "last");
}

#[test]
fn skip_unset_keeps_references() {
    let opts = LexerOptions {
        skip_unset: true,
        ..LexerOptions::default()
    };
    let e = env(&[("A", "1")]);
    let mut lexer = Lexer::new("$A $B ${C} ${D:-x} ${E/a/b}", &e, opts);
    assert_eq!(lexer.process().unwrap().0, "1 $B ${C} ${D:-x} ${E/a/b}");
}
