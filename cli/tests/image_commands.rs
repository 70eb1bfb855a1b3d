//! The image commands a Docker user types daily: `images` (filters, `--format`, Docker's words), `history`,
//! `image ls|inspect|prune|rm`, `inspect -f`, `system df`, `system prune`.
mod common;
use common::Hoist;

fn ok(h: &Hoist, args: &[&str]) -> String {
    let (code, out, err) = h.out(args);
    assert_eq!(code, 0, "hoist {args:?}: {err}");
    out
}

/// busybox, `app:1` (labelled), and a dangling image (app:1 rebuilt, the old one lost its tag).
fn three_images() -> Option<Hoist> {
    let h = Hoist::with_busybox()?;
    h.build_ok(
        "app:1",
        "FROM busybox\nLABEL tier=web\nRUN echo one > /one\n",
        &[],
        &[],
    );
    h.build_ok(
        "app:1",
        "FROM busybox\nLABEL tier=db\nRUN echo two > /two\nCMD [\"sh\"]\n",
        &[],
        &[],
    );
    Some(h)
}

#[test]
fn images_filters_formats_and_dockers_words() {
    let Some(h) = three_images() else { return };
    let table = ok(&h, &["images"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    // Tab-aligned as Docker's tabwriter: the header's columns start where the rows' do.
    assert!(
        lines[0].starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"),
        "{table}"
    );
    assert!(table.contains(" ago "), "Docker's words for ages: {table}");
    assert!(table.contains("MB"), "Docker's words for sizes: {table}");
    // Newest first.
    assert!(lines[1].starts_with("app "), "{table}");

    let dangling = ok(
        &h,
        &[
            "images",
            "--filter",
            "dangling=true",
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ],
    );
    assert_eq!(dangling, "<none>:<none>\n");
    let tagged = ok(
        &h,
        &[
            "images",
            "-f",
            "dangling=false",
            "--format",
            "{{.Repository}}",
        ],
    );
    assert_eq!(tagged, "app\nbusybox\n");
    let by_label = ok(
        &h,
        &[
            "images",
            "--filter",
            "label=tier=db",
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ],
    );
    assert_eq!(by_label, "app:1\n");
    assert_eq!(
        ok(&h, &["images", "--filter", "label=tier", "-q"])
            .lines()
            .count(),
        2
    );
    assert_eq!(
        ok(
            &h,
            &[
                "images",
                "--filter",
                "reference=busy*",
                "--format",
                "{{.Repository}}"
            ]
        ),
        "busybox\n"
    );
    assert_eq!(ok(&h, &["images", "app", "--format", "{{.Tag}}"]), "1\n");
    let json = ok(&h, &["images", "--format", "json", "app:1"]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["Repository"], "app");
    assert_eq!(v["ID"].as_str().unwrap().len(), 12);
    let full = ok(&h, &["images", "-q", "--no-trunc", "app:1"]);
    assert!(
        full.trim().starts_with("sha256:") && full.trim().len() == 71,
        "{full}"
    );
    let custom = ok(
        &h,
        &[
            "images",
            "--format",
            "table {{.Repository}}\\t{{.Size}}",
            "busybox",
        ],
    );
    assert!(
        custom.starts_with("REPOSITORY   SIZE\nbusybox      "),
        "{custom}"
    );

    let (code, _, err) = h.out(&["images", "--filter", "colour=red"]);
    assert_eq!(code, 1);
    assert!(err.contains("invalid filter 'colour'"), "{err}");
    let (code, _, err) = h.out(&["images", "--format", "{{.Nope}}"]);
    assert_eq!(code, 1);
    assert!(err.contains("can't evaluate field Nope"), "{err}");
}

#[test]
fn history_inspect_and_templates() {
    let Some(h) = three_images() else { return };
    let history = ok(&h, &["history", "app:1"]);
    let lines: Vec<&str> = history.lines().collect();
    assert!(lines[0].starts_with("IMAGE          CREATED"), "{history}");
    assert!(
        lines[0].contains("CREATED BY") && lines[0].ends_with("COMMENT"),
        "{history}"
    );
    // Newest first: CMD, RUN, LABEL, then the base's entry; only the top names the image.
    assert!(
        lines[1].contains("CMD [\"sh\"]") && !lines[1].starts_with("<missing>"),
        "{history}"
    );
    assert!(
        lines[2].starts_with("<missing>") && lines[2].contains("RUN /bin/sh -c echo two"),
        "{history}"
    );
    assert!(lines[2].contains("buildkit.dockerfile.v0"), "{history}");
    let sizes = ok(
        &h,
        &["history", "-H=false", "--format", "{{.Size}}", "app:1"],
    );
    let sizes: Vec<u64> = sizes.lines().map(|s| s.parse().unwrap()).collect();
    assert_eq!(sizes[0], 0, "CMD makes no layer");
    assert!(sizes[1] > 0, "RUN made a layer: {sizes:?}");
    let long = "x".repeat(60);
    h.build_ok(
        "long:1",
        &format!("FROM busybox\nRUN echo {long} > /f\n"),
        &[],
        &[],
    );
    let cut = ok(&h, &["history", "--format", "{{.CreatedBy}}", "long:1"]);
    assert_eq!(cut.lines().next().unwrap().chars().count(), 45, "{cut}");
    assert!(cut.lines().next().unwrap().ends_with('…'));
    let full = ok(
        &h,
        &[
            "history",
            "--no-trunc",
            "--format",
            "{{.CreatedBy}}",
            "long:1",
        ],
    );
    assert!(full.contains(&long), "{full}");

    // Docker's image JSON shape.
    let inspect = ok(&h, &["image", "inspect", "app:1"]);
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(v[0]["RepoTags"], serde_json::json!(["app:1"]));
    assert_eq!(v[0]["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(v[0]["Config"]["Labels"]["tier"], "db");
    assert_eq!(v[0]["Config"]["Entrypoint"], serde_json::Value::Null);
    assert_eq!(v[0]["Os"], "linux");
    assert_eq!(v[0]["RootFS"]["Layers"].as_array().unwrap().len(), 2);
    assert!(v[0]["Size"].as_u64().unwrap() > 0);
    // Templates as `docker inspect -f` prints them.
    assert_eq!(
        ok(
            &h,
            &[
                "inspect",
                "-f",
                "{{.Config.Cmd}} {{index .Config.Labels \"tier\"}}",
                "app:1"
            ]
        ),
        "[sh] db\n"
    );
    assert_eq!(
        ok(&h, &["inspect", "--format", "{{json .RepoTags}}", "app:1"]),
        "[\"app:1\"]\n"
    );
    assert_eq!(
        ok(
            &h,
            &[
                "inspect",
                "-f",
                "{{range .RootFS.Layers}}L {{end}}",
                "app:1"
            ]
        ),
        "L L \n"
    );
    let (code, _, err) = h.out(&["inspect", "-f", "{{.Config", "app:1"]);
    assert_eq!(code, 1);
    assert!(err.contains("unclosed action"), "{err}");
    let (code, _, err) = h.out(&["inspect", "--type", "container", "app:1"]);
    assert_eq!(code, 1);
    assert!(err.contains("No such container: app:1"), "{err}");
}

#[test]
fn prune_and_disk_usage() {
    let Some(h) = three_images() else { return };
    // A stopped container keeps its image from `image prune -a`.
    let (code, _, err) = h.out(&["run", "--name", "user", "busybox", "true"]);
    assert_eq!(code, 0, "{err}");
    let df = ok(&h, &["system", "df"]);
    let lines: Vec<&str> = df.lines().collect();
    assert!(
        lines[0].starts_with("TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE"),
        "{df}"
    );
    assert!(lines[1].starts_with("Images          3         1 "), "{df}");
    assert!(lines[2].starts_with("Containers      1         0 "), "{df}");
    assert!(lines[3].starts_with("Local Volumes"), "{df}");
    assert!(lines[4].starts_with("Build Cache"), "{df}");
    let json = ok(
        &h,
        &["system", "df", "--format", "{{.Type}}={{.TotalCount}}"],
    );
    assert!(json.starts_with("Images=3\nContainers=1\n"), "{json}");

    // Without -f, anything but "y" keeps everything.
    let (code, out, _) = h.out_with_stdin(&["image", "prune"], b"n\n");
    assert_eq!(code, 0);
    assert!(
        out.contains("WARNING! This will remove all dangling images."),
        "{out}"
    );
    assert_eq!(ok(&h, &["images", "-q"]).lines().count(), 3);

    let out = ok(&h, &["image", "prune", "-f"]);
    assert!(
        out.starts_with("Deleted Images:\ndeleted: sha256:"),
        "{out}"
    );
    assert!(out.contains("Total reclaimed space: "), "{out}");
    assert_eq!(
        ok(&h, &["images", "--format", "{{.Repository}}"]),
        "app\nbusybox\n"
    );
    let out = ok(&h, &["image", "prune", "-a", "-f"]);
    assert!(out.contains("untagged: app:1"), "{out}");
    assert!(!out.contains("busybox"), "a container uses busybox: {out}");
    assert_eq!(
        ok(&h, &["images", "--format", "{{.Repository}}"]),
        "busybox\n"
    );
    // The container still runs from it afterwards.
    assert_eq!(h.out(&["run", "--rm", "busybox", "true"]).0, 0);

    let out = ok(&h, &["system", "prune", "-a", "-f"]);
    assert!(out.contains("Deleted Containers:"), "{out}");
    assert!(out.contains("untagged: busybox:latest"), "{out}");
    assert!(ok(&h, &["images", "-q"]).is_empty());
    assert!(ok(&h, &["ps", "-a", "-q"]).is_empty());
    let (code, out, err) = h.out(&["store", "check"]);
    assert_eq!(code, 0, "{out}{err}");
}
