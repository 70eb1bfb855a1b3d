use serde_json::json;

use super::{Missing, Template};

fn render(template: &str, dot: serde_json::Value) -> String {
    Template::parse(template)
        .unwrap()
        .render(&dot, Missing::NoValue)
        .unwrap()
}

fn state() -> serde_json::Value {
    json!({
        "Id": "abc123",
        "Name": "/web",
        "State": {"Status": "running", "Running": true, "Pid": 4242, "ExitCode": 0},
        "Config": {
            "Env": ["PATH=/bin", "A=1"],
            "Labels": {"com.example.tier": "web", "b": "2"},
            "Cmd": null,
            "ExposedPorts": {"80/tcp": {}}
        },
        "Mounts": [
            {"Source": "/v1", "Destination": "/data"},
            {"Source": "/v2", "Destination": "/logs"}
        ]
    })
}

#[test]
fn fields_and_values_print_as_go_prints_them() {
    let s = state();
    assert_eq!(render("{{.State.Pid}}", s.clone()), "4242");
    assert_eq!(render("{{.State.Running}}", s.clone()), "true");
    assert_eq!(render("{{.Config.Env}}", s.clone()), "[PATH=/bin A=1]");
    assert_eq!(
        render("{{.Config.Labels}}", s.clone()),
        "map[b:2 com.example.tier:web]"
    );
    assert_eq!(render("{{.Config.Cmd}}", s.clone()), "<nil>");
    assert_eq!(render("{{.Nope}}", s.clone()), "<no value>");
    assert_eq!(
        render("id={{.Id}} name={{.Name}}\n", s.clone()),
        "id=abc123 name=/web\n"
    );
    assert_eq!(render("{{$.Id}}", s), "abc123");
}

#[test]
fn json_index_range_and_conditions() {
    let s = state();
    assert_eq!(
        render("{{json .Config.Labels}}", s.clone()),
        r#"{"b":"2","com.example.tier":"web"}"#
    );
    assert_eq!(
        render("{{json .Mounts}}", s.clone())
            .matches("Destination")
            .count(),
        2
    );
    assert_eq!(
        render(r#"{{index .Config.Labels "com.example.tier"}}"#, s.clone()),
        "web"
    );
    assert_eq!(render("{{index .Config.Env 1}}", s.clone()), "A=1");
    assert_eq!(
        render("{{range .Mounts}}{{.Destination}} {{end}}", s.clone()),
        "/data /logs "
    );
    assert_eq!(
        render(
            "{{range $i, $m := .Mounts}}{{$i}}={{$m.Source}};{{end}}",
            s.clone()
        ),
        "0=/v1;1=/v2;"
    );
    assert_eq!(
        render(
            "{{range $k, $v := .Config.Labels}}{{$k}}:{{$v}},{{end}}",
            s.clone()
        ),
        "b:2,com.example.tier:web,"
    );
    assert_eq!(
        render("{{range .Config.Cmd}}x{{else}}none{{end}}", s.clone()),
        "none"
    );
    assert_eq!(
        render(
            r#"{{if eq .State.Status "running"}}up{{else}}down{{end}}"#,
            s.clone()
        ),
        "up"
    );
    assert_eq!(
        render(
            r#"{{if eq .State.Status "exited"}}a{{else if .State.Running}}b{{else}}c{{end}}"#,
            s.clone()
        ),
        "b"
    );
    assert_eq!(render("{{with .State}}{{.Pid}}{{end}}", s.clone()), "4242");
    assert_eq!(
        render("{{if not .Config.Cmd}}no cmd{{end}}", s.clone()),
        "no cmd"
    );
    assert_eq!(
        render("{{len .Mounts}} {{gt (len .Mounts) 1}}", s.clone()),
        "2 true"
    );
    assert_eq!(render("{{(index .Mounts 1).Source}}", s), "/v2");
}

#[test]
fn docker_functions_pipelines_and_trim_markers() {
    let s = state();
    assert_eq!(
        render(r#"{{join .Config.Env ","}}"#, s.clone()),
        "PATH=/bin,A=1"
    );
    assert_eq!(render("{{.State.Status | upper}}", s.clone()), "RUNNING");
    assert_eq!(render(r#"{{split "a:b" ":"}}"#, s.clone()), "[a b]");
    assert_eq!(
        render("{{title \"hello world\"}}", s.clone()),
        "Hello World"
    );
    assert_eq!(render("{{truncate .Id 3}}", s.clone()), "abc");
    assert_eq!(
        render(r#"{{printf "%-6s|%3d" .State.Status 7}}"#, s.clone()),
        "running|  7"
    );
    assert_eq!(render("a  {{- .Id -}}  b", s.clone()), "aabc123b");
    assert_eq!(render("{{/* note */}}x", s.clone()), "x");
    assert_eq!(render("{{$p := .State.Pid}}{{$p}}", s.clone()), "4242");
    assert_eq!(render("{{println .Id}}", s), "abc123\n");
}

#[test]
fn errors_say_where() {
    assert!(Template::parse("{{.Id")
        .unwrap_err()
        .contains(":1:0: unclosed action"));
    assert!(Template::parse("{{if .A}}x")
        .unwrap_err()
        .contains("unexpected EOF"));
    assert!(Template::parse("x{{end}}")
        .unwrap_err()
        .contains("unexpected {{end}}"));
    let t = Template::parse("{{nope .Id}}").unwrap();
    assert!(t
        .render(&state(), Missing::NoValue)
        .unwrap_err()
        .contains("function \"nope\" not defined"));
    let strict = Template::parse("{{.Missing}}").unwrap();
    assert!(strict
        .render(&state(), Missing::Error)
        .unwrap_err()
        .contains("can't evaluate field Missing"));
}
