//! What `hoist build` builds from, as `docker buildx build` takes it: `-f -`, a tar or a Dockerfile on stdin, git
//! contexts (repositories made on disk, fetched through file:// or a bare path: never the network), `ADD` of a git
//! URL, and `--build-context NAME=DIR|docker-image://REF` overriding a stage or an image.
mod common;

use common::file_server::FileServer as Server;
use common::{stderr, Hoist};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A tar (uncompressed) of `files` (name → content); a name ending in `/` is a directory.
fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, content) in files {
        let mut header = tar::Header::new_gnu();
        if name.ends_with('/') {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
        } else {
            header.set_mode(0o644);
            header.set_size(content.len() as u64);
        }
        header.set_mtime(1_700_000_000);
        builder
            .append_data(&mut header, name, &content[..])
            .expect("tar entry");
    }
    builder.into_inner().expect("tar")
}

/// A raw tar entry, whatever its name (the tar crate refuses `..` in names it is given): GNU header, then the
/// content in 512-byte blocks.
fn raw_entry(name: &str, kind: u8, link: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    header[100..107].copy_from_slice(b"0000644");
    header[108..115].copy_from_slice(b"0000000");
    header[116..123].copy_from_slice(b"0000000");
    header[124..135].copy_from_slice(format!("{:011o}", content.len()).as_bytes());
    header[136..147].copy_from_slice(b"14000000000");
    header[156] = kind;
    header[157..157 + link.len()].copy_from_slice(link.as_bytes());
    header[257..265].copy_from_slice(b"ustar  \0");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

/// `data` through `program` (gzip, bzip2, xz) on the host.
fn compress(program: &str, data: &[u8]) -> Vec<u8> {
    let mut child = Command::new(program)
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "{program} failed");
    out.stdout
}

/// `hoist build ARGS` with `input` on stdin: (exit code, stderr).
fn build_with_stdin(h: &Hoist, args: &[&str], input: &[u8]) -> (i32, String) {
    let (code, _, err) = h.out_with_stdin(args, input);
    assert!(!err.contains("panicked"), "{err}");
    (code, err)
}

#[test]
fn dockerfile_from_stdin_with_a_directory_context() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let ctx = common::context_with(&[
        ("keep.txt", b"kept\n"),
        ("drop.txt", b"dropped\n"),
        (".dockerignore", b"drop.txt\n"),
        ("Dockerfile", b"FROM busybox\nRUN false\n"),
    ]);
    let dockerfile = b"FROM busybox\nCOPY . /ctx\nRUN ls /ctx > /listing\n";
    let ctx_arg = ctx.path().to_str().unwrap();
    let (code, err) = build_with_stdin(
        &h,
        &["build", "-t", "in:stdin-df", "-f", "-", ctx_arg],
        dockerfile,
    );
    assert_eq!(code, 0, "{err}");
    // The context's own Dockerfile (RUN false) is not the one built; .dockerignore applies.
    assert_eq!(
        h.sh("in:stdin-df", "cat /listing"),
        "Dockerfile\nkeep.txt\n"
    );
}

#[test]
fn a_tar_on_stdin_is_the_context_in_every_compression() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let tar = tar_of(&[
        ("Dockerfile", b"FROM busybox\nCOPY . /ctx\n"),
        (".dockerignore", b"*.key\n"),
        ("private.key", b"left out\n"),
        ("dir/", b""),
        ("dir/a.txt", b"from the tar\n"),
        ("other/Build.df", b"FROM busybox\nCOPY dir/a.txt /picked\n"),
    ]);
    for (kind, bytes) in [
        ("plain", tar.clone()),
        ("gzip", compress("gzip", &tar)),
        ("bzip2", compress("bzip2", &tar)),
        ("xz", compress("xz", &tar)),
    ] {
        let tag = format!("in:tar-{kind}");
        let (code, err) = build_with_stdin(&h, &["build", "-t", &tag, "-"], &bytes);
        assert_eq!(code, 0, "{kind}: {err}");
        assert_eq!(h.sh(&tag, "cat /ctx/dir/a.txt"), "from the tar\n", "{kind}");
        assert_eq!(
            h.sh(&tag, "ls -A /ctx"),
            ".dockerignore\nDockerfile\ndir\nother\n",
            "{kind}"
        );
    }
    // -f names a Dockerfile inside the tar.
    let (code, err) = build_with_stdin(
        &h,
        &["build", "-t", "in:tar-f", "-f", "other/Build.df", "-"],
        &compress("gzip", &tar),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(h.sh("in:tar-f", "cat /picked"), "from the tar\n");
    assert!(
        h.leftover_tmp().iter().all(|e| !e.contains("stdin")),
        "{:?}",
        h.leftover_tmp()
    );
}

