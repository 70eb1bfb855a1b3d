//! ARG and ENV scoping, as BuildKit does it: global ARGs only in FROM unless redeclared, defaults, --build-arg
//! overrides, ENV wins over ARG, build args in RUN's environment but not in the config, predefined proxy args,
//! automatic platform args, and the warnings for unused build args and variables used before they are set.
mod common;

use common::Hoist;

fn env_of(h: &Hoist, image: &str) -> Vec<String> {
    h.config(image)["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn global_args_are_visible_in_a_stage_only_when_redeclared() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let df = "ARG G=global\nFROM busybox\nRUN echo \"[$G]\" > /not-declared\nARG G\nRUN echo \"[$G]\" > /declared\n";
    h.build_ok("a:1", df, &[], &[]);
    assert_eq!(h.sh("a:1", "cat /not-declared /declared"), "[]\n[global]\n");
    // --build-arg overrides the global default, also where the stage redeclares it.
    h.build_ok("a:2", df, &[], &["--build-arg", "G=cli"]);
    assert_eq!(h.sh("a:2", "cat /not-declared /declared"), "[]\n[cli]\n");
    // A redeclared ARG with its own default keeps the stage default over the global one.
    h.build_ok(
        "a:3",
        "ARG G=global\nFROM busybox\nARG G=stage\nRUN echo $G > /g\n",
        &[],
        &[],
    );
    assert_eq!(h.sh("a:3", "cat /g"), "stage\n");
}

#[test]
fn arg_defaults_overrides_and_chains() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let df = "FROM busybox\nARG A=one\nARG B=${A}-two\nARG C\nRUN echo \"$A $B [$C]\" > /out\n";
    h.build_ok("d:1", df, &[], &[]);
    assert_eq!(h.sh("d:1", "cat /out"), "one one-two []\n");
    h.build_ok(
        "d:2",
        df,
        &[],
        &["--build-arg", "A=x", "--build-arg", "C=c"],
    );
    assert_eq!(h.sh("d:2", "cat /out"), "x x-two [c]\n");
    // An ARG belongs to its stage: the next stage does not see it.
    h.build_ok(
        "d:3",
        "FROM busybox AS s1\nARG S=1\nFROM busybox\nRUN echo \"[$S]\" > /out\n",
        &[],
        &[],
    );
    assert_eq!(h.sh("d:3", "cat /out"), "[]\n");
}

#[test]
fn env_wins_over_arg_and_sees_values_from_before_its_instruction() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let df = "FROM busybox\nARG V=arg\nENV V=env\nRUN echo $V > /v\nENV A=1\nENV A=2 B=$A\nRUN echo $A $B > /ab\n";
    h.build_ok("e:1", df, &[], &["--build-arg", "V=cli"]);
    assert_eq!(h.sh("e:1", "cat /v /ab"), "env\n2 1\n");
    // An ARG with a value after the ENV wins for what follows (BuildKit's one state env), in expansion and in
    // RUN, but the image config keeps the ENV's value; an ARG without a value changes nothing.
    h.build_ok(
        "e:2",
        "FROM busybox\nENV D=/data W=envw\nARG D=/argval\nARG W\nWORKDIR $D\nRUN echo $D $W > v\nENV X=$D\n",
        &[],
        &[],
    );
    assert_eq!(h.config("e:2")["WorkingDir"], "/argval");
    assert_eq!(h.sh("e:2", "cat /argval/v"), "/argval envw\n");
    let env = env_of(&h, "e:2");
    assert!(env.contains(&"D=/data".to_string()), "{env:?}");
    assert!(env.contains(&"X=/argval".to_string()), "{env:?}");
    // A --build-arg for an ARG declared without a default after the ENV wins too; a later ENV wins again.
    h.build_ok(
        "e:3",
        "FROM busybox\nENV U=envu\nARG U\nRUN echo $U > /u1\nENV U=again\nRUN echo $U > /u2\n",
        &[],
        &["--build-arg", "U=cli"],
    );
    assert_eq!(h.sh("e:3", "cat /u1 /u2"), "cli\nagain\n");
}

#[test]
fn build_args_reach_run_but_not_the_image_config() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let df = "FROM busybox\nARG TOKEN=t0\nRUN env > /run-env\nENV KEPT=yes\n";
    h.build_ok("c:1", df, &[], &["--build-arg", "TOKEN=abc"]);
    assert!(h
        .sh("c:1", "cat /run-env")
        .lines()
        .any(|l| l == "TOKEN=abc"));
    let env = env_of(&h, "c:1");
    assert!(env.contains(&"KEPT=yes".to_string()), "{env:?}");
    assert!(
        !env.iter().any(|e| e.starts_with("TOKEN")),
        "build args stay out of the config: {env:?}"
    );
    // A different build arg value is a different RUN (cache key), so the new value is seen.
    h.build_ok("c:2", df, &[], &["--build-arg", "TOKEN=def"]);
    assert!(h
        .sh("c:2", "cat /run-env")
        .lines()
        .any(|l| l == "TOKEN=def"));
}

