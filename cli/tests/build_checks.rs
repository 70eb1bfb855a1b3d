//! Build checks (BuildKit's Dockerfile linter): `hoist build --check` runs them alone and shows each warning with
//! its Dockerfile lines; a build lists them at its end; `# check=skip=…;error=true` and the
//! `BUILDKIT_DOCKERFILE_CHECK` build arg choose which run and whether one fails the build. The rules themselves
//! are unit-tested in hoist-parser (`lint`); the ones that need the build's scope, `.dockerignore` or base image
//! are tested here.
mod common;

use common::{context_with, Hoist};

/// `hoist build --check` on a context with `files`: (exit code, stdout, stderr).
fn check(h: &Hoist, files: &[(&str, &[u8])], extra: &[&str]) -> (i32, String, String) {
    let ctx = context_with(files);
    let mut args = vec!["build", "--check"];
    args.extend_from_slice(extra);
    let path = ctx.path().to_str().unwrap().to_string();
    args.push(&path);
    h.out(&args)
}

const WARNED: &str = "FROM busybox\nRUN echo ran > /ran\nCMD echo hi\n";

#[test]
fn check_alone_shows_each_warning_with_its_lines_and_builds_nothing() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (code, out, err) = check(
        &h,
        &[(
            "Dockerfile",
            b"FROM busybox as Build\nRUN echo ran > /ran\nCMD echo hi\n",
        )],
        &["-t", "chk:1"],
    );
    assert_eq!(code, 1, "a failed check exits 1: {out}{err}");
    assert!(
        out.starts_with("Check complete, 3 warnings have been found!\n"),
        "{out}"
    );
    assert!(
        out.contains(
            "\nWARNING: JSONArgsRecommended - https://docs.docker.com/go/dockerfile/rule/json-args-recommended/\n\
             JSON arguments recommended for CMD to prevent unintended behavior related to OS signals\n\
             Dockerfile:3\n\
             --------------------\n   \
             1 |     FROM busybox as Build\n   \
             2 |     RUN echo ran > /ran\n   \
             3 | >>> CMD echo hi\n"
        ),
        "{out}"
    );
    assert!(out.contains("WARNING: StageNameCasing - "), "{out}");
    assert!(
        out.contains("'as' and 'FROM' keywords' casing do not match"),
        "{out}"
    );
    assert!(
        !err.contains("ran") && !err.contains("#2"),
        "no step ran: {err}"
    );
    let (code, _, _) = h.out(&["inspect", "chk:1"]);
    assert_ne!(code, 0, "--check makes no image");

    let (code, out, _) = check(&h, &[("Dockerfile", b"FROM busybox\nCMD [\"sh\"]\n")], &[]);
    assert_eq!(
        (code, out.as_str()),
        (0, "Check complete, no warnings found.\n")
    );
}

#[test]
fn a_build_lists_the_warnings_at_its_end_and_goes_on() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let log = h.build_ok("chk:2", WARNED, &[], &["--progress", "plain"]);
    let summary = log
        .find("\n 1 warning found (use --debug to expand):\n - JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (line 3)\n")
        .unwrap_or_else(|| panic!("{log}"));
    let last_step = log.rfind("DONE").unwrap_or_else(|| panic!("{log}"));
    assert!(summary > last_step, "after the steps: {log}");
    assert_eq!(log.matches("JSONArgsRecommended").count(), 1, "{log}");
    assert_eq!(h.sh("chk:2", "cat /ran"), "ran\n");

    // --debug: the rule's description and link and the lines around.
    let log = h.build_ok("chk:2d", WARNED, &[], &["--debug"]);
    assert!(
        log.contains("\n 1 warning found:\n - JSONArgsRecommended: "),
        "{log}"
    );
    assert!(log.contains("More info: https://docs.docker.com/go/dockerfile/rule/json-args-recommended/\nDockerfile:3\n"), "{log}");
    assert!(log.contains("   3 | >>> CMD echo hi\n"), "{log}");

    // JSON progress: each finding is a warning event, and no summary for people.
    let log = h.build_ok("chk:2j", WARNED, &[], &["--progress", "json"]);
    let events: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        events.iter().any(|e| {
            e["event"] == "warning"
                && e["message"].as_str().is_some_and(|m| {
                    m.starts_with("JSONArgsRecommended: ") && m.ends_with("(line 3)")
                })
        }),
        "{log}"
    );
    assert!(!log.contains("warning found"), "{log}");

    // -q prints the image ID only.
    let (out, _ctx) = h.build_text("chk:3", WARNED, &[], &["-q"]);
    assert!(out.status.success());
    assert!(
        !common::stderr(&out).contains("warning"),
        "{}",
        common::stderr(&out)
    );
}

