//! `hoist build --output` as buildx spells it (each type checked on disk), `--iidfile`, `--metadata-file`,
//! `--label`, `--quiet`.
mod common;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use common::{read_tar, sha256_hex, stderr, stdout, Hoist};

const DOCKERFILE: &str = "FROM busybox
RUN mkdir -p /app && echo made > /app/made && chown 1000:1000 /app/made && chmod 0640 /app/made \
    && rm /bin/vi && rm -rf /tmp && mkdir /tmp && echo kept > /tmp/kept
COPY f /app/f
WORKDIR /work
LABEL from=dockerfile keep=yes
";

fn build(h: &Hoist, ctx: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["build", "-q"];
    args.extend_from_slice(extra);
    args.push(ctx.to_str().unwrap());
    h.run(&args)
}

fn context() -> tempfile::TempDir {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(ctx.path().join("f"), "from the context\n").unwrap();
    ctx
}

/// The final filesystem as the outputs must show it, checked in a directory.
fn check_rootfs_dir(root: &Path) {
    let made = root.join("app/made");
    assert_eq!(std::fs::read_to_string(&made).unwrap(), "made\n");
    let meta = std::fs::metadata(&made).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (1000, 1000, 0o640)
    );
    assert_eq!(
        std::fs::read_to_string(root.join("app/f")).unwrap(),
        "from the context\n"
    );
    assert!(root.join("bin/busybox").is_file());
    assert!(
        std::fs::symlink_metadata(root.join("bin/vi")).is_err(),
        "whiteout applied"
    );
    assert!(root.join("work").is_dir());
    assert_eq!(
        std::fs::read_to_string(root.join("tmp/kept")).unwrap(),
        "kept\n"
    );
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                !name.starts_with(".wh."),
                "whiteout left at {}",
                entry.path().display()
            );
            let ft = entry.file_type().unwrap();
            assert!(
                !(std::os::unix::fs::FileTypeExt::is_char_device(&ft)
                    && entry.metadata().unwrap().rdev() == 0),
                "overlay whiteout left at {}",
                entry.path().display()
            );
            if ft.is_dir() {
                stack.push(entry.path());
            }
        }
    }
}

