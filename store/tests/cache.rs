mod common;

use hoist_store::{CacheRecord, Digest, StatEntry};

fn rec(key: &str, layer: Option<Digest>) -> CacheRecord {
    CacheRecord {
        key: key.to_string(),
        parent: Some("parent-key".to_string()),
        description: format!("RUN {key}"),
        layer,
        payload: r#"{"env":["A=1"]}"#.to_string(),
        size: 42,
        created: 100,
        last_used: 100,
        used_count: 0,
    }
}

#[test]
fn insert_lookup_bumps_usage() {
    let (_d, store) = common::store();
    assert!(store.cache_lookup("k1").unwrap().is_none());
    let layer = Digest::of_bytes(b"layer");
    store.cache_insert(&rec("k1", Some(layer.clone()))).unwrap();
    store.cache_insert(&rec("k2", None)).unwrap();
    let got = store.cache_lookup("k1").unwrap().unwrap();
    assert_eq!(got.layer, Some(layer));
    assert_eq!(got.used_count, 1);
    assert!(got.last_used > 100);
    assert_eq!(got.payload, r#"{"env":["A=1"]}"#);
    assert_eq!(store.cache_lookup("k1").unwrap().unwrap().used_count, 2);
    assert_eq!(store.cache_lookup("k2").unwrap().unwrap().layer, None);

    // Upsert replaces.
    let mut changed = rec("k2", None);
    changed.description = "changed".into();
    store.cache_insert(&changed).unwrap();
    let all = store.cache_records().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(
        all.iter().find(|r| r.key == "k2").unwrap().description,
        "changed"
    );

    store.cache_remove("k1").unwrap();
    store.cache_remove("k1").unwrap();
    assert!(store.cache_lookup("k1").unwrap().is_none());
    assert_eq!(store.cache_records().unwrap().len(), 1);
}

#[test]
fn stat_cache_roundtrip() {
    let (_d, store) = common::store();
    let e = StatEntry {
        path: "/ctx/a.txt".into(),
        size: 3,
        mtime_ns: 1,
        ctime_ns: 2,
        inode: 99,
        digest: Digest::of_bytes(b"abc").to_string(),
    };
    store.stat_cache_put(std::slice::from_ref(&e)).unwrap();
    assert_eq!(store.stat_cache_get("/ctx/a.txt").unwrap(), Some(e));
    assert_eq!(store.stat_cache_get("/ctx/b.txt").unwrap(), None);
}

#[test]
fn prune_removes_records_unused_since() {
    let (_d, store) = common::store();
    let mut old = rec("old", None);
    old.last_used = 10;
    let mut new = rec("new", None);
    new.last_used = 1000;
    store.cache_insert(&old).unwrap();
    store.cache_insert(&new).unwrap();
    let removed = store.cache_prune(500).unwrap();
    assert_eq!(removed, vec![old]);
    assert_eq!(store.cache_records().unwrap(), vec![new]);
}
