//! An image whose `/etc/hosts`, `/etc/resolv.conf` or `/etc/hostname` is a symlink (installing systemd-resolved
//! turns `/etc/resolv.conf` into one): a `RUN` step mounts the file where the link points inside the root, as
//! BuildKit does, and `hoist run` shows plain files over the links, as Docker's init layer does. Before, both
//! failed with "failed to prepare rootfs". Nothing ever lands outside the root.
mod common;
use common::*;

/// A context whose `etc/` holds the three files as symlinks to `/<escape>/…` (absolute and `../`-climbing).
fn symlinked_etc(escape: &str) -> tempfile::TempDir {
    let ctx = context_with(&[("Dockerfile", b"FROM busybox\nCOPY etc/ /etc/\n")]);
    let etc = ctx.path().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    std::os::unix::fs::symlink(format!("/{escape}/hosts"), etc.join("hosts")).unwrap();
    std::os::unix::fs::symlink(
        format!("../../../../{escape}/resolv"),
        etc.join("resolv.conf"),
    )
    .unwrap();
    std::os::unix::fs::symlink(format!("/{escape}/hostname"), etc.join("hostname")).unwrap();
    ctx
}

#[test]
fn symlinked_mount_point_files_work_in_builds_and_runs() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let escape = format!("hoist-escape-{}", std::process::id());
    let host_escape = std::path::Path::new("/").join(&escape);
    let ctx = symlinked_etc(&escape);
    let out = h.build_dir("links", ctx.path(), &[]);
    assert!(out.status.success(), "{}", stderr(&out));

    // A RUN on top: the files are readable through the links; the links stay links in the image.
    let log = h.build_ok(
        "links-run",
        "FROM links\nRUN cat /etc/hosts | grep -q localhost && test -s /etc/resolv.conf && readlink /etc/hosts\n",
        &[],
        &["--progress", "plain"],
    );
    assert!(log.contains(&format!("/{escape}/hosts")), "{log}");
    let (_, layers) = h.saved("links-run");
    let top = layer_entries(layers.last().unwrap());
    // BuildKit removes the empty stub files it mounted on and keeps the directory it made for them.
    assert!(
        top.keys().all(|name| !name.ends_with("hosts")
            && !name.ends_with("resolv")
            && !name.ends_with("hostname")),
        "{:?}",
        top.keys().collect::<Vec<_>>()
    );
    assert!(
        top.contains_key(&escape),
        "{:?}",
        top.keys().collect::<Vec<_>>()
    );

    // `hoist run`: plain files with the container's content, the links' targets neither made nor mounted.
    let text = h.sh(
        "links",
        &format!(
            "test -f /etc/hosts -a ! -L /etc/hosts && test ! -L /etc/resolv.conf && cat /etc/hostname && \
             grep localhost /etc/hosts && ls /{escape} 2>&1; echo done"
        ),
    );
    assert!(text.contains("localhost"), "{text}");
    assert!(text.contains("No such file"), "{text}");
    assert!(text.trim_end().ends_with("done"), "{text}");
    assert!(
        !host_escape.exists(),
        "{} was made on the host",
        host_escape.display()
    );
}
