//! `hoist load`: archives from `hoist save` / `docker save` (docker-archive, OCI layout), from a file or stdin;
//! hostile or corrupt archives refused.
mod common;

use common::{sha256_hex, stderr, stdout, Hoist};

fn fresh() -> Hoist {
    Hoist {
        root: tempfile::Builder::new()
            .prefix("hoist-it-")
            .tempdir_in("/var/tmp")
            .unwrap(),
    }
}

fn tar_of(files: &[(&str, &[u8])], links: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        // set_path refuses `..`: a hostile archive is written byte by byte.
        let bytes = name.as_bytes();
        h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    for (name, target) in links {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, name, target).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn saved_images_load_into_a_fresh_state_dir_and_run() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.build_ok(
        "app:1",
        "FROM busybox\nRUN echo loaded > /greeting\nCMD [\"cat\", \"/greeting\"]\n",
        &[],
        &[],
    );
    assert!(h.run(&["tag", "app:1", "app:other"]).status.success());
    let dir = tempfile::tempdir().unwrap();
    for (format, extra) in [("docker", &[][..]), ("oci", &["--compress", "zstd"][..])] {
        let archive = dir.path().join(format!("{format}.tar"));
        let mut args = vec!["save", "--format", format, "-o", archive.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.push("app:1");
        let out = h.run(&args);
        assert!(out.status.success(), "save: {}", stderr(&out));

        let other = fresh();
        let out = other.run(&["load", "-q", "-i", archive.to_str().unwrap()]);
        assert!(out.status.success(), "load {format}: {}", stderr(&out));
        assert_eq!(stdout(&out), "Loaded image: app:1\n", "{format}");
        let out = other.run(&["run", "--rm", "app:1"]);
        assert_eq!(stdout(&out), "loaded\n", "{format}: {}", stderr(&out));

        // From standard input, gzip-compressed, into a state dir where the name points elsewhere.
        let third = Hoist::with_busybox().unwrap();
        assert!(third.run(&["tag", "busybox", "app:1"]).status.success());
        let old = image_id(&third, "app:1");
        let out = std::process::Command::new("sh")
            .env("HOIST_ROOT", third.root.path())
            .arg("-c")
            .arg(format!("gzip -c {} | \"$0\" load", archive.display()))
            .arg(env!("CARGO_BIN_EXE_hoist"))
            .output()
            .unwrap();
        assert!(out.status.success(), "load from stdin: {}", stderr(&out));
        assert_eq!(
            stdout(&out),
            format!(
                "The image app:1 already exists, renaming the old one with ID {old} to empty string\n\
                 Loaded image: app:1\n"
            )
        );
        assert_eq!(image_id(&third, "app:1"), image_id(&h, "app:1"));
    }
}

fn image_id(h: &Hoist, name: &str) -> String {
    let out = h.run(&["inspect", name]);
    assert!(out.status.success(), "inspect {name}: {}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v[0]["Id"].as_str().unwrap().to_string()
}

/// docker 20.10's `docker save` of two images sharing a layer: the second `layer.tar` is a symbolic link.
#[test]
fn linked_layers_and_untagged_images_load_as_docker_saves_them() {
    let h = fresh();
    let layer = {
        let mut b = tar::Builder::new(Vec::new());
        let mut hd = tar::Header::new_gnu();
        hd.set_size(3);
        hd.set_mode(0o644);
        hd.set_cksum();
        b.append_data(&mut hd, "hello", &b"hi\n"[..]).unwrap();
        b.into_inner().unwrap()
    };
    let diff = format!("sha256:{}", sha256_hex(&layer));
    let config = |label: &str| {
        format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Labels":{{"l":"{label}"}}}},"rootfs":{{"type":"layers","diff_ids":["{diff}"]}}}}"#
        )
    };
    let (c1, c2) = (config("1"), config("2"));
    let (h1, h2) = (sha256_hex(c1.as_bytes()), sha256_hex(c2.as_bytes()));
    let manifest = format!(
        r#"[{{"Config":"{h1}.json","RepoTags":["one:1"],"Layers":["aaa/layer.tar"]}},{{"Config":"{h2}.json","RepoTags":null,"Layers":["bbb/layer.tar"]}}]"#
    );
    let archive = tar_of(
        &[
            (&format!("{h1}.json"), c1.as_bytes()),
            (&format!("{h2}.json"), c2.as_bytes()),
            ("aaa/layer.tar", &layer),
            ("manifest.json", manifest.as_bytes()),
        ],
        &[("bbb/layer.tar", "../aaa/layer.tar")],
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.tar");
    std::fs::write(&path, &archive).unwrap();
    let out = h.run(&["load", "-i", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("Loaded image: one:1\nLoaded image ID: sha256:{h2}\n")
    );

    // A config whose name promises another digest is refused, and so is a name with `..`.
    let tampered = c1.replace("\"1\"", "\"x\"");
    let bad_digest = tar_of(
        &[
            (&format!("{h1}.json"), tampered.as_bytes()),
            ("aaa/layer.tar", &layer),
            (
                "manifest.json",
                manifest.split("},{").next().unwrap().as_bytes(),
            ),
        ],
        &[],
    );
    let escaping = tar_of(
        &[
            (&format!("{h1}.json"), c1.as_bytes()),
            ("../layer.tar", &layer),
            (
                "manifest.json",
                format!(
                    r#"[{{"Config":"{h1}.json","RepoTags":["evil:1"],"Layers":["../layer.tar"]}}]"#
                )
                .as_bytes(),
            ),
        ],
        &[],
    );
    let link_out = tar_of(
        &[
            (&format!("{h1}.json"), c1.as_bytes()),
            (
                "manifest.json",
                format!(
                    r#"[{{"Config":"{h1}.json","RepoTags":["evil:1"],"Layers":["a/layer.tar"]}}]"#
                )
                .as_bytes(),
            ),
        ],
        &[("a/layer.tar", "../../etc/passwd")],
    );
    for (what, bytes, phrase) in [
        ("digest", &bad_digest, "not the sha256:"),
        ("dotdot", &escaping, "'..' is not allowed"),
        ("link", &link_out, "a link out of the archive"),
    ] {
        let other = fresh();
        std::fs::write(&path, bytes).unwrap();
        let out = other.run(&["load", "-i", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{what}");
        assert!(stderr(&out).contains(phrase), "{what}: {}", stderr(&out));
        assert!(!other.run(&["inspect", "evil:1"]).status.success());
    }
}

/// The docker 20.10 on the machine, when its daemon answers (else the test is skipped).
fn docker() -> Option<&'static str> {
    let docker = "/usr/bin/docker";
    let info = std::process::Command::new(docker)
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .ok()?;
    if info.status.success() {
        Some(docker)
    } else {
        eprintln!("SKIPPED: no docker daemon");
        None
    }
}

/// `docker save img | hoist load` runs in hoist, and a build's `--output type=docker` runs in docker.
#[test]
fn docker_and_hoist_trade_images_both_ways() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let Some(docker) = docker() else {
        return;
    };
    let name = format!("hoist-load-test-{}:1", std::process::id());
    let tar = common::busybox_tar().unwrap();
    let imported = std::process::Command::new(docker)
        .args(["import", tar.to_str().unwrap(), &name])
        .output()
        .unwrap();
    assert!(imported.status.success(), "{}", stderr(&imported));
    let loaded = std::process::Command::new("sh")
        .env("HOIST_ROOT", h.root.path())
        .arg("-c")
        .arg(format!("{docker} save {name} | \"$0\" load"))
        .arg(env!("CARGO_BIN_EXE_hoist"))
        .output()
        .unwrap();
    let ran = h.run(&["run", "--rm", &name, "echo", "from docker"]);
    let built = {
        let ctx = tempfile::tempdir().unwrap();
        std::fs::write(
            ctx.path().join("Dockerfile"),
            format!("FROM {name}\nRUN echo built > /built\n"),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("img.tar");
        let out = h.run(&[
            "build",
            "-q",
            "-t",
            &name,
            "-o",
            &format!("type=docker,dest={}", archive.display()),
            ctx.path().to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let load = std::process::Command::new(docker)
            .args(["load", "-i", archive.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(load.status.success(), "{}", stderr(&load));
        std::process::Command::new(docker)
            .args(["run", "--rm", &name, "cat", "/built"])
            .output()
            .unwrap()
    };
    // The name, and the imported image it no longer names.
    let _ = std::process::Command::new(docker)
        .args(["rmi", "-f", &name, stdout(&imported).trim()])
        .output();
    assert_eq!(
        stdout(&loaded),
        format!("Loaded image: {name}\n"),
        "{}",
        stderr(&loaded)
    );
    assert_eq!(stdout(&ran), "from docker\n", "{}", stderr(&ran));
    assert_eq!(stdout(&built), "built\n", "{}", stderr(&built));
}
