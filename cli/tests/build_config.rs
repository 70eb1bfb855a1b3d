//! The image config as BuildKit writes it: CMD/ENTRYPOINT forms and inheritance, SHELL, USER resolved at RUN
//! time, WORKDIR creation and ownership, EXPOSE, VOLUME, LABEL, MAINTAINER, STOPSIGNAL, HEALTHCHECK, history.
mod common;

use common::Hoist;
use serde_json::json;

#[test]
fn cmd_and_entrypoint_forms_and_inheritance() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let df = "\
FROM busybox AS base
CMD echo base-cmd
FROM base AS inherits
FROM base AS reset
ENTRYPOINT [\"/bin/echo\", \"ep\"]
FROM base AS same-stage
CMD [\"x\"]
ENTRYPOINT /bin/echo shell-ep
";
    h.build_ok("c:base", df, &[], &["--target", "base"]);
    let c = h.config("c:base");
    assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo base-cmd"]));
    h.build_ok("c:inherits", df, &[], &["--target", "inherits"]);
    assert_eq!(
        h.config("c:inherits")["Cmd"],
        json!(["/bin/sh", "-c", "echo base-cmd"])
    );
    h.build_ok("c:reset", df, &[], &["--target", "reset"]);
    let c = h.config("c:reset");
    assert_eq!(c["Entrypoint"], json!(["/bin/echo", "ep"]));
    assert!(c["Cmd"].is_null(), "ENTRYPOINT drops an inherited CMD: {c}");
    let out = h.run(&["run", "--rm", "c:reset", "a"]);
    assert_eq!(common::stdout(&out), "ep a\n");
    h.build_ok("c:same", df, &[], &["--target", "same-stage"]);
    let c = h.config("c:same");
    assert_eq!(
        c["Entrypoint"],
        json!(["/bin/sh", "-c", "/bin/echo shell-ep"])
    );
    assert_eq!(c["Cmd"], json!(["x"]), "a CMD of the same stage is kept");
    // The same with a base image from the store.
    h.build_ok(
        "c:img-child",
        "FROM c:base\nENTRYPOINT [\"/bin/echo\"]\n",
        &[],
        &[],
    );
    assert!(
        h.config("c:img-child")["Cmd"].is_null(),
        "ENTRYPOINT drops the base image's CMD"
    );
    h.build_ok("c:img-keep", "FROM c:base\nLABEL x=1\n", &[], &[]);
    assert_eq!(
        h.config("c:img-keep")["Cmd"],
        json!(["/bin/sh", "-c", "echo base-cmd"])
    );
}

#[test]
fn shell_changes_shell_forms_and_is_recorded() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let df =
        "FROM busybox\nSHELL [\"/bin/sh\", \"-ec\"]\nRUN echo \"$0 $-\" > /shell\nCMD echo hi\n";
    h.build_ok("sh:1", df, &[], &[]);
    let c = h.config("sh:1");
    assert_eq!(c["Shell"], json!(["/bin/sh", "-ec"]));
    assert_eq!(c["Cmd"], json!(["/bin/sh", "-ec", "echo hi"]));
    assert!(h.sh("sh:1", "cat /shell").contains('e'), "RUN ran with -e");
    let log = h.build_err("sh:2", "FROM busybox\nSHELL /bin/bash -c\n", &[], &[]);
    assert!(
        log.contains("Dockerfile:2"),
        "SHELL needs the JSON form: {log}"
    );
}

#[test]
fn user_is_resolved_at_run_time_from_the_stage_passwd() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let df = "\
FROM busybox
RUN echo 'late:x:1234:4321::/:/bin/sh' >> /etc/passwd && echo 'late:x:4321:' >> /etc/group && echo 'extra:x:777:late' >> /etc/group && mkdir -m 1777 /out
USER late
RUN id -u > /out/uid && id -g > /out/gid && id -G > /out/groups
USER app:nogroup
RUN id -u > /out/uid2 && id -g > /out/gid2
USER 4242:4343
RUN id -u > /out/uid3 && id -g > /out/gid3
USER late
";
    h.build_ok("u:1", df, &[], &[]);
    assert_eq!(h.config("u:1")["User"], "late");
    let out = h.sh(
        "u:1",
        "cat /out/uid /out/gid /out/groups /out/uid2 /out/gid2 /out/uid3 /out/gid3",
    );
    let nobody_gid = h.sh("u:1", "grep ^nogroup: /etc/group | cut -d: -f3");
    assert_eq!(
        out,
        format!("1234\n4321\n4321 777\n1000\n{nobody_gid}4242\n4343\n")
    );
    let log = h.build_err("u:2", "FROM busybox\nUSER nosuchuser\nRUN true\n", &[], &[]);
    assert!(log.contains("nosuchuser"), "{log}");
    assert!(log.contains("Dockerfile:3"), "{log}");
}

#[test]
fn workdir_is_relative_created_and_owned_by_the_user() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let df = "FROM busybox\nWORKDIR /a\nWORKDIR b\nENV SUB=c\nWORKDIR $SUB\nRUN pwd > /pwd\nUSER app\nWORKDIR /owned/deep\nWORKDIR /a\n";
    h.build_ok("w:1", df, &[], &[]);
    let c = h.config("w:1");
    assert_eq!(c["WorkingDir"], "/a");
    let out = h.sh(
        "w:1",
        "cat /pwd; stat -c '%n %u:%g' /a/b/c /owned/deep /owned /a",
    );
    assert_eq!(
        out,
        "/a/b/c\n/a/b/c 0:0\n/owned/deep 1000:1000\n/owned 1000:1000\n/a 0:0\n"
    );
}

