use super::*;

fn m(patterns: &[&str]) -> Matcher {
    Matcher::new(&patterns.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
}

#[test]
fn reads_patterns_from_file_text() {
    let text = "\u{feff}# comment\n  node_modules  \n\n/abs/path\n./rel/../x/\n!  keep.txt\n!\n #not a comment\n";
    assert_eq!(
        read_patterns(text),
        vec![
            "node_modules",
            "abs/path",
            "x",
            "!keep.txt",
            "!",
            "#not a comment"
        ]
    );
}

#[test]
fn simple_globs() {
    let matcher = m(&["*.log", "build", "tmp?", "[ab]c"]);
    assert!(matcher.excluded("x.log"));
    assert!(!matcher.excluded("dir/x.log"));
    assert!(matcher.excluded("build"));
    assert!(matcher.excluded("build/sub/file"));
    assert!(matcher.excluded("tmp1"));
    assert!(!matcher.excluded("tmp12"));
    assert!(matcher.excluded("ac") && matcher.excluded("bc") && !matcher.excluded("cc"));
}

#[test]
fn double_star() {
    let matcher = m(&["**/*.o"]);
    assert!(matcher.excluded("a.o"));
    assert!(matcher.excluded("x/y/a.o"));
    assert!(!matcher.excluded("x/y/a.c"));
    let matcher = m(&["docs/**"]);
    assert!(matcher.excluded("docs/a/b"));
    assert!(!matcher.excluded("docs"));
}

#[test]
fn last_match_wins_and_negation_reincludes() {
    let matcher = m(&["*.md", "!README.md"]);
    assert!(matcher.excluded("CHANGES.md"));
    assert!(!matcher.excluded("README.md"));
    let matcher = m(&["!README.md", "*.md"]);
    assert!(matcher.excluded("README.md"));
    let matcher = m(&["docs", "!docs/keep"]);
    assert!(matcher.excluded("docs/other"));
    assert!(!matcher.excluded("docs/keep"));
    assert!(!matcher.excluded("docs/keep/deep"));
}

#[test]
fn brackets_inside_a_class_are_literal() {
    let matcher = m(&["a[[]b", "x[&&y]z", "[^[]q", "s[*?]"]);
    assert!(matcher.excluded("s*") && matcher.excluded("s?") && !matcher.excluded("sx"));
    assert!(matcher.excluded("a[b"));
    assert!(matcher.excluded("x&z") && matcher.excluded("xyz"));
    assert!(matcher.excluded("aq") && !matcher.excluded("[q"));
}

#[test]
fn escapes_and_special_characters() {
    let matcher = m(&[r"a\*b", "a+b(c)", "x.y"]);
    assert!(matcher.excluded("a*b"));
    assert!(!matcher.excluded("axb"));
    assert!(matcher.excluded("a+b(c)"));
    assert!(matcher.excluded("x.y"));
    assert!(!matcher.excluded("xzy"));
}

#[test]
fn leading_slash_and_dot_are_cleaned() {
    let matcher = m(&["./build/", "/dist"]);
    assert!(matcher.excluded("build/x"));
    assert!(matcher.excluded("dist"));
    let matcher = Matcher::new(&read_patterns("/dist\n")).unwrap();
    assert!(matcher.excluded("dist/x"));
}

#[test]
fn malformed_patterns_are_rejected() {
    for bad in ["!", "[", "a[", "[]a]", "[x-]", "\\", "[a-b-c]"] {
        let e = Matcher::new(&[bad.to_string()]).unwrap_err();
        assert_eq!(e.pattern, bad);
    }
    assert!(!Matcher::new(&["  ".to_string()]).unwrap().excluded("x"));
}

#[test]
fn may_reinclude_under_dirs() {
    let matcher = m(&["vendor", "!vendor/keep/*.go", "!**/important"]);
    assert!(matcher.may_reinclude_under("vendor"));
    assert!(matcher.has_exclusions());
    let matcher = m(&["vendor", "!vendor/keep/*.go"]);
    assert!(matcher.may_reinclude_under("vendor"));
    assert!(matcher.may_reinclude_under("vendor/keep"));
    assert!(!matcher.may_reinclude_under("vendor/other"));
    assert!(!matcher.may_reinclude_under("node_modules"));
    let matcher = m(&["*", "!src"]);
    assert!(matcher.may_reinclude_under("src"));
    assert!(!matcher.may_reinclude_under("lib"));
    assert!(!m(&["*"]).may_reinclude_under("src"));
}

#[test]
fn finds_the_dockerfile_specific_ignore_file() {
    let dir = std::env::temp_dir().join(format!("hoist-parser-ignore-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let dockerfile = dir.join("sub/app.Dockerfile");
    assert_eq!(find_ignore_file(&dir, &dockerfile), None);
    std::fs::write(dir.join(".dockerignore"), "x").unwrap();
    assert_eq!(
        find_ignore_file(&dir, &dockerfile),
        Some(dir.join(".dockerignore"))
    );
    std::fs::write(dir.join("sub/app.Dockerfile.dockerignore"), "y").unwrap();
    assert_eq!(
        find_ignore_file(&dir, &dockerfile),
        Some(dir.join("sub/app.Dockerfile.dockerignore"))
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stray_closing_bracket_is_literal() {
    let matcher = m(&["a]", "b]c*"]);
    assert!(matcher.excluded("a]"));
    assert!(matcher.excluded("b]cd"));
}
