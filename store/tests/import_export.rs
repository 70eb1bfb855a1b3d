mod common;

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::LayerTar;
use hoist_store::{Digest, Store};

fn rootfs_tar() -> Vec<u8> {
    let mut t = LayerTar::new();
    t.dir("./", 0o755)
        .dir("./bin/", 0o755)
        .file_owned(
            "./bin/tool",
            0o4755,
            0,
            0,
            1_600_000_000,
            b"#!/bin/sh\necho hi\n",
        )
        .dir_owned("./home/u/", 0o700, 1000, 1000, 1_600_000_000)
        .file_owned("./home/u/notes", 0o640, 1000, 1000, 1_600_000_000, b"notes");
    t.finish()
}

fn compress(kind: &str, data: &[u8]) -> Vec<u8> {
    match kind {
        "plain" => data.to_vec(),
        "gz" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "bz2" => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "xz" => {
            let mut e = xz2::write::XzEncoder::new(Vec::new(), 6);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        _ => unreachable!(),
    }
}

#[test]
fn import_rootfs_tar_in_every_compression() {
    let (dir, store) = common::store();
    let plain = rootfs_tar();
    let diff = Digest::of_bytes(&plain);
    for kind in ["plain", "gz", "bz2", "xz"] {
        let path = dir.path().join(format!("rootfs.{kind}"));
        fs::write(&path, compress(kind, &plain)).unwrap();
        let img = store
            .import_rootfs_tar(&path, &format!("imported:{kind}"))
            .unwrap();
        assert_eq!(
            img.diff_ids().unwrap(),
            vec![diff.clone()],
            "{kind}: layer is stored uncompressed"
        );
        assert_eq!(img.config.os().to_string(), "linux");
        assert_eq!(img.config.architecture(), &oci_spec::image::Arch::default());
        assert!(img.config.config().is_none(), "no Env/Cmd");
        let history = img.config.history().as_ref().unwrap();
        assert_eq!(history.len(), 1);
        assert!(history[0]
            .comment()
            .as_deref()
            .unwrap()
            .starts_with("imported from "));
        assert_eq!(
            store
                .resolve(&format!("imported:{kind}"))
                .unwrap()
                .unwrap()
                .id,
            img.id
        );
    }
    let snap = store.snapshot_path(&diff).unwrap().unwrap();
    let tool = fs::metadata(snap.join("bin/tool")).unwrap();
    assert_eq!(tool.mode() & 0o7777, 0o4755);
    let notes = fs::metadata(snap.join("home/u/notes")).unwrap();
    assert_eq!(
        (notes.uid(), notes.gid(), notes.mode() & 0o777),
        (1000, 1000, 0o640)
    );
    assert_eq!(
        fs::metadata(snap.join("home/u")).unwrap().mode() & 0o777,
        0o700
    );
}

#[test]
fn import_refuses_escaping_tar_and_bad_reference() {
    let (dir, store) = common::store();
    let mut t = LayerTar::new();
    t.file("../../etc/evil", 0o644, b"x");
    let path = dir.path().join("evil.tar");
    fs::write(&path, t.finish()).unwrap();
    assert!(store.import_rootfs_tar(&path, "evil").is_err());
    assert!(store.resolve("evil").unwrap().is_none());
    fs::write(dir.path().join("ok.tar"), rootfs_tar()).unwrap();
    assert!(store
        .import_rootfs_tar(&dir.path().join("ok.tar"), "NotLower")
        .is_err());
    let err = store
        .import_rootfs_tar(&dir.path().join("missing.tar"), "x")
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.tar"), "{err}");
}

/// Read every regular file of a tar into a map.
fn read_tar(path: &Path) -> HashMap<String, Vec<u8>> {
    let mut out = HashMap::new();
    let mut archive = tar::Archive::new(fs::File::open(path).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.insert(name, data);
    }
    out
}

fn two_layer_image(store: &Store) -> hoist_store::ImageRecord {
    let mut t = LayerTar::new();
    t.file("a", 0o644, b"a");
    let l1 = store.put_blob(&t.finish()).unwrap();
    let mut t = LayerTar::new();
    t.file("b", 0o644, b"b").file(".wh.a", 0o644, b"");
    let l2 = store.put_blob(&t.finish()).unwrap();
    let config = oci_spec::image::ImageConfigurationBuilder::default()
        .rootfs(
            oci_spec::image::RootFsBuilder::default()
                .typ("layers")
                .diff_ids(vec![l1.to_string(), l2.to_string()])
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    store.write_image(&config).unwrap()
}

#[test]
fn docker_archive_layout() {
    let (dir, store) = common::store();
    let img = two_layer_image(&store);
    store.tag("app:1", &img).unwrap();
    store.tag("app:2", &img).unwrap();
    let out = dir.path().join("app.tar");
    store
        .save_docker_archive(&["app:1".to_string(), "app:2".to_string()], &out)
        .unwrap();
    let files = read_tar(&out);
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let entries = manifest.as_array().unwrap();
    assert_eq!(
        entries.len(),
        1,
        "two tags of one image are one manifest entry"
    );
    let entry = &entries[0];
    assert_eq!(entry["RepoTags"], serde_json::json!(["app:1", "app:2"]));
    let config_name = entry["Config"].as_str().unwrap();
    assert_eq!(config_name, format!("{}.json", img.id.hex()));
    let config_bytes = &files[config_name];
    assert_eq!(Digest::of_bytes(config_bytes), img.id);
    let config: serde_json::Value = serde_json::from_slice(config_bytes).unwrap();
    let diff_ids: Vec<&str> = config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    let layers: Vec<&str> = entry["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(layers.len(), 2);
    for (layer, diff) in layers.iter().zip(&diff_ids) {
        assert!(layer.ends_with("/layer.tar"));
        assert_eq!(
            Digest::of_bytes(&files[*layer]).as_str(),
            *diff,
            "layer tar sha256 is its diff ID"
        );
        let dir = layer.trim_end_matches("/layer.tar");
        assert_eq!(files[&format!("{dir}/VERSION")], b"1.0");
    }
    let repos: serde_json::Value = serde_json::from_slice(&files["repositories"]).unwrap();
    assert!(repos["app"]["1"].is_string());
    // Nothing left next to the output.
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        2,
        "root + app.tar only"
    );

    assert!(store
        .save_docker_archive(&["ghost".to_string()], &dir.path().join("g.tar"))
        .is_err());
    assert!(!dir.path().join("g.tar").exists());
}

#[test]
fn oci_layout_archive() {
    let (dir, store) = common::store();
    let img = two_layer_image(&store);
    store.tag("registry.local:5000/team/app:v1", &img).unwrap();
    let out = dir.path().join("oci.tar");
    store
        .save_oci_layout(&["registry.local:5000/team/app:v1".to_string()], &out)
        .unwrap();
    let files = read_tar(&out);
    assert!(files.contains_key("oci-layout"));
    let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
    let m = &index["manifests"][0];
    assert_eq!(m["digest"], img.manifest_digest.as_str());
    assert_eq!(m["annotations"]["org.opencontainers.image.ref.name"], "v1");
    assert_eq!(
        m["annotations"]["io.containerd.image.name"],
        "registry.local:5000/team/app:v1"
    );
    for d in [&img.manifest_digest, &img.id] {
        let blob = &files[&format!("blobs/sha256/{}", d.hex())];
        assert_eq!(&Digest::of_bytes(blob), d);
    }
    for diff in img.diff_ids().unwrap() {
        assert_eq!(
            Digest::of_bytes(&files[&format!("blobs/sha256/{}", diff.hex())]),
            diff
        );
    }
    assert!(files.contains_key("manifest.json"));
}

/// `docker load` + `docker run` of saved archives (docker-save and OCI layout). Needs a running docker
/// daemon and a static busybox at /usr/bin/busybox: `cargo test -p hoist-store -- --ignored docker`.
#[test]
#[ignore]
fn docker_loads_and_runs_saved_archives() {
    let docker_ok = std::process::Command::new("docker")
        .arg("info")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let busybox = Path::new("/usr/bin/busybox");
    if !docker_ok || !busybox.exists() {
        eprintln!(
            "skipping: needs a docker daemon answering `docker info` and a static /usr/bin/busybox"
        );
        return;
    }
    let (dir, store) = common::store();
    let rootfs = dir.path().join("rootfs.tar");
    {
        let mut b = tar::Builder::new(fs::File::create(&rootfs).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        b.append_data(&mut h, "bin/", std::io::empty()).unwrap();
        let bytes = fs::read(busybox).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o755);
        h.set_size(bytes.len() as u64);
        b.append_data(&mut h, "bin/busybox", &bytes[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "bin/sh", "busybox").unwrap();
        b.finish().unwrap();
    }
    let base = store
        .import_rootfs_tar(&rootfs, "hoist-store-test-base")
        .unwrap();
    // A second image on top of the imported one, with a Cmd, as a build would make.
    let mut t = LayerTar::new();
    t.dir("etc/", 0o755)
        .file("etc/greeting", 0o644, b"hello from hoist\n");
    let layer = store.put_blob(&t.finish()).unwrap();
    let mut diff_ids = base.config.rootfs().diff_ids().clone();
    diff_ids.push(layer.to_string());
    let config = oci_spec::image::ImageConfigurationBuilder::default()
        .architecture(oci_spec::image::Arch::default())
        .os(oci_spec::image::Os::Linux)
        .config(
            oci_spec::image::ConfigBuilder::default()
                .cmd(vec![
                    "/bin/sh".to_string(),
                    "-c".to_string(),
                    "cat /etc/greeting".to_string(),
                ])
                .build()
                .unwrap(),
        )
        .rootfs(
            oci_spec::image::RootFsBuilder::default()
                .typ("layers")
                .diff_ids(diff_ids)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let img = store.write_image(&config).unwrap();
    for (format, tag) in [
        ("docker", "hoist-store-test:docker"),
        ("oci", "hoist-store-test:oci"),
    ] {
        store.tag(tag, &img).unwrap();
        let out = dir.path().join(format!("{format}.tar"));
        if format == "oci" {
            store.save_oci_layout(&[tag.to_string()], &out).unwrap();
        } else {
            store.save_docker_archive(&[tag.to_string()], &out).unwrap();
        }
        let load = std::process::Command::new("docker")
            .args(["load", "-i"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            load.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&load.stderr)
        );
        let run = std::process::Command::new("docker")
            .args(["run", "--rm", "--network", "none", tag])
            .output()
            .unwrap();
        let _ = std::process::Command::new("docker")
            .args(["rmi", "-f", tag])
            .output();
        assert!(
            run.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&run.stdout),
            "hello from hoist\n",
            "{format}"
        );
    }
}

#[test]
fn load_round_trips_docker_and_oci_archives() {
    for oci in [false, true] {
        let (dir, store) = common::store();
        let img = two_layer_image(&store);
        store.tag("app:1", &img).unwrap();
        let out = dir.path().join("img.tar");
        if oci {
            store.save_oci_layout(&["app:1".to_string()], &out).unwrap();
        } else {
            store
                .save_docker_archive(&["app:1".to_string()], &out)
                .unwrap();
        }
        // Load into a fresh store.
        let other = Store::open(&dir.path().join("other")).unwrap();
        let loaded = other.load_archive(&out).unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].1.id, img.id, "image ID survives (oci={oci})");
        assert_eq!(loaded[0].0, vec!["app:1".to_string()]);
        assert_eq!(other.resolve("app:1").unwrap().unwrap().id, img.id);
        for diff in img.diff_ids().unwrap() {
            assert!(other.has_blob(&diff));
            other.ensure_snapshot(&diff).unwrap();
        }
    }
}

#[test]
fn load_accepts_gzip_layers_and_rejects_wrong_diff_ids() {
    let (dir, store) = common::store();
    let mut t = LayerTar::new();
    t.file("hello", 0o644, b"world");
    let layer = t.finish();
    let diff = Digest::of_bytes(&layer);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{diff}"]}}}}"#
    );
    let build = |config: &str| {
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |name: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, data).unwrap();
        };
        add("cfg.json", config.as_bytes());
        add("l1/layer.tar", &compress("gz", &layer));
        add(
            "manifest.json",
            br#"[{"Config":"cfg.json","RepoTags":["gz:1"],"Layers":["l1/layer.tar"]}]"#,
        );
        b.into_inner().unwrap()
    };
    let path = dir.path().join("gz.tar");
    fs::write(&path, build(&config)).unwrap();
    let loaded = store.load_archive(&path).unwrap();
    assert_eq!(loaded[0].1.diff_ids().unwrap(), vec![diff.clone()]);
    assert_eq!(
        store.read_blob(&diff).unwrap(),
        layer,
        "stored uncompressed"
    );

    let wrong = config.replace(diff.hex(), &"0".repeat(64));
    fs::write(&path, build(&wrong)).unwrap();
    let err = store.load_archive(&path).unwrap_err().to_string();
    assert!(err.contains("corrupt"), "{err}");

    fs::write(&path, b"not a tar at all").unwrap();
    assert!(store.load_archive(&path).is_err());
}
