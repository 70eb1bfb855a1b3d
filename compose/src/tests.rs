//! Whole-project loading: files on disk, `.env`, merging, resolving, validation errors with positions.
use std::collections::BTreeMap;
use std::path::Path;

use crate::{load, Error, Loaded, Options, Source};

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn options(dir: &Path) -> Options {
    Options {
        cwd: dir.to_path_buf(),
        environment: BTreeMap::from([("HOME".to_string(), "/home/me".to_string())]),
        ..Options::default()
    }
}

fn load_text(text: &str) -> Result<Loaded, Error> {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "compose.yaml", text);
    load(&options(dir.path()))
}

fn messages(loaded: &Loaded) -> Vec<String> {
    loaded.warnings.iter().map(|w| w.message.clone()).collect()
}

const ISSUE_EXAMPLE: &str = "version: \"3\"
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
";

#[test]
fn the_issue_example() {
    let dir = tempfile::tempdir().unwrap();
    let project_dir = dir.path().join("My App!");
    std::fs::create_dir(&project_dir).unwrap();
    write(&project_dir, "docker-compose.yml", ISSUE_EXAMPLE);
    let loaded = load(&options(&project_dir)).unwrap();
    let warnings = messages(&loaded);
    assert!(
        warnings[0].contains("`version` is obsolete"),
        "{warnings:?}"
    );
    let p = &loaded.project;
    assert_eq!(p.name, "myapp");
    let console = &p.services["console"];
    let build = console.build.as_ref().unwrap();
    assert_eq!(
        build.context.as_deref(),
        Some(project_dir.join("msec_console").to_str().unwrap())
    );
    assert_eq!(build.dockerfile.as_deref(), Some("Dockerfile"));
    assert_eq!(console.restart.as_deref(), Some("always"));
    assert_eq!(console.dns, vec!["8.8.8.8", "9.9.9.9"]);
    let web = console.networks["web"].as_ref().unwrap();
    assert_eq!(web.ipv4_address.as_deref(), Some("10.10.10.2"));
    assert_eq!(console.environment["DC1"].as_deref(), Some("DC1"));
    let net = &p.networks["web"];
    assert_eq!(net.name.as_deref(), Some("myapp_web"));
    assert_eq!(
        net.ipam.as_ref().unwrap().config[0].subnet.as_deref(),
        Some("10.10.10.0/16")
    );
    assert_eq!(p.network_name("web"), "myapp_web");
    assert_eq!(p.container_name("console", 1), "myapp-console-1");
    assert!(!p.networks.contains_key("default"));
}

#[test]
fn unknown_keys_warn_with_their_line() {
    let loaded = load_text(
        "services:\n  web:\n    image: busybox\n    x-mine: fine\n\n\n    foo: bar\nx-top: ok\nbogus: 1\n",
    )
    .unwrap();
    let warnings = messages(&loaded);
    assert_eq!(
        warnings,
        vec![
            "services.web.foo: unknown key (line 7)".to_string(),
            "bogus: unknown key (line 9)".to_string()
        ]
    );
    assert!(loaded.warnings[0]
        .to_string()
        .contains("compose.yaml: services.web.foo"));
}

#[test]
fn wrong_type_names_file_line_and_key() {
    let err = load_text("services:\n  web:\n    image: busybox\n    ports: 5\n").unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("compose.yaml:4:12: services.web.ports: must be a list, not a number"),
        "{text}"
    );
    let err =
        load_text("services:\n  web:\n    image: busybox\n    environment: [[a]]\n").unwrap_err();
    assert!(
        err.to_string().contains(":4:19: services.web.environment"),
        "{err}"
    );
    let err =
        load_text("services:\n  web:\n    image: busybox\n    healthcheck: {interval: soon}\n")
            .unwrap_err();
    assert!(err.to_string().contains("not a duration"), "{err}");
}

#[test]
fn malformed_yaml_has_file_line_col() {
    let err = load_text("services:\n  web:\n    image: \"busybox\n").unwrap_err();
    let text = err.to_string();
    let re = text.split(':').collect::<Vec<_>>();
    assert!(text.contains("compose.yaml:"), "{text}");
    assert!(
        re.len() >= 3 && re[1].parse::<u32>().is_ok() && re[2].parse::<u32>().is_ok(),
        "{text}"
    );
}

