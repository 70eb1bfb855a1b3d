//! Shared helpers for the integration tests: a fresh state dir with the busybox base imported, and a way to run
//! the `hoist` binary against it. The tests need root (overlayfs, namespaces) and Debian's busybox-static.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub struct Hoist {
    pub root: tempfile::TempDir,
}

impl Drop for Hoist {
    /// The state dir goes with its `TempDir`; its run root (outside it, on a tmpfs) must too.
    /// What a test left running there is unmounted first, as a reboot would.
    fn drop(&mut self) {
        // A test that failed half-way leaves its containers running: they would keep their bridge
        // addresses and ports after the state dir is gone.
        if let Ok(out) = self.cmd().args(["ps", "-aq"]).output() {
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect();
            if !ids.is_empty() {
                let _ = self.cmd().args(["rm", "-f"]).args(&ids).output();
            }
        }
        let run = self.run_root();
        if run == self.root.path().join("containers") {
            return;
        }
        if let Ok(dirs) = std::fs::read_dir(&run) {
            for dir in dirs.flatten() {
                let _ = nix::mount::umount2(
                    &dir.path().join("merged"),
                    nix::mount::MntFlags::MNT_DETACH,
                );
            }
        }
        let _ = std::fs::remove_dir_all(&run);
    }
}

