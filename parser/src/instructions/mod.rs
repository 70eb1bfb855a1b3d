//! Node tree → typed AST: one function per instruction, checking arity and flags the way
//! BuildKit's `instructions` package does, and grouping instructions into stages.

mod duration;
mod flags;
mod suggest;
pub(crate) use suggest::closest;

use crate::ast::{
    ArgDecl, CommandLine, Copy, CopyFlags, Dockerfile, Healthcheck, HealthcheckFlags, Heredoc,
    Instruction, InstructionKind, KeyValue, Onbuild, Pos, Run, Stage, Trigger,
};
use crate::error::RawError;
use crate::parser::{parse_heredoc, Arg, Node, Tree};
use flags::{FlagError, FlagKind, Flags};

pub(crate) use duration::parse_go_duration;

/// Every instruction keyword, for "did you mean" on an unknown one.
const INSTRUCTIONS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

const FROM_FLAGS: &[(&str, FlagKind)] = &[("platform", FlagKind::String)];
const RUN_FLAGS: &[(&str, FlagKind)] = &[
    ("mount", FlagKind::Strings),
    ("network", FlagKind::String),
    ("security", FlagKind::String),
];
const COPY_FLAGS: &[(&str, FlagKind)] = &[
    ("chown", FlagKind::String),
    ("from", FlagKind::String),
    ("chmod", FlagKind::String),
    ("link", FlagKind::Bool),
    ("parents", FlagKind::Bool),
    ("exclude", FlagKind::Strings),
];
const ADD_FLAGS: &[(&str, FlagKind)] = &[
    ("chown", FlagKind::String),
    ("chmod", FlagKind::String),
    ("link", FlagKind::Bool),
    ("keep-git-dir", FlagKind::Bool),
    ("checksum", FlagKind::String),
    ("exclude", FlagKind::Strings),
    ("unpack", FlagKind::Bool),
];
const HEALTHCHECK_FLAGS: &[(&str, FlagKind)] = &[
    ("interval", FlagKind::String),
    ("timeout", FlagKind::String),
    ("start-period", FlagKind::String),
    ("start-interval", FlagKind::String),
    ("retries", FlagKind::String),
];

/// A parsed line: a stage start or an instruction inside a stage.
enum Parsed {
    From(Stage),
    Instruction(Instruction),
}

/// What one instruction's parser gets: the node, its lines for error positions, and the heredoc
/// bodies (for an ONBUILD's inner instruction, the outer line's).
struct Request<'a> {
    node: &'a Node,
    keyword: String,
    args: Vec<String>,
    heredocs: &'a [Heredoc],
    lines: &'a [&'a str],
}

impl Request<'_> {
    fn pos(&self) -> Pos {
        Pos {
            line: self.node.start_line,
            col: self.node.col,
        }
    }

    fn error(&self, message: impl Into<String>) -> RawError {
        RawError::new(self.node.start_line, self.node.col, message)
    }

    /// An error pointing at `needle` where it first appears in the instruction's lines.
    fn error_at(&self, needle: &str, message: impl Into<String>) -> RawError {
        let first = self.node.start_line.max(1);
        let last = self.node.end_line.max(first);
        for line_no in first..=last {
            let Some(text) = self.lines.get(line_no - 1) else {
                break;
            };
            let from = if line_no == self.node.start_line {
                byte_offset(text, self.node.col)
            } else {
                0
            };
            if let Some(i) = text.get(from..).and_then(|t| t.find(needle)) {
                return RawError::new(line_no, text[..from + i].chars().count() + 1, message);
            }
        }
        self.error(message)
    }

    fn flags(&self, specs: &[(&'static str, FlagKind)]) -> Result<Flags, RawError> {
        Flags::parse(&self.keyword, &self.node.flags, specs).map_err(
            |FlagError { word, message }| {
                self.error_at(word.split('=').next().unwrap_or(&word), message)
            },
        )
    }

    fn original(&self) -> String {
        self.node.original.trim().to_string()
    }

    fn exactly_one(&self) -> Result<String, RawError> {
        match self.args.as_slice() {
            [one] => Ok(one.clone()),
            _ => Err(self.error(format!("{} requires exactly one argument", self.keyword))),
        }
    }

    fn at_least_one(&self) -> Result<(), RawError> {
        if self.args.is_empty() {
            return Err(self.error(format!("{} requires at least one argument", self.keyword)));
        }
        Ok(())
    }

    /// Exec form keeps the array; shell form joins the words back into one command line.
    fn command_line(&self, args: &[String]) -> CommandLine {
        if self.node.json {
            CommandLine::Exec(args.to_vec())
        } else {
            CommandLine::Shell(args.join(" "))
        }
    }
}

/// The byte offset of 1-based character column `col` in `text`.
fn byte_offset(text: &str, col: usize) -> usize {
    text.char_indices()
        .nth(col.saturating_sub(1))
        .map(|(i, _)| i)
        .unwrap_or(text.len())
}

/// Groups the node tree into meta ARGs and stages.
pub(crate) fn build(tree: &Tree, text: &str) -> Result<Dockerfile, RawError> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut dockerfile = Dockerfile {
        directives: tree.directives.clone(),
        meta_args: Vec::new(),
        stages: Vec::new(),
    };
    for node in &tree.nodes {
        match parse_node(node, &node.heredocs, &lines)? {
            Parsed::From(stage) => dockerfile.stages.push(stage),
            Parsed::Instruction(instruction) => match dockerfile.stages.last_mut() {
                Some(stage) => stage.instructions.push(instruction),
                None if matches!(instruction.kind, InstructionKind::Arg(_)) => {
                    dockerfile.meta_args.push(instruction)
                }
                None => {
                    return Err(RawError::new(
                        node.start_line,
                        node.col,
                        format!(
                            "{} before the first FROM: only ARG may come before FROM (is a FROM line missing?)",
                            instruction.kind.keyword()
                        ),
                    ))
                }
            },
        }
    }
    if dockerfile.stages.is_empty() {
        let last = tree
            .nodes
            .last()
            .map(|n| (n.start_line, n.col))
            .unwrap_or((0, 1));
        return Err(RawError::new(
            last.0,
            last.1,
            "no FROM instruction: a Dockerfile needs at least one build stage",
        ));
    }
    Ok(dockerfile)
}

