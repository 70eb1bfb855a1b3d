//! Real containers on real overlays over a busybox rootfs. Needs root and `/bin/busybox`.
//!
//! This file has its own `main` (`harness = false` in Cargo.toml) because `container::run`
//! re-executes the current program as the container helper: `main` must call
//! `maybe_run_container_init()` before anything else, exactly like the hoist CLI does.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hoist_executor::container::{self, ContainerSpec, ExtraMount, Network};
use hoist_executor::layer::write_layer_tar;
use hoist_executor::overlay::{self, mount_overlay, OverlayMount, OverlaySyscall};

type TestFn = fn(&Env);

/// `[(name, fn)]` for the test functions listed.
macro_rules! tests {
    ($($test:ident),* $(,)?) => {
        &[$((stringify!($test), $test as TestFn)),*]
    };
}

struct Env {
    busybox_root: PathBuf,
}

fn main() {
    hoist_executor::maybe_run_container_init();

    if !nix::unistd::geteuid().is_root() {
        println!("skipping runtime tests: they need root (overlayfs, namespaces)");
        return;
    }
    if !Path::new("/bin/busybox").exists() {
        println!(
            "skipping runtime tests: /bin/busybox is missing (apt-get install busybox-static)"
        );
        return;
    }
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let base = tempfile::tempdir().expect("tempdir");
    let env = Env {
        busybox_root: make_busybox_rootfs(base.path()),
    };

    let tests: &[(&str, TestFn)] = tests![
        stdout_is_captured_through_a_pipe,
        stdin_and_stderr_are_wired,
        exit_code_is_returned,
        sigkill_gives_137,
        killed_helper_takes_the_container_along,
        cancel_stops_a_running_container,
        helper_killed_during_setup_leaves_nothing,
        env_cwd_and_uid_are_applied,
        network_none_has_only_lo_up,
        host_processes_are_invisible,
        writes_and_deletions_become_a_layer,
        renamed_lower_dir_is_copied_whole,
        network_files_and_mount_points,
        readonly_rootfs_and_extra_mounts,
        docker_security_defaults,
        signals_start_with_default_handlers,
        missing_command_is_an_error_and_leaves_nothing,
        helper_that_does_not_run_is_detected,
        scratch_overlay_has_no_lowers,
        overlay_with_150_lowers,
        overlay_150_lowers_relative_fallback,
        concurrent_runs_from_threads,
        in_process_path_works,
        latency_of_true,
    ];
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, test) in tests {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        ran += 1;
        let outcome = std::panic::catch_unwind(|| test(&env));
        match outcome {
            Ok(()) => println!("test {name} ... ok"),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(*name);
            }
        }
    }
    drop(env);
    drop(base);
    println!("\n{} passed; {} failed", ran - failed.len(), failed.len());
    if !failed.is_empty() {
        println!("failures: {failed:?}");
        std::process::exit(1);
    }
}

/// The same tree as /work/shared/scripts/busybox-rootfs.sh makes.
fn make_busybox_rootfs(base: &Path) -> PathBuf {
    let root = base.join("busybox");
    for d in ["bin", "etc", "tmp", "data/sub"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    std::fs::write(root.join("data/sub/file"), "data\n").unwrap();
    let list = std::process::Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
        }
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\nnogroup:x:65534:\napp:x:1000:\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    root
}

/// One overlay over busybox in its own temp dir, plus a state dir; checks on drop that nothing
/// is left mounted under the dir and the state dir is empty.
struct Sandbox {
    dir: tempfile::TempDir,
    mount: Option<OverlayMount>,
}

impl Sandbox {
    fn new(env: &Env) -> Sandbox {
        Self::with_lowers(std::slice::from_ref(&env.busybox_root))
    }

    fn with_lowers(lowers: &[PathBuf]) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        for d in ["upper", "work", "merged", "state"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        let p = dir.path();
        let mount =
            mount_overlay(lowers, &p.join("upper"), &p.join("work"), &p.join("merged")).unwrap();
        Sandbox {
            dir,
            mount: Some(mount),
        }
    }

