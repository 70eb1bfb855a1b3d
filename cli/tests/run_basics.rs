//! `hoist run` in the foreground: what runs (Docker's ENTRYPOINT/CMD rules), its environment, user and
//! directory, stdin, and the exit codes (the container's, or 125/126/127 for hoist's own failures).
mod common;
use common::*;

const IMAGE_DOCKERFILE: &str = r#"FROM busybox
ENV GREETING=hello PATH=/usr/bin:/bin:/custom
WORKDIR /app
USER nobody
ENTRYPOINT ["echo", "ep"]
CMD ["default-cmd"]
"#;

#[test]
fn entrypoint_and_cmd_combine_as_in_docker() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.build_ok("combo", IMAGE_DOCKERFILE, &[], &[]);
    let run = |args: &[&str]| {
        let mut all = vec!["run", "--rm"];
        all.extend_from_slice(args);
        let (code, out, err) = h.out(&all);
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    };
    assert_eq!(run(&["combo"]), "ep default-cmd\n");
    assert_eq!(run(&["combo", "x", "y"]), "ep x y\n");
    assert_eq!(
        run(&["--entrypoint", "/bin/echo", "combo"]),
        "\n",
        "--entrypoint drops CMD"
    );
    assert_eq!(run(&["--entrypoint", "/bin/echo", "combo", "a"]), "a\n");
    assert_eq!(run(&["--entrypoint", "", "combo", "/bin/echo", "b"]), "b\n");
    // Image Env, WorkingDir and User apply; -e/-w/-u override them.
    assert_eq!(
        run(&[
            "--entrypoint",
            "/bin/sh",
            "combo",
            "-c",
            "echo $GREETING $PATH; pwd; id -un"
        ]),
        "hello /usr/bin:/bin:/custom\n/app\nnobody\n"
    );
    assert_eq!(
        run(&[
            "-e",
            "GREETING=bye",
            "-w",
            "/tmp",
            "-u",
            "root",
            "--entrypoint",
            "/bin/sh",
            "combo",
            "-c",
            "echo $GREETING; pwd; id -u"
        ]),
        "bye\n/tmp\n0\n"
    );
    // No command at all is hoist's error: 125.
    let (code, _, err) = h.out(&["run", "--rm", "--entrypoint", "", "combo"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("no command"), "{err}");
    assert!(h.containers().is_empty(), "{:?}", h.containers());
    assert!(h.leftover_mounts().is_empty(), "{:?}", h.leftover_mounts());
}

#[test]
fn exit_codes_are_the_containers_or_dockers() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let code = |args: &[&str]| {
        let mut all = vec!["run", "--rm"];
        all.extend_from_slice(args);
        h.out(&all)
    };
    assert_eq!(code(&["busybox", "true"]).0, 0);
    assert_eq!(code(&["busybox", "sh", "-c", "exit 42"]).0, 42);
    assert_eq!(
        code(&["busybox", "sh", "-c", "kill -TERM $$; sleep 1; exit 3"]).0,
        3,
        "pid 1 ignores unhandled TERM"
    );
    assert_eq!(
        code(&["--init", "busybox", "sh", "-c", "kill -TERM $$; sleep 5"]).0,
        143,
        "with --init sh is not pid 1"
    );
    let (c, _, err) = code(&["busybox", "no-such-command"]);
    assert_eq!(c, 127, "{err}");
    assert!(err.contains("not found"), "{err}");
    let (c, _, err) = code(&["busybox", "/etc/passwd"]);
    assert_eq!(c, 126, "{err}");
    let (c, _, err) = code(&["no-such-image"]);
    assert_eq!(c, 125, "{err}");
    let (c, _, err) = code(&["--network", "carrier-pigeon", "busybox", "true"]);
    assert_eq!(c, 125, "{err}");
    let (c, _, err) = code(&["-w", "relative", "busybox", "true"]);
    assert_eq!(c, 125, "{err}");
    let (c, _, err) = code(&["-u", "nosuchuser", "busybox", "true"]);
    assert_eq!(c, 125, "{err}");
    assert!(err.contains("nosuchuser"), "{err}");
    // Without --rm the exited container stays, with its code.
    let (c, _, _) = h.out(&["run", "--name", "kept", "busybox", "sh", "-c", "exit 9"]);
    assert_eq!(c, 9);
    let (_, ps, _) = h.out(&["ps", "-a"]);
    assert!(ps.contains("kept") && ps.contains("Exited (9)"), "{ps}");
    let (c, _, err) = h.out(&["run", "--name", "kept", "busybox", "true"]);
    assert_eq!(c, 125, "the name is taken: {err}");
    assert!(err.contains("already in use"), "{err}");
    assert_eq!(h.out(&["rm", "kept"]).0, 0);
    assert!(h.containers().is_empty(), "{:?}", h.containers());
    assert!(h.leftover_mounts().is_empty(), "{:?}", h.leftover_mounts());
}