#[test]
fn the_check_directive_and_build_arg_choose_the_rules() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let two = b"FROM busybox\nMAINTAINER me\nCMD echo hi\n";
    let (code, out, _) = check(&h, &[("Dockerfile", two)], &[]);
    assert_eq!(code, 1);
    assert!(out.contains("2 warnings have been found"), "{out}");

    let skip_one = b"# check=skip=JSONArgsRecommended\nFROM busybox\nMAINTAINER me\nCMD echo hi\n";
    let (code, out, _) = check(&h, &[("Dockerfile", skip_one)], &[]);
    assert_eq!(code, 1);
    assert!(
        out.contains("1 warning has been found") && out.contains("MaintainerDeprecated"),
        "{out}"
    );
    assert!(!out.contains("WARNING: JSONArgsRecommended"), "{out}");

    let skip_all = b"# check=skip=all\nFROM busybox\nMAINTAINER me\nCMD echo hi\n";
    let (code, out, _) = check(&h, &[("Dockerfile", skip_all)], &[]);
    assert_eq!(
        (code, out.as_str()),
        (0, "Check complete, no warnings found.\n")
    );

    // The build arg replaces the directive, as in BuildKit, and is no unused build arg.
    let args = [
        "--build-arg",
        "BUILDKIT_DOCKERFILE_CHECK=skip=MaintainerDeprecated",
    ];
    let (code, out, _) = check(&h, &[("Dockerfile", skip_all)], &args);
    assert_eq!(code, 1);
    assert!(
        out.contains("JSONArgsRecommended") && !out.contains("Maintainer"),
        "{out}"
    );
    let log = h.build_ok("chk:4", "FROM busybox\nRUN true\n", &[], &args);
    assert!(!log.contains("not consumed"), "{log}");

    let log = h.build_err("chk:5", "# check=skip\nFROM busybox\n", &[], &[]);
    assert!(
        log.contains("failed to parse check options") && log.contains("invalid check option"),
        "{log}"
    );
}

#[test]
fn error_true_fails_the_build_before_any_step() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let strict = format!("# check=error=true\n{WARNED}");
    let log = h.build_err("chk:6", &strict, &[], &["--progress", "plain"]);
    assert!(
        log.contains("ERROR: lint violation found for rules: JSONArgsRecommended"),
        "{log}"
    );
    assert!(
        log.contains(" - JSONArgsRecommended: "),
        "the warnings too: {log}"
    );
    assert!(!log.contains("RUN echo ran"), "no step ran: {log}");

    let args = ["--build-arg", "BUILDKIT_DOCKERFILE_CHECK=error=true"];
    let log = h.build_err("chk:7", WARNED, &[], &args);
    assert!(log.contains("lint violation found"), "{log}");

    // Nothing to report: error=true builds.
    h.build_ok(
        "chk:8",
        "# check=error=true\nFROM busybox\nCMD [\"sh\"]\n",
        &[],
        &[],
    );
}

