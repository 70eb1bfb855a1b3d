//! `copy_deferring` on a real overlay: the directories a COPY creates are filled in the upper dir after the
//! overlay is unmounted, and the result must be exactly what a plain `copy` through the overlay makes.

mod fileops_support;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};

use fileops_support::{mkdir, write};
use hoist_executor::fileops::{copy, copy_deferring, CopyRequest, SourceKind};
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
        source_kind: SourceKind::Context,
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

/// A layer tar's entries: name → type, mode, owner, mtime (unless `fresh`), size, content or link target, xattrs.
fn tar_listing(tar_bytes: &[u8], fresh: &[&str]) -> Vec<(String, String)> {
    use std::io::Read;
    let mut archive = tar::Archive::new(tar_bytes);
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut e = entry.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let h = e.header().clone();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        // The copy's own time (its new directories, the context's directories) differs from one copy to the
        // next by a second at most.
        let is_recent = now.abs_diff(h.mtime().unwrap()) < 10;
        let mtime = if fresh.contains(&name.as_str()) || (h.entry_type().is_dir() && is_recent) {
            "now".to_string()
        } else {
            h.mtime().unwrap().to_string()
        };
        let xattrs: Vec<String> = e
            .pax_extensions()
            .unwrap()
            .into_iter()
            .flatten()
            .map(|x| x.unwrap())
            .map(|x| format!("{}={:?}", x.key().unwrap(), x.value_bytes()))
            .collect();
        let mut data = Vec::new();
        match h.entry_type() {
            tar::EntryType::Link | tar::EntryType::Symlink => {
                data = e.link_name_bytes().unwrap().into_owned()
            }
            _ => {
                e.read_to_end(&mut data).unwrap();
            }
        }
        out.push((
            name,
            format!(
                "{:?} {:o} {}:{} mtime {mtime} size {} {:?} {xattrs:?}",
                h.entry_type(),
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                h.size().unwrap(),
                String::from_utf8_lossy(&data),
            ),
        ));
    }
    out
}

/// The request with `--chmod`, and for a copy from a rootfs (no --chown) instead of the context.
fn with_chmod(
    mut request: CopyRequest<'_>,
    (chmod, kind): (Option<u32>, SourceKind),
) -> CopyRequest<'_> {
    request.chmod = chmod;
    request.source_kind = kind;
    if kind == SourceKind::Rootfs {
        request.chown = None;
    }
    request
}

