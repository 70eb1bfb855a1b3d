use crate::ast::*;
use crate::parse;

fn one(text: &str) -> InstructionKind {
    let df = parse(&format!("FROM scratch\n{text}\n")).unwrap_or_else(|e| panic!("{e}"));
    df.stages[0].instructions[0].kind.clone()
}

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn from_with_name_and_platform() {
    let df = parse("FROM --platform=$BUILDPLATFORM golang:1.22 AS Build\nFROM build\n").unwrap();
    let s = &df.stages[0];
    assert_eq!(s.base, "golang:1.22");
    assert_eq!(s.name.as_deref(), Some("build"));
    assert_eq!(s.platform.as_deref(), Some("$BUILDPLATFORM"));
    assert_eq!(
        s.original,
        "FROM --platform=$BUILDPLATFORM golang:1.22 AS Build"
    );
    assert_eq!(s.pos, Pos { line: 1, col: 1 });
    assert_eq!(df.stages[1].base, "build");
}

#[test]
fn from_arity_and_stage_names() {
    assert!(err("FROM a b\n").contains("FROM requires either one or three arguments"));
    assert!(err("FROM a AS 1x\n").contains("invalid name for build stage"));
    assert!(err("FROM a AS b c\n").contains("FROM requires"));
}

#[test]
fn meta_args_before_from() {
    let df = parse("ARG V=1 W\nFROM img:$V\nARG V\n").unwrap();
    assert_eq!(df.meta_args.len(), 1);
    let InstructionKind::Arg(decls) = &df.meta_args[0].kind else {
        panic!()
    };
    assert_eq!(
        decls,
        &vec![
            ArgDecl {
                name: "V".into(),
                default: Some("1".into())
            },
            ArgDecl {
                name: "W".into(),
                default: None
            }
        ]
    );
    assert_eq!(df.stages[0].instructions.len(), 1);
}

#[test]
fn instruction_before_from_is_rejected() {
    let e = parse("RUN echo\nFROM a\n").unwrap_err();
    assert_eq!((e.line, e.col), (1, 1));
    assert!(e.message.contains("RUN before the first FROM"), "{e}");
}

#[test]
fn file_without_from_is_rejected() {
    assert!(err("ARG A\n").contains("no FROM instruction"));
}

#[test]
fn keywords_are_case_insensitive() {
    assert!(matches!(one("run echo"), InstructionKind::Run(_)));
    assert!(matches!(one("Copy a b"), InstructionKind::Copy(_)));
}

#[test]
fn unknown_instruction_suggests() {
    let e = parse("FRM alpine\n").unwrap_err();
    assert_eq!(e.message, "unknown instruction: FRM (did you mean FROM?)");
    assert!(
        err("FROM a\nBANANA x\n").ends_with("unknown instruction: BANANA\n 2 | BANANA x\n   | ^")
    );
}

#[test]
fn unknown_flag_error_points_at_flag() {
    let e = parse("FROM a\n\nCOPY --frm=b x /y\n").unwrap_err();
    assert_eq!((e.line, e.col), (3, 6));
    assert_eq!(
        e.to_string(),
        "Dockerfile:3:6: unknown flag --frm for COPY (did you mean --from?)\n 3 | COPY --frm=b x /y\n   |      ^"
    );
    let e = crate::parse_named("app.Dockerfile", "FROM a\n  RUN --foo x\n").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("app.Dockerfile:2:7: unknown flag --foo for RUN"),
        "{e}"
    );
}

