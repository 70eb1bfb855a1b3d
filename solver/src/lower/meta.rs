//! Instructions that change only the image config (no layer): ENV, ARG, LABEL, CMD, ENTRYPOINT, EXPOSE, VOLUME,
//! USER, STOPSIGNAL, HEALTHCHECK, SHELL, MAINTAINER, ONBUILD.
use hoist_parser::ast::{Healthcheck, HealthcheckFlags, Instruction, InstructionKind};
use serde_json::{json, Map, Value};

use crate::error::Result;
use crate::stage::{Build, StageState};

use super::command_argv;

pub(super) fn apply(build: &Build, state: &mut StageState, ins: &Instruction) -> Result<()> {
    match &ins.kind {
        InstructionKind::Env(pairs) => {
            // Every value in one ENV sees the environment from before the instruction (BuildKit).
            let before = state.scope.clone();
            let mut expanded = Vec::with_capacity(pairs.len());
            for kv in pairs {
                let key = build.expand(ins, &kv.key, &before)?;
                let value = build.expand(ins, &kv.value, &before)?;
                expanded.push((key, value));
            }
            for (key, value) in expanded {
                state.scope.set_env(&key, value);
            }
            state.image.env = state.scope.env_list();
        }
        InstructionKind::Arg(decls) => {
            for decl in decls {
                let value = match build.build_args.take(&decl.name) {
                    Some(v) => Some(v),
                    None => match &decl.default {
                        Some(d) => Some(build.expand(ins, d, &state.scope)?),
                        // `ARG NAME` in a stage takes the global ARG's value (and the automatic platform ARGs).
                        None => hoist_parser::shell::Env::get(&build.meta_scope, &decl.name),
                    },
                };
                state.scope.declare_arg(&decl.name, value);
            }
        }
        InstructionKind::Label(pairs) => {
            for kv in pairs {
                let key = build.expand(ins, &kv.key, &state.scope)?;
                let value = build.expand(ins, &kv.value, &state.scope)?;
                state.image.labels.insert(key, value);
            }
        }
        InstructionKind::Maintainer(name) => state.image.author = Some(name.clone()),
        InstructionKind::Cmd(command) => {
            state.image.cmd = Some(command_argv(state, command));
            state.cmd_from_base = false;
        }
        InstructionKind::Entrypoint(command) => {
            state.image.entrypoint = Some(command_argv(state, command));
            // ENTRYPOINT drops a CMD inherited from the base, but keeps one set earlier in this stage.
            if state.cmd_from_base {
                state.image.cmd = None;
                state.cmd_from_base = false;
            }
        }
        InstructionKind::Expose(words) => {
            for word in words {
                for port in build.expand_words(ins, word, &state.scope)? {
                    for p in expose_ports(&port).map_err(|m| build.error_at(ins.pos, m))? {
                        state.image.exposed_ports.insert(p);
                    }
                }
            }
        }
        InstructionKind::Volume(paths) => {
            for path in paths {
                let path = build.expand(ins, path, &state.scope)?;
                if path.trim().is_empty() {
                    return Err(build.error_at(
                        ins.pos,
                        "VOLUME specified can not be an empty string".into(),
                    ));
                }
                state.image.volumes.insert(path);
            }
        }
        InstructionKind::User(user) => state.image.user = build.expand(ins, user, &state.scope)?,
        InstructionKind::Stopsignal(signal) => {
            let signal = build.expand(ins, signal, &state.scope)?;
            check_signal(&signal).map_err(|m| build.error_at(ins.pos, m))?;
            state.image.stop_signal = Some(signal)
        }
        InstructionKind::Healthcheck(check) => {
            state.image.healthcheck =
                Some(healthcheck(check).map_err(|m| build.error_at(ins.pos, m))?)
        }
        InstructionKind::Shell(shell) => state.image.shell = Some(shell.clone()),
        InstructionKind::Onbuild(onbuild) => {
            // A trigger that does not parse is stored as written, as BuildKit does; the child build that runs it
            // fails (with the trigger named).
            if let Some((pos, message)) = onbuild.warning() {
                build.warn(&format!(
                    "{}:{}:{}: {message}",
                    build.file_name, pos.line, pos.col
                ));
            }
            state.image.onbuild.push(onbuild.expression.clone())
        }
        InstructionKind::Run(_)
        | InstructionKind::Copy(_)
        | InstructionKind::Add(_)
        | InstructionKind::Workdir(_) => {}
    }
    Ok(())
}

/// STOPSIGNAL takes a signal number or a name, with or without `SIG`, in any case (moby's `signal.ParseSignal`):
/// anything else is refused, as BuildKit does.
fn check_signal(signal: &str) -> std::result::Result<(), String> {
    const NAMES: &[&str] = &[
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
        "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
        "TRAP", "TSTP", "TTIN", "TTOU", "UNUSED", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU",
        "XFSZ", "RTMIN", "RTMAX",
    ];
    if let Ok(n) = signal.parse::<i64>() {
        return if n == 0 || n > i64::from(i32::MAX) || n < i64::from(i32::MIN) {
            Err(format!("Invalid signal: {signal}"))
        } else {
            Ok(())
        };
    }
    let upper = signal.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let realtime = |prefix: &str, sign: char| {
        name.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix(sign))
            .and_then(|n| n.parse::<u8>().ok().filter(|v| v.to_string() == n))
            .is_some_and(|n| (1..=15).contains(&n))
    };
    if NAMES.contains(&name) || realtime("RTMIN", '+') || realtime("RTMAX", '-') {
        Ok(())
    } else {
        Err(format!("Invalid signal: {signal}"))
    }
}

