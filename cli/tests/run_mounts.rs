//! `-v` (host binds, named and anonymous volumes), `--mount`, `--tmpfs`, and image VOLUMEs.
mod common;
use common::*;

#[test]
fn bind_mounts_read_write_and_read_only() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("in"), "from host\n").unwrap();
    let rw = format!("{}:/data", host.path().display());
    let (code, out, err) = h.out(&[
        "run",
        "--rm",
        "-v",
        &rw,
        "busybox",
        "sh",
        "-c",
        "cat /data/in; echo back > /data/out",
    ]);
    assert_eq!((code, out.as_str()), (0, "from host\n"), "{err}");
    assert_eq!(
        std::fs::read_to_string(host.path().join("out")).unwrap(),
        "back\n"
    );
    let ro = format!("{}:/data:ro", host.path().display());
    let (code, _, err) = h.out(&[
        "run",
        "--rm",
        "-v",
        &ro,
        "busybox",
        "sh",
        "-c",
        "echo x > /data/y",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("Read-only"), "{err}");
    let m = format!(
        "type=bind,source={},target=/b,readonly",
        host.path().display()
    );
    let (code, out, _) = h.out(&[
        "run",
        "--rm",
        "--mount",
        &m,
        "busybox",
        "sh",
        "-c",
        "cat /b/in; touch /b/z || echo refused",
    ]);
    assert_eq!((code, out.as_str()), (0, "from host\nrefused\n"));
    let (code, _, err) = h.out(&["run", "--rm", "-v", "relative:dir", "busybox", "true"]);
    assert_eq!(code, 125, "{err}");
    assert!(h.leftover_mounts().is_empty(), "{:?}", h.leftover_mounts());
}

#[test]
fn named_volumes_persist_and_anonymous_ones_go_with_rm() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (code, _, err) = h.out(&[
        "run",
        "--rm",
        "-v",
        "cache:/cache",
        "busybox",
        "sh",
        "-c",
        "echo kept > /cache/f",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = h.out(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,source=cache,target=/c",
        "busybox",
        "cat",
        "/c/f",
    ]);
    assert_eq!((code, out.as_str()), (0, "kept\n"));
    assert!(h.root.path().join("volumes/cache/_data/f").exists());
    // A new volume starts with the image's content at its mount point (docker's copy-up).
    let (code, out, _) = h.out(&[
        "run",
        "--rm",
        "-v",
        "etcvol:/etc",
        "busybox",
        "sh",
        "-c",
        "grep -c ^root: /etc/passwd",
    ]);
    assert_eq!((code, out.trim()), (0, "1"));
    // Anonymous volumes (-v /path) are removed with the container.
    let (code, _, _) = h.out(&["run", "--rm", "-v", "/anon", "busybox", "touch", "/anon/x"]);
    assert_eq!(code, 0);
    let volumes: Vec<String> = std::fs::read_dir(h.root.path().join("volumes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        // Dot files are hoist's own (the volumes lock), never volumes.
        .filter(|name| !name.starts_with('.'))
        .collect();
    let mut sorted = volumes.clone();
    sorted.sort();
    assert_eq!(sorted, ["cache", "etcvol"]);
}

#[test]
fn image_volumes_get_anonymous_volumes() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.build_ok(
        "withvol",
        "FROM busybox\nRUN mkdir /state && echo seeded > /state/seed\nVOLUME /state\n",
        &[],
        &[],
    );
    let (code, out, err) = h.out(&[
        "run",
        "--name",
        "v1",
        "withvol",
        "sh",
        "-c",
        "cat /state/seed; echo more > /state/more; grep /state /proc/mounts | cut -d' ' -f2",
    ]);
    assert_eq!((code, out.as_str()), (0, "seeded\n/state\n"), "{err}");
    let (_, inspect, _) = h.out(&["inspect", "v1"]);
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    // Docker's shape: an anonymous volume is a volume with a 64-hex-digit name.
    let name = v[0]["Mounts"][0]["Name"].as_str().unwrap().to_string();
    assert_eq!(v[0]["Mounts"][0]["Type"], "volume", "{inspect}");
    assert!(
        name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()),
        "{inspect}"
    );
    let data = h.root.path().join("volumes").join(&name).join("_data");
    assert_eq!(
        std::fs::read_to_string(data.join("more")).unwrap(),
        "more\n"
    );
    assert_eq!(h.out(&["rm", "v1"]).0, 0);
    assert!(
        !data.exists(),
        "anonymous volume removed with its container"
    );
}

#[test]
fn tmpfs_mounts() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let out = h.sh("busybox", "true");
    assert_eq!(out, "");
    let (code, out, err) = h.out(&[
        "run",
        "--rm",
        "--tmpfs",
        "/scratch:size=1m,mode=700",
        "busybox",
        "sh",
        "-c",
        "grep /scratch /proc/mounts; stat -c %a /scratch",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("tmpfs /scratch tmpfs") && out.contains("size=1024k"),
        "{out}"
    );
    assert!(out.ends_with("700\n"), "{out}");
    let (code, out, _) = h.out(&[
        "run",
        "--rm",
        "--mount",
        "type=tmpfs,target=/t,tmpfs-size=2m",
        "busybox",
        "sh",
        "-c",
        "grep /t /proc/mounts",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("size=2048k"), "{out}");
    let (code, _, err) = h.out(&["run", "--rm", "--tmpfs", "/x:bogus", "busybox", "true"]);
    assert_eq!(code, 125, "{err}");
}

/// A mount point that is a symlink in the image (`/data -> /srv/data`, common in real images) is followed
/// inside the image's root, as Docker does: the mount lands on the link's target, never outside the root.
#[test]
fn a_symlink_in_the_image_as_mount_point_is_followed_inside_the_root() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.build_ok(
        "links:1",
        "FROM busybox\nRUN mkdir -p /srv/data && ln -s /srv/data /data && ln -s ../../../.. /srv/up\n",
        &[],
        &[],
    );
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("f"), "from the host\n").unwrap();
    let volume = format!("{}:/data", host.path().display());
    let (code, out, err) = h.out(&[
        "run",
        "--rm",
        "-v",
        &volume,
        "links:1",
        "sh",
        "-c",
        "cat /data/f /srv/data/f",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "from the host\nfrom the host\n");
    // `..` past the root stays at the root: the tmpfs lands on /escaped, inside the container.
    let (code, out, err) = h.out(&[
        "run",
        "--rm",
        "--tmpfs",
        "/srv/up/escaped",
        "links:1",
        "sh",
        "-c",
        "grep -c ' /escaped tmpfs' /proc/mounts",
    ]);
    assert_eq!((code, out.trim()), (0, "1"), "{err}");
    assert!(
        !std::path::Path::new("/escaped").exists(),
        "a mount point was made on the host"
    );
}
