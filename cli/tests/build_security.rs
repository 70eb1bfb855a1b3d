//! No path from a Dockerfile, the context or an archive writes or reads outside its root: `../` in sources,
//! context symlinks to absolute paths, symlinked destination parents, tar entries with `../`.
mod common;

use common::{context_with, stderr, Hoist};
use std::os::unix::fs::symlink;
use std::path::Path;

fn host_passwd() -> String {
    std::fs::read_to_string("/etc/passwd").unwrap_or_default()
}

#[test]
fn dotdot_sources_stay_in_the_context() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    // `../../etc/passwd` is the context's own etc/passwd.
    let log = h.build_ok(
        "sec:1",
        "FROM busybox\nCOPY ../../etc/passwd /got\n",
        &[("etc/passwd", "contained\n")],
        &[],
    );
    assert!(!log.contains("panicked"));
    assert_eq!(h.sh("sec:1", "cat /got"), "contained\n");
    // Without it, the source is missing, not the host's file.
    let log = h.build_err(
        "sec:2",
        "FROM busybox\nCOPY ../../../etc/passwd /got\n",
        &[],
        &[],
    );
    assert!(log.contains("file not found in build context"), "{log}");
    // The same for COPY --from a stage: `..` stays in the stage's rootfs.
    h.build_ok("sec:3", "FROM busybox AS s\nRUN echo stage > /only\nFROM busybox\nCOPY --from=s ../../../only /got\n", &[], &[]);
    assert_eq!(h.sh("sec:3", "cat /got"), "stage\n");
}

#[test]
fn context_symlink_to_an_absolute_path_resolves_inside_the_context() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let ctx = context_with(&[("etc/passwd", b"context passwd\n")]);
    symlink("/etc", ctx.path().join("etclink")).unwrap();
    symlink("/etc/passwd", ctx.path().join("passwdlink")).unwrap();
    symlink("../../../../../../etc/passwd", ctx.path().join("climb")).unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nCOPY etclink/passwd /a\nCOPY passwdlink /b\nCOPY climb /c\n",
    )
    .unwrap();
    let out = h.build_dir("sec:4", ctx.path(), &[]);
    if out.status.success() {
        let got = h.sh("sec:4", "cat /a /b /c");
        assert_eq!(got, "context passwd\n".repeat(3));
    } else {
        // Refusing is acceptable too; reading the host's file is not.
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
    let _ = host_passwd();
}

#[test]
fn symlinked_destination_parents_resolve_inside_the_rootfs() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let marker = format!("hoist-escape-{}", std::process::id());
    let df = format!(
        "FROM busybox\nRUN ln -s /etc /etclink && ln -s ../../../../../../../tmp/{marker} /climb && ln -s /tmp/{marker}-abs /abs\n\
COPY a.txt /etclink/\nCOPY a.txt /climb/\nCOPY a.txt /abs/deeper/\nWORKDIR /climb/wd\n"
    );
    h.build_ok("sec:5", &df, &[("a.txt", "A\n")], &[]);
    assert!(
        !Path::new("/etc/a.txt").exists(),
        "COPY wrote to the host's /etc"
    );
    assert!(
        !Path::new(&format!("/tmp/{marker}")).exists(),
        "COPY followed a relative symlink out of the rootfs"
    );
    assert!(
        !Path::new(&format!("/tmp/{marker}-abs")).exists(),
        "COPY followed an absolute symlink out of the rootfs"
    );
    let got = h.sh("sec:5", &format!("cat /etc/a.txt /tmp/{marker}/a.txt /tmp/{marker}-abs/deeper/a.txt; test -d /tmp/{marker}/wd && echo wd"));
    assert_eq!(got, "A\nA\nA\nwd\n");
}

/// A tar whose entry names are written raw (the tar crate refuses `..` in `set_path`).
fn tar_with_raw_names(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        builder.append(&header, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

#[test]
fn tar_entries_with_dotdot_are_refused_or_contained() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let marker = format!("hoist-tar-escape-{}", std::process::id());
    let evil_name = format!("../../../../../../../../tmp/{marker}");
    let tar = tar_with_raw_names(&[("ok.txt", b"ok\n"), (&evil_name, b"evil\n")]);
    let ctx = context_with(&[("evil.tar", &tar)]);
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nADD evil.tar /x/\n",
    )
    .unwrap();
    let out = h.build_dir("sec:6", ctx.path(), &[]);
    assert!(
        !Path::new(&format!("/tmp/{marker}")).exists(),
        "a tar entry escaped to the host"
    );
    if out.status.success() {
        // Contained: nothing outside /x except, at most, the entry clamped into the rootfs.
        let got = h.sh("sec:6", "cat /x/ok.txt");
        assert_eq!(got, "ok\n");
    } else {
        let log = stderr(&out);
        assert!(!log.contains("panicked"), "{log}");
        assert!(log.contains("Dockerfile:2"), "{log}");
    }
    // A symlink in the tar pointing out, then a file through it.
    let mut builder = tar::Builder::new(Vec::new());
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    link.set_mode(0o777);
    builder
        .append_link(&mut link, "out", format!("/tmp/{marker}-dir"))
        .unwrap();
    let mut file = tar::Header::new_gnu();
    file.set_size(5);
    file.set_mode(0o644);
    builder
        .append_data(&mut file, "out/file", &b"evil\n"[..])
        .unwrap();
    let tar2 = builder.into_inner().unwrap();
    std::fs::write(ctx.path().join("evil2.tar"), tar2).unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nADD evil2.tar /y/\n",
    )
    .unwrap();
    let out = h.build_dir("sec:7", ctx.path(), &[]);
    assert!(
        !Path::new(&format!("/tmp/{marker}-dir")).exists(),
        "a tar symlink let an entry escape to the host"
    );
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