#[test]
fn every_output_type_lands_on_disk_as_buildx_writes_it() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let ctx = context();
    let out_dir = tempfile::tempdir().unwrap();
    let o = |name: &str| out_dir.path().join(name).to_str().unwrap().to_string();
    let (local, short, fs_tar, docker_tar, oci_tar, oci_dir, iid, meta) = (
        o("local"),
        o("short"),
        o("fs.tar"),
        o("docker.tar"),
        o("oci.tar"),
        o("oci-dir"),
        o("iid"),
        o("meta.json"),
    );
    let outputs = [
        format!("type=local,dest={local}"),
        short.clone(),
        format!("type=tar,dest={fs_tar}"),
        format!("type=docker,dest={docker_tar}"),
        format!("type=oci,dest={oci_tar}"),
        format!("type=oci,dest={oci_dir},tar=false"),
    ];
    let mut args = vec!["-t", "app:1", "-t", "me/app:v2"];
    for value in &outputs {
        args.extend(["-o", value.as_str()]);
    }
    args.extend(["--iidfile", &iid, "--metadata-file", &meta]);
    args.extend(["--label", "from=cli", "--label", "extra=1"]);
    let out = build(&h, ctx.path(), &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    assert!(id.starts_with("sha256:"), "-q prints the ID: {id:?}");

    // --iidfile: the ID, no newline.
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), id);

    // type=local and the short form: the final filesystem.
    check_rootfs_dir(Path::new(&local));
    check_rootfs_dir(Path::new(&short));

    // type=tar: the same filesystem as a tar.
    let tar_bytes = std::fs::read(&fs_tar).unwrap();
    let entries = common::layer_entries(&tar_bytes);
    let made = &entries["app/made"];
    assert_eq!(
        (made.1 & 0o7777, made.2, made.3, made.4.as_slice()),
        (0o640, 1000, 1000, &b"made\n"[..])
    );
    assert!(entries.contains_key("bin/busybox") && !entries.contains_key("bin/vi"));
    assert!(
        entries.keys().all(|k| !k.contains(".wh.")),
        "no whiteouts in the tar"
    );

    // type=docker: a docker-archive with both names, whose config is the image.
    let files = read_tar(&std::fs::read(&docker_tar).unwrap());
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(
        manifest[0]["RepoTags"],
        serde_json::json!(["app:1", "me/app:v2"])
    );
    let config_name = manifest[0]["Config"].as_str().unwrap();
    assert_eq!(format!("sha256:{}", sha256_hex(&files[config_name])), id);
    let config: serde_json::Value = serde_json::from_slice(&files[config_name]).unwrap();
    assert_eq!(
        config["config"]["Labels"],
        serde_json::json!({"from": "cli", "keep": "yes", "extra": "1"}),
        "--label is applied after the Dockerfile's LABELs"
    );
    // It loads into a fresh state dir and runs.
    let other = Hoist::with_busybox().unwrap();
    let loaded = other.run(&["load", "-i", &docker_tar]);
    assert_eq!(
        stdout(&loaded),
        "Loaded image: app:1\nLoaded image: me/app:v2\n",
        "{}",
        stderr(&loaded)
    );
    let ran = other.run(&["run", "--rm", "app:1", "sh", "-c", "cat /app/made; pwd"]);
    assert_eq!(stdout(&ran), "made\n/work\n", "{}", stderr(&ran));

    // type=oci (tar and directory): an OCI layout naming the image, every blob matching its digest.
    let mut oci_files = read_tar(&std::fs::read(&oci_tar).unwrap());
    oci_files.retain(|name, _| !name.ends_with('/'));
    let mut dir_files = HashMap::new();
    for name in oci_files.keys() {
        let on_disk = Path::new(&oci_dir).join(name);
        dir_files.insert(
            name.clone(),
            std::fs::read(&on_disk).unwrap_or_else(|e| panic!("{name}: {e}")),
        );
    }
    assert_eq!(
        dir_files, oci_files,
        "the directory holds what the tar holds"
    );
    let index: serde_json::Value = serde_json::from_slice(&oci_files["index.json"]).unwrap();
    let names: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["io.containerd.image.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(names, ["docker.io/library/app:1", "docker.io/me/app:v2"]);
    for (name, bytes) in &oci_files {
        if let Some(hex) = name.strip_prefix("blobs/sha256/") {
            assert_eq!(sha256_hex(bytes), hex, "{name}");
        }
    }
    let manifest_name = format!(
        "blobs/sha256/{}",
        index["manifests"][0]["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:")
    );
    let oci_manifest: serde_json::Value =
        serde_json::from_slice(&oci_files[&manifest_name]).unwrap();
    assert_eq!(oci_manifest["config"]["digest"].as_str().unwrap(), id);

    // --metadata-file: buildx's keys and hoist's own.
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    assert_eq!(meta["containerimage.config.digest"].as_str().unwrap(), id);
    let digest = meta["containerimage.digest"].as_str().unwrap();
    assert!(digest.starts_with("sha256:") && digest != id, "{meta}");
    assert_eq!(
        meta["image.name"],
        "docker.io/library/app:1,docker.io/me/app:v2"
    );
    assert_eq!(meta["hoist.steps.executed"], 3);
    assert_eq!(meta["hoist.steps.cached"], 0);

    // Without an image output the names stay in the archives, as with buildx: the store has no app:1.
    assert!(!h.run(&["inspect", "app:1"]).status.success());
}