#[test]
fn run_shell_exec_and_flags() {
    let InstructionKind::Run(run) =
        one("RUN --mount=type=cache,target=/c --mount=type=tmpfs,target=/t --network=none --security=insecure make")
    else {
        panic!()
    };
    assert_eq!(
        run.mounts,
        vec!["type=cache,target=/c", "type=tmpfs,target=/t"]
    );
    assert_eq!(run.network.as_deref(), Some("none"));
    assert_eq!(run.security.as_deref(), Some("insecure"));
    assert_eq!(run.command, Some(CommandLine::Shell("make".into())));
    let InstructionKind::Run(run) = one(r#"RUN ["echo", "a b"]"#) else {
        panic!()
    };
    assert_eq!(
        run.command,
        Some(CommandLine::Exec(vec!["echo".into(), "a b".into()]))
    );
    assert!(err("FROM a\nRUN --network=bridge x\n").contains("unsupported network mode"));
    assert!(err("FROM a\nRUN --security=x y\n").contains("unsupported security mode"));
}

#[test]
fn run_heredoc_with_chomp() {
    let df = parse("FROM a\nRUN <<-EOF\n\techo hi\n\t\techo there\n\tEOF\nRUN true\n").unwrap();
    let InstructionKind::Run(run) = &df.stages[0].instructions[0].kind else {
        panic!()
    };
    assert_eq!(run.command, Some(CommandLine::Shell("<<-EOF".into())));
    assert_eq!(run.heredocs.len(), 1);
    assert_eq!(run.heredocs[0].content, "echo hi\necho there\n");
    assert!(run.heredocs[0].chomp && run.heredocs[0].expand);
    assert_eq!(df.stages[0].instructions[1].pos.line, 6);
}

#[test]
fn copy_heredoc_source() {
    let df = parse("FROM a\nCOPY <<EOF <<'RAW' /dest/\nhello $X\nEOF\n$literal\nRAW\n").unwrap();
    let InstructionKind::Copy(copy) = &df.stages[0].instructions[0].kind else {
        panic!()
    };
    assert_eq!(copy.sources, vec!["<<EOF", "<<'RAW'"]);
    assert_eq!(copy.dest, "/dest/");
    assert_eq!(copy.heredocs[0].name, "EOF");
    assert_eq!(copy.heredocs[0].content, "hello $X\n");
    assert!(copy.heredocs[0].expand);
    assert_eq!(copy.heredocs[1].name, "RAW");
    assert_eq!(copy.heredocs[1].content, "$literal\n");
    assert!(!copy.heredocs[1].expand);
    assert!(err("FROM a\nCOPY x <<EOF\nEOF\n").contains("cannot accept a heredoc as a destination"));
}

#[test]
fn copy_and_add_flags() {
    let InstructionKind::Copy(c) = one(
        "COPY --from=build --chown=1:2 --chmod=755 --link --parents --exclude=*.md --exclude=x a b /d/",
    ) else {
        panic!()
    };
    assert_eq!(c.flags.from.as_deref(), Some("build"));
    assert_eq!(c.flags.chown.as_deref(), Some("1:2"));
    assert_eq!(c.flags.chmod.as_deref(), Some("755"));
    assert!(c.flags.link && c.flags.parents);
    assert_eq!(c.flags.exclude, vec!["*.md", "x"]);
    assert_eq!(c.sources, vec!["a", "b"]);
    assert!(!c.json_form);
    let InstructionKind::Add(a) =
        one("ADD --keep-git-dir=true --checksum=sha256:abc --unpack=false https://x/y.tar /z")
    else {
        panic!()
    };
    assert!(a.flags.keep_git_dir);
    assert_eq!(a.flags.checksum.as_deref(), Some("sha256:abc"));
    assert_eq!(a.flags.unpack, Some(false));
    assert!(err("FROM a\nADD --from=x a b\n").contains("unknown flag --from for ADD"));
    assert!(
        err("FROM a\nCOPY --keep-git-dir a b\n").contains("unknown flag --keep-git-dir for COPY")
    );
}

#[test]
fn copy_json_form_and_arity() {
    let InstructionKind::Copy(c) = one(r#"COPY ["a b", "c", "/d"]"#) else {
        panic!()
    };
    assert!(c.json_form);
    assert_eq!(c.sources, vec!["a b", "c"]);
    assert_eq!(c.dest, "/d");
    assert!(err("FROM a\nCOPY onlyone\n").contains("COPY requires at least two arguments"));
}