#[test]
fn dotdot_destinations_and_workdirs_stay_in_the_rootfs() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let marker = format!("hoist-dest-escape-{}", std::process::id());
    let df = format!(
        "FROM busybox\nWORKDIR /w\nCOPY a.txt ../../../../../tmp/{marker}\nWORKDIR ../../../../..\nRUN pwd > /pwd\nADD a.txt ../../../../{marker}-add\n"
    );
    h.build_ok("sec:8", &df, &[("a.txt", "A\n")], &[]);
    assert!(
        !Path::new(&format!("/tmp/{marker}")).exists(),
        "COPY wrote outside the rootfs"
    );
    assert!(
        !Path::new(&format!("/{marker}-add")).exists(),
        "ADD wrote outside the rootfs"
    );
    assert_eq!(
        h.sh("sec:8", &format!("cat /tmp/{marker} /pwd /{marker}-add")),
        "A\n/\nA\n"
    );
}

#[test]
fn bind_mount_sources_stay_in_their_root() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let df =
        "FROM busybox\nRUN --mount=type=bind,source=../../../etc,target=/m cat /m/passwd > /got\n";
    let (out, _ctx) = h.build_text("sec:9", df, &[("etc/passwd", "context passwd\n")], &[]);
    if out.status.success() {
        assert_eq!(h.sh("sec:9", "cat /got"), "context passwd\n");
    } else {
        let log = stderr(&out);
        assert!(
            !log.contains("panicked") && log.contains("Dockerfile:2"),
            "{log}"
        );
    }
    let df = "FROM busybox AS s\nRUN echo stage > /only\nFROM busybox\nRUN --mount=type=bind,from=s,source=../../../only,target=/m cat /m > /got\n";
    h.build_ok("sec:10", df, &[], &[]);
    assert_eq!(h.sh("sec:10", "cat /got"), "stage\n");
}

#[test]
fn tar_hardlinks_out_of_the_tree_are_refused_or_contained() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    for (i, target) in ["../../../../../../../etc/passwd", "/etc/passwd"]
        .iter()
        .enumerate()
    {
        let mut builder = tar::Builder::new(Vec::new());
        let mut link = tar::Header::new_old();
        let name = b"hard";
        link.as_old_mut().name[..name.len()].copy_from_slice(name);
        link.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
        link.set_entry_type(tar::EntryType::Link);
        link.set_size(0);
        link.set_mode(0o644);
        link.set_cksum();
        builder.append(&link, &[][..]).unwrap();
        let tar = builder.into_inner().unwrap();
        let ctx = context_with(&[("hard.tar", &tar)]);
        std::fs::write(
            ctx.path().join("Dockerfile"),
            "FROM busybox\nADD hard.tar /x/\n",
        )
        .unwrap();
        let tag = format!("sec-hard:{i}");
        let out = h.build_dir(&tag, ctx.path(), &[]);
        let log = stderr(&out);
        assert!(!log.contains("panicked"), "{log}");
        if out.status.success() {
            // Contained: the link can only point at the image's own /etc/passwd, never the host's.
            let got = h.sh(&tag, "cat /x/hard");
            assert!(got.starts_with("root:x:0:0:root:/root:/bin/sh"), "{got}");
            assert_ne!(got, host_passwd());
        } else {
            assert!(log.contains("Dockerfile:2"), "{log}");
        }
    }
}

/// `RUN` runs as BuildKit runs it: Docker's default capabilities, and its default seccomp profile
/// (a syscall it blocks, `unshare` of a user namespace without CAP_SYS_ADMIN, fails).
#[test]
fn run_steps_have_dockers_capabilities_and_seccomp_profile() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.build_ok(
        "sec:seccomp",
        "FROM busybox\nRUN grep -E '^(CapEff|Seccomp):' /proc/self/status | tr '\\t\\n' '= ' > /status; \\\n    if unshare -U true 2>/dev/null; then echo userns >> /status; fi\n",
        &[],
        &[],
    );
    assert_eq!(
        h.sh("sec:seccomp", "cat /status"),
        "CapEff:=00000000a80425fb Seccomp:=2 "
    );
    // Compiled once (~25 ms) and kept for the next steps and builds.
    let cache = h.root.path().join("containers/.seccomp");
    let kept = std::fs::read_dir(&cache).map(|d| d.count()).unwrap_or(0);
    assert!(kept > 0, "no compiled filter kept in {cache:?}");
}
