//! COPY and ADD keep owners, modes, times and xattrs as BuildKit does, by where the files come from: a stage or an
//! image keeps each entry's owner, the build context becomes 0:0, an archive keeps its own (even with --chown).
//! Each case in `testdata/copy-owners/` was built by BuildKit (Docker 20.10) with its `record.sh`; hoist's build
//! of it must list the same files (`expected.txt`) with the same mtimes and xattrs (`times.txt`).
mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{sha256_hex, stderr, Hoist};

fn case_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/copy-owners")
        .join(name)
}

/// One path of the flattened image.
struct Entry {
    /// imgfs.py's description after the path, for anything but a regular file's other names.
    line: String,
    mtime: u64,
    xattrs: Vec<String>,
    /// Regular files: the inode they share with their hardlinks.
    inode: Option<usize>,
}

/// The image's filesystem, its layers applied in order (with their whiteouts).
fn flatten(layers: &[Vec<u8>]) -> BTreeMap<String, Entry> {
    let mut fs: BTreeMap<String, Entry> = BTreeMap::new();
    let mut inodes = 0;
    for layer in layers {
        let mut archive = tar::Archive::new(layer.as_slice());
        for entry in archive.entries().expect("layer tar") {
            let mut entry = entry.expect("layer entry");
            let raw = entry
                .path()
                .expect("entry path")
                .to_string_lossy()
                .into_owned();
            let path = format!("/{}", raw.trim_start_matches("./").trim_end_matches('/'));
            let (dir, base) = path.rsplit_once('/').unwrap_or(("", &path));
            if let Some(hidden) = base.strip_prefix(".wh.") {
                // `.wh..wh..opq` empties the directory; `.wh.NAME` removes NAME and what is below it.
                let gone = (hidden != ".wh..opq").then(|| format!("{dir}/{hidden}"));
                let below = format!("{}/", gone.as_deref().unwrap_or(dir));
                fs.retain(|p, _| Some(p) != gone.as_ref() && !p.starts_with(&below));
                continue;
            }
            let h = entry.header().clone();
            let mode = h.mode().unwrap() & 0o7777;
            let owner = format!("{}:{}", h.uid().unwrap(), h.gid().unwrap());
            let xattrs: Vec<String> = entry
                .pax_extensions()
                .unwrap()
                .into_iter()
                .flatten()
                .filter_map(|x| x.unwrap().key().ok().map(str::to_string))
                .filter_map(|k| k.strip_prefix("SCHILY.xattr.").map(str::to_string))
                .collect();
            let mut inode = None;
            let line = match h.entry_type() {
                tar::EntryType::Directory => format!("dir {mode:04o} {owner}"),
                tar::EntryType::Symlink => format!(
                    "symlink -> {} {owner}",
                    entry.link_name().unwrap().unwrap().display()
                ),
                tar::EntryType::Link => {
                    let target = entry.link_name().unwrap().unwrap();
                    let target = format!("/{}", target.to_string_lossy().trim_start_matches("./"));
                    let first = &fs[&target];
                    inode = first.inode;
                    first.line.clone()
                }
                tar::EntryType::Char | tar::EntryType::Block => format!(
                    "{} {}:{} {mode:04o}",
                    if h.entry_type() == tar::EntryType::Char {
                        "chr"
                    } else {
                        "blk"
                    },
                    h.device_major().unwrap().unwrap(),
                    h.device_minor().unwrap().unwrap()
                ),
                tar::EntryType::Fifo => format!("fifo {mode:04o} {owner}"),
                _ => {
                    let mut data = Vec::new();
                    entry.read_to_end(&mut data).unwrap();
                    inodes += 1;
                    inode = Some(inodes);
                    format!(
                        "file {mode:04o} {owner} {} {}",
                        data.len(),
                        sha256_hex(&data)
                    )
                }
            };
            fs.insert(
                path,
                Entry {
                    line,
                    mtime: h.mtime().unwrap(),
                    xattrs,
                    inode,
                },
            );
        }
    }
    fs
}