#[test]
fn predefined_proxy_args_need_no_arg_and_stay_out_of_the_config() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let log = h.build_ok(
        "p:1",
        "FROM busybox\nRUN env > /run-env\n",
        &[],
        &[
            "--build-arg",
            "HTTP_PROXY=http://proxy:3128",
            "--build-arg",
            "no_proxy=local",
        ],
    );
    assert!(
        !log.contains("not consumed"),
        "proxy args are consumed without an ARG: {log}"
    );
    let run_env = h.sh("p:1", "cat /run-env");
    assert!(
        run_env.lines().any(|l| l == "HTTP_PROXY=http://proxy:3128"),
        "{run_env}"
    );
    assert!(run_env.lines().any(|l| l == "no_proxy=local"), "{run_env}");
    assert!(!env_of(&h, "p:1")
        .iter()
        .any(|e| e.contains("proxy") || e.contains("PROXY")));
    let (config, _) = h.saved("p:1");
    assert!(
        !config["history"].to_string().contains("proxy:3128"),
        "proxy args stay out of history"
    );
    // Another proxy is not another build (BuildKit leaves proxy args out of the cache key).
    let log = h.build_ok(
        "p:2",
        "FROM busybox\nRUN env > /run-env\n",
        &[],
        &["--build-arg", "HTTP_PROXY=http://other:8080"],
    );
    assert!(log.contains("CACHED"), "{log}");
    // Declared, a proxy arg is an ordinary ARG.
    h.build_ok(
        "p:3",
        "FROM busybox\nARG HTTP_PROXY\nRUN env | grep -c HTTP_PROXY > /count\n",
        &[],
        &["--build-arg", "HTTP_PROXY=http://proxy:3128"],
    );
    assert_eq!(h.sh("p:3", "cat /count"), "1\n");
    // BuildKit passes each proxy as both the upper- and the lower-case variable.
    h.build_ok(
        "p:4",
        "FROM busybox\nARG HTTP_PROXY\nRUN env | grep -i _proxy= | sort > /run-env\n",
        &[],
        &[
            "--build-arg",
            "HTTP_PROXY=http://p:1",
            "--build-arg",
            "no_proxy=local",
        ],
    );
    assert_eq!(
        h.sh("p:4", "cat /run-env"),
        "HTTP_PROXY=http://p:1\nNO_PROXY=local\nhttp_proxy=http://p:1\nno_proxy=local\n"
    );
}

#[test]
fn automatic_platform_args_in_from_and_when_declared() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let df = "FROM busybox\nRUN echo \"[$TARGETARCH]\" > /undeclared\nARG TARGETPLATFORM\nARG TARGETOS\nARG TARGETARCH\nARG BUILDPLATFORM\nRUN echo $TARGETPLATFORM $TARGETOS $TARGETARCH $BUILDPLATFORM > /p\n";
    h.build_ok("pl:1", df, &[], &[]);
    assert_eq!(
        h.sh("pl:1", "cat /undeclared /p"),
        format!("[]\nlinux/{arch} linux {arch} linux/{arch}\n")
    );
    // In FROM lines they are visible without a declaration.
    h.build_ok(
        "pl:2",
        "FROM busybox AS b-linux\nRUN touch /x\nFROM b-$TARGETOS\n",
        &[],
        &[],
    );
}

#[test]
fn global_arg_without_value_unsets_an_automatic_platform_arg() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    // BuildKit: a global `ARG TARGETOS` with no value replaces the automatic one, so the stage's `ARG TARGETOS`
    // finds it empty; the automatic args nobody redeclared globally keep their values.
    h.build_ok(
        "gp:1",
        "ARG TARGETOS\nFROM busybox\nARG TARGETOS\nARG TARGETARCH\nRUN echo \"[$TARGETOS][$TARGETARCH]\" > /p\n",
        &[],
        &[],
    );
    assert_eq!(h.sh("gp:1", "cat /p"), "[][amd64]\n");
}

#[test]
fn unused_build_arg_warns_and_the_build_goes_on() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let log = h.build_ok(
        "u:1",
        "FROM busybox\nARG USED\nRUN true\n",
        &[],
        &["--build-arg", "USED=1", "--build-arg", "NOBODY=2"],
    );
    assert!(
        log.contains("[NOBODY]") && log.contains("not consumed"),
        "{log}"
    );
    assert!(!log.contains("[USED]"), "{log}");
}

#[test]
fn variable_used_before_its_arg_warns_and_expands_empty() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let log = h.build_ok(
        "w:1",
        "FROM busybox\nLABEL early=\"[$LATER]\"\nARG LATER=1\nLABEL late=\"[$LATER]\"\n",
        &[],
        &[],
    );
    // Once, as the UndefinedVar build check (with the line), not again while the step runs.
    assert_eq!(
        log.matches("LATER").count(),
        1,
        "warns once, with the line: {log}"
    );
    assert!(
        log.contains("UndefinedVar: Usage of undefined variable '$LATER' (line 2)"),
        "{log}"
    );
    let labels = &h.config("w:1")["Labels"];
    assert_eq!(labels["early"], "[]");
    assert_eq!(labels["late"], "[1]");
}