#[test]
fn expose_volume_label_maintainer_stopsignal() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let df = "\
FROM busybox
ARG P=9000
EXPOSE 80 53/udp ${P}-9001/tcp
VOLUME /data /logs
VOLUME [\"/json\", \"/two\"]
LABEL a=1 \"b c\"=\"d e\"
LABEL a=2
MAINTAINER Jane Doe <jane@example.com>
STOPSIGNAL SIGTERM
RUN mkdir /data && echo kept > /data/file
";
    h.build_ok("m:1", df, &[], &[]);
    let c = h.config("m:1");
    let keys =
        |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        keys(&c["ExposedPorts"]),
        vec!["53/udp", "80/tcp", "9000/tcp", "9001/tcp"]
    );
    let mut volumes = keys(&c["Volumes"]);
    volumes.sort();
    assert_eq!(volumes, vec!["/data", "/json", "/logs", "/two"]);
    assert_eq!(c["Labels"], json!({"a": "2", "b c": "d e"}));
    assert_eq!(c["StopSignal"], "SIGTERM");
    let (full, _) = h.saved("m:1");
    assert_eq!(full["author"], "Jane Doe <jane@example.com>");
    assert_eq!(
        h.sh("m:1", "cat /data/file"),
        "kept\n",
        "files written to a VOLUME path are kept"
    );
    let log = h.build_err("m:2", "FROM busybox\nEXPOSE http\n", &[], &[]);
    assert!(
        log.contains("Dockerfile:2") && log.contains("http"),
        "{log}"
    );
    // EXPOSE takes docker's port specs (the container side counts); STOPSIGNAL is checked after expansion.
    h.build_ok(
        "m:3",
        "FROM busybox\nARG S=usr1\nEXPOSE 0.0.0.0:8080:80 9000:90/udp 91/\nSTOPSIGNAL $S\n",
        &[],
        &[],
    );
    let c = h.config("m:3");
    assert_eq!(keys(&c["ExposedPorts"]), vec!["80/tcp", "90/udp", "91/tcp"]);
    assert_eq!(c["StopSignal"], "usr1");
    for bad in ["SIGTERM SIGKILL", "FOO", "0"] {
        let log = h.build_err(
            "m:4",
            &format!("FROM busybox\nSTOPSIGNAL {bad}\n"),
            &[],
            &[],
        );
        assert!(
            log.contains("Dockerfile:2:1") && log.contains("Invalid signal"),
            "{bad}: {log}"
        );
    }
}

#[test]
fn healthcheck_forms() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.build_ok(
        "hc:1",
        "FROM busybox\nHEALTHCHECK --interval=30s --timeout=5s --start-period=1m --retries=3 CMD wget -q localhost || exit 1\n",
        &[],
        &[],
    );
    assert_eq!(
        h.config("hc:1")["Healthcheck"],
        json!({"Test": ["CMD-SHELL", "wget -q localhost || exit 1"], "Interval": 30_000_000_000u64,
               "Timeout": 5_000_000_000u64, "StartPeriod": 60_000_000_000u64, "Retries": 3})
    );
    h.build_ok("hc:2", "FROM hc:1\nHEALTHCHECK NONE\n", &[], &[]);
    assert_eq!(h.config("hc:2")["Healthcheck"], json!({"Test": ["NONE"]}));
    h.build_ok(
        "hc:3",
        "FROM busybox\nHEALTHCHECK CMD [\"/bin/true\"]\n",
        &[],
        &[],
    );
    assert_eq!(
        h.config("hc:3")["Healthcheck"],
        json!({"Test": ["CMD", "/bin/true"]})
    );
    let log = h.build_err(
        "hc:4",
        "FROM busybox\nHEALTHCHECK --interval=often CMD true\n",
        &[],
        &[],
    );
    assert!(log.contains("Dockerfile:2"), "{log}");
}

#[test]
fn history_marks_config_only_steps_as_empty_layers() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let df = "FROM busybox\nENV A=1\nARG V=x\nARG A\nRUN echo x > /x\nLABEL l=1\nCOPY f /f\n";
    h.build_ok(
        "hi:1",
        df,
        &[("f", "f")],
        &["--build-arg", "V=y", "--build-arg", "HTTP_PROXY=http://p:1"],
    );
    let (config, layers) = h.saved("hi:1");
    let history = config["history"].as_array().unwrap();
    let ours: Vec<(String, bool)> = history[history.len() - 6..]
        .iter()
        .map(|e| {
            (
                e["created_by"].as_str().unwrap().to_string(),
                e["empty_layer"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    let expected = [
        ("ENV A=1", true),
        ("ARG V=x", true),
        ("ARG A", true),
        // BuildKit's prefix: the declared ARGs as the step saw them (ENV wins), proxy args left out.
        ("RUN |2 V=y A=1 /bin/sh -c echo x > /x # buildkit", false),
        ("LABEL l=1", true),
        ("COPY f /f # buildkit", false),
    ];
    for ((got, got_empty), (want, want_empty)) in ours.iter().zip(expected) {
        assert_eq!((got.as_str(), *got_empty), (want, want_empty), "{ours:?}");
    }
    let non_empty = history
        .iter()
        .filter(|e| !e["empty_layer"].as_bool().unwrap_or(false))
        .count();
    assert_eq!(
        non_empty,
        layers.len(),
        "one non-empty history entry per layer"
    );
}
