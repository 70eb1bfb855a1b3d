//! `hoist cp`: files into and out of running and stopped containers, with docker cp's rules for where they
//! land, its owners, tars on stdin/stdout, and paths that never leave the container's root.
mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::Hoist;

/// A stopped container `c` with `/d/sub/f`, a symlink `/d/escape -> /` and `/d/rel -> ../../../..`.
fn with_stopped_container() -> Option<Hoist> {
    let h = Hoist::with_busybox()?;
    let (code, _, err) = h.out(&[
        "run",
        "--name",
        "c",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /d/sub && echo hi > /d/sub/f && chown 1234:5678 /d/sub/f && ln -s / /d/escape \
         && ln -s ../../../.. /d/rel",
    ]);
    assert_eq!(code, 0, "{err}");
    Some(h)
}

fn ok(h: &Hoist, args: &[&str]) -> String {
    let (code, out, err) = h.out(args);
    assert_eq!(code, 0, "hoist {args:?}: {err}");
    out
}

fn fails(h: &Hoist, args: &[&str]) -> String {
    let (code, _, err) = h.out(args);
    assert_ne!(code, 0, "hoist {args:?} should fail");
    err
}

#[test]
fn out_of_a_stopped_container_as_docker_places_it() {
    let Some(h) = with_stopped_container() else {
        return;
    };
    let host = tempfile::tempdir().unwrap();
    let at = |p: &str| host.path().join(p).to_str().unwrap().to_string();

    // A directory to a missing destination: created, with the contents; owned by the caller.
    ok(&h, &["cp", "c:/d", &at("x")]);
    assert_eq!(std::fs::read_to_string(at("x/sub/f")).unwrap(), "hi\n");
    assert_eq!(std::fs::metadata(at("x/sub/f")).unwrap().uid(), 0);
    assert_eq!(
        std::fs::read_link(at("x/escape")).unwrap(),
        Path::new("/"),
        "symlinks are copied as links"
    );
    // Into an existing directory: under its own name; `/.`: the contents.
    std::fs::create_dir(at("y")).unwrap();
    ok(&h, &["cp", "c:/d", &at("y")]);
    assert!(Path::new(&at("y/d/sub/f")).is_file());
    std::fs::create_dir(at("z")).unwrap();
    ok(&h, &["cp", "c:/d/.", &at("z")]);
    assert!(Path::new(&at("z/sub/f")).is_file());
    // A file: to a new name, over a file, into a directory.
    ok(&h, &["cp", "c:/d/sub/f", &at("newname")]);
    assert_eq!(std::fs::read_to_string(at("newname")).unwrap(), "hi\n");
    std::fs::write(at("over"), "old content, longer").unwrap();
    ok(&h, &["cp", "c:/d/sub/f", &at("over")]);
    assert_eq!(std::fs::read_to_string(at("over")).unwrap(), "hi\n");
    ok(&h, &["cp", "c:/d/sub/f", &at("z")]);
    assert_eq!(std::fs::read_to_string(at("z/f")).unwrap(), "hi\n");
    // -a keeps the container's owner.
    ok(&h, &["cp", "-a", "c:/d/sub/f", &at("archived")]);
    let meta = std::fs::metadata(at("archived")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (1234, 5678));

    // Docker's errors.
    let err = fails(&h, &["cp", "c:/d", &at("over")]);
    assert!(err.contains("cannot copy a directory to a file"), "{err}");
    let err = fails(&h, &["cp", "c:/nope", &at("n")]);
    assert!(
        err.contains("Could not find the file /nope in container c"),
        "{err}"
    );
    let err = fails(&h, &["cp", "c:/d/sub/f", &at("missing/")]);
    assert!(err.contains("does not exist"), "{err}");
    let err = fails(&h, &["cp", "nosuch:/d", &at("n")]);
    assert!(err.contains("No such container: nosuch"), "{err}");

    // A tar on stdout keeps the container's owners, named after the source.
    let out = h.cmd().args(["cp", "c:/d/sub", "-"]).output().unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let mut names = Vec::new();
    let mut archive = tar::Archive::new(out.stdout.as_slice());
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        if name == "sub/f" {
            assert_eq!(entry.header().uid().unwrap(), 1234);
        }
        names.push(name);
    }
    assert_eq!(names, ["sub/", "sub/f"]);
}

