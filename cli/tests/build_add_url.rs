//! ADD of an http(s) URL: downloaded (name from the URL path), mode 0600, --checksum verified, and the content
//! (not the URL) decides whether the step is cached. Files are served by `python3 -m http.server` on 127.0.0.1.
mod common;

use common::file_server::FileServer as Server;
use common::{sha256_hex, stderr, Hoist};
use std::net::TcpListener;
use std::time::Duration;

#[test]
fn add_url_downloads_with_the_url_file_name_and_mode_0600() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let Some(srv) = Server::start() else { return };
    srv.put("files/tool.sh", b"#!/bin/sh\necho tool\n");
    srv.put("other.txt", b"other\n");
    // The server's Last-Modified (the file's mtime) becomes the file's mtime, as with BuildKit.
    let old = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(srv.root().join("other.txt"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let df = format!(
        "FROM busybox\nADD {} /opt/\nADD {} /renamed.txt\nADD --chmod=755 {} /bin/tool\nADD --chown=app {} /owned/\n",
        srv.url("files/tool.sh"),
        srv.url("other.txt"),
        srv.url("files/tool.sh"),
        srv.url("other.txt?version=2")
    );
    h.build_ok("url:1", &df, &[], &[]);
    // BuildKit (Docker 20.10) leaves a download 0600 whatever --chmod says.
    let out = h.sh("url:1", "stat -c '%n %a %u:%g' /opt/tool.sh /renamed.txt /bin/tool /owned/other.txt; cat /renamed.txt; sh /bin/tool; stat -c %Y /renamed.txt");
    assert_eq!(
        out,
        "/opt/tool.sh 600 0:0\n/renamed.txt 600 0:0\n/bin/tool 600 0:0\n/owned/other.txt 600 1000:1000\nother\ntool\n1000000000\n"
    );
}

#[test]
fn add_url_is_cached_by_content_and_downloaded_again_each_build() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let Some(srv) = Server::start() else { return };
    srv.put("v.txt", b"one\n");
    let df = format!("FROM busybox\nADD {} /v.txt\n", srv.url("v.txt"));
    h.build_ok("uc:1", &df, &[], &[]);
    let log = h.build_ok("uc:2", &df, &[], &[]);
    assert!(log.contains("CACHED"), "same content, same key:\n{log}");
    srv.put("v.txt", b"two\n");
    let log = h.build_ok("uc:3", &df, &[], &[]);
    assert!(
        !log.contains("CACHED"),
        "changed content is a new step:\n{log}"
    );
    assert_eq!(h.sh("uc:3", "cat /v.txt"), "two\n");
    assert!(
        h.leftover_tmp().is_empty(),
        "downloads are staged and removed: {:?}",
        h.leftover_tmp()
    );
}

#[test]
fn add_url_checksum_is_verified() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let Some(srv) = Server::start() else { return };
    srv.put("pkg.tar", b"not really a tar\n");
    let good = sha256_hex(b"not really a tar\n");
    let df = format!(
        "FROM busybox\nADD --checksum=sha256:{good} {} /pkg.tar\n",
        srv.url("pkg.tar")
    );
    h.build_ok("ck:1", &df, &[], &[]);
    assert_eq!(h.sh("ck:1", "cat /pkg.tar"), "not really a tar\n");
    let bad = sha256_hex(b"something else");
    let df = format!(
        "FROM busybox\nADD --checksum=sha256:{bad} {} /pkg.tar\n",
        srv.url("pkg.tar")
    );
    let log = h.build_err("ck:2", &df, &[], &[]);
    assert!(
        log.contains("checksum mismatch") && log.contains(&bad) && log.contains(&good),
        "{log}"
    );
    assert!(log.contains("Dockerfile:2"), "{log}");
    let df = format!(
        "FROM busybox\nADD --checksum=md5:abc {} /pkg.tar\n",
        srv.url("pkg.tar")
    );
    let log = h.build_err("ck:3", &df, &[], &[]);
    assert!(log.contains("sha256:"), "says what to give: {log}");
    let log = h.build_err(
        "ck:4",
        &format!("FROM busybox\nADD --checksum=sha256:{good} local.txt /\n"),
        &[("local.txt", "x")],
        &[],
    );
    assert!(log.contains("--checksum"), "{log}");
    assert!(
        h.leftover_tmp().is_empty(),
        "a failed download leaves nothing: {:?}",
        h.leftover_tmp()
    );
}

#[test]
fn add_url_is_not_extracted_and_errors_name_the_url() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let Some(srv) = Server::start() else { return };
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(3);
    header.set_mode(0o644);
    builder
        .append_data(&mut header, "inner.txt", &b"in\n"[..])
        .unwrap();
    srv.put("a.tar", &builder.into_inner().unwrap());
    h.build_ok(
        "ux:1",
        &format!("FROM busybox\nADD {} /dl/\n", srv.url("a.tar")),
        &[],
        &[],
    );
    assert_eq!(
        h.sh("ux:1", "ls /dl"),
        "a.tar\n",
        "a downloaded archive stays an archive"
    );
    let missing = srv.url("nope.txt");
    let log = h.build_err(
        "ux:2",
        &format!("FROM busybox\nADD {missing} /x\n"),
        &[],
        &[],
    );
    assert!(log.contains(&missing) && log.contains("404"), "{log}");
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (out, _ctx) = h.build_text(
        "ux:3",
        &format!("FROM busybox\nADD http://127.0.0.1:{port}/x /x\n"),
        &[],
        &[],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("download failed"), "{}", stderr(&out));
}

#[test]
fn add_mixes_urls_and_context_files() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let Some(srv) = Server::start() else { return };
    srv.put("remote.txt", b"remote\n");
    let df = format!(
        "FROM busybox\nADD local.txt {} /mixed/\n",
        srv.url("remote.txt")
    );
    h.build_ok("mix:1", &df, &[("local.txt", "local\n")], &[]);
    assert_eq!(
        h.sh(
            "mix:1",
            "cd /mixed && stat -c '%n %a' local.txt remote.txt && cat local.txt remote.txt"
        ),
        "local.txt 644\nremote.txt 600\nlocal\nremote\n"
    );
}

#[test]
fn add_url_with_checksum_is_keyed_by_it_and_not_downloaded_when_cached() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let Some(srv) = Server::start() else { return };
    srv.put("pinned.txt", b"pinned\n");
    let sum = sha256_hex(b"pinned\n");
    let df = format!(
        "FROM busybox\nADD --checksum=sha256:{sum} {} /pinned.txt\n",
        srv.url("pinned.txt")
    );
    h.build_ok("pin:1", &df, &[], &[]);
    // The server is gone: the checksum names the content, so the cached step needs no request (as BuildKit).
    drop(srv);
    let log = h.build_ok("pin:2", &df, &[], &["--progress", "plain"]);
    assert!(log.contains("CACHED"), "{log}");
    assert_eq!(h.sh("pin:2", "cat /pinned.txt"), "pinned\n");
    assert!(h.leftover_tmp().is_empty(), "{:?}", h.leftover_tmp());
}
