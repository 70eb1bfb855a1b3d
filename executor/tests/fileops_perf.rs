//! Issue #5: `COPY . /app` of a 20,000-file / 177 MB context. Ignored by default (slow in debug builds):
//! `cargo test -p hoist-executor --test fileops_perf -- --ignored --nocapture`.

mod fileops_support;

use std::fs;
use std::time::Instant;

use fileops_support::Fixture;

#[test]
#[ignore]
fn copy_twenty_thousand_files() {
    let fx = Fixture::new();
    let chunk = vec![b'x'; 177 * 1024 * 1024 / 20_000];
    for d in 0..200 {
        let dir = fx.src(&format!("pkg{d:03}/sub"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..100 {
            fs::write(dir.join(format!("file{f:03}.js")), &chunk).unwrap();
        }
    }
    let started = Instant::now();
    let stats = fx.copy(&["."], "/app/").unwrap();
    let elapsed = started.elapsed();
    eprintln!(
        "copied {} files, {} MB in {:?}",
        stats.files,
        stats.bytes / 1_000_000,
        elapsed
    );
    assert_eq!(stats.files, 20_000);
}