    fn merged(&self) -> PathBuf {
        self.dir.path().join("merged")
    }
    fn upper(&self) -> PathBuf {
        self.dir.path().join("upper")
    }
    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn spec(&self, args: &[&str]) -> ContainerSpec {
        ContainerSpec {
            rootfs: self.merged(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            uid: 0,
            gid: 0,
            additional_gids: vec![],
            hostname: "buildkitsandbox".into(),
            network: Network::None,
            mounts: vec![],
            readonly_rootfs: false,
            seccomp_cache: None,
            options: Default::default(),
            stdin: None,
            stdout: None,
            stderr: None,
        }
    }

    /// Run and capture stdout (stderr goes to ours).
    fn run_capture(&self, mut spec: ContainerSpec) -> (i32, String) {
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        spec.stdout = Some(write);
        let reader = std::thread::spawn(move || {
            let mut out = String::new();
            std::fs::File::from(read).read_to_string(&mut out).unwrap();
            out
        });
        let code = container::run(spec, &self.state()).expect("container run");
        (code, reader.join().unwrap())
    }

    fn unmount(&mut self) {
        if let Some(m) = self.mount.take() {
            m.unmount().unwrap();
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.mount.take();
        if std::thread::panicking() {
            return;
        }
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let dir = self.dir.path().to_string_lossy().into_owned();
        assert!(
            !mountinfo.contains(&dir),
            "mounts left under {dir}:\n{mountinfo}"
        );
        let left: Vec<_> = std::fs::read_dir(self.state()).unwrap().collect();
        assert!(left.is_empty(), "state dir not empty: {left:?}");
        let cgroups = our_cgroups();
        assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
    }
}

/// Cgroups of containers this test process started (ids are `hoist-<our pid>-…`).
fn our_cgroups() -> Vec<PathBuf> {
    let prefix = format!("hoist-{}-", std::process::id());
    let mut found = Vec::new();
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        for root in [hierarchy.path().join("hoist"), hierarchy.path()] {
            for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    found.push(entry.path());
                }
            }
        }
    }
    found
}

fn stdout_is_captured_through_a_pipe(env: &Env) {
    let sb = Sandbox::new(env);
    let (code, out) = sb.run_capture(sb.spec(&["echo", "hello", "world"]));
    assert_eq!(code, 0);
    assert_eq!(out, "hello world\n");
}

fn stdin_and_stderr_are_wired(env: &Env) {
    let sb = Sandbox::new(env);
    let (in_r, in_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let (err_r, err_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    std::io::Write::write_all(&mut std::fs::File::from(in_w), b"from stdin\n").unwrap();
    let mut spec = sb.spec(&["sh", "-c", "tr a-z A-Z; echo oops >&2"]);
    spec.stdin = Some(in_r);
    spec.stderr = Some(err_w);
    let (code, out) = sb.run_capture(spec);
    let mut err = String::new();
    std::fs::File::from(err_r).read_to_string(&mut err).unwrap();
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (0, "FROM STDIN\n", "oops\n")
    );
}

fn exit_code_is_returned(env: &Env) {
    let sb = Sandbox::new(env);
    let code = container::run(sb.spec(&["sh", "-c", "exit 3"]), &sb.state()).unwrap();
    assert_eq!(code, 3);
}

fn sigkill_gives_137(env: &Env) {
    // The process is pid 1 of its namespace, which ignores signals from inside: kill it from here.
    let sb = Sandbox::new(env);
    let marker = "31.4159";
    let killer = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
                if cmdline == format!("sleep\0{marker}\0").as_bytes() {
                    nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::SIGKILL,
                    )
                    .unwrap();
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("the container's sleep never showed up");
    });
    let code = container::run(sb.spec(&["sleep", marker]), &sb.state()).unwrap();
    killer.join().unwrap();
    assert_eq!(code, 137);
}

/// Pids of processes whose argv is exactly `argv`, or starts with it when `prefix`.
fn find_processes(argv: &[&str], prefix: bool) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .collect();
        let want: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
        let matches = if prefix {
            args.len() >= want.len() && args[..want.len()] == want[..]
        } else {
            args == want
        };
        if matches {
            found.push(pid);
        }
    }
    found
}

