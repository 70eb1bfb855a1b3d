use super::*;

fn dump(text: &str) -> String {
    parse_tree(text).unwrap_or_else(|e| panic!("{e}")).dump()
}

fn fails(text: &str) -> ParseError {
    parse_tree(text).unwrap_err()
}

#[test]
fn shell_form_keeps_the_rest_of_the_line() {
    assert_eq!(
        dump("FROM a\nRUN   echo  \"hi\"  \n"),
        "(from \"a\")\n(run \"echo  \\\"hi\\\"\")\n"
    );
}

#[test]
fn json_form_and_fallback() {
    assert_eq!(dump("CMD [\"a\", \"b c\"]\n"), "(cmd \"a\" \"b c\")\n");
    assert_eq!(dump("CMD [\"a\"\n"), "(cmd \"[\\\"a\\\"\")\n");
    assert_eq!(dump("COPY [\"a\" b\n"), "(copy \"[\\\"a\\\"\" \"b\")\n");
    assert!(fails("CMD [\"a\", [\"b\"]]\n")
        .message
        .contains("strings only"));
}

#[test]
fn continuation_rules() {
    // Comment lines and blank lines inside a continuation are dropped; the escape at EOF is fine.
    assert_eq!(dump("RUN a \\\n# c\n\n  b \\\n"), "(run \"a   b\")\n");
    let tree = parse_tree("RUN a \\\n\n b\n").unwrap();
    assert_eq!(tree.warnings.len(), 1);
    // An escaped escape at the end is not a continuation.
    assert_eq!(
        dump("RUN a \\\\\nRUN b\n"),
        "(run \"a \\\\\\\\\")\n(run \"b\")\n"
    );
    // A line with only the escape continues.
    assert_eq!(dump("RUN a \\\n\\\n b\n"), "(run \"a  b\")\n");
}

#[test]
fn positions_cover_continuations_and_heredocs() {
    let tree = parse_tree("\n  FROM a\nRUN x \\\n  y\nRUN <<EOF\nbody\nEOF\nUSER u\n").unwrap();
    let pos: Vec<_> = tree
        .nodes
        .iter()
        .map(|n| (n.start_line, n.end_line, n.col))
        .collect();
    assert_eq!(pos, vec![(2, 2, 3), (3, 4, 1), (5, 7, 1), (8, 8, 1)]);
}

#[test]
fn directives_only_at_the_top() {
    let tree = parse_tree("# syntax=x\n# escape=`\nFROM a\n").unwrap();
    assert_eq!(tree.directives.escape, '`');
    assert_eq!(tree.directives.syntax.as_deref(), Some("x"));
    let tree = parse_tree("# hello\n# escape=`\nFROM a\n").unwrap();
    assert_eq!(tree.directives.escape, '\\');
    let tree = parse_tree("FROM a\n# escape=`\n").unwrap();
    assert_eq!(tree.directives.escape, '\\');
    let e = fails("# escape=`\n# escape=\\\nFROM a\n");
    assert_eq!(e.line, 2);
    assert!(fails("# escape=x\nFROM a\n")
        .message
        .contains("invalid escape token"));
}

#[test]
fn backtick_escape_continues_lines() {
    assert_eq!(
        dump("# escape=`\nRUN dir c:\\ `\n  /s\n"),
        "(run \"dir c:\\\\   /s\")\n"
    );
}

#[test]
fn bom_and_crlf() {
    assert_eq!(
        dump("\u{feff}FROM a\r\nRUN b \\\r\n c\r\n"),
        "(from \"a\")\n(run \"b  c\")\n"
    );
}

#[test]
fn heredoc_bodies() {
    let tree = parse_tree("RUN <<A <<-\"B\"\none $X\nA\n\ttwo\n\tB\nRUN c\n").unwrap();
    let docs = &tree.nodes[0].heredocs;
    assert_eq!(docs.len(), 2);
    assert_eq!(
        (
            docs[0].name.as_str(),
            docs[0].content.as_str(),
            docs[0].expand
        ),
        ("A", "one $X\n", true)
    );
    assert_eq!(
        (
            docs[1].name.as_str(),
            docs[1].content.as_str(),
            docs[1].chomp
        ),
        ("B", "\ttwo\n", true)
    );
    assert!(!docs[1].expand);
    assert_eq!((docs[0].body_line, docs[1].body_line), (2, 4));
    assert_eq!(tree.nodes.len(), 2);
}

