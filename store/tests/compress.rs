//! Compressed layers for export: made once, cached, shared by concurrent callers, collected with their layer.
mod common;

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{put_layer, LayerTar};
use hoist_store::{Digest, ImageRecord, LayerCompression, Store};

fn layer_tar(seed: &str) -> Vec<u8> {
    let mut t = LayerTar::new();
    let text = seed.repeat(5000);
    t.dir("./etc/", 0o755)
        .file("./etc/text", 0o644, text.as_bytes())
        .file("./etc/seed", 0o600, seed.as_bytes());
    t.finish()
}

fn decompress(compression: LayerCompression, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match compression {
        LayerCompression::Gzip => {
            flate2::read::GzDecoder::new(data)
                .read_to_end(&mut out)
                .unwrap();
        }
        LayerCompression::Zstd => {
            zstd::stream::read::Decoder::new(data)
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
        }
    }
    out
}

fn blob_count(store: &Store) -> usize {
    fs::read_dir(store.root().join("blobs/sha256"))
        .unwrap()
        .count()
}

fn image_with(store: &Store, layers: &[&Digest], tag: &str) -> ImageRecord {
    let config = oci_spec::image::ImageConfigurationBuilder::default()
        .rootfs(
            oci_spec::image::RootFsBuilder::default()
                .typ("layers")
                .diff_ids(layers.iter().map(|d| d.to_string()).collect::<Vec<_>>())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let image = store.write_image(&config).unwrap();
    store.tag(tag, &image).unwrap();
    image
}

/// Files of a tar in memory: path → bytes.
fn tar_files(data: &[u8]) -> HashMap<String, Vec<u8>> {
    let mut archive = tar::Archive::new(data);
    let mut files = HashMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type().is_file() {
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            files.insert(path, bytes);
        }
    }
    files
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn compressed_layer_is_made_once_and_decompresses_to_the_layer() {
    let (_d, store) = common::store();
    let tar = layer_tar("hello ");
    let diff = put_layer(&store, &tar);
    for compression in [LayerCompression::Gzip, LayerCompression::Zstd] {
        let (digest, size) = store.compressed_layer(&diff, compression).unwrap();
        let bytes = store.read_blob(&digest).unwrap();
        assert_eq!(bytes.len() as u64, size);
        assert_eq!(Digest::of_bytes(&bytes), digest);
        assert!(size < tar.len() as u64 / 4, "{compression}: {size} bytes");
        assert_eq!(decompress(compression, &bytes), tar, "{compression}");

        let blobs = blob_count(&store);
        let mtime = fs::metadata(store.blob_path(&digest))
            .unwrap()
            .modified()
            .unwrap();
        let again = store.compressed_layer(&diff, compression).unwrap();
        assert_eq!(again, (digest.clone(), size));
        assert_eq!(blob_count(&store), blobs, "a second call made a blob");
        let mtime_again = fs::metadata(store.blob_path(&digest))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(mtime, mtime_again, "a second call rewrote the blob");

        // Another handle on the same root (another process) finds it in the database too.
        let other = Store::open(store.root()).unwrap();
        assert_eq!(
            other.compressed_layer(&diff, compression).unwrap(),
            (digest, size)
        );
        assert_eq!(blob_count(&store), blobs);
    }
}

#[test]
fn compression_is_deterministic_across_stores() {
    let tar = layer_tar("same bytes ");
    let mut digests = Vec::new();
    for _ in 0..2 {
        let (_d, store) = common::store();
        let diff = put_layer(&store, &tar);
        digests.push((
            store
                .compressed_layer(&diff, LayerCompression::Gzip)
                .unwrap(),
            store
                .compressed_layer(&diff, LayerCompression::Zstd)
                .unwrap(),
        ));
    }
    assert_eq!(digests[0], digests[1]);
}

#[test]
fn a_vanished_compressed_blob_is_made_again() {
    let (_d, store) = common::store();
    let diff = put_layer(&store, &layer_tar("gone "));
    let (digest, _) = store
        .compressed_layer(&diff, LayerCompression::Gzip)
        .unwrap();
    fs::remove_file(store.blob_path(&digest)).unwrap();
    let (again, _) = store
        .compressed_layer(&diff, LayerCompression::Gzip)
        .unwrap();
    assert_eq!(again, digest);
    assert!(store.has_blob(&digest));
}

#[test]
fn a_missing_layer_is_an_error_naming_the_blob() {
    let (_d, store) = common::store();
    let missing = Digest::of_bytes(b"not stored");
    let err = store
        .compressed_layer(&missing, LayerCompression::Gzip)
        .unwrap_err();
    assert!(err.to_string().contains(missing.hex()), "{err}");
}

#[test]
fn concurrent_callers_share_one_compressed_blob() {
    let (_d, store) = common::store();
    let tar = layer_tar("race ");
    let diff = put_layer(&store, &tar);
    let root = store.root().to_path_buf();
    let blobs_before = blob_count(&store);
    let threads = 6;
    let barrier = Arc::new(Barrier::new(threads));
    let results: Vec<(Digest, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let barrier = Arc::clone(&barrier);
                let root = root.clone();
                let diff = diff.clone();
                s.spawn(move || {
                    // Separate handles: separate SQLite connections and lock-file descriptions, like processes.
                    let store = Store::open(&root).unwrap();
                    barrier.wait();
                    let compression = if i % 2 == 0 {
                        LayerCompression::Gzip
                    } else {
                        LayerCompression::Zstd
                    };
                    let got = store.compressed_layer(&diff, compression).unwrap();
                    (compression, got)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .map(|(c, got)| {
                assert_eq!(decompress(c, &store.read_blob(&got.0).unwrap()), tar);
                got
            })
            .collect()
    });
    let distinct: std::collections::HashSet<_> = results.iter().collect();
    assert_eq!(distinct.len(), 2, "one blob per algorithm: {results:?}");
    assert_eq!(blob_count(&store), blobs_before + 2);
    let leftovers: Vec<_> = fs::read_dir(store.tmp_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    assert!(leftovers.is_empty(), "staging leftovers: {leftovers:?}");
}

#[test]
fn gc_keeps_compressed_blobs_while_their_layer_lives() {
    let (_d, store) = common::store();
    let kept = put_layer(&store, &layer_tar("kept "));
    let dropped = put_layer(&store, &layer_tar("dropped "));
    image_with(&store, &[&kept], "keep:1");
    image_with(&store, &[&dropped], "drop:1");
    let (kept_gz, _) = store
        .compressed_layer(&kept, LayerCompression::Gzip)
        .unwrap();
    let (dropped_gz, _) = store
        .compressed_layer(&dropped, LayerCompression::Gzip)
        .unwrap();
    let (dropped_zst, _) = store
        .compressed_layer(&dropped, LayerCompression::Zstd)
        .unwrap();

    let report = store.gc(Duration::ZERO).unwrap();
    assert!(report.removed_blobs.is_empty(), "{report:?}");

    store.remove_image("drop:1").unwrap();
    // Within the grace period the fresh compressed blobs stay (a save may be about to use them).
    let report = store.gc(Duration::from_secs(3600)).unwrap();
    assert!(report.removed_blobs.is_empty(), "{report:?}");

    let report = store.gc(Duration::ZERO).unwrap();
    for d in [&dropped, &dropped_gz, &dropped_zst] {
        assert!(report.removed_blobs.contains(d), "{d} not collected");
        assert!(!store.has_blob(d));
    }
    assert!(store.has_blob(&kept) && store.has_blob(&kept_gz));
    assert_eq!(
        store
            .compressed_layer(&kept, LayerCompression::Gzip)
            .unwrap()
            .0,
        kept_gz
    );

    // The forgotten row does not resurrect a stale digest: the layer is gone, so asking is an error.
    assert!(store
        .compressed_layer(&dropped, LayerCompression::Gzip)
        .is_err());
}

#[test]
fn oci_layout_with_compressed_layers_has_matching_descriptors() {
    let (_d, store) = common::store();
    let base = layer_tar("base ");
    let top = layer_tar("top ");
    let base_diff = put_layer(&store, &base);
    let top_diff = put_layer(&store, &top);
    let image = image_with(&store, &[&base_diff, &top_diff], "app:1");
    for (compression, media_type) in [
        (
            LayerCompression::Gzip,
            "application/vnd.oci.image.layer.v1.tar+gzip",
        ),
        (
            LayerCompression::Zstd,
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
    ] {
        let out = store
            .write_oci_layout_compressed(&["app:1".to_string()], Vec::new(), Some(compression))
            .unwrap();
        let files = tar_files(&out);
        let index = json(&files["index.json"]);
        let manifest_desc = &index["manifests"][0];
        let manifest_digest: Digest = manifest_desc["digest"].as_str().unwrap().parse().unwrap();
        let manifest_bytes = &files[&format!("blobs/sha256/{}", manifest_digest.hex())];
        assert_eq!(Digest::of_bytes(manifest_bytes), manifest_digest);
        assert_eq!(
            manifest_desc["size"].as_u64().unwrap(),
            manifest_bytes.len() as u64
        );
        let manifest = json(manifest_bytes);
        assert_eq!(manifest["config"]["digest"], image.id.to_string());
        let layers = manifest["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 2);
        for (desc, plain) in layers.iter().zip([&base, &top]) {
            assert_eq!(desc["mediaType"], media_type);
            let digest: Digest = desc["digest"].as_str().unwrap().parse().unwrap();
            let blob = &files[&format!("blobs/sha256/{}", digest.hex())];
            assert_eq!(Digest::of_bytes(blob), digest);
            assert_eq!(desc["size"].as_u64().unwrap(), blob.len() as u64);
            assert_eq!(&decompress(compression, blob), plain);
        }
        // The config (and so the diff IDs and the image ID) is exported as stored.
        let config = &files[&format!("blobs/sha256/{}", image.id.hex())];
        assert_eq!(Digest::of_bytes(config), image.id);
        assert_eq!(
            json(config)["rootfs"]["diff_ids"],
            serde_json::json!([base_diff.to_string(), top_diff.to_string()])
        );
        // No uncompressed layer is in the archive.
        assert!(!files.contains_key(&format!("blobs/sha256/{}", base_diff.hex())));
        // docker's manifest.json names the compressed blobs.
        let docker = json(&files["manifest.json"]);
        for layer in docker[0]["Layers"].as_array().unwrap() {
            assert!(files.contains_key(layer.as_str().unwrap()));
        }
    }

    // Without compression the stored manifest goes out as it is.
    let out = store
        .write_oci_layout_compressed(&["app:1".to_string()], Vec::new(), None)
        .unwrap();
    let index = json(&tar_files(&out)["index.json"]);
    assert_eq!(
        index["manifests"][0]["digest"],
        image.manifest_digest.to_string()
    );
}

#[test]
fn docker_archive_with_gzip_layers_and_zstd_refused() {
    let (dir, store) = common::store();
    let plain = layer_tar("docker ");
    let diff = put_layer(&store, &plain);
    image_with(&store, &[&diff], "app:1");
    let out = store
        .write_docker_archive_compressed(
            &["app:1".to_string()],
            Vec::new(),
            Some(LayerCompression::Gzip),
        )
        .unwrap();
    let files = tar_files(&out);
    let manifest = json(&files["manifest.json"]);
    let layers = manifest[0]["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    let name = layers[0].as_str().unwrap();
    assert!(name.ends_with("/layer.tar.gz"), "{name}");
    assert_eq!(decompress(LayerCompression::Gzip, &files[name]), plain);

    let target = dir.path().join("z.tar");
    let err = store
        .save_docker_archive_compressed(
            &["app:1".to_string()],
            &target,
            Some(LayerCompression::Zstd),
        )
        .unwrap_err();
    assert!(err.to_string().contains("zstd"), "{err}");
    assert!(!target.exists());
}

/// Throughput of the first compression (`cargo test --release -p hoist-store --test compress -- --ignored
/// --nocapture`); HOIST_BENCH_TAR names a big tar to use, otherwise 64 MiB of mixed text and random bytes.
#[test]
#[ignore]
fn throughput() {
    let (_d, store) = common::store();
    let data = match std::env::var_os("HOIST_BENCH_TAR") {
        Some(path) => fs::read(path).unwrap(),
        None => {
            let mut data = Vec::with_capacity(64 << 20);
            let mut x: u64 = 0x9e3779b97f4a7c15;
            while data.len() < 64 << 20 {
                data.extend_from_slice(format!("line {} of some text\n", data.len()).as_bytes());
                for _ in 0..8 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    data.extend_from_slice(&x.to_le_bytes()[..2]);
                }
            }
            data
        }
    };
    let diff = store.put_blob(&data).unwrap();
    for compression in [LayerCompression::Gzip, LayerCompression::Zstd] {
        let start = Instant::now();
        let (_, size) = store.compressed_layer(&diff, compression).unwrap();
        let secs = start.elapsed().as_secs_f64();
        let start = Instant::now();
        store.compressed_layer(&diff, compression).unwrap();
        let cached = start.elapsed();
        println!(
            "{compression}: {:.1} MB in {secs:.2} s = {:.1} MB/s, ratio {:.2}; cached call {cached:?}",
            data.len() as f64 / 1e6,
            data.len() as f64 / 1e6 / secs,
            size as f64 / data.len() as f64
        );
    }
}
