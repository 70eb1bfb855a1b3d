//! `hoist inspect CONTAINER` in Docker's JSON shape: the same keys in the same order as a real
//! `docker container inspect` of a busybox container (kept in
//! `testdata/docker/container-inspect-busybox.json`), the flags' values in `HostConfig`, and Go
//! templates over it.
mod common;
use common::*;

/// Docker's reference document.
fn docker_reference() -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/docker/container-inspect-busybox.json");
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str::<serde_json::Value>(&text).unwrap()[0].clone()
}

/// The top-level keys of the one object in `text` (a JSON array), in the order written: serde_json
/// sorts keys, so they are found in the text, at the indent of a top-level key (8 spaces).
fn top_level_keys_in_order(text: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    let mut found: Vec<(usize, String)> = v[0]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| {
            let needle = format!("\n        \"{k}\": ");
            (text.find(&needle).unwrap_or(usize::MAX), k.clone())
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, k)| k).collect()
}

#[test]
fn docker_shape_and_order() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let id = h.detach(&[
        "--name",
        "web",
        "--network",
        "none",
        "busybox",
        "sleep",
        "30",
    ]);
    let (code, out, err) = h.out(&["inspect", "web"]);
    assert_eq!(code, 0, "{err}");
    let reference = docker_reference();
    let ours: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ours = &ours[0];
    // Top level and State: exactly Docker's keys, in Docker's order.
    let top = top_level_keys_in_order(&out);
    let docker_top = [
        "Id",
        "Created",
        "Path",
        "Args",
        "State",
        "Image",
        "ResolvConfPath",
        "HostnamePath",
        "HostsPath",
        "LogPath",
        "Name",
        "RestartCount",
        "Driver",
        "Platform",
        "MountLabel",
        "ProcessLabel",
        "AppArmorProfile",
        "ExecIDs",
        "HostConfig",
        "GraphDriver",
        "Mounts",
        "Config",
        "NetworkSettings",
    ];
    assert_eq!(top, docker_top);
    for section in [
        "State",
        "HostConfig",
        "Config",
        "NetworkSettings",
        "GraphDriver",
    ] {
        let docker: Vec<&String> = reference[section].as_object().unwrap().keys().collect();
        let mine = ours[section].as_object().unwrap();
        for key in docker {
            assert!(mine.contains_key(key), "{section}.{key} missing: {out}");
        }
    }
    // Zero values as Docker prints them, for the same kind of container.
    for (pointer, value) in [
        (
            "/HostConfig/RestartPolicy",
            serde_json::json!({"Name": "no", "MaximumRetryCount": 0}),
        ),
        ("/HostConfig/NetworkMode", serde_json::json!("none")),
        ("/HostConfig/IpcMode", serde_json::json!("private")),
        ("/HostConfig/CgroupnsMode", serde_json::json!("host")),
        ("/HostConfig/ShmSize", serde_json::json!(67108864)),
        ("/HostConfig/Binds", serde_json::Value::Null),
        ("/HostConfig/Ulimits", serde_json::json!([])),
        ("/Config/Cmd", serde_json::json!(["sleep", "30"])),
        ("/Config/Entrypoint", serde_json::Value::Null),
        ("/Config/Image", serde_json::json!("busybox")),
        ("/Config/Labels", serde_json::json!({})),
        ("/State/Status", serde_json::json!("running")),
        ("/Driver", serde_json::json!("overlay2")),
        ("/Name", serde_json::json!("/web")),
        ("/Mounts", serde_json::json!([])),
        ("/Path", serde_json::json!("sleep")),
        ("/Args", serde_json::json!(["30"])),
    ] {
        assert_eq!(ours.pointer(pointer), Some(&value), "{pointer}: {out}");
    }
    assert_eq!(ours["Id"], id.as_str());
    assert_eq!(ours["Config"]["Hostname"], &id[..12]);
    assert!(
        out.starts_with("[\n    {\n        \"Id\": "),
        "Docker's 4-space indent: {out}"
    );

    // Templates over the same document.
    let pid = ours["State"]["Pid"].as_i64().unwrap();
    let template = |t: &str| {
        let (code, out, err) = h.out(&["inspect", "-f", t, "web"]);
        assert_eq!(code, 0, "{t}: {err}");
        out
    };
    assert_eq!(template("{{.State.Pid}}"), format!("{pid}\n"));
    let config: serde_json::Value = serde_json::from_str(&template("{{json .Config}}")).unwrap();
    assert_eq!(config["Cmd"], serde_json::json!(["sleep", "30"]));
    // In Docker's key order, not sorted.
    let text = template("{{json .Config}}");
    assert!(
        text.starts_with(r#"{"Hostname":"#) && text.find("\"Cmd\"") < text.find("\"Image\""),
        "{text}"
    );
    let state = template("{{json .State}}");
    assert!(
        state.starts_with(r#"{"Status":"running","Running":true"#),
        "{state}"
    );
    assert_eq!(template("{{.NetworkSettings.IPAddress}}"), "\n");
    assert!(h.run(&["rm", "-f", "web"]).status.success());
}

#[test]
fn flags_show_in_host_config_and_mounts() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bind = format!("{}:/host:ro", dir.path().display());
    h.detach(&[
        "--name",
        "tuned",
        "-m",
        "64m",
        "--memory-swap",
        "-1",
        "--memory-reservation",
        "32m",
        "--cpu-shares",
        "512",
        "--cpuset-cpus",
        "0",
        "--ulimit",
        "nofile=1024:2048",
        "--shm-size",
        "128m",
        "--ipc",
        "shareable",
        "--cgroupns",
        "private",
        "--group-add",
        "1234",
        "--oom-kill-disable",
        "-v",
        &bind,
        "-v",
        "named:/data",
        "-e",
        "A=1",
        "busybox",
        "sleep",
        "30",
    ]);
    let (code, out, err) = h.out(&["inspect", "tuned"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let hc = &v[0]["HostConfig"];
    assert_eq!(hc["Memory"], 64 << 20);
    assert_eq!(hc["MemorySwap"], -1);
    assert_eq!(hc["MemoryReservation"], 32 << 20);
    assert_eq!(hc["CpuShares"], 512);
    assert_eq!(hc["CpusetCpus"], "0");
    assert_eq!(hc["ShmSize"], 128 << 20);
    assert_eq!(hc["IpcMode"], "shareable");
    assert_eq!(hc["CgroupnsMode"], "private");
    assert_eq!(hc["GroupAdd"], serde_json::json!(["1234"]));
    assert_eq!(hc["OomKillDisable"], true);
    assert_eq!(
        hc["Ulimits"],
        serde_json::json!([{"Name": "nofile", "Hard": 2048, "Soft": 1024}])
    );
    assert_eq!(hc["Binds"], serde_json::json!([bind, "named:/data"]));
    assert_eq!(v[0]["Config"]["Env"], serde_json::json!(["A=1"]));
    let mounts = v[0]["Mounts"].as_array().unwrap();
    assert_eq!(mounts.len(), 2, "{out}");
    assert_eq!(mounts[0]["Type"], "bind");
    assert_eq!(mounts[0]["RW"], false);
    assert_eq!(mounts[1]["Type"], "volume");
    assert_eq!(mounts[1]["Name"], "named");
    assert_eq!(mounts[1]["Destination"], "/data");
    let (code, out, err) = h.out(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Type}}:{{.Destination}} {{end}}",
        "tuned",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "bind:/host volume:/data \n");
    assert!(h.run(&["rm", "-f", "tuned"]).status.success());
}