/// Helper processes this test process started (libcontainer's processes forked from a helper
/// have the same command line, but a helper for a parent).
fn our_helpers() -> Vec<i32> {
    find_processes(&["/proc/self/exe", container::INIT_MARKER], true)
        .into_iter()
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // "pid (comm) state ppid ..."; comm may hold spaces, so split after the last ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1));
            ppid == Some(std::process::id().to_string().as_str())
        })
        .collect()
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn killed_helper_takes_the_container_along(env: &Env) {
    let sb = Sandbox::new(env);
    let marker = "27.1828";
    let spec = sb.spec(&["sleep", marker]);
    let state = sb.state();
    let runner = std::thread::spawn(move || container::run(spec, &state));
    let mut sleeper = Vec::new();
    wait_for("the container's sleep", || {
        sleeper = find_processes(&["sleep", marker], false);
        !sleeper.is_empty()
    });
    let helper = our_helpers();
    assert_eq!(helper.len(), 1, "one helper process: {helper:?}");
    use nix::sys::signal::{kill, SIGKILL};
    use nix::unistd::Pid;
    kill(Pid::from_raw(helper[0]), SIGKILL).unwrap();
    let err = runner.join().unwrap().unwrap_err();
    assert!(
        matches!(err, container::ContainerError::HelperKilled { signal: 9 }),
        "{err}"
    );
    wait_for("the container to die with its helper", || {
        find_processes(&["sleep", marker], false).is_empty()
    });
}

fn cancel_stops_a_running_container(env: &Env) {
    let sb = Sandbox::new(env);
    let marker = "16.1803";
    let cancel = container::CancelToken::new();
    let (spec, state, token) = (sb.spec(&["sleep", marker]), sb.state(), cancel.clone());
    let runner = std::thread::spawn(move || container::run_cancellable(spec, &state, &token));
    wait_for("the container's sleep", || {
        !find_processes(&["sleep", marker], false).is_empty()
    });
    let start = Instant::now();
    cancel.cancel();
    let result = runner.join().unwrap();
    assert!(
        matches!(result, Err(container::ContainerError::Cancelled)),
        "{result:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(find_processes(&["sleep", marker], false).is_empty());
    // A cancelled token refuses new work.
    let again = container::run_cancellable(sb.spec(&["true"]), &sb.state(), &cancel);
    assert!(matches!(again, Err(container::ContainerError::Cancelled)));
}

fn helper_killed_during_setup_leaves_nothing(env: &Env) {
    // Kill the helper at various points of container creation; every Sandbox checks on drop
    // that no mount, cgroup or state is left, and no container process may survive.
    for delay_ms in [0, 1, 2, 3, 5, 8, 12] {
        let sb = Sandbox::new(env);
        let marker = format!("11.{delay_ms}");
        let spec = sb.spec(&["sleep", &marker]);
        let state = sb.state();
        let runner = std::thread::spawn(move || container::run(spec, &state));
        let mut helper = Vec::new();
        wait_for("the helper", || {
            helper = our_helpers();
            !helper.is_empty()
        });
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(helper[0]),
            nix::sys::signal::SIGKILL,
        );
        assert!(runner.join().unwrap().is_err());
        wait_for("no container process", || {
            find_processes(&["sleep", &marker], false).is_empty()
        });
    }
}

fn env_cwd_and_uid_are_applied(env: &Env) {
    let sb = Sandbox::new(env);
    let mut spec = sb.spec(&["sh", "-c", "echo $FOO; pwd; id -u; id -g; id -G"]);
    spec.env.push("FOO=bar baz".into());
    spec.cwd = "/work/dir".into();
    spec.uid = 1000;
    spec.gid = 1000;
    spec.additional_gids = vec![1000, 27];
    let (code, out) = sb.run_capture(spec);
    assert_eq!(code, 0);
    assert_eq!(out, "bar baz\n/work/dir\n1000\n1000\n1000 27\n");
}

fn network_none_has_only_lo_up(env: &Env) {
    let sb = Sandbox::new(env);
    let (code, out) = sb.run_capture(sb.spec(&[
        "sh",
        "-c",
        "tail -n +3 /proc/net/dev | cut -d: -f1; ip link show lo",
    ]));
    assert_eq!(code, 0);
    let mut lines = out.lines();
    assert_eq!(lines.next().map(str::trim), Some("lo"), "{out}");
    let rest: String = lines.collect::<Vec<_>>().join("\n");
    assert!(rest.contains("LOOPBACK,UP"), "lo is not up:\n{out}");

    let mut spec = sb.spec(&["sh", "-c", "tail -n +3 /proc/net/dev | wc -l"]);
    spec.network = Network::Host;
    let (code, out) = sb.run_capture(spec);
    assert_eq!(code, 0);
    let host_ifaces = std::fs::read_to_string("/proc/net/dev")
        .unwrap()
        .lines()
        .count()
        - 2;
    assert_eq!(
        out.trim(),
        host_ifaces.to_string(),
        "host network shows the host's interfaces"
    );
}

