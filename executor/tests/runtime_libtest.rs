//! `container::run` from an ordinary libtest binary (like the solver's tests), whose `main` does
//! not call `maybe_run_container_init`: the helper still runs, thanks to the pre-`main` hook.

use std::path::Path;

use hoist_executor::container::{self, ContainerSpec, Network};

#[test]
fn run_works_from_a_libtest_binary_on_several_threads() {
    if !nix::unistd::geteuid().is_root() || !Path::new("/bin/busybox").exists() {
        eprintln!("skipping: needs root and /bin/busybox");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    let state = dir.path().join("state");
    // Several threads at once, as the solver's scheduler does.
    let handles: Vec<_> = (0..3)
        .map(|i| {
            let (rootfs, state) = (rootfs.clone(), state.clone());
            std::thread::spawn(move || {
                let spec = ContainerSpec {
                    rootfs,
                    args: vec![
                        "/bin/busybox".into(),
                        "sh".into(),
                        "-c".into(),
                        format!("exit {i}"),
                    ],
                    env: vec![],
                    cwd: "/".into(),
                    uid: 0,
                    gid: 0,
                    additional_gids: vec![],
                    hostname: "t".into(),
                    network: Network::None,
                    mounts: vec![],
                    readonly_rootfs: false,
                    seccomp_cache: None,
                    options: Default::default(),
                    stdin: None,
                    stdout: None,
                    stderr: None,
                };
                container::run(spec, &state)
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap().unwrap(), i as i32);
    }
    assert_eq!(
        std::fs::read_dir(&state).unwrap().count(),
        0,
        "state dir is empty"
    );
}