#[test]
fn env_and_label_forms() {
    let InstructionKind::Env(kv) = one(r#"ENV A=1 B="two words" C=x\ y"#) else {
        panic!()
    };
    let got: Vec<_> = kv
        .iter()
        .map(|k| (k.key.as_str(), k.value.as_str(), k.has_equals))
        .collect();
    assert_eq!(
        got,
        vec![
            ("A", "1", true),
            ("B", "\"two words\"", true),
            ("C", "x\\ y", true)
        ]
    );
    let InstructionKind::Env(kv) = one("ENV PATH /usr/bin:$PATH  more") else {
        panic!()
    };
    assert_eq!(
        kv,
        vec![KeyValue {
            key: "PATH".into(),
            value: "/usr/bin:$PATH  more".into(),
            has_equals: false
        }]
    );
    let InstructionKind::Label(kv) = one(r#"LABEL "org.key"=v other=w"#) else {
        panic!()
    };
    assert_eq!(kv[0].key, "\"org.key\"");
    assert_eq!(kv.len(), 2);
    assert!(err("FROM a\nENV X\n").contains("ENV must have two arguments"));
    assert!(err("FROM a\nENV A=1 B\n").contains("can't find ="));
    assert!(err("FROM a\nENV =x\n").contains("ENV names can not be blank"));
    assert!(err("FROM a\nLABEL\n").contains("LABEL requires at least one argument"));
}

