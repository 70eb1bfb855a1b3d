//! `parse`, expansion and `.dockerignore` matching must return (an error at worst) on any input.
//! Run more cases with `PROPTEST_CASES=50000 cargo test -p hoist-parser --test never_panics`.

use hoist_parser::{dockerignore, parse, shell};
use proptest::prelude::*;
use std::collections::HashMap;

/// Pieces that steer random text into the parser's interesting paths.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("FROM ".to_string()),
        Just("RUN ".to_string()),
        Just("COPY ".to_string()),
        Just("ADD ".to_string()),
        Just("ONBUILD ".to_string()),
        Just("HEALTHCHECK ".to_string()),
        Just("ENV ".to_string()),
        Just("ARG ".to_string()),
        Just("LABEL ".to_string()),
        Just("SHELL ".to_string()),
        Just("CMD ".to_string()),
        Just("\n".to_string()),
        Just("\\\n".to_string()),
        Just("`\n".to_string()),
        Just("# escape=`\n".to_string()),
        Just("# syntax=x\n".to_string()),
        Just("<<EOF".to_string()),
        Just("<<-'E'".to_string()),
        Just("EOF\n".to_string()),
        Just("\tE\n".to_string()),
        Just("[\"".to_string()),
        Just("\", ".to_string()),
        Just("]".to_string()),
        Just("--mount=".to_string()),
        Just("--from=".to_string()),
        Just("--".to_string()),
        Just("=".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        Just("${".to_string()),
        Just("}".to_string()),
        Just(" AS ".to_string()),
        Just("CMD".to_string()),
        Just("NONE".to_string()),
        "[ -~]{0,6}",
        "\\PC{0,3}",
    ]
}

fn dockerfile_like() -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..40).prop_map(|v| v.concat())
}

fn word_like() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("$".to_string()),
            Just("${".to_string()),
            Just("}".to_string()),
            Just(":".to_string()),
            Just("-".to_string()),
            Just("+".to_string()),
            Just("?".to_string()),
            Just("#".to_string()),
            Just("%".to_string()),
            Just("/".to_string()),
            Just("*".to_string()),
            Just("\\".to_string()),
            Just("'".to_string()),
            Just("\"".to_string()),
            Just("V".to_string()),
            Just(" ".to_string()),
            "[a-z0-9]{0,3}",
        ],
        0..24,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn parse_never_panics_on_arbitrary_text(text in "\\PC{0,400}") {
        let _ = parse(&text);
    }

    #[test]
    fn parse_never_panics_on_dockerfile_like_text(text in dockerfile_like()) {
        if let Err(e) = parse(&text) {
            // The message renders too (snippet and caret).
            let _ = e.to_string();
        }
    }

    #[test]
    fn expansion_never_panics(word in word_like(), escape in prop_oneof![Just('\\'), Just('`')]) {
        let mut env = HashMap::new();
        env.insert("V".to_string(), "a*b/c d".to_string());
        let _ = shell::expand_word(&word, &env, escape);
        let _ = shell::expand_words(&word, &env, escape);
        let _ = shell::unset_variables(&word, &env, escape);
    }

    #[test]
    fn dockerignore_never_panics(
        patterns in prop::collection::vec("[!*?\\[\\]\\\\/a-c.^-]{0,8}", 0..5),
        path in "[a-c/.*]{0,10}",
    ) {
        let _ = dockerignore::read_patterns(&patterns.join("\n"));
        if let Ok(m) = dockerignore::Matcher::new(&patterns) {
            let _ = m.excluded(&path);
            let _ = m.may_reinclude_under(&path);
        }
    }
}