#[test]
fn dotenv_and_process_environment() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        ".env",
        "TAG=1.0\nPORT=8080\nCOMPOSE_PROJECT_NAME=fromenv\n",
    );
    write(
        dir.path(),
        "compose.yaml",
        "services:\n  web:\n    image: \"busybox:${TAG}\"\n    ports: [\"${PORT}:80\"]\n    environment:\n      MISSING: $NOPE\n      PRICE: $$5\n      FALLBACK: ${NOPE2:-${TAG}}\n",
    );
    let mut opts = options(dir.path());
    opts.environment.insert("PORT".into(), "9090".into());
    let loaded = load(&opts).unwrap();
    let web = &loaded.project.services["web"];
    assert_eq!(web.image.as_deref(), Some("busybox:1.0"));
    assert_eq!(web.ports[0].published.as_deref(), Some("9090"));
    assert_eq!(web.environment["MISSING"].as_deref(), Some(""));
    assert_eq!(web.environment["PRICE"].as_deref(), Some("$5"));
    assert_eq!(web.environment["FALLBACK"].as_deref(), Some("1.0"));
    assert_eq!(loaded.project.name, "fromenv");
    assert_eq!(
        messages(&loaded),
        vec!["The \"NOPE\" variable is not set. Defaulting to a blank string.".to_string()]
    );
}

#[test]
fn required_variable_errors_with_its_message() {
    let err = load_text("services:\n  web:\n    image: ${IMAGE:?set IMAGE first}\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:3:12: services.web.image: required variable IMAGE is missing a value: set IMAGE first",
            match &err {
                Error::Interpolation { pos, .. } => pos.file.display().to_string(),
                _ => panic!("{err}"),
            }
        )
    );
}

#[test]
fn override_file_and_explicit_files_merge_in_order() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "compose.yaml",
        "services:\n  web:\n    image: a\n    ports: ['80:80']\n",
    );
    write(
        dir.path(),
        "compose.override.yaml",
        "services:\n  web:\n    image: b\n    ports: ['81:81']\n",
    );
    write(
        dir.path(),
        "other.yaml",
        "services:\n  web:\n    image: c\n",
    );
    let loaded = load(&options(dir.path())).unwrap();
    assert_eq!(loaded.files.len(), 2);
    let web = &loaded.project.services["web"];
    assert_eq!(web.image.as_deref(), Some("b"));
    assert_eq!(web.ports.len(), 2);

    let mut opts = options(dir.path());
    opts.files = ["compose.yaml", "other.yaml"]
        .iter()
        .map(|f| Source {
            path: f.into(),
            content: None,
        })
        .collect();
    let loaded = load(&opts).unwrap();
    assert_eq!(loaded.project.services["web"].image.as_deref(), Some("c"));
    assert_eq!(loaded.project.services["web"].ports.len(), 1);
}

#[test]
fn files_found_in_a_parent_directory() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "compose.yml",
        "name: parent\nservices:\n  a:\n    image: x\n",
    );
    let sub = dir.path().join("sub/deeper");
    std::fs::create_dir_all(&sub).unwrap();
    let loaded = load(&options(&sub)).unwrap();
    assert_eq!(loaded.project.name, "parent");
    assert_eq!(loaded.project.working_dir, dir.path());
}