#[test]
fn a_dockerfile_on_stdin_has_an_empty_context() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let dockerfile = b"FROM busybox\nCOPY . /ctx\nRUN ls -A /ctx | wc -l > /count\n";
    let (code, err) = build_with_stdin(&h, &["build", "-t", "in:stdin-only", "-"], dockerfile);
    assert_eq!(code, 0, "{err}");
    assert_eq!(h.sh("in:stdin-only", "cat /count").trim(), "0");
}

#[test]
fn tar_entries_cannot_leave_the_context() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    // A name that climbs out: refused, and nothing is written outside (Docker refuses such a tar too).
    let mut evil = raw_entry("Dockerfile", b'0', "", b"FROM busybox\n");
    evil.extend(raw_entry("../evil", b'0', "", b"pwned\n"));
    evil.extend([0u8; 1024]);
    let (code, err) = build_with_stdin(&h, &["build", "-t", "in:evil", "-"], &evil);
    assert_ne!(code, 0);
    assert!(
        err.contains("../evil") && err.contains("the tar read from stdin"),
        "{err}"
    );
    let root = h.root.path();
    let found: Vec<PathBuf> = walk(root)
        .into_iter()
        .filter(|p| p.ends_with("evil"))
        .collect();
    assert!(found.is_empty(), "{found:?}");
    // A hardlink to a file outside: refused too (a link to the host's /etc/passwd would copy it into the image).
    let mut hardlink = raw_entry("Dockerfile", b'0', "", b"FROM busybox\nCOPY hl /hl\n");
    hardlink.extend(raw_entry("hl", b'1', "../../../../../etc/passwd", b""));
    hardlink.extend([0u8; 1024]);
    let (code, err) = build_with_stdin(&h, &["build", "-t", "in:hardlink", "-"], &hardlink);
    assert_ne!(code, 0);
    assert!(err.contains("hl") && err.contains("outside"), "{err}");

    // An absolute symlink is kept as a link inside the context; following it never reaches the host's file:
    // COPY resolves it inside the context (/etc/passwd of the tar).
    let mut linked = raw_entry(
        "Dockerfile",
        b'0',
        "",
        b"FROM busybox\nCOPY d/passwd /copied\n",
    );
    linked.extend(raw_entry("d/", b'5', "", b""));
    linked.extend(raw_entry("d/passwd", b'2', "/etc/passwd", b""));
    linked.extend(raw_entry("etc/passwd", b'0', "", b"inside the tar\n"));
    linked.extend([0u8; 1024]);
    let (code, err) = build_with_stdin(&h, &["build", "-t", "in:abs-follow", "-"], &linked);
    assert_eq!(code, 0, "{err}");
    assert_eq!(h.sh("in:abs-follow", "cat /copied"), "inside the tar\n");
    let mut linked = raw_entry("Dockerfile", b'0', "", b"FROM busybox\nCOPY d /d\n");
    linked.extend(raw_entry("d/", b'5', "", b""));
    linked.extend(raw_entry("d/passwd", b'2', "/etc/passwd", b""));
    linked.extend([0u8; 1024]);
    let (code, err) = build_with_stdin(&h, &["build", "-t", "in:abs-link", "-"], &linked);
    assert_eq!(code, 0, "{err}");
    assert_eq!(h.sh("in:abs-link", "readlink /d/passwd"), "/etc/passwd\n");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(walk(&p));
            }
            out.push(p);
        }
    }
    out
}

#[test]
fn stdin_errors_say_what_to_do() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (code, err) = build_with_stdin(&h, &["build", "-f", "-", "-"], b"FROM busybox\n");
    assert_eq!(code, 1);
    assert!(
        err.contains("invalid argument: can't use stdin for both build context and dockerfile"),
        "{err}"
    );
    let tar = tar_of(&[("app/main.c", b"int main;\n")]);
    let (code, err) = build_with_stdin(&h, &["build", "-"], &tar);
    assert_eq!(code, 1);
    assert!(
        err.contains("failed to read dockerfile: the tar read from stdin has no Dockerfile")
            && err.contains("-f PATH"),
        "{err}"
    );
}