#[test]
fn into_a_stopped_container_owned_by_root_unless_archive() {
    let Some(h) = with_stopped_container() else {
        return;
    };
    let host = tempfile::tempdir().unwrap();
    let file = host.path().join("file");
    std::fs::write(&file, "from the host\n").unwrap();
    std::os::unix::fs::chown(&file, Some(4321), Some(8765)).unwrap();
    let tree = host.path().join("tree");
    std::fs::create_dir_all(tree.join("inner")).unwrap();
    std::fs::write(tree.join("inner/g"), "g\n").unwrap();
    let file = file.to_str().unwrap();

    ok(&h, &["cp", file, "c:/tmp/new"]);
    ok(&h, &["cp", "-a", file, "c:/tmp/kept"]);
    ok(&h, &["cp", file, "c:/d"]);
    ok(&h, &["cp", tree.to_str().unwrap(), "c:/d"]);
    ok(&h, &["cp", tree.to_str().unwrap(), "c:/made"]);
    let err = fails(&h, &["cp", tree.to_str().unwrap(), "c:/d/sub/f"]);
    assert!(err.contains("cannot copy a directory to a file"), "{err}");

    let out = h.cmd().args(["cp", "c:/", "-"]).output().unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let mut owners = std::collections::HashMap::new();
    let mut archive = tar::Archive::new(out.stdout.as_slice());
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let header = entry.header();
        owners.insert(name, (header.uid().unwrap(), header.gid().unwrap()));
    }
    assert_eq!(owners.get("tmp/new"), Some(&(0, 0)), "{owners:?}");
    assert_eq!(owners.get("tmp/kept"), Some(&(4321, 8765)));
    assert!(owners.contains_key("d/file"));
    assert!(owners.contains_key("d/tree/inner/g"));
    assert!(owners.contains_key("made/inner/g"));
    // The container's changes as `diff` sees them: the copies are in its upper dir.
    let diff = ok(&h, &["diff", "c"]);
    assert!(diff.lines().any(|l| l == "A /tmp/new"), "{diff}");

    // A tar on stdin is extracted into a directory.
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(3);
    header.set_mode(0o600);
    header.set_cksum();
    tar.append_data(&mut header, "from-stdin", &b"in\n"[..])
        .unwrap();
    let bytes = tar.into_inner().unwrap();
    let (code, _, err) = h.out_with_stdin(&["cp", "-", "c:/tmp"], &bytes);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = h.out_with_stdin(&["cp", "-", "c:/d/sub/f"], &bytes);
    assert_ne!(code, 0);
    assert!(err.contains("must be a directory"), "{err}");
    let back = host.path().join("back");
    ok(&h, &["cp", "c:/tmp/from-stdin", back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "in\n");
}

