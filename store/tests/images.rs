mod common;

use common::{put_layer, LayerTar};
use hoist_store::{Digest, ImageRecord, Store, StoreError};
use oci_spec::image::{
    Arch, ConfigBuilder, ImageConfiguration, ImageConfigurationBuilder, Os, RootFsBuilder,
};

fn config(diff_ids: &[Digest], cmd: &str) -> ImageConfiguration {
    let mut labels = std::collections::HashMap::new();
    for i in 0..8 {
        labels.insert(format!("label{i}"), format!("v{i}"));
    }
    ImageConfigurationBuilder::default()
        .architecture(Arch::Amd64)
        .os(Os::Linux)
        .created("2026-01-01T00:00:00Z")
        .config(
            ConfigBuilder::default()
                .cmd(vec![cmd.to_string()])
                .env(vec!["PATH=/bin".to_string()])
                .labels(labels)
                .build()
                .unwrap(),
        )
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

fn image(store: &Store, cmd: &str) -> ImageRecord {
    let mut t = LayerTar::new();
    t.file("hello", 0o644, cmd.as_bytes());
    let layer = put_layer(store, &t.finish());
    store.write_image(&config(&[layer], cmd)).unwrap()
}

#[test]
fn write_image_stores_config_and_manifest() {
    let (_d, store) = common::store();
    let mut t = LayerTar::new();
    t.file("a", 0o644, b"aaaa");
    let l1 = put_layer(&store, &t.finish());
    let mut t = LayerTar::new();
    t.file("b", 0o644, b"bbbb");
    let l2 = put_layer(&store, &t.finish());
    let img = store
        .write_image(&config(&[l1.clone(), l2.clone()], "sh"))
        .unwrap();
    assert_eq!(img.id, Digest::of_bytes(&store.read_blob(&img.id).unwrap()));
    assert_eq!(img.manifest.layers().len(), 2);
    assert_eq!(
        img.manifest.layers()[0].digest().to_string(),
        l1.to_string()
    );
    assert_eq!(
        img.manifest.layers()[0].media_type().to_string(),
        "application/vnd.oci.image.layer.v1.tar"
    );
    assert_eq!(
        img.manifest.config().digest().to_string(),
        img.id.to_string()
    );
    assert_eq!(
        img.size,
        store.blob_size(&l1).unwrap() + store.blob_size(&l2).unwrap()
    );
    assert_eq!(img.created.as_deref(), Some("2026-01-01T00:00:00Z"));
    assert_eq!(img.diff_ids().unwrap(), vec![l1.clone(), l2.clone()]);
    // Same config → same ID, every time (labels are a HashMap: key order must not leak into the digest).
    for _ in 0..5 {
        assert_eq!(
            store
                .write_image(&config(&[l1.clone(), l2.clone()], "sh"))
                .unwrap()
                .id,
            img.id
        );
    }
    // The stored record reads back equal.
    assert_eq!(store.image_by_id(&img.id).unwrap().unwrap(), img);
}

#[test]
fn write_image_needs_layer_blobs() {
    let (_d, store) = common::store();
    let missing = Digest::of_bytes(b"not stored");
    let err = store
        .write_image(&config(std::slice::from_ref(&missing), "sh"))
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidImage(_)));
    assert!(err.to_string().contains(missing.as_str()));
}