/// `expected.txt` and `times.txt` of the image, for the paths below `prefixes` (see `record.sh`).
fn describe(fs: &BTreeMap<String, Entry>, prefixes: &[&str]) -> (String, String) {
    let mut first_name: BTreeMap<usize, &str> = BTreeMap::new();
    for (path, entry) in fs {
        if let Some(inode) = entry.inode {
            first_name.entry(inode).or_insert(path);
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (mut listing, mut times) = (String::new(), String::new());
    for (path, entry) in fs {
        if !prefixes
            .iter()
            .any(|p| path == p || path.starts_with(&format!("{p}/")))
        {
            continue;
        }
        match entry.inode.map(|i| first_name[&i]) {
            Some(first) if first != path => listing += &format!("{path} hardlink -> {first}\n"),
            _ => listing += &format!("{path} {}\n", entry.line),
        }
        let when = match entry.mtime {
            1_000_000_000 => "src1".to_string(),
            1_100_000_000 => "src2".to_string(),
            1_200_000_000 => "src3".to_string(),
            t if now.abs_diff(t) < 3600 => "now".to_string(),
            t => format!("@{t}"),
        };
        let mut xattrs = entry.xattrs.clone();
        xattrs.sort();
        times += &[vec![path.clone(), when], xattrs].concat().join(" ");
        times += "\n";
    }
    (listing, times)
}

/// Builds the case with hoist as `record.sh` builds it with BuildKit, and compares.
fn check_case(name: &str) {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let dir = case_dir(name);
    let ctx = tempfile::tempdir().unwrap();
    std::fs::copy(dir.join("Dockerfile"), ctx.path().join("Dockerfile")).unwrap();
    if dir.join("setup.sh").exists() {
        let out = Command::new("sh")
            .arg(dir.join("setup.sh"))
            .arg(ctx.path())
            .output()
            .expect("running setup.sh");
        assert!(out.status.success(), "{name}/setup.sh: {}", stderr(&out));
    }
    if dir.join("image.Dockerfile").exists() {
        let empty = tempfile::tempdir().unwrap();
        let file = dir.join("image.Dockerfile");
        let out = h.build_dir(
            "copy-owners-src",
            empty.path(),
            &["-f", file.to_str().unwrap()],
        );
        assert!(
            out.status.success(),
            "{name}/image.Dockerfile: {}",
            stderr(&out)
        );
    }
    let out = h.build_dir("case:1", ctx.path(), &[]);
    assert!(out.status.success(), "{name}: {}", stderr(&out));
    let prefixes = std::fs::read_to_string(dir.join("prefixes")).unwrap();
    let prefixes: Vec<&str> = prefixes.split_whitespace().collect();
    let (_, layers) = h.saved("case:1");
    let (listing, times) = describe(&flatten(&layers), &prefixes);
    let expected = std::fs::read_to_string(dir.join("expected.txt")).unwrap();
    assert_eq!(listing, expected, "{name}: files differ from BuildKit's");
    let expected = std::fs::read_to_string(dir.join("times.txt")).unwrap();
    assert_eq!(
        times, expected,
        "{name}: times or xattrs differ from BuildKit's"
    );
}

/// `COPY --from=stage` of a file, a directory (its contents), a directory with a trailing `/`, into an existing
/// directory, by wildcard, several sources, the stage's whole tree, into new parents: every entry keeps its
/// owner, mode and mtime (a FIFO is left out); the directories the copy creates are root's.
#[test]
fn copy_from_a_stage_keeps_owners_modes_and_times() {
    check_case("from-stage");
}

/// `--chown` by names and ids (a user alone takes its passwd group; a uid alone is also the gid), also on the
/// parents it creates, not on an existing destination.
#[test]
fn copy_from_a_stage_with_chown_by_name_and_id() {
    check_case("chown");
}

/// `--chmod` replaces the permission bits (the setuid bit stays), not the destination directory's.
#[test]
fn copy_from_a_stage_with_chmod() {
    check_case("chmod");
}

#[test]
fn copy_from_an_image_keeps_owners_as_from_a_stage() {
    check_case("from-image");
}

/// The context's owners become 0:0, its xattrs are dropped, its directories get the build's time.
#[test]
fn copy_from_the_context_is_root_owned_without_xattrs() {
    check_case("context");
}

/// A source directory copied onto an existing one gives it its owner, mode and time; the destination itself
/// keeps its own.
#[test]
fn copy_onto_existing_directories() {
    check_case("existing-dirs");
}

/// ADD of a local tar keeps the archive's owners even with --chown (which owns only the directories it
/// creates); implicit parents are root's; only security.capability of the xattrs reaches the layer.
#[test]
fn add_tar_keeps_the_archives_owners() {
    check_case("add-tar");
}

/// Devices copied from the context or a stage become empty files, FIFOs are left out (Docker 20.10's copy).
#[test]
fn copied_devices_become_files_and_fifos_are_left_out() {
    check_case("devices");
}

/// A FIFO with empty device fields, NUL/space-padded and empty numbers, base-256 owners, PAX uid/gid/mtime.
#[test]
fn add_tar_reads_headers_as_go_does() {
    check_case("add-tar-headers");
}
