//! `hoist export`: a container's flattened filesystem as one tar, compared entry by entry with its image's
//! layer and its changes.
mod common;

use std::collections::BTreeMap;

use common::{layer_entries, Hoist};

type Entries = BTreeMap<String, (u8, u32, u64, u64, Vec<u8>)>;

fn exported(h: &Hoist, name: &str) -> Vec<u8> {
    let out = h.cmd().args(["export", name]).output().unwrap();
    assert!(out.status.success(), "export: {}", common::stderr(&out));
    out.stdout
}

#[test]
fn export_is_the_image_with_the_container_changes() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (code, _, err) = h.out(&[
        "run",
        "--name",
        "c",
        "busybox",
        "sh",
        "-c",
        "rm /etc/group && mkdir -p /d/sub && echo hi > /d/sub/f && ln /d/sub/f /d/hard \
         && mknod /d/null c 1 3 && chown 1234:5678 /d/sub/f && chmod 4750 /d/sub/f && ln -s / /d/up",
    ]);
    assert_eq!(code, 0, "{err}");
    let (_, layers) = h.saved("busybox:latest");
    let mut expected: Entries = layer_entries(&layers[0]);
    expected.remove("etc/group");
    // docker export has no entry for the root directory itself (`IncludeSourceDir` false).
    expected.remove("");
    // The mount points every container gets, as empty dirs and files (Docker's init layer).
    for dir in ["proc", "dev", "sys"] {
        expected
            .entry(dir.into())
            .or_insert((b'5', 0o755, 0, 0, Vec::new()));
    }
    // `.dockerenv` too, as `docker export` of a busybox container has it.
    for file in ["etc/hosts", "etc/hostname", "etc/resolv.conf", ".dockerenv"] {
        expected
            .entry(file.into())
            .or_insert((b'0', 0o644, 0, 0, Vec::new()));
    }
    expected.insert("d".into(), (b'5', 0o755, 0, 0, Vec::new()));
    expected.insert("d/sub".into(), (b'5', 0o755, 0, 0, Vec::new()));
    // Hardlinks: the first name in the walk holds the data, the next links to it.
    expected.insert(
        "d/hard".into(),
        (b'0', 0o4750, 1234, 5678, b"hi\n".to_vec()),
    );
    expected.insert("d/sub/f".into(), (b'1', 0o4750, 1234, 5678, Vec::new()));
    expected.insert("d/null".into(), (b'3', 0o644, 0, 0, Vec::new()));
    expected.insert("d/up".into(), (b'2', 0o777, 0, 0, Vec::new()));

    let tar = exported(&h, "c");
    let got = layer_entries(&tar);
    let names = |e: &Entries| e.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&got), names(&expected));
    for (name, want) in &expected {
        let have = &got[name];
        // The mount points' dirs and files take the modes of the layer hoist makes; compare type and owner.
        if [
            "proc",
            "dev",
            "sys",
            "etc/hosts",
            "etc/hostname",
            "etc/resolv.conf",
            ".dockerenv",
            "etc",
        ]
        .contains(&name.as_str())
        {
            assert_eq!((have.0, have.2, have.3), (want.0, want.2, want.3), "{name}");
            continue;
        }
        assert_eq!(have, want, "{name}");
    }
    // The device and the link targets as written.
    let mut archive = tar::Archive::new(tar.as_slice());
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let header = entry.header();
        match name.as_str() {
            "d/null" => {
                assert_eq!(header.device_major().unwrap(), Some(1));
                assert_eq!(header.device_minor().unwrap(), Some(3));
            }
            "d/up" => assert_eq!(header.link_name_bytes().unwrap().as_ref(), b"/"),
            "d/sub/f" => assert_eq!(header.link_name_bytes().unwrap().as_ref(), b"d/hard"),
            _ => {}
        }
    }

    // -o writes the same archive to a file; nothing stays mounted.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.tar");
    let (code, _, err) = h.out(&["export", "-o", file.to_str().unwrap(), "c"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(layer_entries(&std::fs::read(&file).unwrap()), got);
    assert!(h.leftover_mounts().is_empty(), "{:?}", h.leftover_mounts());
}

#[test]
fn a_running_container_exports_without_what_is_mounted_in_it() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let id = h.detach(&[
        "--name",
        "r",
        "-v",
        "exvol:/data",
        "busybox",
        "sh",
        "-c",
        "echo v > /data/in-volume; echo live > /live; sleep 1000",
    ]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let got = layer_entries(&exported(&h, "r"));
        if got.contains_key("live") {
            assert!(!got.contains_key("data/in-volume"), "the volume's contents");
            assert!(!got.keys().any(|k| k.starts_with("proc/")), "procfs");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "/live never exported");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (code, _, err) = h.out(&["rm", "-f", &id]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn refuses_to_write_to_a_terminal() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    if !std::path::Path::new("/usr/bin/script").exists() {
        eprintln!("SKIPPED: script(1) is missing");
        return;
    }
    let (code, _, err) = h.out(&["run", "--name", "c", "busybox", "true"]);
    assert_eq!(code, 0, "{err}");
    let command = format!("{} export c", env!("CARGO_BIN_EXE_hoist"));
    let out = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("HOIST_ROOT", h.root.path())
        .output()
        .unwrap();
    let text = common::stdout(&out);
    assert!(
        text.contains("cowardly refusing to save to a terminal. Use the -o flag or redirect"),
        "{text}"
    );
    assert!(!out.status.success());
    let (code, _, err) = h.out(&["export", "nosuch"]);
    assert_ne!(code, 0);
    assert!(err.contains("No such container: nosuch"), "{err}");
}