fn host_processes_are_invisible(env: &Env) {
    let sb = Sandbox::new(env);
    let (code, out) =
        sb.run_capture(sb.spec(&["sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]*$'"]));
    assert_eq!(code, 0);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("1"), "the process is pid 1: {out}");
    let count: u32 = lines.next().unwrap().trim().parse().unwrap();
    assert!(count <= 3, "sees {count} processes:\n{out}");
}

fn writes_and_deletions_become_a_layer(env: &Env) {
    let mut sb = Sandbox::new(env);
    let code = container::run(
        sb.spec(&[
            "sh",
            "-c",
            "echo hi > /newfile && rm /etc/group && mkdir -p /tmp/d && rm -r /bin/busybox",
        ]),
        &sb.state(),
    )
    .unwrap();
    assert_eq!(code, 0);
    sb.unmount();
    let upper = sb.upper();
    assert_eq!(
        std::fs::read_to_string(upper.join("newfile")).unwrap(),
        "hi\n"
    );
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let wh = std::fs::symlink_metadata(upper.join("etc/group")).unwrap();
    assert!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "deletion is an overlay whiteout"
    );

    let mut tar = Vec::new();
    let stats = write_layer_tar(&upper, &mut tar).unwrap();
    let names: Vec<String> = tar::Archive::new(tar.as_slice())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in ["etc/.wh.group", "bin/.wh.busybox", "newfile", "tmp/d/"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not in {names:?}"
        );
    }
    assert_eq!(stats.whiteouts, 2);
    let mut again = Vec::new();
    write_layer_tar(&upper, &mut again).unwrap();
    assert_eq!(tar, again, "layer tar is deterministic");
}

fn renamed_lower_dir_is_copied_whole(env: &Env) {
    let mut sb = Sandbox::new(env);
    let code = container::run(sb.spec(&["mv", "/data", "/data-moved"]), &sb.state()).unwrap();
    assert_eq!(code, 0);
    sb.unmount();
    // No overlay redirect: the layer alone must carry the moved files.
    let moved = sb.upper().join("data-moved");
    assert!(xattr::get(&moved, "trusted.overlay.redirect")
        .unwrap()
        .is_none());
    assert_eq!(
        std::fs::read_to_string(moved.join("sub/file")).unwrap(),
        "data\n"
    );
}

fn network_files_and_mount_points(env: &Env) {
    let mut sb = Sandbox::new(env);
    let (code, out) = sb.run_capture(sb.spec(&[
        "sh",
        "-c",
        "cat /etc/hostname; hostname; grep -c localhost /etc/hosts; test -s /etc/resolv.conf && echo resolv; \
         { echo x > /etc/hosts; } 2>/dev/null || echo ro; ls /dev | tr '\\n' ' '",
    ]));
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        &lines[..5],
        ["buildkitsandbox", "buildkitsandbox", "2", "resolv", "ro"],
        "{out}"
    );
    for dev in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue",
    ] {
        assert!(
            lines[5].split(' ').any(|d| d == dev),
            "/dev/{dev} missing: {}",
            lines[5]
        );
    }
    sb.unmount();
    // Like BuildKit: empty mount-point files stay behind in the upper dir.
    for f in ["etc/hosts", "etc/hostname", "etc/resolv.conf"] {
        assert_eq!(
            std::fs::metadata(sb.upper().join(f)).unwrap().len(),
            0,
            "{f}"
        );
    }
}

fn readonly_rootfs_and_extra_mounts(env: &Env) {
    let sb = Sandbox::new(env);
    let shared = tempfile::tempdir().unwrap();
    std::fs::write(shared.path().join("in"), "from host").unwrap();
    let mut spec = sb.spec(&[
        "sh",
        "-c",
        "cat /mnt/in/in; echo out > /mnt/rw/out; touch /root-file 2>/dev/null && echo wrote-root; \
         touch /mnt/in/x 2>/dev/null && echo wrote-ro; echo t > /cache/t && echo tmpfs",
    ]);
    let rw = tempfile::tempdir().unwrap();
    spec.readonly_rootfs = true;
    spec.mounts = vec![
        ExtraMount::Bind {
            source: shared.path().to_path_buf(),
            destination: "/mnt/in".into(),
            readonly: true,
        },
        ExtraMount::Bind {
            source: rw.path().to_path_buf(),
            destination: "/mnt/rw".into(),
            readonly: false,
        },
        ExtraMount::Tmpfs {
            destination: "/cache".into(),
        },
    ];
    let (code, out) = sb.run_capture(spec);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "from hosttmpfs\n");
    assert_eq!(
        std::fs::read_to_string(rw.path().join("out")).unwrap(),
        "out\n"
    );
    assert!(!sb.upper().join("cache/t").exists());
}

