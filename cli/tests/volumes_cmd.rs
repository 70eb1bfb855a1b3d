//! `hoist volume create|ls|inspect|rm|prune` as docker's: labels, Docker's JSON, and a volume a
//! container uses (running or not) is never removed, by `rm` or by `prune`.
mod common;
use common::*;

#[test]
fn volume_commands_and_volumes_in_use() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let (code, out, err) = h.out(&["volume", "create", "--label", "tier=db", "data"]);
    assert_eq!((code, out.as_str()), (0, "data\n"), "{err}");
    let (code, generated, err) = h.out(&["volume", "create"]);
    assert_eq!(code, 0, "{err}");
    let generated = generated.trim().to_string();
    assert_eq!(generated.len(), 64, "{generated}");

    let (_, ls, _) = h.out(&["volume", "ls"]);
    let lines: Vec<&str> = ls.lines().collect();
    assert!(
        lines[0].starts_with("DRIVER") && lines[0].contains("VOLUME NAME"),
        "{ls}"
    );
    assert!(ls.contains("local     data"), "{ls}");

    let (code, json, err) = h.out(&["volume", "inspect", "data"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["Name"], "data");
    assert_eq!(v[0]["Driver"], "local");
    assert_eq!(v[0]["Scope"], "local");
    assert_eq!(v[0]["Labels"]["tier"], "db");
    let mountpoint = v[0]["Mountpoint"].as_str().unwrap().to_string();
    assert!(mountpoint.ends_with("/volumes/data/_data"), "{mountpoint}");
    assert!(v[0]["CreatedAt"].as_str().unwrap().ends_with('Z'), "{json}");
    let (_, name, _) = h.out(&["volume", "inspect", "-f", "{{.Name}} {{.Driver}}", "data"]);
    assert_eq!(name, "data local\n");

    // A stopped container that used the volume (and made an anonymous one) keeps both.
    let (code, _, err) = h.out(&[
        "run",
        "--name",
        "user",
        "-v",
        "data:/data",
        "-v",
        "/anon",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(format!("{mountpoint}/f")).unwrap(),
        "kept\n"
    );
    let (_, dangling, _) = h.out(&["volume", "ls", "-q", "--filter", "dangling=true"]);
    assert_eq!(
        dangling.trim(),
        generated,
        "only the unused volume is dangling"
    );
    let (_, used, _) = h.out(&["volume", "ls", "-q", "--filter", "dangling=false"]);
    assert_eq!(used.lines().count(), 2, "{used}");
    assert!(used.contains("data\n"), "{used}");

    let (code, _, err) = h.out(&["volume", "rm", "data"]);
    assert_eq!(code, 1);
    assert!(err.contains("volume is in use"), "{err}");
    let (code, _, _) = h.out(&["volume", "rm", "-f", "data"]);
    assert_eq!(code, 1, "-f does not remove a volume in use");
    let (code, _, err) = h.out(&["volume", "rm", "nosuch"]);
    assert_eq!(code, 1);
    assert!(err.contains("no such volume"), "{err}");
    assert_eq!(h.out(&["volume", "rm", "-f", "nosuch"]).0, 0);

    // Prune: anonymous ones only, never one in use; -a takes named ones too.
    let (code, out, err) = h.out(&["volume", "prune", "-f"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("data"), "{out}");
    assert!(
        !out.contains(&generated),
        "a named (created) volume is not anonymous: {out}"
    );
    let (code, out, err) = h.out(&["volume", "prune", "-a", "-f"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Deleted Volumes:") && out.contains(&generated),
        "{out}"
    );
    assert!(out.contains("Total reclaimed space:"), "{out}");
    let (_, ls, _) = h.out(&["volume", "ls", "-q"]);
    assert_eq!(
        ls.lines().count(),
        2,
        "data and the container's anonymous volume stay: {ls}"
    );

    // Once the container is gone, so is its anonymous volume; the named one can go then.
    assert_eq!(h.out(&["rm", "user"]).0, 0);
    let (code, out, err) = h.out(&["volume", "rm", "data"]);
    assert_eq!((code, out.as_str()), (0, "data\n"), "{err}");
    let (_, ls, _) = h.out(&["volume", "ls", "-q"]);
    assert_eq!(ls, "", "{ls}");
}

#[test]
fn volume_prune_asks_first() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    assert_eq!(h.out(&["volume", "create", "keep"]).0, 0);
    let (code, out, _) = h.out_with_stdin(&["volume", "prune", "-a"], b"n\n");
    assert_eq!(code, 0);
    assert!(out.contains("WARNING!"), "{out}");
    let (_, ls, _) = h.out(&["volume", "ls", "-q"]);
    assert_eq!(ls, "keep\n");
    let (_, out, _) = h.out_with_stdin(&["volume", "prune", "-a"], b"y\n");
    assert!(out.contains("keep"), "{out}");
}

#[test]
fn a_volume_being_mounted_by_a_new_container_is_never_pruned() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    // `volume prune -a` over and over in another process while containers are made on new
    // named volumes: each volume must outlive the prunes (its container names it).
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pruner = {
        let done = done.clone();
        let mut cmd = h.cmd();
        cmd.args(["volume", "prune", "-a", "-f"]);
        std::thread::spawn(move || {
            let mut runs = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let _ = cmd.output();
                runs += 1;
            }
            runs
        })
    };
    let names: Vec<String> = (0..20).map(|i| format!("race{i}")).collect();
    for name in &names {
        let (code, _, err) = h.out(&["create", "-v", &format!("{name}:/data"), "busybox", "true"]);
        assert_eq!(code, 0, "{err}");
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let runs = pruner.join().unwrap();
    assert!(runs > 0);
    for name in &names {
        let (code, _, err) = h.out(&["volume", "inspect", name]);
        assert_eq!(code, 0, "{name} was pruned under its container: {err}");
    }
}