/// The copy walk (`fileops::walk`) with its two sinks: the directory sink filling the upper dir, then the
/// upper dir's layer tar, must equal the tar sink's grafted layer tar, entry for entry.
#[test]
fn the_copy_walk_writes_the_same_layer_through_a_directory_and_a_tar() {
    if !is_root() {
        eprintln!("SKIPPED: overlay mounts need root");
        return;
    }
    use hoist_executor::layer::{write_layer_tar, write_layer_tar_grafted};
    let ctx = context();
    let c = |rel: &str| ctx.path().join(rel);
    // More kinds of entries: setuid, a fifo and a device (a copy leaves out the one and makes the other an
    // empty file), an xattr, owners of their own, nested excluded dirs with a re-included file deep down, an
    // excluded dir with nothing brought back, and a link pair entirely inside the copy.
    write(&c("sub/suid"), "s", 0o4755);
    nix::unistd::mkfifo(
        &c("sub/fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o640),
    )
    .unwrap();
    nix::sys::stat::mknod(
        &c("sub/null"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o640),
        nix::sys::stat::makedev(1, 3),
    )
    .unwrap();
    xattr::set(c("a.txt"), "user.note", b"kept").unwrap();
    let caps: [u8; 20] = [1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    xattr::set(c("sub/deeper/c.sh"), "security.capability", &caps).unwrap();
    for (rel, owner) in [
        ("sub", 1001),
        ("sub/b.txt", 1002),
        ("sub/link", 1003),
        ("sub/null", 1004),
    ] {
        std::os::unix::fs::lchown(c(rel), Some(owner), Some(owner + 100)).unwrap();
    }
    write(&c("skipme/inner/deep/back2.txt"), "b2", 0o600);
    write(&c("gone/x"), "x", 0o644);
    write(&c("pair/one"), "p", 0o644);
    fs::hard_link(c("pair/one"), c("pair/two")).unwrap();
    let excluded = |rel: &str| {
        rel == "skipme"
            || rel == "skipme/x"
            || rel == "skipme/inner"
            || rel == "gone"
            || rel == "gone/x"
    };
    let context = |chmod| (chmod, SourceKind::Context);
    let rootfs = |chmod| (chmod, SourceKind::Rootfs);
    for (dest, chmod) in [
        ("/fresh/dir/", context(None)),
        ("/fresh/dir/", context(Some(0o640))),
        ("/fresh/dir/", rootfs(None)),
        ("/fresh/dir/", rootfs(Some(0o640))),
        ("/app", context(None)),
    ] {
        let filled = Overlay::new();
        base(&filled.lower);
        let mount = filled.mount();
        let (_, rest) = copy_deferring(&with_chmod(
            request(ctx.path(), &filled.merged, dest, &excluded),
            chmod,
        ))
        .unwrap();
        mount.unmount().unwrap();
        rest.finish(
            &with_chmod(request(ctx.path(), &filled.upper, dest, &excluded), chmod),
            &filled.upper,
        )
        .unwrap();
        let mut want = Vec::new();
        write_layer_tar(&filled.upper, &mut want).unwrap();

        let grafted = Overlay::new();
        base(&grafted.lower);
        let mount = grafted.mount();
        let (_, rest) = copy_deferring(&with_chmod(
            request(ctx.path(), &grafted.merged, dest, &excluded),
            chmod,
        ))
        .unwrap();
        mount.unmount().unwrap();
        if dest == "/app" {
            // hard1 is copied into the existing /app, its other link into the new /app/sub.
            assert!(
                !rest.graftable(),
                "a link pair across the first part is not grafted"
            );
            continue;
        }
        assert!(rest.graftable());
        let how =
            with_chmod(request(ctx.path(), &grafted.upper, dest, &excluded), chmod).entry_as();
        let mut graft = rest.into_graft(how, excluded);
        let mut got = Vec::new();
        write_layer_tar_grafted(&grafted.upper, &mut got, &mut |path, name, tar| {
            graft.graft(path, name, tar)
        })
        .unwrap();
        let fresh = ["fresh/", "fresh/dir/"];
        let (want, got) = (tar_listing(&want, &fresh), tar_listing(&got, &fresh));
        assert_eq!(got, want, "{dest} {chmod:?}");
        let names: Vec<&str> = want.iter().map(|(n, _)| n.as_str()).collect();
        for expected in [
            "fresh/dir/skipme/inner/deep/back2.txt",
            "fresh/dir/skipme/back.txt",
            "fresh/dir/sub/null",
            "fresh/dir/pair/two",
        ] {
            assert!(names.contains(&expected), "{expected} in {names:#?}");
        }
        assert!(!names.contains(&"fresh/dir/sub/fifo"), "{names:#?}");
        let line = |name: &str| &want.iter().find(|(n, _)| n == name).unwrap().1;
        let (owner, xattr) = match chmod.1 {
            SourceKind::Rootfs => ("1002:1102", "SCHILY.xattr.security.capability"),
            SourceKind::Context => ("1000:1000", "none"),
        };
        assert!(line("fresh/dir/sub/b.txt").contains(owner), "{want:#?}");
        assert!(
            line("fresh/dir/sub/null").starts_with("Regular"),
            "{want:#?}"
        );
        assert_eq!(
            line("fresh/dir/sub/deeper/c.sh").contains("SCHILY.xattr.security.capability"),
            xattr != "none",
            "{want:#?}"
        );
        assert!(!line("fresh/dir/a.txt").contains("user.note"), "{want:#?}");
        assert!(
            !names.iter().any(|n| n.starts_with("fresh/dir/gone")),
            "{names:#?}"
        );
    }
}