fn docker_security_defaults(env: &Env) {
    let sb = Sandbox::new(env);
    let script = "grep CapEff /proc/self/status | cut -f2; wc -c < /proc/interrupts; \
         { echo 1 > /proc/sys/kernel/ns_last_pid; } 2>/dev/null && echo proc-sys-writable; \
         { echo x > /sys/kernel/foo; } 2>/dev/null && echo sys-writable; \
         mknod /tmp/disk b 8 0 && { head -c 1 /tmp/disk > /dev/null 2>&1 && echo disk-readable || echo disk-denied; }; \
         echo ok > /dev/null && head -c 4 /dev/zero | wc -c";
    let (code, out) = sb.run_capture(sb.spec(&["sh", "-c", script]));
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out, "00000000a80425fb\n0\ndisk-denied\n4\n",
        "Docker's capabilities, masks, devices"
    );

    let mut spec = sb.spec(&["sh", "-c", "grep CapEff /proc/self/status | cut -f2"]);
    spec.uid = 1000;
    let (_, out) = sb.run_capture(spec);
    assert_eq!(
        out, "0000000000000000\n",
        "a non-root user has no effective capabilities"
    );
}

fn signals_start_with_default_handlers(env: &Env) {
    // Rust ignores SIGPIPE in its programs; a container must not inherit that (`yes | head`).
    let sb = Sandbox::new(env);
    let script = "grep -E 'SigIgn|SigBlk' /proc/self/status | tr -d '\\t'";
    let (code, out) = sb.run_capture(sb.spec(&["sh", "-c", script]));
    assert_eq!(code, 0);
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let mut spec = sb.spec(&["sh", "-c", script]);
    spec.stdout = Some(write);
    assert_eq!(container::run_in_process(spec, &sb.state()).unwrap(), 0);
    let mut in_process = String::new();
    std::fs::File::from(read)
        .read_to_string(&mut in_process)
        .unwrap();
    for out in [out, in_process] {
        assert_eq!(out, "SigBlk:0000000000000000\nSigIgn:0000000000000000\n");
    }
}

fn missing_command_is_an_error_and_leaves_nothing(env: &Env) {
    let sb = Sandbox::new(env);
    let err = container::run(sb.spec(&["no-such-command"]), &sb.state()).unwrap_err();
    assert!(
        matches!(&err, container::ContainerError::CommandNotFound { command, .. } if command == "no-such-command"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "executable \"no-such-command\" not found in the container (PATH=/bin); \
         check the command's spelling or install it in an earlier step"
    );
}

fn helper_that_does_not_run_is_detected(env: &Env) {
    let sb = Sandbox::new(env);
    // Single-threaded harness: changing the environment here is safe.
    std::env::set_var(container::INIT_PROGRAM_ENV, "/bin/true");
    let result = container::run(sb.spec(&["true"]), &sb.state());
    std::env::remove_var(container::INIT_PROGRAM_ENV);
    let err = result.unwrap_err();
    assert!(
        err.to_string().contains("maybe_run_container_init"),
        "{err}"
    );
}

fn scratch_overlay_has_no_lowers(_env: &Env) {
    let mut sb = Sandbox::with_lowers(&[]);
    std::fs::write(sb.merged().join("f"), "x").unwrap();
    assert_eq!(std::fs::read_dir(sb.merged()).unwrap().count(), 1);
    sb.unmount();
    assert!(sb.upper().join("f").exists());
    let empty = sb.dir.path().join(overlay::EMPTY_LOWER_NAME);
    assert_eq!(std::fs::read_dir(empty).unwrap().count(), 0);
}

fn make_layers(base: &Path, name: impl Fn(usize) -> String) -> Vec<PathBuf> {
    // Topmost first: layer 0 is on top and wins the shared file.
    (0..150)
        .map(|i| {
            let dir = base.join(name(i));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("l{i}")), i.to_string()).unwrap();
            std::fs::write(dir.join("shared"), i.to_string()).unwrap();
            dir
        })
        .collect()
}