#[test]
fn paths_resolve_against_the_project_directory() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "web.env", "FROM_FILE=1\nBOTH=file\n");
    write(
        dir.path(),
        "compose.yaml",
        "services:\n  web:\n    image: x\n    env_file: web.env\n    environment: {BOTH: inline}\n    volumes:\n      - ./data:/data:ro\n      - ~/cfg:/cfg\n      - cache:/cache\n      - /anon\n      - type: bind\n        source: ../up\n        target: /up\nvolumes:\n  cache: {}\n",
    );
    let loaded = load(&options(dir.path())).unwrap();
    let web = &loaded.project.services["web"];
    assert_eq!(web.environment["FROM_FILE"].as_deref(), Some("1"));
    assert_eq!(web.environment["BOTH"].as_deref(), Some("inline"));
    let sources: Vec<_> = web.volumes.iter().map(|v| v.source.clone()).collect();
    let base = dir.path().to_str().unwrap();
    let parent = dir.path().parent().unwrap().to_str().unwrap();
    assert_eq!(
        sources,
        vec![
            Some(format!("{base}/data")),
            Some("/home/me/cfg".to_string()),
            Some("cache".to_string()),
            None,
            Some(format!("{parent}/up")),
        ]
    );
    assert_eq!(
        loaded.project.volume_name("cache"),
        format!("{}_cache", loaded.project.name)
    );
}

#[test]
fn validation_errors() {
    let cases = [
        ("services:\n  web: {restart: always}\n", "service \"web\" has neither an image nor a build context specified"),
        ("services:\n  web:\n    image: x\n    depends_on: [db]\n", ":4: service \"web\" depends on undefined service \"db\""),
        ("services:\n  web:\n    image: x\n    networks: [back]\n", "service \"web\" refers to undefined network back"),
        ("services:\n  web:\n    image: x\n    volumes: ['data:/data']\n", "service \"web\" refers to undefined volume data"),
        ("services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [c]}\n  c: {image: x, depends_on: [a]}\n", "dependency cycle detected: a -> b -> c -> a"),
        ("services:\n  web: {image: x, restart: sometimes}\n", "is not a restart policy"),
        ("services:\n  web:\n    image: x\n    depends_on: {db: {condition: service_ready}}\n  db: {image: x}\n", "is not a condition"),
    ];
    for (text, expected) in cases {
        let err = load_text(text).unwrap_err().to_string();
        assert!(err.contains(expected), "{text}\n→ {err}");
    }
}

#[test]
fn dependency_order_and_hashes() {
    let loaded = load_text(
        "name: demo\nservices:\n  web:\n    image: x\n    depends_on:\n      db: {condition: service_healthy}\n      cache:\n        condition: service_started\n  db: {image: x}\n  cache: {image: x, depends_on: [db]}\n  aaa: {image: x}\n",
    )
    .unwrap();
    let p = &loaded.project;
    assert_eq!(p.dependency_order(), vec!["aaa", "db", "cache", "web"]);
    assert_eq!(p.shutdown_order(), vec!["web", "cache", "db", "aaa"]);
    assert_eq!(
        p.services["web"].depends_on["db"].condition,
        "service_healthy"
    );
    assert_eq!(p.network_name("default"), "demo_default");
    let web = &p.services["web"];
    let mut changed = web.clone();
    assert_eq!(web.config_hash(), changed.config_hash());
    changed.environment.insert("X".into(), Some("1".into()));
    assert_ne!(web.config_hash(), changed.config_hash());
    let labels = p.container_labels("web", 1);
    assert_eq!(labels["com.docker.compose.project"], "demo");
    assert_eq!(labels["com.docker.compose.service"], "web");
}