#[test]
fn cmd_entrypoint_shell() {
    assert_eq!(
        one("CMD echo  hi"),
        InstructionKind::Cmd(CommandLine::Shell("echo  hi".into()))
    );
    assert_eq!(
        one(r#"ENTRYPOINT ["/bin/app", "-x"]"#),
        InstructionKind::Entrypoint(CommandLine::Exec(vec!["/bin/app".into(), "-x".into()]))
    );
    assert_eq!(
        one("CMD []"),
        InstructionKind::Cmd(CommandLine::Exec(vec![]))
    );
    assert_eq!(
        one(r#"SHELL ["bash", "-c"]"#),
        InstructionKind::Shell(vec!["bash".into(), "-c".into()])
    );
    assert!(err("FROM a\nSHELL bash -c\n").contains("JSON form"));
    assert!(err("FROM a\nSHELL []\n").contains("SHELL requires at least one argument"));
    assert!(err("FROM a\nCMD --x echo\n").contains("unknown flag --x for CMD"));
}

#[test]
fn invalid_json_falls_back_to_shell_form() {
    assert_eq!(
        one("CMD ['a']"),
        InstructionKind::Cmd(CommandLine::Shell("['a']".into()))
    );
    assert_eq!(
        one(r#"CMD ["a""#),
        InstructionKind::Cmd(CommandLine::Shell(r#"["a""#.into()))
    );
    assert!(err("FROM a\nCMD [\"a\", 1]\n").contains("arrays must be comprised of strings only"));
}

#[test]
fn single_argument_instructions() {
    assert_eq!(one("USER app:app"), InstructionKind::User("app:app".into()));
    assert_eq!(one("WORKDIR /a b"), InstructionKind::Workdir("/a b".into()));
    assert_eq!(
        one("STOPSIGNAL SIGKILL"),
        InstructionKind::Stopsignal("SIGKILL".into())
    );
    assert_eq!(
        one("MAINTAINER Jane <j@x>"),
        InstructionKind::Maintainer("Jane <j@x>".into())
    );
    assert!(err("FROM a\nUSER\n").contains("USER requires exactly one argument"));
    assert!(err("FROM a\nWORKDIR\n").contains("WORKDIR requires exactly one argument"));
}

#[test]
fn expose_and_volume() {
    assert_eq!(
        one("EXPOSE 80/tcp 443"),
        InstructionKind::Expose(vec!["80/tcp".into(), "443".into()])
    );
    assert_eq!(
        one("VOLUME /a /b"),
        InstructionKind::Volume(vec!["/a".into(), "/b".into()])
    );
    assert_eq!(
        one(r#"VOLUME ["/a b"]"#),
        InstructionKind::Volume(vec!["/a b".into()])
    );
    assert!(err("FROM a\nEXPOSE\n").contains("EXPOSE requires at least one argument"));
    assert!(err("FROM a\nVOLUME [\" \"]\n").contains("can not be an empty string"));
}

#[test]
fn onbuild_nested_instruction() {
    let df = parse("FROM a\nONBUILD RUN --mount=type=cache,target=/x echo hi\n").unwrap();
    let i = &df.stages[0].instructions[0];
    assert_eq!(
        i.original,
        "ONBUILD RUN --mount=type=cache,target=/x echo hi"
    );
    let InstructionKind::Onbuild(onbuild) = &i.kind else {
        panic!()
    };
    assert_eq!(
        onbuild.expression,
        "RUN --mount=type=cache,target=/x echo hi"
    );
    assert_eq!(onbuild.warning(), None);
    let Trigger::Parsed(inner) = &onbuild.trigger else {
        panic!("{onbuild:?}")
    };
    assert_eq!(inner.original, "RUN --mount=type=cache,target=/x echo hi");
    let InstructionKind::Run(run) = &inner.kind else {
        panic!()
    };
    assert_eq!(run.mounts, vec!["type=cache,target=/x"]);
    assert_eq!(inner.pos, Pos { line: 2, col: 9 });
}

#[test]
fn onbuild_heredoc_goes_into_original() {
    let df = parse("FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\n").unwrap();
    let InstructionKind::Onbuild(onbuild) = &df.stages[0].instructions[0].kind else {
        panic!()
    };
    assert_eq!(onbuild.expression, "RUN <<EOF\necho hi\nEOF");
    let Trigger::Parsed(inner) = &onbuild.trigger else {
        panic!("{onbuild:?}")
    };
    assert_eq!(inner.original, "RUN <<EOF\necho hi\nEOF");
    let InstructionKind::Run(run) = &inner.kind else {
        panic!()
    };
    assert_eq!(run.heredocs[0].content, "echo hi\n");
}

#[test]
fn onbuild_rejections() {
    assert!(err("FROM a\nONBUILD ONBUILD RUN x\n").contains("Chaining ONBUILD"));
    assert!(err("FROM a\nONBUILD FROM b\n").contains("FROM isn't allowed as an ONBUILD trigger"));
    assert!(err("FROM a\nONBUILD maintainer b\n").contains("MAINTAINER isn't allowed"));
    assert!(err("FROM a\nONBUILD\n").contains("ONBUILD requires at least one argument"));
    assert!(err("FROM a\nONBUILD --x RUN true\n").contains("--x"));
    // Node-level errors of the trigger are parse errors in BuildKit too.
    assert!(err("FROM a\nONBUILD ENV FOO\n").contains("ENV must have two arguments"));
    assert!(err("FROM a\nONBUILD CMD [1]\n").contains("arrays must be comprised of strings"));
}

/// The ONBUILD of `FROM a\n{line}`, and the parse warnings.
fn onbuild_of(line: &str) -> (Onbuild, Vec<crate::parser::Warning>) {
    let (df, warnings) =
        crate::parse_with_warnings("Dockerfile", &format!("FROM a\n{line}\nRUN true\n"))
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        df.stages[0].instructions.len(),
        2,
        "the build goes on after the trigger"
    );
    let InstructionKind::Onbuild(onbuild) = &df.stages[0].instructions[0].kind else {
        panic!("{df:?}")
    };
    (onbuild.clone(), warnings)
}

fn invalid(onbuild: &Onbuild) -> (Pos, String) {
    match &onbuild.trigger {
        Trigger::Invalid { pos, message } => (*pos, message.clone()),
        Trigger::Parsed(ins) => panic!("parsed: {ins:?}"),
    }
}

#[test]
fn onbuild_unknown_instruction_is_kept_as_written() {
    let (onbuild, warnings) = onbuild_of("ONBUILD FOO bar");
    assert_eq!(onbuild.expression, "FOO bar");
    let (pos, message) = invalid(&onbuild);
    assert_eq!(pos, Pos { line: 2, col: 9 });
    assert!(message.contains("unknown instruction: FOO"), "{message}");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!((warnings[0].line, warnings[0].col), (2, 9));
    assert!(
        warnings[0].message.contains("\"FOO bar\""),
        "{}",
        warnings[0].message
    );
    assert!(warnings[0].message.contains("unknown instruction: FOO"));
    assert!(
        warnings[0]
            .message
            .contains("will fail when an image built FROM this one runs it"),
        "{}",
        warnings[0].message
    );
}

#[test]
fn onbuild_suggestion_and_case_are_kept() {
    let (onbuild, _) = onbuild_of("onbuild  rnu echo hi");
    assert_eq!(onbuild.expression, "rnu echo hi");
    let (pos, message) = invalid(&onbuild);
    assert_eq!(pos, Pos { line: 2, col: 10 });
    assert!(
        message.contains("unknown instruction: rnu (did you mean"),
        "{message}"
    );
}

#[test]
fn onbuild_with_a_bad_flag_is_kept_and_points_at_the_flag() {
    let (onbuild, warnings) = onbuild_of("ONBUILD RUN --bogus=1 echo hi");
    assert_eq!(onbuild.expression, "RUN --bogus=1 echo hi");
    let (pos, message) = invalid(&onbuild);
    assert_eq!(pos, Pos { line: 2, col: 13 });
    assert!(message.contains("bogus"), "{message}");
    assert_eq!((warnings[0].line, warnings[0].col), (2, 13));

    let (onbuild, _) = onbuild_of("ONBUILD COPY --frm=x a b");
    assert_eq!(onbuild.expression, "COPY --frm=x a b");
    assert!(
        invalid(&onbuild).1.contains("did you mean --from?"),
        "{onbuild:?}"
    );
}

#[test]
fn onbuild_with_bad_arguments_is_kept() {
    for (line, expression, why) in [
        ("ONBUILD ARG =x", "ARG =x", "ARG names can not be blank"),
        ("ONBUILD SHELL sh -c", "SHELL sh -c", "JSON form"),
        (
            "ONBUILD RUN --network=bogus true",
            "RUN --network=bogus true",
            "network",
        ),
        ("ONBUILD HEALTHCHECK FOO", "HEALTHCHECK FOO", "HEALTHCHECK"),
        ("ONBUILD COPY a", "COPY a", "at least two arguments"),
    ] {
        let (onbuild, warnings) = onbuild_of(line);
        assert_eq!(onbuild.expression, expression);
        let (_, message) = invalid(&onbuild);
        assert!(message.contains(why), "{line}: {message}");
        assert_eq!(warnings.len(), 1, "{line}: {warnings:?}");
    }
}

#[test]
fn onbuild_invalid_trigger_keeps_continuations_and_heredocs() {
    let (df, warnings) = crate::parse_with_warnings(
        "Dockerfile",
        "FROM a\nONBUILD RUN --bogus \\\n  <<EOF\necho hi\nEOF\nONBUILD FOO \\\n  bar\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<&Onbuild> = df.stages[0]
        .instructions
        .iter()
        .filter_map(|i| match &i.kind {
            InstructionKind::Onbuild(o) => Some(o),
            _ => None,
        })
        .collect();
    assert_eq!(kinds.len(), 2);
    assert_eq!(kinds[0].expression, "RUN --bogus   <<EOF\necho hi\nEOF");
    assert_eq!(kinds[1].expression, "FOO   bar");
    let lines: Vec<usize> = warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, vec![2, 6]);
}

#[test]
fn valid_onbuild_gives_no_warning() {
    let (onbuild, warnings) = onbuild_of("ONBUILD COPY --from=x a b");
    assert!(matches!(onbuild.trigger, Trigger::Parsed(_)));
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn healthcheck_forms() {
    assert_eq!(
        one("HEALTHCHECK NONE"),
        InstructionKind::Healthcheck(Healthcheck::None)
    );
    let InstructionKind::Healthcheck(Healthcheck::Cmd { flags, command }) = one(
        "HEALTHCHECK --interval=5s --timeout=3s --start-period=1m --start-interval=1s --retries=3 CMD curl -f http://x/",
    ) else {
        panic!()
    };
    assert_eq!(flags.interval.as_deref(), Some("5s"));
    assert_eq!(flags.timeout.as_deref(), Some("3s"));
    assert_eq!(flags.start_period.as_deref(), Some("1m"));
    assert_eq!(flags.start_interval.as_deref(), Some("1s"));
    assert_eq!(flags.retries.as_deref(), Some("3"));
    assert_eq!(command, CommandLine::Shell("curl -f http://x/".into()));
    let InstructionKind::Healthcheck(Healthcheck::Cmd { command, .. }) =
        one(r#"healthcheck cmd ["true"]"#)
    else {
        panic!()
    };
    assert_eq!(command, CommandLine::Exec(vec!["true".into()]));
    assert!(err("FROM a\nHEALTHCHECK NONE x\n").contains("takes no arguments"));
    assert!(err("FROM a\nHEALTHCHECK CONNECT x\n").contains("Unknown type \"CONNECT\""));
    assert!(err("FROM a\nHEALTHCHECK CMD\n").contains("Missing command after HEALTHCHECK CMD"));
    assert!(err("FROM a\nHEALTHCHECK --interval=5 CMD x\n").contains("missing unit"));
    assert!(err("FROM a\nHEALTHCHECK --interval=1ns CMD x\n").contains("cannot be less than 1ms"));
    assert!(err("FROM a\nHEALTHCHECK --retries=-1 CMD x\n").contains("cannot be negative"));
    assert!(err("FROM a\nHEALTHCHECK --intervl=1s CMD x\n").contains("did you mean --interval?"));
}

#[test]
fn flag_rules() {
    assert!(err("FROM a\nCOPY --link=maybe a b\n").contains("expecting boolean value"));
    assert!(err("FROM a\nCOPY --from a b\n").contains("missing a value on flag --from"));
    assert!(err("FROM a\nCOPY --from=a --from=b a b\n").contains("duplicate flag"));
    assert!(err("FROM --platfrom=x a\n").contains("did you mean --platform?"));
}

#[test]
fn directives_are_kept() {
    let df = parse(
        "# syntax=docker/dockerfile:1\n# check=skip=all\n# escape=`\nFROM a\nRUN echo `\n  hi\n",
    )
    .unwrap();
    assert_eq!(df.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(df.directives.check.as_deref(), Some("skip=all"));
    assert_eq!(df.directives.escape, '`');
    assert_eq!(df.stages[0].instructions[0].original, "RUN echo   hi");
}

#[test]
fn original_joins_continuations() {
    let df = parse("FROM a\nRUN echo a \\\n  # comment\n\n    && echo b\nUSER x\n").unwrap();
    let i = &df.stages[0].instructions;
    assert_eq!(i[0].original, "RUN echo a     && echo b");
    assert_eq!(i[0].pos, Pos { line: 2, col: 1 });
    assert_eq!(i[1].pos.line, 6);
}

#[test]
fn warnings_for_empty_continuation_lines() {
    let (df, warnings) =
        crate::parse_with_warnings("Dockerfile", "FROM a\nRUN a \\\n\n  b\n").unwrap();
    assert_eq!(df.stages[0].instructions.len(), 1);
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].line, 4);
    assert!(warnings[0].message.contains("empty continuation line"));
}