fn check_layers(sb: &Sandbox) {
    let merged = sb.merged();
    for i in 0..150 {
        assert!(merged.join(format!("l{i}")).exists(), "l{i} missing");
    }
    assert_eq!(std::fs::read_to_string(merged.join("shared")).unwrap(), "0");
}

fn overlay_with_150_lowers(_env: &Env) {
    let layers_dir = tempfile::tempdir().unwrap();
    let lowers = make_layers(layers_dir.path(), |i| format!("snapshots/{i:064}/fs"));
    let total: usize = lowers.iter().map(|l| l.as_os_str().len() + 1).sum();
    assert!(total > 4096, "the test must overflow one page ({total})");
    let sb = Sandbox::with_lowers(&lowers);
    check_layers(&sb);
}

/// Pretends the kernel lacks `lowerdir+` so the chdir-relative strategy runs for real.
struct NoIncremental;

impl overlay::OverlaySyscall for NoIncremental {
    fn mount_overlay(&self, data: &str, target: &Path, cwd: Option<&Path>) -> std::io::Result<()> {
        overlay::LinuxSyscall.mount_overlay(data, target, cwd)
    }
    fn mount_overlay_incremental(
        &self,
        _: &[PathBuf],
        _: &Path,
        _: &Path,
        _: &Path,
    ) -> std::io::Result<()> {
        Err(std::io::Error::from_raw_os_error(libc::ENOSYS))
    }
    fn unmount(&self, target: &Path) -> std::io::Result<()> {
        overlay::LinuxSyscall.unmount(target)
    }
}

fn overlay_150_lowers_relative_fallback(_env: &Env) {
    let layers_dir = tempfile::tempdir().unwrap();
    let deep = "a-rather-long-directory-name-to-make-absolute-paths-overflow-the-page/snapshots";
    let lowers = make_layers(layers_dir.path(), |i| format!("{deep}/{i}"));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    for d in ["upper", "work", "merged"] {
        std::fs::create_dir(p.join(d)).unwrap();
    }
    let cwd_before = std::env::current_dir().unwrap();
    overlay::mount_overlay_with(
        &NoIncremental,
        &lowers,
        &p.join("upper"),
        &p.join("work"),
        &p.join("merged"),
    )
    .unwrap();
    assert_eq!(
        std::env::current_dir().unwrap(),
        cwd_before,
        "our cwd is untouched"
    );
    let merged = p.join("merged");
    assert_eq!(std::fs::read_to_string(merged.join("shared")).unwrap(), "0");
    assert!(merged.join("l149").exists());
    overlay::LinuxSyscall.unmount(&merged).unwrap();
}

fn concurrent_runs_from_threads(env: &Env) {
    let sandboxes: Vec<Sandbox> = (0..4).map(|_| Sandbox::new(env)).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = sandboxes
            .iter()
            .enumerate()
            .map(|(i, sb)| {
                s.spawn(move || {
                    let script = format!("echo {i} > /id; sleep 0.2; cat /id");
                    sb.run_capture(sb.spec(&["sh", "-c", &script]))
                })
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            let (code, out) = h.join().unwrap();
            assert_eq!((code, out.trim()), (0, i.to_string().as_str()));
        }
    });
}

fn in_process_path_works(env: &Env) {
    let sb = Sandbox::new(env);
    let (read, write): (OwnedFd, OwnedFd) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let mut spec = sb.spec(&["sh", "-c", "echo in-process; exit 5"]);
    spec.stdout = Some(write);
    let code = container::run_in_process(spec, &sb.state()).unwrap();
    let mut out = String::new();
    std::fs::File::from(read).read_to_string(&mut out).unwrap();
    assert_eq!((code, out.as_str()), (5, "in-process\n"));
}

fn latency_of_true(env: &Env) {
    let sb = Sandbox::new(env);
    let measure = |in_process: bool| {
        let mut times: Vec<Duration> = (0..15)
            .map(|_| {
                let spec = sb.spec(&["true"]);
                let start = Instant::now();
                let code = if in_process {
                    container::run_in_process(spec, &sb.state())
                } else {
                    container::run(spec, &sb.state())
                };
                assert_eq!(code.unwrap(), 0);
                start.elapsed()
            })
            .collect();
        times.sort();
        times[times.len() / 2]
    };
    let reexec = measure(false);
    let in_process = measure(true);
    println!("latency of `true`: median {reexec:?} via re-exec helper, {in_process:?} in process");
}