#[test]
fn heredocs_only_for_run_copy_add_in_shell_form() {
    let tree = parse_tree("RUN [\"cat\", \"<<EOF\"]\nEOF\n").unwrap();
    assert!(tree.nodes[0].heredocs.is_empty());
    assert_eq!(tree.nodes.len(), 2);
    let tree = parse_tree("ONBUILD COPY <<X /x\nbody\nX\n").unwrap();
    assert_eq!(tree.nodes[0].heredocs[0].content, "body\n");
    assert!(parse_tree("LABEL a=<<EOF\n").unwrap().nodes[0]
        .heredocs
        .is_empty());
}

#[test]
fn unterminated_heredoc_is_an_error() {
    let e = fails("FROM a\nRUN <<EOF\necho\n");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("unterminated heredoc"));
}

#[test]
fn env_label_arg_dumps() {
    assert_eq!(
        dump("ENV a=1 b=\"x y\"\nENV c  d e\nLABEL k=v\nARG x y=\"1 2\"\n"),
        "(env \"a\" \"1\" \"=\" \"b\" \"\\\"x y\\\"\" \"=\")\n(env \"c\" \"d e\" \"\")\n(label \"k\" \"v\" \"=\")\n(arg \"x\" \"y=\\\"1 2\\\"\")\n"
    );
    assert!(fails("ENV onlykey\n")
        .message
        .contains("ENV must have two arguments"));
    assert!(fails("LABEL a=b c\n").message.contains("can't find ="));
}

#[test]
fn flags_and_onbuild_dumps() {
    assert_eq!(
        dump("COPY --from=a -- x y\n"),
        "(copy [\"--from=a\"] \"x\" \"y\")\n"
    );
    assert_eq!(
        dump("ONBUILD RUN --mount=x echo hi\n"),
        "(onbuild (run [\"--mount=x\"] \"echo hi\"))\n"
    );
    // Triggers the instruction layer would refuse dump as BuildKit's parser gives them: an unknown
    // instruction with its one empty argument, unknown flags kept.
    assert_eq!(dump("ONBUILD FOO bar\n"), "(onbuild (foo \"\"))\n");
    assert_eq!(
        dump("ONBUILD RUN --bogus=1 echo hi\n"),
        "(onbuild (run [\"--bogus=1\"] \"echo hi\"))\n"
    );
    assert_eq!(
        dump("HEALTHCHECK --retries=1 CMD [\"a\"]\nHEALTHCHECK NONE\n"),
        "(healthcheck [\"--retries=1\"] \"CMD\" \"a\")\n(healthcheck \"NONE\")\n"
    );
}

#[test]
fn unknown_instruction_is_kept_here() {
    assert_eq!(dump("FRM a\n"), "(frm \"\")\n");
}

#[test]
fn empty_files_are_rejected() {
    assert!(fails("").message.contains("no instructions"));
    assert!(fails("# only\n\n   \n").message.contains("no instructions"));
}

#[test]
fn error_display_has_file_line_and_caret() {
    let e = parse_tree_named("x/Dockerfile.dev", "FROM a\n\tENV K\n").unwrap_err();
    assert_eq!(e.to_string(), "x/Dockerfile.dev:2:2: ENV must have two arguments: ENV K <value> (or ENV K=<value>)\n 2 | \tENV K\n   | \t^");
}

#[test]
fn hostile_nesting_is_an_error_not_a_crash() {
    let deep = format!("FROM a\nRUN {}\n", "ONBUILD ".repeat(100_000));
    assert!(crate::parse(&deep).is_ok(), "just a long shell command");
    let onbuilds = format!("{}RUN x\n", "ONBUILD ".repeat(100_000));
    assert!(fails(&onbuilds).message.contains("nested more than"));
    let subst = format!("FROM a\nCOPY <<{}x /y\n", "${a:-".repeat(100_000));
    let _ = crate::parse(&subst);
    let word = "${a:-".repeat(100_000);
    let e = crate::shell::expand_word(&word, &crate::shell::EmptyEnv, '\\').unwrap_err();
    assert!(e.to_string().contains("nested more than"), "{e}");
}
