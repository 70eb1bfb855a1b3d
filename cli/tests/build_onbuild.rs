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
