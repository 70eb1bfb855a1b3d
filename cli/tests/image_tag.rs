//! `hoist tag` and `hoist rmi` of images with several names, as docker does them.
mod common;
use common::{stderr, stdout, Hoist};

fn image_id(h: &Hoist, name: &str) -> String {
    let out = h.run(&["inspect", name]);
    assert!(out.status.success(), "inspect {name}: {}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v[0]["Id"].as_str().unwrap().to_string()
}

#[test]
fn tag_names_an_image_by_name_or_id_with_docker_errors() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    let out = h.run(&["tag", "busybox", "docker.io/library/copy:v1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = image_id(&h, "busybox");
    assert_eq!(image_id(&h, "copy:v1"), id, "normalised target");
    let short = id.trim_start_matches("sha256:")[..12].to_string();
    for source in [short.as_str(), &id[..20], id.as_str()] {
        let out = h.run(&["tag", source, "byid"]);
        assert!(out.status.success(), "tag {source}: {}", stderr(&out));
    }
    assert_eq!(image_id(&h, "byid:latest"), id);

    let cases: &[(&[&str], &str)] = &[
        (
            &["tag", "nosuch", "x"],
            "Error response from daemon: No such image: nosuch:latest\n",
        ),
        (
            &["tag", "busybox", "BAD"],
            "Error parsing reference: \"BAD\" is not a valid repository/tag: invalid reference format: \
             repository name must be lowercase\n",
        ),
        (
            &["tag", "busybox", "a:b:c"],
            "Error parsing reference: \"a:b:c\" is not a valid repository/tag: invalid reference format\n",
        ),
        (
            &[
                "tag",
                "busybox",
                "x@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            ],
            "refusing to create a tag with a digest reference\n",
        ),
    ];
    for (args, expected) in cases {
        let out = h.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(stderr(&out), *expected, "{args:?}");
    }
    // A wrong count: exit 1 with docker's words.
    for args in [&["tag", "busybox"][..], &["tag", "a", "b", "c"]] {
        let out = h.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&out).starts_with("\"hoist tag\" requires exactly 2 arguments.\n"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn rmi_untags_until_the_last_name_and_refuses_an_id_with_several_names() {
    let Some(h) = Hoist::with_busybox() else {
        return;
    };
    h.build_ok("app:1", "FROM busybox\nLABEL a=1\n", &[], &[]);
    assert!(h.run(&["tag", "app:1", "app:2"]).status.success());
    assert!(h.run(&["tag", "app:1", "other"]).status.success());
    let id = image_id(&h, "app:1");
    let short = &id.trim_start_matches("sha256:")[..12];

    let out = h.run(&["rmi", "app:1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Untagged: app:1\n");
    assert_eq!(
        image_id(&h, "app:2"),
        id,
        "the image stays under its other names"
    );

    let out = h.run(&["rmi", short]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "Error response from daemon: conflict: unable to delete {short} (must be forced) - image is \
             referenced in multiple repositories\n"
        )
    );
    assert_eq!(image_id(&h, "other"), id, "nothing removed");

    let out = h.run(&["rmi", "nosuch", "app:2"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "Untagged: app:2\n");
    assert_eq!(stderr(&out), "Error: No such image: nosuch\n");

    h.run(&["tag", "other", "again"]);
    let out = h.run(&["rmi", "-f", short, "nosuch"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "-f: a missing name is reported, not fatal"
    );
    assert_eq!(
        stdout(&out),
        format!("Untagged: again:latest\nUntagged: other:latest\nDeleted: {id}\n")
    );
    assert_eq!(stderr(&out), "Error: No such image: nosuch\n");

    // The last name removes the image.
    h.build_ok("solo:1", "FROM busybox\nLABEL a=2\n", &[], &[]);
    let solo = image_id(&h, "solo:1");
    let out = h.run(&["rmi", "solo:1"]);
    assert_eq!(stdout(&out), format!("Untagged: solo:1\nDeleted: {solo}\n"));
}