#[test]
fn paths_never_leave_the_container_root() {
    let Some(h) = with_stopped_container() else {
        return;
    };
    let host = tempfile::tempdir().unwrap();
    let tag = format!("hoist-cp-escape-{}", std::process::id());
    let file = host.path().join("file");
    std::fs::write(&file, "inside\n").unwrap();
    let file = file.to_str().unwrap();

    // In: through an absolute symlink, a relative one and `..`: all land in the container's /tmp.
    for (i, dest) in [
        format!("c:/d/escape/tmp/{tag}-1"),
        format!("c:/d/rel/tmp/{tag}-2"),
        format!("c:../../../../tmp/{tag}-3"),
    ]
    .iter()
    .enumerate()
    {
        ok(&h, &["cp", file, dest]);
        let on_host = format!("/tmp/{tag}-{}", i + 1);
        assert!(!Path::new(&on_host).exists(), "{dest} reached the host");
        let back = host.path().join(format!("back{i}"));
        ok(
            &h,
            &[
                "cp",
                &format!("c:/tmp/{tag}-{}", i + 1),
                back.to_str().unwrap(),
            ],
        );
        assert_eq!(std::fs::read_to_string(&back).unwrap(), "inside\n");
    }
    // A tar on stdin whose symlink points at `/` and whose next entry writes through it.
    let mut tar = tar::Builder::new(Vec::new());
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    link.set_mode(0o777);
    tar.append_link(&mut link, "up", "/").unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_size(4);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, format!("up/tmp/{tag}-4"), &b"tar\n"[..])
        .unwrap();
    let bytes = tar.into_inner().unwrap();
    let _ = h.out_with_stdin(&["cp", "-", "c:/d"], &bytes);
    assert!(
        !Path::new(&format!("/tmp/{tag}-4")).exists(),
        "the tar reached the host"
    );

    // Out: a host file is not found through the container's symlinks.
    let secret = format!("/tmp/{tag}-secret");
    std::fs::write(&secret, "host secret\n").unwrap();
    for src in [
        format!("c:/d/escape{secret}"),
        format!("c:/d/rel{secret}"),
        format!("c:/../../../..{secret}"),
    ] {
        let err = fails(&h, &["cp", &src, host.path().join("s").to_str().unwrap()]);
        assert!(err.contains("Could not find the file"), "{src}: {err}");
    }
    // -L follows a link inside the root only: /d/escape is the container's /.
    let root_copy = host.path().join("root");
    ok(
        &h,
        &["cp", "-L", "c:/d/escape", root_copy.to_str().unwrap()],
    );
    assert!(root_copy.join("d/sub/f").is_file());
    assert!(!root_copy.join(&secret[1..]).exists());
    let _ = std::fs::remove_file(&secret);
}

#[test]
fn a_running_container_and_its_volume() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let id = h.detach(&[
        "--name",
        "r",
        "-v",
        "cpvol:/data",
        "busybox",
        "sleep",
        "1000",
    ]);
    let host = tempfile::tempdir().unwrap();
    let file = host.path().join("file");
    std::fs::write(&file, "running\n").unwrap();
    ok(&h, &["cp", file.to_str().unwrap(), "r:/tmp/in"]);
    ok(&h, &["cp", file.to_str().unwrap(), "r:/data/in"]);
    assert_eq!(ok(&h, &["exec", "r", "cat", "/tmp/in"]), "running\n");
    assert_eq!(ok(&h, &["exec", "r", "cat", "/data/in"]), "running\n");
    ok(
        &h,
        &["exec", "r", "sh", "-c", "echo made inside > /tmp/out"],
    );
    let out = host.path().join("out");
    ok(&h, &["cp", "r:/tmp/out", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "made inside\n");
    ok(&h, &["rm", "-f", &id]);
}

#[test]
fn a_stopped_container_s_volume_is_copied_into() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (code, _, err) = h.out(&[
        "run",
        "--name",
        "s",
        "-v",
        "stopvol:/data",
        "busybox",
        "true",
    ]);
    assert_eq!(code, 0, "{err}");
    let host = tempfile::tempdir().unwrap();
    let file = host.path().join("file");
    std::fs::write(&file, "into the volume\n").unwrap();
    ok(&h, &["cp", file.to_str().unwrap(), "s:/data/x"]);
    let (code, out, err) = h.out(&[
        "run",
        "--rm",
        "-v",
        "stopvol:/data",
        "busybox",
        "cat",
        "/data/x",
    ]);
    assert_eq!((code, out.as_str()), (0, "into the volume\n"), "{err}");
    let back = host.path().join("back");
    ok(&h, &["cp", "s:/data/x", back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "into the volume\n");
    let diff = ok(&h, &["diff", "s"]);
    assert!(
        !diff.contains("/data/x"),
        "written into the upper dir: {diff}"
    );
    assert!(h.leftover_mounts().is_empty(), "{:?}", h.leftover_mounts());
}
