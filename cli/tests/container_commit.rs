//! `hoist commit`: a container's changes as one new layer, with `-c` changes, author, message and history;
//! the image runs, lists, shows its history and saves.
mod common;

use common::{layer_entries, Hoist};

#[test]
fn commit_makes_a_runnable_image_with_one_more_layer() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (code, _, err) = h.out(&[
        "run",
        "--name",
        "c",
        "-e",
        "FROM_RUN=yes",
        "-v",
        "commitvol:/vdata",
        "busybox",
        "sh",
        "-c",
        "echo hi > /hello && rm /etc/group && mkdir /opq && echo v > /vdata/in-volume",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = h.out(&[
        "commit",
        "-m",
        "a message",
        "-a",
        "Jane <jane@example.com>",
        "-c",
        "CMD [\"cat\", \"/hello\"]",
        "-c",
        "ENV A=1",
        "-c",
        "ENV B=$A",
        "-c",
        "EXPOSE 8080",
        "-c",
        "LABEL k=v",
        "-c",
        "WORKDIR /opq",
        "-c",
        "HEALTHCHECK --interval=5s --retries=2 CMD true",
        "c",
        "committed:v1",
    ]);
    assert_eq!(code, 0, "{err}");
    let id = out.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{out:?}");
    let (_, check, _) = h.out(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Healthcheck}}",
        "committed:v1",
    ]);
    assert_eq!(
        check.trim(),
        r#"{"Test":["CMD-SHELL","true"],"Interval":5000000000,"Retries":2}"#
    );

    // Runs, with the new CMD and the container's changes.
    let (code, out, err) = h.out(&["run", "--rm", "committed:v1"]);
    assert_eq!((code, out.as_str()), (0, "hi\n"), "{err}");
    let out = h.sh(
        "committed:v1",
        "ls /etc/group 2>&1; echo $A $B $FROM_RUN; pwd",
    );
    assert!(out.contains("No such file"), "{out}");
    assert!(out.contains("1 1 yes"), "{out}");
    assert!(out.trim_end().ends_with("/opq"), "{out}");

    let (_, images, _) = h.out(&["images"]);
    assert!(
        images
            .lines()
            .any(|l| l.starts_with("committed") && l.contains("v1")),
        "{images}"
    );
    let (code, history, err) = h.out(&["history", "committed:v1"]);
    assert_eq!(code, 0, "{err}");
    let first = history.lines().nth(1).unwrap_or_default();
    assert!(
        first.contains("a message") && first.contains("sh -c echo hi"),
        "{history}"
    );

    let (config, layers) = h.saved("committed:v1");
    let (_, base_layers) = h.saved("busybox:latest");
    assert_eq!(layers.len(), base_layers.len() + 1);
    assert_eq!(config["author"], "Jane <jane@example.com>");
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["cat", "/hello"])
    );
    assert_eq!(
        config["config"]["ExposedPorts"]["8080/tcp"],
        serde_json::json!({})
    );
    assert_eq!(config["config"]["Labels"]["k"], "v");
    let row = config["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(row["comment"], "a message");
    assert_eq!(row["author"], "Jane <jane@example.com>");
    assert!(row["created_by"]
        .as_str()
        .unwrap()
        .starts_with("sh -c echo hi"));

    // The layer: the changes, an OCI whiteout for the deletion, none of hoist's mount points.
    let entries = layer_entries(layers.last().unwrap());
    let names: Vec<&str> = entries.keys().map(String::as_str).collect();
    assert!(names.contains(&"hello"), "{names:?}");
    assert!(names.contains(&"etc/.wh.group"), "{names:?}");
    assert!(names.contains(&"opq"), "{names:?}");
    for hoists in [
        "vdata",
        "etc/hosts",
        "etc/hostname",
        "etc/resolv.conf",
        "proc",
        "dev",
        "sys",
    ] {
        assert!(
            !names
                .iter()
                .any(|n| *n == hoists || n.starts_with(&format!("{hoists}/"))),
            "{hoists} in {names:?}"
        );
    }
    assert_eq!(entries["hello"].4, b"hi\n");
}

#[test]
fn commit_errors_as_docker() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (code, _, err) = h.out(&["run", "--name", "c", "busybox", "true"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = h.out(&["commit", "-c", "RUN echo no", "c"]);
    assert_ne!(code, 0);
    assert!(err.contains("RUN is not a valid change command"), "{err}");
    let (code, _, err) = h.out(&["commit", "nosuch"]);
    assert_ne!(code, 0);
    assert!(err.contains("No such container: nosuch"), "{err}");
    // Without a name: an untagged image; -p and --pause=false as Docker takes them.
    for args in [
        &["commit", "c"][..],
        &["commit", "-p", "c"],
        &["commit", "--pause=false", "c", "p:1"],
    ] {
        let (code, out, err) = h.out(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.starts_with("sha256:"), "{out}");
    }
}

/// A running container is frozen while its changes are read (-p, Docker's default) and thawed after: it runs on,
/// not paused, and the image has what it wrote.
#[test]
fn commit_of_a_running_container_pauses_it_only_meanwhile() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let id = h.detach(&["busybox", "sh", "-c", "echo x > /made; sleep 100"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while h.out(&["exec", &id, "cat", "/made"]).1 != "x\n" {
        assert!(
            std::time::Instant::now() < deadline,
            "the container never wrote /made"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (code, out, err) = h.out(&["commit", &id, "live:1"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("sha256:"), "{out}");
    let (_, state, _) = h.out(&["inspect", "-f", "{{.State.Status}} {{.State.Paused}}", &id]);
    assert_eq!(state, "running false\n");
    assert_eq!(h.out(&["run", "--rm", "live:1", "cat", "/made"]).1, "x\n");
    h.out(&["rm", "-f", &id]);
}
