//! `cargo +nightly fuzz run parse`: `parse`, word expansion and `.dockerignore` reading must return (an error at
//! worst) on any input, never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = hoist_parser::parse(text);
    let env: Vec<(String, String)> = vec![("A".into(), "a b".into())];
    let _ = hoist_parser::shell::expand_word(text, &env, '\\');
    let _ = hoist_parser::shell::expand_words(text, &env, '\\');
    let _ = hoist_parser::shell::expand_word(text, &env, '`');
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let _ = hoist_parser::dockerignore::Matcher::new(&lines);
});