fn parse_node(node: &Node, heredocs: &[Heredoc], lines: &[&str]) -> Result<Parsed, RawError> {
    let req = Request {
        node,
        keyword: node.keyword.to_ascii_uppercase(),
        args: node.arg_values(),
        heredocs,
        lines,
    };
    let kind = match req.keyword.as_str() {
        "FROM" => return parse_from(&req).map(Parsed::From),
        "RUN" => parse_run(&req)?,
        "CMD" => {
            req.flags(&[])?;
            InstructionKind::Cmd(req.command_line(&req.args))
        }
        "ENTRYPOINT" => {
            req.flags(&[])?;
            InstructionKind::Entrypoint(req.command_line(&req.args))
        }
        "ENV" => InstructionKind::Env(parse_key_values(&req)?),
        "LABEL" => InstructionKind::Label(parse_key_values(&req)?),
        "ARG" => parse_arg(&req)?,
        "MAINTAINER" => {
            let maintainer = req.exactly_one()?;
            req.flags(&[])?;
            InstructionKind::Maintainer(maintainer)
        }
        "EXPOSE" => {
            req.at_least_one()?;
            req.flags(&[])?;
            InstructionKind::Expose(req.args.clone())
        }
        "COPY" => InstructionKind::Copy(parse_copy(&req, COPY_FLAGS)?),
        "ADD" => InstructionKind::Add(parse_copy(&req, ADD_FLAGS)?),
        "VOLUME" => parse_volume(&req)?,
        "USER" => {
            let user = req.exactly_one()?;
            req.flags(&[])?;
            InstructionKind::User(user)
        }
        "WORKDIR" => {
            let dir = req.exactly_one()?;
            req.flags(&[])?;
            InstructionKind::Workdir(dir)
        }
        "STOPSIGNAL" => {
            let signal = req.exactly_one()?;
            req.flags(&[])?;
            InstructionKind::Stopsignal(signal)
        }
        "ONBUILD" => return parse_onbuild(&req),
        "HEALTHCHECK" => parse_healthcheck(&req)?,
        "SHELL" => {
            req.flags(&[])?;
            if req.args.is_empty() {
                return Err(req.error("SHELL requires at least one argument"));
            }
            if !node.json {
                return Err(req.error(r#"SHELL requires the arguments to be in JSON form: SHELL ["executable", "parameters"]"#));
            }
            InstructionKind::Shell(req.args.clone())
        }
        _ => {
            let message = match suggest::closest(&node.keyword, INSTRUCTIONS) {
                Some(s) => format!("unknown instruction: {} (did you mean {s}?)", node.keyword),
                None => format!("unknown instruction: {}", node.keyword),
            };
            return Err(req.error(message));
        }
    };
    Ok(Parsed::Instruction(Instruction {
        pos: req.pos(),
        original: req.original(),
        kind,
    }))
}

fn parse_from(req: &Request) -> Result<Stage, RawError> {
    let name = match req.args.as_slice() {
        [_] => None,
        [_, as_word, name] if as_word.eq_ignore_ascii_case("as") => {
            let lower = name.to_lowercase();
            if !is_valid_stage_name(&lower) {
                return Err(req.error_at(
                    name,
                    format!(
                        "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                    ),
                ));
            }
            Some(lower)
        }
        _ => {
            return Err(
                req.error("FROM requires either one or three arguments: FROM <image> [AS <name>]")
            )
        }
    };
    let flags = req.flags(FROM_FLAGS)?;
    Ok(Stage {
        pos: req.pos(),
        original: req.original(),
        base: req.args[0].clone(),
        name,
        platform: flags.string("platform"),
        instructions: Vec::new(),
    })
}

/// `^[a-z][a-z0-9-_.]*$`
fn is_valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

fn parse_run(req: &Request) -> Result<InstructionKind, RawError> {
    let flags = req.flags(RUN_FLAGS)?;
    let network = flags.string("network");
    if let Some(n) = &network {
        if !matches!(n.as_str(), "default" | "none" | "host") {
            return Err(req.error_at(
                "--network",
                format!("unsupported network mode {n:?}: use default, none or host"),
            ));
        }
    }
    let security = flags.string("security");
    if let Some(s) = &security {
        if !matches!(s.as_str(), "sandbox" | "insecure") {
            return Err(req.error_at(
                "--security",
                format!("unsupported security mode {s:?}: use sandbox or insecure"),
            ));
        }
    }
    let command = if req.args.is_empty() && !req.node.json {
        None
    } else {
        Some(req.command_line(&req.args))
    };
    Ok(InstructionKind::Run(Run {
        command,
        mounts: flags.strings("mount"),
        network,
        security,
        heredocs: req.heredocs.iter().map(chomped).collect(),
    }))
}

/// The heredoc with `<<-` tab stripping applied to its body.
fn chomped(doc: &Heredoc) -> Heredoc {
    let mut doc = doc.clone();
    if doc.chomp {
        doc.content = doc
            .content
            .split_inclusive('\n')
            .map(|l| l.trim_start_matches('\t'))
            .collect();
    }
    doc
}

fn parse_key_values(req: &Request) -> Result<Vec<KeyValue>, RawError> {
    req.flags(&[])?;
    req.at_least_one()?;
    let triples = req.args.chunks_exact(3);
    if !triples.remainder().is_empty() {
        return Err(req.error(format!("Bad input to {}, too many arguments", req.keyword)));
    }
    let mut pairs = Vec::with_capacity(req.args.len() / 3);
    for chunk in triples {
        if chunk[0].is_empty() {
            return Err(req.error(format!("{} names can not be blank", req.keyword)));
        }
        pairs.push(KeyValue {
            key: chunk[0].clone(),
            value: chunk[1].clone(),
            has_equals: chunk[2] == "=",
        });
    }
    Ok(pairs)
}

fn parse_arg(req: &Request) -> Result<InstructionKind, RawError> {
    req.at_least_one()?;
    req.flags(&[])?;
    let mut decls = Vec::with_capacity(req.args.len());
    for word in &req.args {
        let decl = match word.split_once('=') {
            Some((name, default)) => ArgDecl {
                name: name.to_string(),
                default: Some(default.to_string()),
            },
            None => ArgDecl {
                name: word.clone(),
                default: None,
            },
        };
        if decl.name.is_empty() {
            return Err(req.error_at(word, "ARG names can not be blank"));
        }
        decls.push(decl);
    }
    Ok(InstructionKind::Arg(decls))
}

fn parse_copy(req: &Request, specs: &[(&'static str, FlagKind)]) -> Result<Copy, RawError> {
    if req.args.len() < 2 {
        return Err(req.error(format!(
            "{} requires at least two arguments, but only one was provided. Destination could not be determined",
            req.keyword
        )));
    }
    let flags = req.flags(specs)?;
    let (dest, sources) = req.args.split_last().unwrap_or((&req.args[0], &[]));
    if !req.node.json && parse_heredoc(dest).ok().flatten().is_some() {
        return Err(req.error_at(
            dest,
            format!("{} cannot accept a heredoc as a destination", req.keyword),
        ));
    }
    let mut heredocs = Vec::new();
    if !req.node.json {
        for src in sources {
            if let Ok(Some(marker)) = parse_heredoc(src) {
                let body = req.heredocs.iter().find(|d| d.name == marker.name);
                let content = body.map(|d| d.content.clone()).unwrap_or_default();
                let body_line = body.map_or(0, |d| d.body_line);
                heredocs.push(chomped(&Heredoc {
                    content,
                    body_line,
                    ..marker
                }));
            }
        }
    }
    Ok(Copy {
        flags: CopyFlags {
            from: flags.string("from"),
            chown: flags.string("chown"),
            chmod: flags.string("chmod"),
            link: flags.bool("link"),
            parents: flags.bool("parents"),
            exclude: flags.strings("exclude"),
            keep_git_dir: flags.bool("keep-git-dir"),
            checksum: flags.string("checksum"),
            unpack: flags.bool_opt("unpack"),
        },
        sources: sources.to_vec(),
        dest: dest.clone(),
        json_form: req.node.json,
        heredocs,
    })
}

fn parse_volume(req: &Request) -> Result<InstructionKind, RawError> {
    req.at_least_one()?;
    req.flags(&[])?;
    let mut volumes = Vec::with_capacity(req.args.len());
    for v in &req.args {
        let v = v.trim();
        if v.is_empty() {
            return Err(req.error("VOLUME specified can not be an empty string"));
        }
        volumes.push(v.to_string());
    }
    Ok(InstructionKind::Volume(volumes))
}

fn parse_onbuild(req: &Request) -> Result<Parsed, RawError> {
    req.flags(&[])?;
    let inner = match req.node.args.first() {
        Some(Arg::Sub(inner)) => inner,
        _ => return Err(req.error("ONBUILD requires at least one argument")),
    };
    let trigger = inner.keyword.to_ascii_uppercase();
    match trigger.as_str() {
        "ONBUILD" => return Err(req.error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")),
        "MAINTAINER" | "FROM" => {
            return Err(req.error(format!("{trigger} isn't allowed as an ONBUILD trigger")))
        }
        _ => {}
    }
    // What goes into the image's OnBuild list: the text after ONBUILD, heredoc bodies appended.
    let mut expression = strip_onbuild_keyword(&req.node.original).to_string();
    for doc in req.heredocs {
        expression.push('\n');
        expression.push_str(&doc.content);
        expression.push_str(&doc.name);
    }
    // BuildKit does not parse the trigger as an instruction until a child build runs it: a trigger that does
    // not parse (unknown instruction, bad flag, wrong arguments) is kept as written.
    let trigger = match parse_node(inner, req.heredocs, req.lines) {
        Ok(Parsed::Instruction(mut instruction)) => {
            instruction.original = expression.clone();
            Trigger::Parsed(Box::new(instruction))
        }
        Ok(Parsed::From(_)) => {
            return Err(req.error(format!("{trigger} isn't allowed as an ONBUILD trigger")))
        }
        Err(e) => Trigger::Invalid {
            pos: Pos {
                line: e.line,
                col: e.col,
            },
            message: e.message,
        },
    };
    Ok(Parsed::Instruction(Instruction {
        pos: req.pos(),
        original: req.original(),
        kind: InstructionKind::Onbuild(Onbuild {
            expression,
            trigger,
        }),
    }))
}

/// `(?i)^\s*ONBUILD\s*` removed.
fn strip_onbuild_keyword(original: &str) -> &str {
    let trimmed = original.trim_start();
    match trimmed.get(..7) {
        Some(word) if word.eq_ignore_ascii_case("onbuild") => trimmed[7..].trim_start(),
        _ => trimmed,
    }
}

fn parse_healthcheck(req: &Request) -> Result<InstructionKind, RawError> {
    req.at_least_one()?;
    let kind = req.args[0].to_ascii_uppercase();
    let rest = &req.args[1..];
    if kind == "NONE" {
        if !rest.is_empty() {
            return Err(req.error("HEALTHCHECK NONE takes no arguments"));
        }
        return Ok(InstructionKind::Healthcheck(Healthcheck::None));
    }
    let flags = req.flags(HEALTHCHECK_FLAGS)?;
    if kind != "CMD" {
        return Err(req.error_at(
            &req.args[0],
            format!("Unknown type {:?} in HEALTHCHECK (try CMD)", req.args[0]),
        ));
    }
    if rest.is_empty() {
        return Err(req.error("Missing command after HEALTHCHECK CMD"));
    }
    for name in ["interval", "timeout", "start-period", "start-interval"] {
        let Some(value) = flags.string(name) else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        let flag = format!("--{name}");
        let duration = parse_go_duration(&value).map_err(|e| req.error_at(&flag, e))?;
        if !duration.is_zero() && duration < std::time::Duration::from_millis(1) {
            return Err(req.error_at(&flag, format!("Interval {name:?} cannot be less than 1ms")));
        }
    }
    if let Some(retries) = flags.string("retries").filter(|r| !r.is_empty()) {
        let n: i32 = retries.parse().map_err(|_| {
            req.error_at(
                "--retries",
                format!("--retries must be a whole number, not {retries:?}"),
            )
        })?;
        if n < 0 {
            return Err(req.error_at("--retries", format!("--retries cannot be negative ({n})")));
        }
    }
    let health_flags = HealthcheckFlags {
        interval: flags.string("interval"),
        timeout: flags.string("timeout"),
        start_period: flags.string("start-period"),
        start_interval: flags.string("start-interval"),
        retries: flags.string("retries"),
    };
    Ok(InstructionKind::Healthcheck(Healthcheck::Cmd {
        flags: health_flags,
        command: req.command_line(rest),
    }))
}

#[cfg(test)]
mod tests;
