//! A build on a state dir whose filesystem is (nearly) full: the headline error is the real one —
//! "No space left on device" and where — never a misleading "the container helper did not run" hint.
mod common;

use std::path::Path;

use common::{stderr, Hoist};

/// A state dir on a tmpfs of `size`, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn new(size: &str) -> SmallDisk {
        let dir = tempfile::Builder::new()
            .prefix("hoist-full-")
            .tempdir_in("/var/tmp")
            .unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            dir.path(),
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some(format!("size={size}").as_str()),
        )
        .expect("mounting a tmpfs");
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn free_bytes(&self) -> u64 {
        let stat = nix::sys::statvfs::statvfs(self.path()).unwrap();
        stat.blocks_available() as u64 * stat.fragment_size() as u64
    }

    /// Fills the disk until `left` bytes remain free.
    fn fill_to(&self, left: u64) {
        let filler = self.path().join("filler");
        let _ = std::fs::remove_file(&filler);
        let size = self.free_bytes().saturating_sub(left);
        std::fs::write(&filler, vec![0u8; size as usize]).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(self.path(), nix::mount::MntFlags::MNT_DETACH);
    }
}

/// The last `ERROR:` line: the headline a user reads.
fn headline(err: &str) -> String {
    err.lines()
        .rev()
        .find(|l| l.starts_with("ERROR"))
        .unwrap_or("")
        .to_string()
}

fn is_disk_full(line: &str) -> bool {
    line.contains("No space left on device")
}

#[test]
fn a_full_disk_is_the_headline_of_a_failed_step() {
    let Some(base) = Hoist::with_busybox() else {
        return;
    };
    let disk = SmallDisk::new("8m");
    let h = Hoist {
        root: tempfile::tempdir_in(disk.path()).unwrap(),
    };
    let tar = common::busybox_tar().unwrap();
    let out = h.run(&["import", tar.to_str().unwrap(), "busybox:latest"]);
    assert!(out.status.success(), "import: {}", stderr(&out));
    drop(base);

    // A COPY of a file bigger than the disk: the layer cannot be written.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nCOPY big /big\n",
    )
    .unwrap();
    std::fs::write(ctx.path().join("big"), vec![7u8; 6 << 20]).unwrap();
    let out = h.run(&["build", "--progress", "plain", ctx.path().to_str().unwrap()]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(is_disk_full(&headline(&err)), "{err}");
    assert!(
        headline(&err).contains(&h.root.path().to_string_lossy().to_string()),
        "{err}"
    );

    // A RUN with almost no room left, at several fill levels: whatever hoist writes first fails (the
    // database, the container's bundle, the helper's report), it says so.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN echo hi > /x\n",
    )
    .unwrap();
    std::fs::remove_file(ctx.path().join("big")).unwrap();
    for left in [0u64, 4, 8, 12, 16, 24, 32].map(|k| k << 10) {
        disk.fill_to(left);
        let out = h.run(&[
            "build",
            "--no-cache",
            "--progress",
            "plain",
            ctx.path().to_str().unwrap(),
        ]);
        let err = stderr(&out);
        if out.status.success() {
            continue; // it fitted
        }
        assert!(
            !err.contains("must link hoist-executor"),
            "{left} bytes free: the helper hint for a full disk:\n{err}"
        );
        assert!(
            is_disk_full(&headline(&err)),
            "{left} bytes free: the headline hides the full disk:\n{err}"
        );
    }
    let _ = std::fs::remove_file(disk.path().join("filler"));
    assert!(h.leftover_mounts().is_empty(), "{:?}", h.leftover_mounts());
}
