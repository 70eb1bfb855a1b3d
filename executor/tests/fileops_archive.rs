//! ADD of local archives: detection by content, extraction with the archive's owners/modes, containment.

mod fileops_support;

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use fileops_support::{exists, read, stat, write, Fixture};
use hoist_executor::fileops::{copy, is_archive, CopyError};
use tar::{EntryType, Header};

/// One tar entry; names are written raw so that hostile names (`../x`, `/abs`) can be built.
struct Entry<'a> {
    name: &'a str,
    kind: EntryType,
    data: &'a [u8],
    link: &'a str,
    mode: u32,
    owner: (u64, u64),
}

fn entry(name: &str, kind: EntryType) -> Entry<'_> {
    let mode = if kind == EntryType::Directory {
        0o755
    } else {
        0o644
    };
    Entry {
        name,
        kind,
        data: b"",
        link: "",
        mode,
        owner: (0, 0),
    }
}

fn tar_bytes(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for e in entries {
        let mut header = Header::new_old();
        header.as_old_mut().name[..e.name.len()].copy_from_slice(e.name.as_bytes());
        header.as_old_mut().linkname[..e.link.len()].copy_from_slice(e.link.as_bytes());
        header.set_entry_type(e.kind);
        header.set_size(e.data.len() as u64);
        header.set_mode(e.mode);
        header.set_uid(e.owner.0);
        header.set_gid(e.owner.1);
        header.set_mtime(1_234_567);
        header.set_cksum();
        builder.append(&header, e.data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn sample_tar() -> Vec<u8> {
    tar_bytes(&[
        Entry {
            mode: 0o750,
            owner: (1000, 1000),
            ..entry("x/", EntryType::Directory)
        },
        Entry {
            data: b"one",
            mode: 0o640,
            owner: (1234, 5678),
            ..entry("x/one.txt", EntryType::Regular)
        },
        Entry {
            data: b"two",
            ..entry("two.txt", EntryType::Regular)
        },
        Entry {
            link: "one.txt",
            ..entry("x/link", EntryType::Symlink)
        },
        Entry {
            link: "x/one.txt",
            ..entry("x/hard", EntryType::Link)
        },
    ])
}

fn add(
    fx: &Fixture,
    source: &str,
    dest: &str,
) -> Result<hoist_executor::fileops::CopyStats, CopyError> {
    let mut req = fx.request(&[source], dest);
    req.extract_archives = true;
    copy(&req)
}

fn write_bytes(path: &Path, bytes: &[u8]) {
    fs::write(path, bytes).unwrap();
}

fn assert_sample_extracted(fx: &Fixture, dir: &str) {
    let d = |rel: &str| fx.dest(&format!("{dir}/{rel}"));
    assert_eq!(stat(&d("x")), (0o750, 1000, 1000));
    assert_eq!(stat(&d("x/one.txt")), (0o640, 1234, 5678));
    assert_eq!(read(&d("x/one.txt")), "one");
    assert_eq!(read(&d("two.txt")), "two");
    assert_eq!(
        fs::read_link(d("x/link")).unwrap().to_str(),
        Some("one.txt")
    );
    assert_eq!(
        fs::metadata(d("x/hard")).unwrap().ino(),
        fs::metadata(d("x/one.txt")).unwrap().ino()
    );
    assert_eq!(fs::metadata(d("x")).unwrap().mtime(), 1_234_567);
    assert_eq!(fs::metadata(d("two.txt")).unwrap().mtime(), 1_234_567);
}

#[test]
fn plain_tar_is_extracted_keeping_owners_modes_and_times() {
    let fx = Fixture::new();
    write_bytes(&fx.src("plain.tar"), &sample_tar());
    let stats = add(&fx, "plain.tar", "/plain/").unwrap();
    assert_eq!(stats.archives, 1);
    assert_sample_extracted(&fx, "plain");
    assert_eq!(stat(&fx.dest("plain")), (0o755, 0, 0));
}

#[test]
fn compressed_tars_are_recognised_by_content_not_name() {
    let fx = Fixture::new();
    let tar = sample_tar();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    write_bytes(&fx.src("t.tgz"), &gz.finish().unwrap());
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    bz.write_all(&tar).unwrap();
    write_bytes(&fx.src("t.tar.bz2"), &bz.finish().unwrap());
    let mut xz = xz2::write::XzEncoder::new(Vec::new(), 6);
    xz.write_all(&tar).unwrap();
    // A misleading name: detection looks at the bytes.
    write_bytes(&fx.src("archive.txt"), &xz.finish().unwrap());

    add(&fx, "t.tgz", "/tgz/").unwrap();
    add(&fx, "t.tar.bz2", "/bz2").unwrap();
    add(&fx, "archive.txt", "/xz/").unwrap();
    assert_sample_extracted(&fx, "tgz");
    assert_sample_extracted(&fx, "bz2");
    assert_sample_extracted(&fx, "xz");
}

#[test]
fn gzip_of_a_non_tar_and_plain_files_are_copied_as_is() {
    let fx = Fixture::new();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"just some text, not a tar").unwrap();
    let compressed = gz.finish().unwrap();
    write_bytes(&fx.src("notes.gz"), &compressed);
    write(&fx.src("notarchive.txt"), "x", 0o644);
    write_bytes(&fx.src("empty.tar"), b"");

    add(&fx, "notes.gz", "/files/").unwrap();
    add(&fx, "notarchive.txt", "/files/").unwrap();
    add(&fx, "empty.tar", "/files/").unwrap();
    assert_eq!(fs::read(fx.dest("files/notes.gz")).unwrap(), compressed);
    assert_eq!(read(&fx.dest("files/notarchive.txt")), "x");
    assert!(exists(&fx.dest("files/empty.tar")));
    assert!(!is_archive(&fx.src("notes.gz")).unwrap());
}

#[test]
fn copy_never_extracts() {
    let fx = Fixture::new();
    write_bytes(&fx.src("plain.tar"), &sample_tar());
    fx.copy(&["plain.tar"], "/c/").unwrap();
    assert!(fs::metadata(fx.dest("c/plain.tar")).unwrap().is_file());
}

#[test]
fn absolute_entry_names_land_inside_the_destination() {
    let fx = Fixture::new();
    write_bytes(
        &fx.src("abs.tar"),
        &tar_bytes(&[Entry {
            data: b"abs",
            ..entry("/abs/file", EntryType::Regular)
        }]),
    );
    add(&fx, "abs.tar", "/out/").unwrap();
    assert_eq!(read(&fx.dest("out/abs/file")), "abs");
}

#[test]
fn entries_that_climb_out_are_refused() {
    let fx = Fixture::new();
    write_bytes(
        &fx.src("evil.tar"),
        &tar_bytes(&[Entry {
            data: b"evil",
            ..entry("../escaped", EntryType::Regular)
        }]),
    );
    let err = add(&fx, "evil.tar", "/out/").unwrap_err();
    assert!(
        matches!(err, CopyError::ArchiveEntryOutside { .. }),
        "{err}"
    );
    assert!(!exists(&fx.dest("escaped")));
    assert!(!exists(&fx.dest("out/escaped")));
}

#[test]
fn symlink_then_write_through_stays_inside() {
    let fx = Fixture::new();
    // An absolute link is allowed (Docker allows it) but writing through it resolves inside the destination.
    write_bytes(
        &fx.src("evil.tar"),
        &tar_bytes(&[
            Entry {
                link: "/",
                ..entry("rootlink", EntryType::Symlink)
            },
            Entry {
                link: "/tmp",
                ..entry("tmplink", EntryType::Symlink)
            },
            Entry {
                data: b"pwned",
                ..entry("rootlink/hoist-archive-escape-test", EntryType::Regular)
            },
            Entry {
                data: b"pwned",
                ..entry("tmplink/hoist-archive-escape-test", EntryType::Regular)
            },
        ]),
    );
    add(&fx, "evil.tar", "/out/").unwrap();
    assert!(!Path::new("/hoist-archive-escape-test").exists());
    assert!(!Path::new("/tmp/hoist-archive-escape-test").exists());
    assert_eq!(read(&fx.dest("out/hoist-archive-escape-test")), "pwned");
    assert_eq!(read(&fx.dest("out/tmp/hoist-archive-escape-test")), "pwned");

    // A relative link climbing out of the destination is refused, like Docker does.
    let fx = Fixture::new();
    write_bytes(
        &fx.src("evil.tar"),
        &tar_bytes(&[Entry {
            link: "../../../../etc",
            ..entry("up", EntryType::Symlink)
        }]),
    );
    assert!(matches!(
        add(&fx, "evil.tar", "/out/"),
        Err(CopyError::ArchiveEntryOutside { .. })
    ));
}

#[test]
fn hardlinks_out_of_the_destination_are_refused_or_contained() {
    let host_passwd_links = fs::metadata("/etc/passwd").map(|m| m.nlink()).ok();

    let fx = Fixture::new();
    write_bytes(
        &fx.src("evil.tar"),
        &tar_bytes(&[Entry {
            link: "../../../../../etc/passwd",
            ..entry("pw", EntryType::Link)
        }]),
    );
    assert!(matches!(
        add(&fx, "evil.tar", "/out/"),
        Err(CopyError::ArchiveEntryOutside { .. })
    ));

    // An absolute link name resolves inside the destination: there is no /etc/passwd there, so it fails.
    let fx = Fixture::new();
    write_bytes(
        &fx.src("evil.tar"),
        &tar_bytes(&[Entry {
            link: "/etc/passwd",
            ..entry("pw", EntryType::Link)
        }]),
    );
    assert!(add(&fx, "evil.tar", "/out/").is_err());
    assert!(!exists(&fx.dest("out/pw")));

    // Through a symlink to the host's /etc: the link resolves inside the destination too.
    let fx = Fixture::new();
    write_bytes(
        &fx.src("evil.tar"),
        &tar_bytes(&[
            Entry {
                link: "/etc",
                ..entry("etc", EntryType::Symlink)
            },
            Entry {
                link: "etc/passwd",
                ..entry("pw", EntryType::Link)
            },
        ]),
    );
    assert!(add(&fx, "evil.tar", "/out/").is_err());

    assert_eq!(
        fs::metadata("/etc/passwd").map(|m| m.nlink()).ok(),
        host_passwd_links
    );
}

#[test]
fn archive_entries_replace_existing_files_and_symlinks() {
    let fx = Fixture::new();
    write(&fx.dest("out/two.txt"), "old", 0o600);
    write(&fx.dest("elsewhere/keep"), "keep", 0o644);
    std::os::unix::fs::symlink("/elsewhere/keep", fx.dest("out/x")).unwrap();
    write_bytes(&fx.src("a.tar"), &sample_tar());
    add(&fx, "a.tar", "/out/").unwrap();
    assert_sample_extracted(&fx, "out");
    assert_eq!(read(&fx.dest("elsewhere/keep")), "keep");
}