/// The container port of an `EXPOSE` word in docker's port-spec form: `[ip:][hostPort:]containerPort[/proto]`
/// (BuildKit reads EXPOSE with `nat.ParsePortSpecs` and keeps the container side).
fn container_port(word: &str) -> &str {
    match word.rfind(':') {
        Some(i) => &word[i + 1..],
        None => word,
    }
}

/// `80`, `53/udp`, `8000-8002/tcp` → `80/tcp`, `53/udp`, `8000/tcp` `8001/tcp` `8002/tcp`.
fn expose_ports(word: &str) -> std::result::Result<Vec<String>, String> {
    let container = container_port(word);
    let (ports, proto) = match container.split_once('/') {
        Some((p, "")) => (p, "tcp".to_string()),
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (container, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!(
            "EXPOSE {word}: invalid proto {proto:?} (use tcp, udp or sctp)"
        ));
    }
    let bad =
        || format!("EXPOSE {word}: invalid port: expected a number or a range like 8000-8010");
    let (start, end) = match ports.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let p = ports.parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if end < start {
        return Err(bad());
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// Docker's `Healthcheck` config object (also `commit -c HEALTHCHECK …`'s).
pub fn healthcheck(check: &Healthcheck) -> std::result::Result<Value, String> {
    let (flags, command) = match check {
        Healthcheck::None => return Ok(json!({"Test": ["NONE"]})),
        Healthcheck::Cmd { flags, command } => (flags, command),
    };
    let test: Vec<String> = match command {
        hoist_parser::ast::CommandLine::Exec(args) => std::iter::once("CMD".to_string())
            .chain(args.clone())
            .collect(),
        hoist_parser::ast::CommandLine::Shell(line) => vec!["CMD-SHELL".to_string(), line.clone()],
    };
    let mut obj = Map::new();
    obj.insert("Test".into(), json!(test));
    let HealthcheckFlags {
        interval,
        timeout,
        start_period,
        start_interval,
        retries,
    } = flags;
    for (name, value) in [
        ("Interval", interval),
        ("Timeout", timeout),
        ("StartPeriod", start_period),
        ("StartInterval", start_interval),
    ] {
        if let Some(v) = value {
            let nanos = parse_duration(v).ok_or_else(|| {
                format!("HEALTHCHECK: invalid duration {v:?} (use e.g. 30s, 1m30s)")
            })?;
            if nanos != 0 {
                obj.insert(name.into(), json!(nanos));
            }
        }
    }
    if let Some(r) = retries {
        let n: i64 = r
            .parse()
            .map_err(|_| format!("HEALTHCHECK: --retries must be a number, not {r:?}"))?;
        if n < 0 {
            return Err("HEALTHCHECK: --retries cannot be negative".into());
        }
        if n != 0 {
            obj.insert("Retries".into(), json!(n));
        }
    }
    Ok(Value::Object(obj))
}

/// A Go duration (`1h2m3.5s`, `300ms`, `0`) in nanoseconds.
pub(crate) fn parse_duration(text: &str) -> Option<u64> {
    let duration = hoist_units::parse_go_duration(text).ok()?;
    u64::try_from(duration.as_nanos()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expose_forms() {
        assert_eq!(expose_ports("80").unwrap(), vec!["80/tcp"]);
        assert_eq!(expose_ports("53/UDP").unwrap(), vec!["53/udp"]);
        assert_eq!(
            expose_ports("8000-8002").unwrap(),
            vec!["8000/tcp", "8001/tcp", "8002/tcp"]
        );
        assert!(expose_ports("http").is_err());
        assert!(expose_ports("80/icmp").is_err());
        // docker's port specs: the container side counts.
        assert_eq!(expose_ports("0.0.0.0:8080:80").unwrap(), vec!["80/tcp"]);
        assert_eq!(expose_ports("9000:90/udp").unwrap(), vec!["90/udp"]);
        assert_eq!(expose_ports("[::1]:81:81").unwrap(), vec!["81/tcp"]);
        assert_eq!(expose_ports("82/").unwrap(), vec!["82/tcp"]);
    }

    #[test]
    fn stop_signals() {
        for ok in [
            "9",
            "SIGTERM",
            "term",
            "SigUsr1",
            "RTMIN+3",
            "SIGRTMAX-1",
            "RTMAX",
        ] {
            assert!(check_signal(ok).is_ok(), "{ok}");
        }
        for bad in ["0", "SIGTERM SIGKILL", "FOO", "RTMIN+16", "RTMIN+01", ""] {
            assert!(check_signal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("30s"), Some(30_000_000_000));
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("abc"), None);
    }
}