/// The busybox base rootfs tar, made by the project's script once for every test binary of a run: it is named
/// by what it is made from (busybox's size and mtime, the script's text), so the next binary reuses it and /tmp
/// keeps one, not one per test process.
pub fn busybox_tar() -> Option<PathBuf> {
    static TAR: OnceLock<Option<PathBuf>> = OnceLock::new();
    TAR.get_or_init(|| {
        use std::hash::{Hash, Hasher};
        use std::os::unix::fs::MetadataExt;
        let Ok(busybox) = std::fs::metadata("/bin/busybox") else {
            eprintln!("SKIPPED: /bin/busybox is missing (apt-get install busybox-static)");
            return None;
        };
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/scripts/busybox-rootfs.sh");
        let mut inputs = std::collections::hash_map::DefaultHasher::new();
        (busybox.len(), busybox.mtime(), busybox.mtime_nsec()).hash(&mut inputs);
        std::fs::read(&script)
            .expect("reading busybox-rootfs.sh")
            .hash(&mut inputs);
        let out =
            std::env::temp_dir().join(format!("hoist-test-busybox-{:016x}.tar", inputs.finish()));
        if out.exists() {
            return Some(out);
        }
        // Made under a name of this process's and renamed into place: a binary running beside it never reads
        // half a tar.
        let partial = out.with_extension(format!("{}.partial", std::process::id()));
        let status = Command::new("bash")
            .arg(&script)
            .arg(&partial)
            .output()
            .expect("running busybox-rootfs.sh");
        assert!(
            status.status.success(),
            "busybox-rootfs.sh failed: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        std::fs::rename(&partial, &out).expect("moving the busybox tar into place");
        Some(out)
    })
    .clone()
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

impl Hoist {
    /// A new state dir with `busybox:latest` imported; `None` (test skipped) without root or busybox.
    pub fn with_busybox() -> Option<Hoist> {
        if !is_root() {
            eprintln!("SKIPPED: integration tests need root");
            return None;
        }
        let tar = busybox_tar()?;
        let h = Hoist {
            root: tempfile::Builder::new()
                .prefix("hoist-it-")
                .tempdir_in("/var/tmp")
                .expect("tempdir"),
        };
        let out = h.run(&["import", tar.to_str().unwrap(), "busybox:latest"]);
        assert!(out.status.success(), "import failed: {}", stderr(&out));
        Some(h)
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_hoist"));
        c.env("HOIST_ROOT", self.root.path());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("running hoist")
    }

    /// Builds `dockerfile` (with `files` beside it) as `tag`; returns the output.
    pub fn build_text(
        &self,
        tag: &str,
        dockerfile: &str,
        files: &[(&str, &str)],
        extra: &[&str],
    ) -> (Output, tempfile::TempDir) {
        let ctx = tempfile::tempdir().expect("context dir");
        std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
        for (name, content) in files {
            let p = ctx.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        let mut args = vec!["build", "-t", tag];
        args.extend_from_slice(extra);
        let ctx_path = ctx.path().to_str().unwrap().to_string();
        args.push(&ctx_path);
        let out = self.run(&args);
        (out, ctx)
    }

    /// Saves `image` as a docker-archive and returns the config JSON and the layer tars in order.
    pub fn saved(&self, image: &str) -> (serde_json::Value, Vec<Vec<u8>>) {
        let dir = tempfile::tempdir().unwrap();
        let tar_path = dir.path().join("img.tar");
        let out = self.run(&["save", "-o", tar_path.to_str().unwrap(), image]);
        assert!(out.status.success(), "save failed: {}", stderr(&out));
        let files = read_tar(&std::fs::read(&tar_path).unwrap());
        let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
        let entry = &manifest[0];
        let config: serde_json::Value =
            serde_json::from_slice(&files[entry["Config"].as_str().unwrap()]).unwrap();
        let layers = entry["Layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| files[l.as_str().unwrap()].clone())
            .collect();
        (config, layers)
    }

    /// Mount points of this state dir still mounted (there must be none between commands).
    pub fn leftover_mounts(&self) -> Vec<String> {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let root = self.root.path().to_string_lossy().to_string();
        info.lines()
            .filter(|l| l.contains(&root))
            .map(str::to_string)
            .collect()
    }

    /// Entries left in the state dir's staging area (there must be none between commands).
    pub fn leftover_tmp(&self) -> Vec<String> {
        match std::fs::read_dir(self.root.path().join("tmp")) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// All regular files of a tar, by name (leading `./` removed).
pub fn read_tar(bytes: &[u8]) -> std::collections::HashMap<String, Vec<u8>> {
    let mut out = std::collections::HashMap::new();
    let mut ar = tar::Archive::new(bytes);
    for entry in ar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        out.insert(name, data);
    }
    out
}

/// The entries of a layer tar: name → (type byte, mode, uid, gid, content).
pub fn layer_entries(
    layer: &[u8],
) -> std::collections::BTreeMap<String, (u8, u32, u64, u64, Vec<u8>)> {
    let mut out = std::collections::BTreeMap::new();
    let mut ar = tar::Archive::new(layer);
    for entry in ar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let h = entry.header().clone();
        let name = entry
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        out.insert(
            name,
            (
                h.entry_type().as_byte(),
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                data,
            ),
        );
    }
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Helpers for the per-feature build tests (`build_*.rs`).
impl Hoist {
    /// Builds `dockerfile` with `files` beside it; the build must succeed. Returns the progress log (stderr).
    pub fn build_ok(
        &self,
        tag: &str,
        dockerfile: &str,
        files: &[(&str, &str)],
        extra: &[&str],
    ) -> String {
        let (out, _ctx) = self.build_text(tag, dockerfile, files, extra);
        assert!(
            out.status.success(),
            "build of {tag} failed:\n{dockerfile}\n---\n{}",
            stderr(&out)
        );
        stderr(&out)
    }

    /// Builds `dockerfile`; the build must fail (exit 1, no panic). Returns the error output.
    pub fn build_err(
        &self,
        tag: &str,
        dockerfile: &str,
        files: &[(&str, &str)],
        extra: &[&str],
    ) -> String {
        let (out, _ctx) = self.build_text(tag, dockerfile, files, extra);
        let log = stderr(&out);
        assert!(
            !out.status.success(),
            "build of {tag} should fail:\n{dockerfile}\n---\n{log}"
        );
        assert!(!log.contains("panicked"), "{log}");
        log
    }

    /// Builds the context directory `ctx` (its own `Dockerfile`) as `tag`.
    pub fn build_dir(&self, tag: &str, ctx: &Path, extra: &[&str]) -> Output {
        let mut args = vec!["build", "-t", tag];
        args.extend_from_slice(extra);
        let ctx_path = ctx.to_str().expect("utf-8 path").to_string();
        args.push(&ctx_path);
        self.run(&args)
    }

    /// `hoist run --rm IMAGE sh -c SCRIPT`: must succeed; returns stdout.
    pub fn sh(&self, image: &str, script: &str) -> String {
        let out = self.run(&[
            "run",
            "--rm",
            "--entrypoint",
            "",
            image,
            "/bin/sh",
            "-c",
            script,
        ]);
        assert!(
            out.status.success(),
            "`{script}` in {image} failed: {}\n{}",
            stderr(&out),
            stdout(&out)
        );
        stdout(&out)
    }

    /// The `config` object of an image's config.
    pub fn config(&self, image: &str) -> serde_json::Value {
        self.saved(image).0["config"].clone()
    }
}

/// A context directory with `files` (path → bytes) written into it.
pub fn context_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let ctx = tempfile::tempdir().expect("context dir");
    for (name, content) in files {
        let p = ctx.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    ctx
}

/// Helpers for the runtime tests (`run_*.rs`).
impl Hoist {
    /// Runs hoist with `args`: (exit code, stdout, stderr).
    pub fn out(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.run(args);
        (out.status.code().unwrap_or(-1), stdout(&out), stderr(&out))
    }

    /// Runs hoist with `args` and `input` on stdin: (exit code, stdout, stderr).
    pub fn out_with_stdin(&self, args: &[&str], input: &[u8]) -> (i32, String, String) {
        use std::io::Write;
        let mut child = self
            .cmd()
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("running hoist");
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        (out.status.code().unwrap_or(-1), stdout(&out), stderr(&out))
    }

    /// `hoist run -d ARGS…`: must succeed; returns the container ID.
    pub fn detach(&self, args: &[&str]) -> String {
        let mut all = vec!["run", "-d"];
        all.extend_from_slice(args);
        let (code, out, err) = self.out(&all);
        assert_eq!(code, 0, "run -d {args:?} failed: {err}");
        let id = out.trim().to_string();
        assert_eq!(id.len(), 64, "expected an ID, got {out:?}");
        id
    }

    /// Containers in this state dir (their ids), and leftovers in its run root (see
    /// `hoist_executor::runtime::rundir`): `run:ID` for a run directory without a container.
    pub fn containers(&self) -> Vec<String> {
        let list = |dir: &Path, prefix: &str| match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .map(|n| format!("{prefix}{n}"))
                .collect(),
            Err(_) => Vec::new(),
        };
        let disk = self.root.path().join("containers");
        let mut all: Vec<String> = list(&disk, "");
        let run = self.run_root();
        if run != disk {
            let orphans: Vec<String> = list(&run, "")
                .into_iter()
                .filter(|id| !all.contains(id))
                .map(|id| format!("run:{id}"))
                .collect();
            all.extend(orphans);
        }
        all
    }

    /// Where this state dir's containers keep their runtime state (a tmpfs where there is one).
    pub fn run_root(&self) -> PathBuf {
        hoist_executor::runtime::rundir::run_root(self.root.path())
    }

    /// Waits (up to `secs`) until no container is left in the state dir (an exited `--rm` one is removed).
    pub fn wait_no_containers(&self, secs: u64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while !self.containers().is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "--rm container still there after {secs}s: {:?}",
                self.containers()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Waits (up to `secs`) until `hoist inspect` says the container is not running; its exit code.
    pub fn wait_exited(&self, name: &str, secs: u64) -> i64 {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let (_, out, _) = self.out(&["inspect", name]);
            let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
            if v[0]["State"]["Status"] == "exited" {
                return v[0]["State"]["ExitCode"].as_i64().unwrap();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{name} still running after {secs}s: {out}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// Whatever of container `id` is left on the host: cgroups, processes, mounts (must be none once it exited).
pub fn container_leftovers(id: &str) -> Vec<String> {
    let mut left = Vec::new();
    let cgroup = format!("hoist-run-{}", &id[..16]);
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        for hierarchy in rd.filter_map(|e| e.ok()) {
            let p = hierarchy.path().join("hoist").join(&cgroup);
            if p.exists() {
                left.push(format!("cgroup {}", p.display()));
            }
        }
    }
    if std::path::Path::new("/sys/fs/cgroup/hoist")
        .join(&cgroup)
        .exists()
    {
        left.push(format!("cgroup /sys/fs/cgroup/hoist/{cgroup}"));
    }
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for p in rd.filter_map(|e| e.ok()) {
            let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(id) {
                left.push(format!("process {}", p.file_name().to_string_lossy()));
            }
        }
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    left.extend(
        mounts
            .lines()
            .filter(|l| l.contains(id))
            .map(|l| format!("mount {l}")),
    );
    left
}

/// [`container_leftovers`] once they are gone, or after `secs` (a monitor exits just after its last cleanup).
pub fn leftovers_after(id: &str, secs: u64) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let left = container_leftovers(id);
        if left.is_empty() || std::time::Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
pub mod file_server;
pub mod registry;

impl Hoist {
    /// A state dir with nothing in it (no base image); `None` (test skipped) without root.
    pub fn empty() -> Option<Hoist> {
        if !is_root() {
            eprintln!("SKIPPED: integration tests need root");
            return None;
        }
        Some(Hoist {
            root: tempfile::Builder::new()
                .prefix("hoist-it-")
                .tempdir_in("/var/tmp")
                .expect("tempdir"),
        })
    }
}