#[test]
fn every_service_key_short_and_long() {
    let loaded = load_text(
        r#"services:
  app:
    image: app
    build:
      context: ./src
      dockerfile: Dockerfile.dev
      args: [A=1, B]
      target: dev
    command: echo "hello world"
    entrypoint: [/bin/sh, -c]
    ports:
      - 80
      - target: 443
        published: 8443
        host_ip: 127.0.0.1
        protocol: udp
    expose: ["3000", 4000]
    networks: {front: {aliases: [www, web]}}
    healthcheck:
      test: ["CMD", "true"]
      interval: 1m30s
      timeout: 10s
      start_period: 5s
      retries: 3
    dns: 1.1.1.1
    extra_hosts: {db: 10.0.0.5}
    hostname: app-host
    user: "1000:1000"
    working_dir: /srv
    labels: {tier: front}
    deploy: {resources: {limits: {cpus: "0.5", memory: 256m}}}
    mem_limit: 1g
    cpus: 1.5
    stop_signal: SIGINT
    stop_grace_period: 1m
    tmpfs: [/run, /tmp]
    read_only: true
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    privileged: false
    init: true
    container_name: my-app
    healthcheck2: oops
networks:
  front: {}
"#,
    )
    .unwrap();
    let app = &loaded.project.services["app"];
    let build = app.build.as_ref().unwrap();
    assert!(build.context.as_ref().unwrap().ends_with("/src"));
    assert_eq!(build.target.as_deref(), Some("dev"));
    assert_eq!(build.args["A"].as_deref(), Some("1"));
    assert_eq!(build.args["B"], None);
    assert_eq!(
        app.command,
        Some(vec!["echo".to_string(), "hello world".to_string()])
    );
    assert_eq!(
        app.entrypoint,
        Some(vec!["/bin/sh".to_string(), "-c".to_string()])
    );
    assert_eq!(app.ports[0].target, 80);
    assert_eq!(
        (
            app.ports[1].published.as_deref(),
            app.ports[1].host_ip.as_deref(),
            app.ports[1].protocol.as_str()
        ),
        (Some("8443"), Some("127.0.0.1"), "udp")
    );
    assert_eq!(app.expose, vec!["3000", "4000"]);
    assert_eq!(
        app.networks["front"].as_ref().unwrap().aliases,
        vec!["www", "web"]
    );
    let h = app.healthcheck.as_ref().unwrap();
    assert_eq!(h.interval, Some(std::time::Duration::from_secs(90)));
    assert_eq!(h.retries, Some(3));
    assert_eq!(app.dns, vec!["1.1.1.1"]);
    assert_eq!(app.extra_hosts, vec!["db:10.0.0.5"]);
    assert_eq!(app.user.as_deref(), Some("1000:1000"));
    let limits = app
        .deploy
        .as_ref()
        .unwrap()
        .resources
        .as_ref()
        .unwrap()
        .limits
        .as_ref()
        .unwrap();
    assert_eq!((limits.cpus, limits.memory), (Some(0.5), Some(256 << 20)));
    assert_eq!(app.mem_limit, Some(1 << 30));
    assert_eq!(app.cpus, Some(1.5));
    assert_eq!(
        app.stop_grace_period,
        Some(std::time::Duration::from_secs(60))
    );
    assert_eq!(app.tmpfs, vec!["/run", "/tmp"]);
    assert_eq!(
        (app.read_only, app.privileged, app.init),
        (Some(true), Some(false), Some(true))
    );
    assert_eq!(app.cap_add, vec!["NET_ADMIN"]);
    assert_eq!(loaded.project.container_name("app", 1), "my-app");
    assert_eq!(
        messages(&loaded),
        vec!["services.app.healthcheck2: unknown key (line 43)".to_string()]
    );

    let yaml = loaded.project.to_yaml();
    assert!(yaml.starts_with("name: "), "{yaml}");
    assert!(
        yaml.contains("    healthcheck:\n      interval: 1m30s\n"),
        "{yaml}"
    );
    assert!(yaml.contains("    mem_limit: \"1073741824\"\n"), "{yaml}");
    assert!(
        yaml.contains(
            "    ports:\n      - mode: ingress\n        protocol: tcp\n        target: 80\n"
        ),
        "{yaml}"
    );
    assert!(yaml.contains("    user: \"1000:1000\"\n"), "{yaml}");
    let json: serde_json::Value = serde_json::from_str(&loaded.project.to_json()).unwrap();
    assert_eq!(json["services"]["app"]["ports"][1]["published"], "8443");
}

#[test]
fn stdin_source_uses_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.files = vec![Source {
        path: "-".into(),
        content: Some("services:\n  a:\n    build: .\n".into()),
    }];
    let loaded = load(&opts).unwrap();
    assert_eq!(
        loaded.project.services["a"]
            .build
            .as_ref()
            .unwrap()
            .context
            .as_deref(),
        dir.path().to_str()
    );
}

#[test]
fn an_empty_file_is_an_error() {
    let err = load_text("# nothing yet\n").unwrap_err();
    assert!(err.to_string().ends_with(":1: empty compose file"), "{err}");
}

#[test]
fn no_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(&options(dir.path())).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("no configuration file provided: not found"),
        "{err}"
    );
}