#[test]
fn tag_resolve_list_untag() {
    let (_d, store) = common::store();
    let a = image(&store, "a");
    let b = image(&store, "b");
    store.tag("app", &a).unwrap();
    store.tag("app:v2", &b).unwrap();
    store.tag("docker.io/library/other:1", &a).unwrap();

    assert_eq!(store.resolve("app").unwrap().unwrap().id, a.id);
    assert_eq!(store.resolve("app:latest").unwrap().unwrap().id, a.id);
    assert_eq!(
        store.resolve("docker.io/library/app").unwrap().unwrap().id,
        a.id
    );
    assert_eq!(store.resolve("app:v2").unwrap().unwrap().id, b.id);
    assert_eq!(store.resolve("other:1").unwrap().unwrap().id, a.id);
    assert!(store.resolve("app:v3").unwrap().is_none());
    assert!(store.resolve("nothing").unwrap().is_none());

    // By ID, full or prefix, with or without sha256:.
    assert_eq!(store.resolve(a.id.as_str()).unwrap().unwrap().id, a.id);
    assert_eq!(store.resolve(a.id.short()).unwrap().unwrap().id, a.id);
    assert_eq!(
        store
            .resolve(&format!("sha256:{}", &a.id.hex()[..8]))
            .unwrap()
            .unwrap()
            .id,
        a.id
    );

    // Retag moves the tag.
    store.tag("app", &b).unwrap();
    assert_eq!(store.resolve("app").unwrap().unwrap().id, b.id);
    store.tag("app", &a).unwrap();

    let list = store.list_images().unwrap();
    let refs: Vec<&str> = list.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(refs, vec!["app:latest", "app:v2", "other:1"]);
    assert_eq!(
        store.image_tags(&a.id).unwrap(),
        vec!["app:latest", "other:1"]
    );

    // index.json at the root lists the tags (OCI layout).
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.root().join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 3);

    assert!(store.untag("app:v2").unwrap());
    assert!(!store.untag("app:v2").unwrap());
    assert!(store.resolve("app:v2").unwrap().is_none());
    // b is now dangling and listed as <none>.
    let list = store.list_images().unwrap();
    assert!(list
        .iter()
        .any(|(r, i)| r == "<none>:<none>" && i.id == b.id));
    assert_eq!(list.last().unwrap().0, "<none>:<none>");
}

#[test]
fn bad_references_are_errors() {
    let (_d, store) = common::store();
    let a = image(&store, "a");
    let err = store.tag("Upper", &a).unwrap_err().to_string();
    assert!(err.contains("lowercase"), "{err}");
    assert!(store.resolve("sha256:xyz").is_err());
    assert!(store.resolve("Bad:Name:x").is_err());
}

#[test]
fn ambiguous_id_prefix() {
    let (_d, store) = common::store();
    // Make images until two IDs share a first hex digit.
    let mut seen = std::collections::HashMap::new();
    let mut i = 0;
    let first = loop {
        let img = image(&store, &format!("cmd{i}"));
        i += 1;
        let c = img.id.hex()[..1].to_string();
        if seen.insert(c.clone(), img.id.clone()).is_some() {
            break c;
        }
    };
    let err = store.resolve(&first).unwrap_err();
    assert!(matches!(err, StoreError::AmbiguousImageId { .. }), "{err}");
}

#[test]
fn remove_image_by_tag_and_id() {
    let (_d, store) = common::store();
    let a = image(&store, "a");
    store.tag("one", &a).unwrap();
    store.tag("two", &a).unwrap();
    // Removing one of two tags only untags.
    assert_eq!(
        store.remove_image("one").unwrap(),
        vec!["Untagged: one:latest"]
    );
    assert!(store.image_by_id(&a.id).unwrap().is_some());
    // Removing the last tag deletes the image.
    assert_eq!(
        store.remove_image("two").unwrap(),
        vec![
            "Untagged: two:latest".to_string(),
            format!("Deleted: {}", a.id)
        ]
    );
    assert!(store.image_by_id(&a.id).unwrap().is_none());

    let b = image(&store, "b");
    store.tag("x", &b).unwrap();
    store.tag("y", &b).unwrap();
    let out = store.remove_image(b.id.short()).unwrap();
    assert_eq!(
        out,
        vec![
            "Untagged: x:latest".to_string(),
            "Untagged: y:latest".to_string(),
            format!("Deleted: {}", b.id)
        ]
    );
    assert!(store.list_images().unwrap().is_empty());
    assert!(matches!(
        store.remove_image("ghost").unwrap_err(),
        StoreError::ImageNotFound(_)
    ));
}

#[test]
fn write_image_config_keeps_bytes_and_docker_extensions() {
    let (_d, store) = common::store();
    let mut t = LayerTar::new();
    t.file("f", 0o644, b"f");
    let layer = put_layer(&store, &t.finish());
    let json = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["sh"],"Healthcheck":{{"Test":["CMD","true"]}},"OnBuild":["RUN x"],"Shell":["/bin/bash","-c"]}},"rootfs":{{"type":"layers","diff_ids":["{layer}"]}}}}"#
    );
    let img = store.write_image_config(json.as_bytes()).unwrap();
    assert_eq!(img.id, Digest::of_bytes(json.as_bytes()));
    assert_eq!(store.read_blob(&img.id).unwrap(), json.as_bytes());
    assert_eq!(img.diff_ids().unwrap(), vec![layer]);
    assert!(store.write_image_config(b"not json").is_err());
}
