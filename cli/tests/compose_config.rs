//! `hoist compose config`: compose files read, merged, interpolated, validated and printed as Docker Compose v2
//! prints them. Needs neither root nor a state directory: nothing runs.
use std::path::Path;
use std::process::{Command, Stdio};

/// The example of issue 18 (the project's source notes), with its `version:` key.
const ISSUE_EXAMPLE: &str = r#"version: "3"
services:
  console:
    build: ./msec_console
    restart: always
    dns: [8.8.8.8, 9.9.9.9]
    networks:
      web:
        ipv4_address: 10.10.10.2
    environment:
      - DC1=DC1
networks:
  web:
    driver: bridge
    ipam:
      config:
        - subnet: 10.10.10.0/16
"#;

/// Runs `hoist compose ARGS` in `dir` with a clean compose environment; returns (exit code, stdout, stderr).
fn compose(dir: &Path, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let state = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hoist"));
    cmd.current_dir(dir)
        .env("HOIST_ROOT", state.path())
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROJECT_NAME")
        .arg("compose")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("running hoist");
    if let Some(text) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("Compose_Test.")
        .tempdir()
        .unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

#[test]
fn the_issue_example_resolves() {
    let dir = project(&[
        ("docker-compose.yml", ISSUE_EXAMPLE),
        ("msec_console/Dockerfile", "FROM busybox\n"),
    ]);
    let (code, out, err) = compose(dir.path(), &["config"], None);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("the attribute `version` is obsolete, it will be ignored"),
        "{err}"
    );
    // The project name: the directory's, lowercased, with only [a-z0-9_-] left.
    let dir_name = dir.path().file_name().unwrap().to_str().unwrap();
    let name: String = dir_name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    let context = dir.path().join("msec_console");
    let expected = format!(
        "name: {name}
services:
  console:
    build:
      context: {context}
      dockerfile: Dockerfile
    dns:
      - 8.8.8.8
      - 9.9.9.9
    environment:
      DC1: DC1
    networks:
      web:
        ipv4_address: 10.10.10.2
    restart: always
networks:
  web:
    driver: bridge
    ipam:
      config:
        - subnet: 10.10.10.0/16
    name: {name}_web
",
        context = context.display()
    );
    assert_eq!(out, expected);

    let (code, out, _) = compose(dir.path(), &["config", "--format", "json"], None);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["services"]["console"]["dns"][1], "9.9.9.9");
    assert_eq!(
        json["networks"]["web"]["ipam"]["config"][0]["subnet"],
        "10.10.10.0/16"
    );

    let (_, out, _) = compose(dir.path(), &["config", "--services"], None);
    assert_eq!(out, "console\n");
    let (_, out, _) = compose(dir.path(), &["config", "--networks"], None);
    assert_eq!(out, "web\n");
    let (code, out, _) = compose(dir.path(), &["-p", "custom", "config", "-q"], None);
    assert_eq!((code, out.as_str()), (0, ""));
}

#[test]
fn unknown_key_is_a_warning_with_its_line() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: busybox\n    x-note: extensions are fine\n\n\n    foo: bar\n",
    )]);
    let (code, out, err) = compose(dir.path(), &["config"], None);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("compose.yaml: services.web.foo: unknown key (line 7)"),
        "{err}"
    );
    assert!(!err.contains("x-note"), "{err}");
    assert!(!out.contains("foo"), "{out}");
}

#[test]
fn malformed_file_fails_with_file_line_and_column() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: busybox\n   ports: [\n",
    )]);
    let (code, out, err) = compose(dir.path(), &["config"], None);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    let file = dir.path().join("compose.yaml");
    let prefix = format!("hoist: {}:4:", file.display());
    assert!(err.starts_with(&prefix), "{err}");

    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: busybox\n    ports: 5\n",
    )]);
    let (code, _, err) = compose(dir.path(), &["config"], None);
    assert_eq!(code, 1);
    assert!(
        err.contains("compose.yaml:4:12: services.web.ports: must be a list, not a number"),
        "{err}"
    );
}

#[test]
fn two_files_merge_in_order() {
    let dir = project(&[
        (
            "base.yaml",
            "services:\n  web:\n    image: busybox\n    command: [sleep, '1']\n    ports: ['8080:80']\n    environment: [A=1, B=2]\n",
        ),
        (
            "prod.yaml",
            "services:\n  web:\n    image: busybox:stable\n    command: sleep 2\n    ports: ['8080:80', '9090:90']\n    environment: {B: '3'}\n",
        ),
    ]);
    let (code, out, err) = compose(
        dir.path(),
        &[
            "-f",
            "base.yaml",
            "-f",
            "prod.yaml",
            "config",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let web = &json["services"]["web"];
    assert_eq!(web["image"], "busybox:stable");
    assert_eq!(web["command"], serde_json::json!(["sleep", "2"]));
    assert_eq!(web["ports"].as_array().unwrap().len(), 2);
    assert_eq!(web["environment"], serde_json::json!({"A": "1", "B": "3"}));
}

#[test]
fn dotenv_interpolates_and_the_environment_wins() {
    let dir = project(&[
        (".env", "TAG=1.36\nHOST_PORT=8080\n"),
        (
            "compose.yaml",
            "services:\n  web:\n    image: busybox:${TAG}\n    ports: [\"${HOST_PORT}:80\"]\n    environment:\n      GREETING: ${GREETING:-hello}\n      EMPTY: ${NOT_SET}\n",
        ),
    ]);
    let (code, out, err) = compose(dir.path(), &["config", "--format", "json"], None);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["services"]["web"]["image"], "busybox:1.36");
    assert_eq!(json["services"]["web"]["ports"][0]["published"], "8080");
    assert_eq!(json["services"]["web"]["environment"]["GREETING"], "hello");
    assert!(
        err.contains("The \"NOT_SET\" variable is not set. Defaulting to a blank string."),
        "{err}"
    );

    // --env-file replaces .env; a required variable missing is an error with its message.
    std::fs::write(dir.path().join("other.env"), "TAG=other\n").unwrap();
    let (code, out, _) = compose(dir.path(), &["--env-file", "other.env", "config"], None);
    assert_eq!(code, 0);
    assert!(out.contains("image: busybox:other"), "{out}");
    let text = "services:\n  web:\n    image: ${IMAGE:?set IMAGE to the image to run}\n";
    let (code, _, err) = compose(dir.path(), &["-f", "-", "config"], Some(text));
    assert_eq!(code, 1);
    assert!(
        err.contains("required variable IMAGE is missing a value: set IMAGE to the image to run"),
        "{err}"
    );
}

#[test]
fn validation_errors_name_the_service() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: busybox\n    depends_on: [db]\n",
    )]);
    let (code, _, err) = compose(dir.path(), &["config"], None);
    assert_eq!(code, 1);
    assert!(
        err.contains("compose.yaml:4: service \"web\" depends on undefined service \"db\": invalid compose project"),
        "{err}"
    );
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = compose(empty.path(), &["config"], None);
    assert_eq!(code, 1);
    assert!(err.contains("no configuration file provided"), "{err}");
}
