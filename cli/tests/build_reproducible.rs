//! `SOURCE_DATE_EPOCH`: the same Dockerfile and context give the same image on two state dirs, at two times.
mod common;
use common::{stderr, Hoist};

const EPOCH: i64 = 1_700_000_000;
const EPOCH_TEXT: &str = "2023-11-14T22:13:20Z";

fn digests(
    h: &Hoist,
    ctx: &std::path::Path,
    epoch_env: bool,
    extra: &[&str],
) -> (String, String, serde_json::Value) {
    let meta = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = h.cmd();
    cmd.args(["build", "-q", "-t", "app:1", "--metadata-file"])
        .arg(meta.path())
        .args(extra)
        .arg(ctx);
    if epoch_env {
        cmd.env("SOURCE_DATE_EPOCH", EPOCH.to_string());
    } else {
        cmd.env_remove("SOURCE_DATE_EPOCH");
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(meta.path()).unwrap()).unwrap();
    (
        m["containerimage.config.digest"]
            .as_str()
            .unwrap()
            .to_string(),
        m["containerimage.digest"].as_str().unwrap().to_string(),
        m,
    )
}

#[test]
fn two_state_dirs_seconds_apart_give_one_image() {
    let Some(first) = Hoist::with_busybox() else {
        return;
    };
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN mkdir -p /out/deep && echo one > /out/a && echo two > /out/deep/b\nCOPY src /app/src\nWORKDIR /srv/www\n",
    )
    .unwrap();
    std::fs::create_dir(ctx.path().join("src")).unwrap();
    std::fs::write(ctx.path().join("src/file"), "content\n").unwrap();

    let (id1, manifest1, _) = digests(&first, ctx.path(), true, &[]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = Hoist::with_busybox().unwrap();
    // The build-arg spelling (as buildx passes it) gives the same.
    let arg = format!("SOURCE_DATE_EPOCH={EPOCH}");
    let (id2, manifest2, _) = digests(&second, ctx.path(), false, &["--build-arg", &arg]);
    assert_eq!(id1, id2, "same image ID");
    assert_eq!(manifest1, manifest2, "same manifest digest");

    let (config, layers) = second.saved("app:1");
    assert_eq!(config["created"], EPOCH_TEXT);
    for h in config["history"].as_array().unwrap() {
        let created = chrono::DateTime::parse_from_rfc3339(h["created"].as_str().unwrap()).unwrap();
        assert!(created.timestamp() <= EPOCH, "{h}");
    }
    for layer in &layers[1..] {
        let mut archive = tar::Archive::new(layer.as_slice());
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let mtime = entry.header().mtime().unwrap() as i64;
            assert!(
                mtime <= EPOCH,
                "{:?} has mtime {mtime}",
                entry.path().unwrap()
            );
        }
    }

    // Without the epoch the build is not reproducible, and it does not reuse the epoch's cached steps.
    let (plain, _, meta) = digests(&second, ctx.path(), false, &[]);
    assert_ne!(plain, id2);
    assert_eq!(meta["hoist.steps.executed"], 3, "{meta}");
    // With it again: all from the cache, the same image.
    let (again, _, meta) = digests(&second, ctx.path(), true, &[]);
    assert_eq!(again, id2);
    assert_eq!(meta["hoist.steps.cached"], 3, "{meta}");
}

/// As BuildKit's local and tar exporters: with the epoch, every exported file has it as its mtime.
#[test]
fn local_and_tar_outputs_take_the_epoch_as_mtime() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN mkdir /out && echo x > /out/x && ln -s x /out/link\n",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (local, tar_path) = (dir.path().join("local"), dir.path().join("fs.tar"));
    let out = h
        .cmd()
        .env("SOURCE_DATE_EPOCH", EPOCH.to_string())
        .args(["build", "-q", "-o"])
        .arg(format!("type=local,dest={}", local.display()))
        .arg("-o")
        .arg(format!("type=tar,dest={}", tar_path.display()))
        .arg(ctx.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    for path in ["out", "out/x", "out/link", "bin/busybox", "etc/passwd"] {
        let meta = std::fs::symlink_metadata(local.join(path)).unwrap();
        assert_eq!(
            std::os::unix::fs::MetadataExt::mtime(&meta),
            EPOCH,
            "{path}"
        );
    }
    let bytes = std::fs::read(&tar_path).unwrap();
    let mut archive = tar::Archive::new(bytes.as_slice());
    let mut seen = 0;
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        assert_eq!(
            entry.header().mtime().unwrap() as i64,
            EPOCH,
            "{:?}",
            entry.path().unwrap()
        );
        seen += 1;
    }
    assert!(seen > 10, "{seen} entries");
}