#[test]
fn the_default_output_is_the_store_and_dest_dash_is_stdout() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let ctx = context();
    let dir = tempfile::tempdir().unwrap();
    let iid = dir.path().join("iid");
    let out = build(
        &h,
        ctx.path(),
        &["-t", "app:1", "--iidfile", iid.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let id = std::fs::read_to_string(&iid).unwrap();
    assert_eq!(stdout(&out).trim(), id);
    let inspect = h.run(&["inspect", "app:1"]);
    let v: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(
        v[0]["Id"].as_str().unwrap(),
        id,
        "type=image tags the store"
    );

    // type=image plus a tar on stdout: only the archive goes to stdout.
    let out = build(
        &h,
        ctx.path(),
        &[
            "-t",
            "app:2",
            "-o",
            "type=image",
            "-o",
            "type=docker,dest=-",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let files = read_tar(&out.stdout);
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(manifest[0]["RepoTags"], serde_json::json!(["app:2"]));
    assert!(h.run(&["inspect", "app:2"]).status.success());

    // type=oci,dest=DIR with an existing directory: an OCI layout in it.
    let layout = dir.path().join("layout");
    std::fs::create_dir(&layout).unwrap();
    let oci = format!("type=oci,dest={}", layout.display());
    let out = build(&h, ctx.path(), &["-o", &oci]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(layout.join("index.json").is_file() && layout.join("oci-layout").is_file());

    // A failed build leaves no ID from an earlier one.
    std::fs::write(ctx.path().join("Dockerfile"), "FROM busybox\nRUN exit 3\n").unwrap();
    let out = build(&h, ctx.path(), &["--iidfile", iid.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!iid.exists(), "stale --iidfile removed");

    for (bad, phrase) in [
        ("type=local", "dest is required for local output"),
        ("type=nope,dest=x", "unknown type"),
        ("type=local,dest=-", "cannot be -"),
    ] {
        let out = build(&h, ctx.path(), &["-o", bad]);
        assert_eq!(out.status.code(), Some(1), "{bad}");
        assert!(stderr(&out).contains(phrase), "{bad}: {}", stderr(&out));
    }
}

/// A layer that links a directory out of the image, and a later layer writing (and whiting out) through the link:
/// `type=local` and `type=tar` resolve every path inside the destination, so nothing outside it changes.
#[test]
fn local_output_never_writes_outside_its_destination() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("victim"), "still here\n").unwrap();
    let layer = |build: &dyn Fn(&mut tar::Builder<Vec<u8>>)| {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    };
    let file = |b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]| {
        let mut hd = tar::Header::new_gnu();
        hd.set_size(data.len() as u64);
        hd.set_mode(0o644);
        hd.set_cksum();
        b.append_data(&mut hd, name, data).unwrap();
    };
    let target = outside.path().to_path_buf();
    let link = layer(&|b| {
        let mut hd = tar::Header::new_gnu();
        hd.set_entry_type(tar::EntryType::Symlink);
        hd.set_size(0);
        b.append_link(&mut hd, "esc", &target).unwrap();
    });
    let through = layer(&|b| {
        file(b, "esc/pwned", b"x");
        file(b, "esc/.wh.victim", b"");
    });
    let diffs = [sha256_hex(&link), sha256_hex(&through)];
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["sha256:{}","sha256:{}"]}}}}"#,
        diffs[0], diffs[1]
    );
    let config_hex = sha256_hex(config.as_bytes());
    let manifest = format!(
        r#"[{{"Config":"{config_hex}.json","RepoTags":["evil:1"],"Layers":["l1/layer.tar","l2/layer.tar"]}}]"#
    );
    let archive = layer(&|b| {
        file(b, &format!("{config_hex}.json"), config.as_bytes());
        file(b, "l1/layer.tar", &link);
        file(b, "l2/layer.tar", &through);
        file(b, "manifest.json", manifest.as_bytes());
    });
    let dir = tempfile::tempdir().unwrap();
    let archive_path = dir.path().join("evil.tar");
    std::fs::write(&archive_path, archive).unwrap();
    let loaded = h.run(&["load", "-i", archive_path.to_str().unwrap()]);
    assert!(loaded.status.success(), "{}", stderr(&loaded));

    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), "FROM evil:1\n").unwrap();
    let dest = dir.path().join("out");
    let fs_tar = dir.path().join("fs.tar");
    let local = format!("type=local,dest={}", dest.display());
    let tar_out = format!("type=tar,dest={}", fs_tar.display());
    let out = build(&h, ctx.path(), &["-o", &local]);
    let out2 = build(&h, ctx.path(), &["-o", &tar_out]);
    assert_eq!(
        std::fs::read_to_string(outside.path().join("victim")).unwrap(),
        "still here\n",
        "{}{}",
        stderr(&out),
        stderr(&out2)
    );
    assert!(!outside.path().join("pwned").exists());
    assert_eq!(
        std::fs::read_dir(outside.path()).unwrap().count(),
        1,
        "nothing new outside"
    );
}