#[test]
fn environment_files_hostname_and_home() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("env");
    std::fs::write(&env_file, "# comment\nFROM_FILE=1\nBOTH=file\n\nPASSED\n").unwrap();
    let out = h
        .cmd()
        .env("PASSED", "from-host")
        .args(["run", "--rm", "--env-file", env_file.to_str().unwrap(), "-e", "BOTH=flag", "-e", "PASSED", "-e", "UNSET_VAR"])
        .args(["--hostname", "box1", "busybox", "sh", "-c", "echo $FROM_FILE $BOTH $PASSED ${UNSET_VAR-unset} $HOSTNAME $HOME; hostname; cat /etc/hostname"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "1 flag from-host unset box1 /root\nbox1\nbox1\n"
    );
    // The default hostname is the short container ID, like docker's.
    let out = h.sh("busybox", "hostname");
    assert_eq!(out.trim().len(), 12, "{out}");
}

#[test]
fn stdin_only_with_interactive() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (code, out, err) = h.out_with_stdin(
        &[
            "run",
            "--rm",
            "-i",
            "busybox",
            "sh",
            "-c",
            "read x; echo got $x; exit 5",
        ],
        b"line\n",
    );
    assert_eq!((code, out.as_str()), (5, "got line\n"), "{err}");
    let (code, out, _) = h.out_with_stdin(
        &["run", "--rm", "busybox", "sh", "-c", "cat; echo end"],
        b"ignored\n",
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "end\n"),
        "without -i stdin is empty"
    );
}

#[test]
fn user_with_group() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (code, out, err) = h.out(&["run", "--rm", "-u", "nobody:root", "busybox", "id"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("uid=65534(nobody) gid=0(root)"), "{out}");
    let (code, out, _) = h.out(&[
        "run",
        "--rm",
        "-u",
        "1234:5678",
        "busybox",
        "sh",
        "-c",
        "id -u; id -g",
    ]);
    assert_eq!((code, out.as_str()), (0, "1234\n5678\n"));
}

#[test]
fn supplementary_groups_are_dockers() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.build_ok(
        "grouped",
        "FROM busybox\nRUN echo 'extra:x:2000:nobody' >> /etc/group\n",
        &[],
        &[],
    );
    // As docker: the primary group is always a supplementary group, then those listing the user.
    let groups = |args: &[&str]| {
        let mut all = vec!["run", "--rm"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["grouped", "id", "-G"]);
        let (code, out, err) = h.out(&all);
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    };
    assert_eq!(groups(&[]), "0\n");
    assert_eq!(groups(&["-u", "nobody"]), "65534 2000\n");
    assert_eq!(groups(&["-u", "nobody:root"]), "0\n");
    assert_eq!(groups(&["-u", "1234"]), "0\n");
    assert_eq!(groups(&["-u", "1234:5678"]), "5678\n");
    let id = h.detach(&["grouped", "sleep", "30"]);
    let (code, out, err) = h.out(&["exec", "-u", "nobody", &id, "id", "-G"]);
    assert_eq!((code, out.as_str()), (0, "65534 2000\n"), "{err}");
    assert_eq!(h.out(&["rm", "-f", &id]).0, 0);
}

/// `hoist run IMG echo x > /dev/null` failed with "Bad file descriptor": the container got the null
/// device read-only. Docker passes a redirected stream as it is: the null device, a file, a pipe.
#[test]
fn redirected_output_reaches_the_container_as_it_is() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let null = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .unwrap()
    };
    for (what, args) in [
        ("stdout", vec!["run", "--rm", "busybox", "echo", "x"]),
        (
            "stderr",
            vec!["run", "--rm", "busybox", "sh", "-c", "echo e >&2"],
        ),
    ] {
        let status = h
            .cmd()
            .args(&args)
            .stdin(std::process::Stdio::null())
            .stdout(null())
            .stderr(null())
            .status()
            .unwrap();
        assert!(status.success(), "{what} to /dev/null: {status}");
    }
    // The streams as the command sees them: stdin the null device opened read-write, as in Docker.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out");
    let status = h
        .cmd()
        .args(["run", "--rm", "busybox", "sh", "-c"])
        .arg("echo to-file; echo more; cat; echo written >&0 && echo rw-stdin")
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&file).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "to-file\nmore\nrw-stdin\n"
    );
    // `exec` into a running container, the same.
    let id = h.detach(&["busybox", "sleep", "60"]);
    let status = h
        .cmd()
        .args(["exec", &id, "echo", "x"])
        .stdout(null())
        .status()
        .unwrap();
    assert!(status.success(), "exec with stdout to /dev/null: {status}");
    assert!(h.run(&["rm", "-f", &id]).status.success());
}