#[test]
fn undefined_var_follows_the_arg_and_env_scope() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let dockerfile = b"FROM busybox AS base\nENV FROM_BASE=1\n\
        FROM base\nARG DECLARED\nENV A=1\nLABEL ok=\"$PATH $A $DECLARED $FROM_BASE\"\n\
        LABEL bad=\"$NOPE $PAHT\"\nWORKDIR /$ALSO_NOPE\nRUN echo $NOT_JUDGED\n";
    let (code, out, _) = check(&h, &[("Dockerfile", dockerfile)], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("Usage of undefined variable '$NOPE'\n"),
        "{out}"
    );
    assert!(
        out.contains("Usage of undefined variable '$PAHT' (did you mean $PATH?)"),
        "{out}"
    );
    assert!(
        out.contains("Usage of undefined variable '$ALSO_NOPE'"),
        "{out}"
    );
    assert!(
        out.contains("3 warnings have been found"),
        "only those: {out}"
    );
}

#[test]
fn expose_ports_are_judged_once_expanded() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let dockerfile = b"FROM busybox\nARG PORT=80/TCP\nEXPOSE $PORT 127.0.0.1:8080:80 53/udp 443\n";
    let (code, out, _) = check(&h, &[("Dockerfile", dockerfile)], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("Defined protocol '80/TCP' in EXPOSE instruction should be lowercase"),
        "{out}"
    );
    assert!(
        out.contains("EXPOSE instruction should not define an IP address or host-port mapping, found '127.0.0.1:8080:80'"),
        "{out}"
    );
    assert!(
        out.contains("2 warnings have been found"),
        "only those: {out}"
    );
}

#[test]
fn copy_ignored_file_and_base_image_platform() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let files: &[(&str, &[u8])] = &[
        (
            "Dockerfile",
            b"FROM busybox\nCOPY kept.txt secret.txt /\nADD logs/today.log /\n",
        ),
        (".dockerignore", b"secret.txt\nlogs\n"),
        ("kept.txt", b"k"),
    ];
    let (code, out, _) = check(&h, files, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("Attempting to Copy file \"secret.txt\" that is excluded by .dockerignore"),
        "{out}"
    );
    assert!(
        out.contains("Attempting to Add file \"logs/today.log\" that is excluded by .dockerignore"),
        "{out}"
    );
    assert!(!out.contains("kept.txt\""), "{out}");
    // A `!` pattern may bring files back: BuildKit does not judge then.
    let files: &[(&str, &[u8])] = &[
        ("Dockerfile", b"FROM busybox\nCOPY secret.txt /\n"),
        (".dockerignore", b"secret.txt\n!keep\n"),
    ];
    assert_eq!(check(&h, files, &[]).0, 0);

    // The local busybox is this host's platform; a stage that asks for another one is warned about.
    let other = if cfg!(target_arch = "aarch64") {
        "linux/amd64"
    } else {
        "linux/arm64"
    };
    let dockerfile = format!("FROM --platform={other} busybox AS build-{}\n", &other[6..]);
    let (code, out, _) = check(&h, &[("Dockerfile", dockerfile.as_bytes())], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "WARNING: InvalidBaseImagePlatform\nBase image busybox was pulled with platform "
        ),
        "{out}"
    );
    assert!(
        out.contains(&format!("expected \"{other}\" for current build")),
        "{out}"
    );
    let (code, out, _) = check(&h, &[("Dockerfile", b"FROM busybox\n")], &[]);
    assert_eq!(code, 0, "{out}");
}

/// What the parser and the ONBUILD lowering warned about before stays said once: an empty continuation line is the
/// NoEmptyContinuation check, an invalid ONBUILD trigger keeps its own warning.
#[test]
fn earlier_warnings_are_not_repeated() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let log = h.build_ok(
        "chk:9",
        "FROM busybox\nRUN echo a \\\n\n  b\nONBUILD FOO bar\n",
        &[],
        &["--progress", "plain"],
    );
    assert_eq!(log.matches("mpty continuation line").count(), 1, "{log}");
    assert!(
        log.contains(" - NoEmptyContinuation: Empty continuation line (line 4)"),
        "{log}"
    );
    assert_eq!(log.matches("ONBUILD trigger").count(), 1, "{log}");
}