/// `git` in `dir`; panics on failure. Returns stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.email=t@example.com",
            "-c",
            "user.name=t",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A bare repository `repo.git` in a temp dir, with two commits on `main`: the first tagged `v1`. Each commit
/// has `Dockerfile` (copying the context to /ctx), `sub/Dockerfile` and `sub/version`. `None` without git.
struct Repo {
    dir: tempfile::TempDir,
    first: String,
    second: String,
}

impl Repo {
    fn new() -> Option<Repo> {
        if Command::new("git").arg("--version").output().is_err() {
            eprintln!("SKIPPED: git is not installed");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir_all(work.join("sub")).unwrap();
        git(&work, &["init", "-q"]);
        let df = "FROM busybox\nCOPY . /ctx\n";
        std::fs::write(work.join("Dockerfile"), df).unwrap();
        std::fs::write(work.join("sub/Dockerfile"), df).unwrap();
        std::fs::write(work.join("sub/version"), "one\n").unwrap();
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-qm", "one"]);
        git(&work, &["tag", "-a", "v1", "-m", "v1"]);
        let first = git(&work, &["rev-parse", "HEAD"]);
        std::fs::write(work.join("sub/version"), "two\n").unwrap();
        git(&work, &["commit", "-qam", "two"]);
        let second = git(&work, &["rev-parse", "HEAD"]);
        git(dir.path(), &["clone", "-q", "--bare", "work", "repo.git"]);
        Some(Repo { dir, first, second })
    }

    fn bare(&self) -> String {
        self.dir
            .path()
            .join("repo.git")
            .to_string_lossy()
            .into_owned()
    }

    fn url(&self, fragment: &str) -> String {
        format!("file://{}{fragment}", self.bare())
    }

    /// A new commit on `main` of the bare repository with `sub/version` = `text`.
    fn commit(&self, text: &str) {
        let work = self.dir.path().join("work");
        std::fs::write(work.join("sub/version"), text).unwrap();
        git(&work, &["commit", "-qam", text]);
        git(&work, &["push", "-q", &self.bare(), "main"]);
    }
}

#[test]
fn git_contexts_by_branch_tag_commit_and_subdir() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let Some(repo) = Repo::new() else { return };
    let cases = [
        (repo.url("#main:sub"), "two\n"),
        (repo.url("#v1:sub"), "one\n"),
        (repo.url(&format!("#{}:sub", repo.first)), "one\n"),
        // An abbreviated commit: a full fetch, then the name looked up.
        (repo.url(&format!("#{}:sub", &repo.second[..10])), "two\n"),
        (format!("{}#:sub", repo.bare()), "two\n"),
    ];
    for (i, (url, want)) in cases.iter().enumerate() {
        let tag = format!("in:git-{i}");
        let out = h.run(&["build", "-q", "-t", &tag, url]);
        assert!(out.status.success(), "{url}: {}", stderr(&out));
        assert_eq!(
            h.sh(&tag, "cat /ctx/version; ls -A /ctx"),
            format!("{want}Dockerfile\nversion\n"),
            "{url}"
        );
    }
    // The top of the repository at HEAD, without .git; with it when BUILDKIT_CONTEXT_KEEP_GIT_DIR=1.
    let out = h.run(&["build", "-q", "-t", "in:git-top", &repo.url("")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(h.sh("in:git-top", "ls -A /ctx"), "Dockerfile\nsub\n");
    let out = h.run(&[
        "build",
        "-q",
        "-t",
        "in:git-keep",
        "--build-arg",
        "BUILDKIT_CONTEXT_KEEP_GIT_DIR=1",
        &repo.url("#main"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("not consumed"), "{}", stderr(&out));
    assert_eq!(h.sh("in:git-keep", "ls -A /ctx"), ".git\nDockerfile\nsub\n");
    assert!(h
        .sh("in:git-keep", "cat /ctx/.git/HEAD")
        .starts_with(&repo.second));
    // Fetched shallow: one commit, not the history.
    assert_eq!(
        h.sh("in:git-keep", "cat /ctx/.git/shallow"),
        format!("{}\n", repo.second)
    );
}

#[test]
fn git_errors_name_the_problem() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let Some(repo) = Repo::new() else { return };
    let out = h.run(&["build", &repo.url("#no-such-branch")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "git {}: the repository has no branch, tag or commit named \"no-such-branch\"",
            repo.url("")
        )),
        "{err}"
    );
    let out = h.run(&["build", &repo.url("#main:nowhere")]);
    assert!(
        stderr(&out).contains("the directory \"nowhere\" does not exist in the repository"),
        "{}",
        stderr(&out)
    );
    // No git on PATH: the error says what to install.
    let empty = tempfile::tempdir().unwrap();
    let out = h
        .cmd()
        .env("PATH", empty.path())
        .args(["build", &repo.url("")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("git is not installed")
            && stderr(&out).contains("apt-get install git"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn add_a_git_repository_keyed_by_its_commit() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let Some(repo) = Repo::new() else { return };
    let dockerfile = format!(
        "FROM busybox\nADD {} /src\nADD --keep-git-dir=true {} /full\n",
        repo.url("#v1:sub"),
        repo.url("#main")
    );
    let log = h.build_ok("in:add-git", &dockerfile, &[], &["--progress", "plain"]);
    assert!(log.contains("0 steps cached, 2 executed"), "{log}");
    assert_eq!(
        h.sh("in:add-git", "cat /src/version; ls -A /src"),
        "one\nDockerfile\nversion\n"
    );
    assert_eq!(
        h.sh("in:add-git", "ls -A /full; cat /full/sub/version"),
        ".git\nDockerfile\nsub\ntwo\n"
    );
    // The same commits: cached. A new commit on main: only the ADD of main runs again.
    let log = h.build_ok("in:add-git", &dockerfile, &[], &["--progress", "plain"]);
    assert!(log.contains("2 steps cached, 0 executed"), "{log}");
    repo.commit("three\n");
    let log = h.build_ok("in:add-git", &dockerfile, &[], &["--progress", "plain"]);
    assert!(log.contains("1 steps cached, 1 executed"), "{log}");
    assert_eq!(h.sh("in:add-git", "cat /full/sub/version"), "three\n");
    // --checksum of a git source is the commit its ref must resolve to.
    let pinned = format!(
        "FROM busybox\nADD --checksum={} {} /src\n",
        &repo.first[..12],
        repo.url("#v1")
    );
    h.build_ok("in:add-git-pinned", &pinned, &[], &[]);
    let wrong = format!(
        "FROM busybox\nADD --checksum={} {} /src\n",
        &repo.first[..12],
        repo.url("#main")
    );
    let err = h.build_err("in:add-git-wrong", &wrong, &[], &[]);
    assert!(
        err.contains("resolved to commit") && err.contains(&repo.first[..12]),
        "{err}"
    );
    // COPY refuses a URL.
    let err = h.build_err(
        "in:copy-git",
        &format!("FROM busybox\nCOPY {} /x\n", repo.url("")),
        &[],
        &[],
    );
    assert!(
        err.contains("COPY cannot copy from a URL; use ADD"),
        "{err}"
    );
}

#[test]
fn build_contexts_override_stages_and_images() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let extra = common::context_with(&[
        ("e.txt", b"from the named dir\n"),
        ("secret.key", b"ignored\n"),
        (".dockerignore", b"*.key\n"),
    ]);
    let extra_arg = format!("extra={}", extra.path().display());
    // A stage that would fail is replaced (never run); COPY --from, RUN --mount from and FROM see the directory.
    let dockerfile = "FROM busybox AS build\nRUN exit 3\n\
        FROM busybox\nCOPY --from=build /e.txt /from-stage\nCOPY --from=extra / /extra/\n\
        RUN --mount=from=extra,target=/m cat /m/e.txt > /mounted\n";
    let build_arg = format!("build={}", extra.path().display());
    h.build_ok(
        "in:named-dir",
        dockerfile,
        &[],
        &["--build-context", &extra_arg, "--build-context", &build_arg],
    );
    assert_eq!(
        h.sh("in:named-dir", "cat /from-stage /mounted; ls -A /extra"),
        "from the named dir\nfrom the named dir\n.dockerignore\ne.txt\n"
    );
    // docker-image:// goes through the image source: the store here.
    let dockerfile = "FROM base\nRUN test -x /bin/busybox && echo image > /which\n";
    h.build_ok(
        "in:named-image",
        dockerfile,
        &[],
        &["--build-context", "base=docker-image://busybox:latest"],
    );
    assert_eq!(h.sh("in:named-image", "cat /which"), "image\n");
    // Content keys the named directory: a rebuild is cached, a changed file is not.
    let log = h.build_ok(
        "in:named-dir",
        dockerfile_copy_extra(),
        &[],
        &["--build-context", &extra_arg, "--progress", "plain"],
    );
    assert!(log.contains("executed"), "{log}");
    let again = h.build_ok(
        "in:named-dir",
        dockerfile_copy_extra(),
        &[],
        &["--build-context", &extra_arg, "--progress", "plain"],
    );
    assert!(again.contains(" 0 executed"), "{again}");
    std::fs::write(extra.path().join("e.txt"), "changed\n").unwrap();
    h.build_ok(
        "in:named-dir",
        dockerfile_copy_extra(),
        &[],
        &["--build-context", &extra_arg],
    );
    assert_eq!(h.sh("in:named-dir", "cat /e.txt"), "changed\n");
    let err = h.build_err(
        "in:named-bad",
        "FROM busybox\n",
        &[],
        &["--build-context", "nonsense"],
    );
    assert!(
        err.contains("invalid --build-context \"nonsense\": expected NAME=VALUE"),
        "{err}"
    );
}

fn dockerfile_copy_extra() -> &'static str {
    "FROM busybox\nCOPY --from=extra /e.txt /e.txt\n"
}

#[test]
fn remote_tars_and_git_urls_as_contexts() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let Some(repo) = Repo::new() else { return };
    let Some(srv) = Server::start() else { return };
    let tar = compress(
        "gzip",
        &tar_of(&[
            ("Dockerfile", b"FROM busybox\nCOPY w.txt /w.txt\n"),
            ("w.txt", b"from the web\n"),
        ]),
    );
    let url = srv.put("ctx.tar.gz", &tar);
    // The main context from a URL of a tar; -f inside a git context.
    let out = h.run(&["build", "-q", "-t", "in:url-ctx", &url]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(h.sh("in:url-ctx", "cat /w.txt"), "from the web\n");
    let out = h.run(&[
        "build",
        "-q",
        "-t",
        "in:git-f",
        "-f",
        "sub/Dockerfile",
        &repo.url("#main"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(h.sh("in:git-f", "ls -A /ctx"), "Dockerfile\nsub\n");
    // Named contexts from a tar URL and a git URL.
    let dockerfile =
        "FROM busybox\nCOPY --from=web /w.txt /w.txt\nCOPY --from=src /version /version\n";
    let web = format!("web={url}");
    let src = format!("src={}", repo.url("#v1:sub"));
    h.build_ok(
        "in:named-remote",
        dockerfile,
        &[],
        &["--build-context", &web, "--build-context", &src],
    );
    assert_eq!(
        h.sh("in:named-remote", "cat /w.txt /version"),
        "from the web\none\n"
    );
}

#[test]
fn git_submodules_are_checked_out_without_their_git_files() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let Some(repo) = Repo::new() else { return };
    let lib = repo.dir.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    git(&lib, &["init", "-q"]);
    std::fs::write(lib.join("lib.txt"), "library\n").unwrap();
    git(&lib, &["add", "-A"]);
    git(&lib, &["commit", "-qm", "lib"]);
    let work = repo.dir.path().join("work");
    let lib_url = format!("file://{}", lib.display());
    git(
        &work,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            &lib_url,
            "vendor/lib",
        ],
    );
    git(&work, &["commit", "-qm", "submodule"]);
    git(&work, &["push", "-q", &repo.bare(), "main"]);
    let out = h.run(&["build", "-q", "-t", "in:git-sub", &repo.url("#main")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        h.sh(
            "in:git-sub",
            "cat /ctx/vendor/lib/lib.txt; ls -A /ctx/vendor/lib"
        ),
        "library\nlib.txt\n"
    );
}
