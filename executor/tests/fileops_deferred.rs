//! `copy_deferring` on a real overlay: the directories a COPY creates are filled in the upper dir after the
//! overlay is unmounted, and the result must be exactly what a plain `copy` through the overlay makes.

mod fileops_support;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};

use fileops_support::{mkdir, write};
use hoist_executor::fileops::{copy, copy_deferring, CopyRequest};
use hoist_executor::overlay::mount_overlay;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Every entry below `root`: type, mode, owner, content or link target, mtime (files), and which entries share
/// an inode (as the smallest path of the group).
fn listing(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut first_of_inode: BTreeMap<u64, String> = BTreeMap::new();
    for entry in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let entry = entry.unwrap();
        let rel = entry
            .path()
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let m = fs::symlink_metadata(entry.path()).unwrap();
        let owner = format!("{:o} {}:{}", m.mode() & 0o7777, m.uid(), m.gid());
        let what = if m.file_type().is_symlink() {
            format!(
                "symlink -> {}",
                fs::read_link(entry.path()).unwrap().display()
            )
        } else if m.is_dir() {
            format!("dir {owner}")
        } else {
            let link = if m.nlink() > 1 {
                let first = first_of_inode
                    .entry(m.ino())
                    .or_insert_with(|| rel.clone())
                    .clone();
                format!(" linked-with {first}")
            } else {
                String::new()
            };
            format!(
                "file {owner} {:?} mtime {}.{}{link}",
                fs::read_to_string(entry.path()).unwrap(),
                m.mtime(),
                m.mtime_nsec()
            )
        };
        out.insert(rel, what);
    }
    out
}

struct Overlay {
    _dir: tempfile::TempDir,
    lower: PathBuf,
    upper: PathBuf,
    work: PathBuf,
    merged: PathBuf,
}

impl Overlay {
    fn mount(&self) -> hoist_executor::overlay::OverlayMount {
        mount_overlay(
            std::slice::from_ref(&self.lower),
            &self.upper,
            &self.work,
            &self.merged,
        )
        .unwrap()
    }

    fn new() -> Overlay {
        let dir = tempfile::Builder::new()
            .prefix("hoist-defer-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let p = |n: &str| {
            let path = dir.path().join(n);
            fs::create_dir(&path).unwrap();
            path
        };
        let (lower, upper, work, merged) = (p("l"), p("u"), p("w"), p("m"));
        Overlay {
            _dir: dir,
            lower,
            upper,
            work,
            merged,
        }
    }
}

fn context() -> tempfile::TempDir {
    let ctx = tempfile::tempdir().unwrap();
    let c = |rel: &str| ctx.path().join(rel);
    write(&c("a.txt"), "a", 0o644);
    write(&c("sub/b.txt"), "b", 0o600);
    write(&c("sub/deeper/c.sh"), "c", 0o755);
    symlink("b.txt", c("sub/link")).unwrap();
    write(&c("hard1"), "h", 0o644);
    fs::hard_link(c("hard1"), c("sub/deeper/hard2")).unwrap();
    write(&c("keep/new.txt"), "new", 0o640);
    write(&c("skipme/x"), "x", 0o644);
    write(&c("skipme/back.txt"), "back", 0o644);
    mkdir(&c("sub/deeper"), 0o750);
    ctx
}

/// The base layer: `/app` exists with a file and the directory `keep` (a merge target, not a new directory).
fn base(lower: &Path) {
    write(&lower.join("app/old.txt"), "old", 0o644);
    mkdir(&lower.join("app/keep"), 0o700);
    write(&lower.join("app/keep/was-here"), "w", 0o644);
    for file in ["app/old.txt", "app/keep/was-here"] {
        let f = fs::File::options()
            .write(true)
            .open(lower.join(file))
            .unwrap();
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
            .unwrap();
    }
}

fn request<'a>(
    ctx: &'a Path,
    root: &'a Path,
    dest: &str,
    excluded: &'a (dyn Fn(&str) -> bool + Sync),
) -> CopyRequest<'a> {
    CopyRequest {
        src_root: ctx,
        sources: vec![".".to_string()],
        dest_root: root,
        dest: dest.to_string(),
        workdir: "/".to_string(),
        chown: Some((1000, 1000)),
        chmod: None,
        excluded,
        parents: false,
        extract_archives: false,
    }
}

#[test]
fn deferred_copy_into_the_upper_dir_equals_a_copy_through_the_overlay() {
    if !is_root() {
        eprintln!("SKIPPED: overlay mounts need root");
        return;
    }
    let ctx = context();
    // `skipme` is excluded but one file in it is brought back (`!skipme/back.txt`).
    let excluded = |rel: &str| rel == "skipme" || rel == "skipme/x";
    for dest in ["/app", "/fresh/dir/"] {
        let plain = Overlay::new();
        base(&plain.lower);
        let mount = plain.mount();
        copy(&request(ctx.path(), &plain.merged, dest, &excluded)).unwrap();
        let want = listing(&plain.merged);
        mount.unmount().unwrap();

        let deferred = Overlay::new();
        base(&deferred.lower);
        let mount = deferred.mount();
        let (_, rest) =
            copy_deferring(&request(ctx.path(), &deferred.merged, dest, &excluded)).unwrap();
        assert!(
            !rest.is_empty(),
            "{dest}: new directories are left for the upper dir"
        );
        mount.unmount().unwrap();
        rest.finish(
            &request(ctx.path(), &deferred.upper, dest, &excluded),
            &deferred.upper,
        )
        .unwrap();
        let mount = deferred.mount();
        let got = listing(&deferred.merged);
        mount.unmount().unwrap();

        assert_eq!(got, want, "{dest}");
        let app = if dest == "/app" { "app" } else { "fresh/dir" };
        assert!(
            want.contains_key(&format!("{app}/sub/deeper/hard2")),
            "{want:#?}"
        );
        assert!(
            want[&format!("{app}/sub/deeper/hard2")].contains("linked-with"),
            "{want:#?}"
        );
        assert!(
            want.contains_key(&format!("{app}/skipme/back.txt")),
            "{want:#?}"
        );
        assert!(!want.contains_key(&format!("{app}/skipme/x")), "{want:#?}");
        if dest == "/app" {
            assert!(
                want.contains_key("app/keep/was-here"),
                "existing directories are merged: {want:#?}"
            );
            assert!(want.contains_key("app/old.txt"), "{want:#?}");
        }
    }
}

#[test]
fn several_sources_are_not_deferred() {
    let ctx = context();
    let root = tempfile::tempdir().unwrap();
    let none = |_: &str| false;
    let mut req = request(ctx.path(), root.path(), "/app/", &none);
    req.sources = vec!["sub".to_string(), "keep".to_string()];
    let (_, rest) = copy_deferring(&req).unwrap();
    assert!(
        rest.is_empty(),
        "a later source may write into what an earlier one made"
    );
    assert_eq!(
        fs::read_to_string(root.path().join("app/b.txt")).unwrap(),
        "b"
    );
    assert_eq!(
        fs::read_to_string(root.path().join("app/new.txt")).unwrap(),
        "new"
    );
}
