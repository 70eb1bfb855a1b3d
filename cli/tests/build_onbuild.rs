//! ONBUILD: stored in the config's OnBuild; the triggers run right after FROM, in order, once; a child does not
//! pass them on; COPY --from runs none; chained and forbidden triggers are errors.
mod common;

use common::Hoist;

const FAMILY: &str = "\
FROM busybox AS base
ONBUILD RUN echo one >> /trig
ONBUILD RUN echo two >> /trig
FROM base AS child
RUN cat /trig > /child-saw
FROM child AS grandchild
RUN cat /trig > /grandchild-saw
FROM busybox AS copier
COPY --from=base /etc/group /group
RUN test ! -e /trig && echo none > /copier-saw
";

#[test]
fn triggers_are_stored_in_the_config_and_not_run_in_their_own_stage() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.build_ok("ob:base", FAMILY, &[], &["--target", "base"]);
    let config = h.config("ob:base");
    assert_eq!(
        config["OnBuild"],
        serde_json::json!(["RUN echo one >> /trig", "RUN echo two >> /trig"])
    );
    assert_eq!(h.sh("ob:base", "test ! -e /trig && echo unrun"), "unrun\n");
}

#[test]
fn triggers_run_after_from_in_order_once_and_are_not_inherited_further() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.build_ok("ob:gc", FAMILY, &[], &["--target", "grandchild"]);
    assert_eq!(
        h.sh("ob:gc", "cat /child-saw; echo --; cat /grandchild-saw"),
        "one\ntwo\n--\none\ntwo\n"
    );
    let config = h.config("ob:gc");
    assert!(
        config["OnBuild"].is_null() || config["OnBuild"] == serde_json::json!([]),
        "{config}"
    );
}

#[test]
fn copy_from_a_stage_runs_no_trigger() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.build_ok("ob:copier", FAMILY, &[], &["--target", "copier"]);
    assert_eq!(h.sh("ob:copier", "cat /copier-saw"), "none\n");
}

#[test]
fn triggers_of_an_image_in_the_store_run_in_the_next_build() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.build_ok(
        "ob-img:1",
        "FROM busybox\nONBUILD COPY marker.txt /marker\nONBUILD RUN echo ran >> /ran\n",
        &[],
        &[],
    );
    h.build_ok(
        "ob-img:2",
        "FROM ob-img:1\nRUN cat /marker /ran > /both\n",
        &[("marker.txt", "from-child-context\n")],
        &[],
    );
    assert_eq!(h.sh("ob-img:2", "cat /both"), "from-child-context\nran\n");
    // A trigger's COPY reads the context of the build that runs it: a missing file is that build's error.
    let log = h.build_err("ob-img:3", "FROM ob-img:1\n", &[], &[]);
    assert!(log.contains("marker.txt"), "{log}");
}

#[test]
fn chained_and_forbidden_triggers_are_refused() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let log = h.build_err(
        "ob:e1",
        "FROM busybox\nONBUILD ONBUILD RUN true\n",
        &[],
        &[],
    );
    assert!(log.contains("Dockerfile:2"), "{log}");
    assert!(log.to_lowercase().contains("onbuild"), "{log}");
    let log = h.build_err("ob:e2", "FROM busybox\nONBUILD FROM busybox\n", &[], &[]);
    assert!(log.contains("Dockerfile:2"), "{log}");
    let log = h.build_err("ob:e3", "FROM busybox\nONBUILD MAINTAINER me\n", &[], &[]);
    assert!(log.contains("Dockerfile:2"), "{log}");
}

/// BuildKit accepts a trigger that is not a valid instruction (unknown instruction, bad flag) at parse time and
/// stores it as written; only a child build running it fails. hoist does the same, with a warning up front.
#[test]
fn an_invalid_trigger_is_stored_as_written_and_fails_in_the_child() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let log = h.build_ok(
        "ob-bad:1",
        "FROM busybox\nONBUILD FOO bar\nONBUILD RUN --bogus=1 echo hi\nONBUILD  run echo ok\n",
        &[],
        &[],
    );
    assert!(log.contains("Dockerfile:2:9: "), "{log}");
    assert!(log.contains("Dockerfile:3:13: "), "{log}");
    assert!(log.contains("\"FOO bar\""), "{log}");
    assert!(
        log.contains("will fail when an image built FROM this one runs it"),
        "{log}"
    );
    assert_eq!(
        h.config("ob-bad:1")["OnBuild"],
        serde_json::json!(["FOO bar", "RUN --bogus=1 echo hi", "run echo ok"])
    );

    let log = h.build_err("ob-bad:2", "FROM ob-bad:1\nRUN true\n", &[], &[]);
    assert!(log.contains("\"FOO bar\""), "{log}");
    assert!(log.contains("unknown instruction: FOO"), "{log}");

    h.build_ok(
        "ob-flag:1",
        "FROM busybox\nONBUILD RUN --bogus=1 echo hi\n",
        &[],
        &[],
    );
    let log = h.build_err("ob-flag:2", "FROM ob-flag:1\n", &[], &[]);
    assert!(log.contains("\"RUN --bogus=1 echo hi\""), "{log}");
    assert!(log.contains("--bogus"), "{log}");
}

#[test]
fn an_invalid_trigger_fails_a_stage_built_from_its_stage() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let text = "FROM busybox AS base\nONBUILD COPY --frm=x a b\nFROM base\nRUN true\n";
    h.build_ok("ob-stage:base", text, &[], &["--target", "base"]);
    let log = h.build_err("ob-stage:child", text, &[], &[]);
    assert!(log.contains("\"COPY --frm=x a b\""), "{log}");
    assert!(log.contains("--from"), "{log}");
}

#[test]
fn the_step_counter_includes_the_triggers() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let log = h.build_ok(
        "ob:count",
        "FROM busybox AS one\nONBUILD RUN echo a\nONBUILD ENV X=1\nONBUILD COPY f /f\n\
         FROM one AS two\nRUN echo b\n",
        &[("f", "x")],
        &["--progress", "plain"],
    );
    // FROM, the RUN and COPY triggers (ENV makes no step), then the stage's own RUN.
    assert!(log.contains("[two 1/4] FROM one"), "{log}");
    assert!(log.contains("[two 2/4] RUN echo a"), "{log}");
    assert!(log.contains("[two 3/4] COPY f /f"), "{log}");
    assert!(log.contains("[two 4/4] RUN echo b"), "{log}");
    assert!(!log.contains("/2]"), "{log}");
}
