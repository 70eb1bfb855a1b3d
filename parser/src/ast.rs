//! The typed Dockerfile AST: what the parser produces and the solver consumes.
//!
//! Values are kept *unexpanded* (as written, quotes included where BuildKit keeps them): expansion of
//! `$VAR` needs the build environment, so it happens in the solver through [`crate::shell`].

/// A 1-based source position in the Dockerfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// Parser directives read from the top of the file (`# syntax=`, `# escape=`, `# check=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    pub escape: char,
    pub syntax: Option<String>,
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            escape: '\\',
            syntax: None,
            check: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dockerfile {
    pub directives: Directives,
    /// `ARG`s before the first `FROM` (visible in `FROM` lines only, unless redeclared in a stage).
    pub meta_args: Vec<Instruction>,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub pos: Pos,
    /// The whole `FROM` line as written (continuations joined), for history and progress output.
    pub original: String,
    /// The base: an image reference, a stage name, or `scratch` (unexpanded).
    pub base: String,
    /// `AS name`, lower-cased as BuildKit does.
    pub name: Option<String>,
    /// `--platform=…` (unexpanded).
    pub platform: Option<String>,
    pub instructions: Vec<Instruction>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    pub pos: Pos,
    /// The instruction as written, continuations joined into one line (`RUN echo a &&  echo b`).
    pub original: String,
    pub kind: InstructionKind,
}

/// Exec form (`["a","b"]`) or shell form (the rest of the line, continuations joined).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    Exec(Vec<String>),
    Shell(String),
}

/// A `<<EOF` heredoc attached to RUN or COPY/ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word (`EOF`), without quotes.
    pub name: String,
    /// The body, with `<<-` tab stripping already applied (in [`crate::parser::Node`]'s heredocs,
    /// which feed this, the body is still raw).
    pub content: String,
    /// `false` when the delimiter was quoted (`<<"EOF"` / `<<'EOF'`): no expansion of the body.
    pub expand: bool,
    /// `<<-`: leading tabs were stripped.
    pub chomp: bool,
    /// 1-based line of the first body line in the Dockerfile (0 when not known).
    pub body_line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// As written: may be quoted (`LABEL "com.example key"=v`), so expand it like the value.
    pub key: String,
    /// As written (quotes and escapes kept); expand with [`crate::shell`] to get the value.
    pub value: String,
    /// `true` for `KEY=value`, `false` for the legacy `KEY value` form.
    pub has_equals: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    /// The default as written (unexpanded), if any.
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Run {
    pub command: Option<CommandLine>,
    /// Each `--mount=` value, raw (`type=cache,target=/x`); the solver interprets them.
    pub mounts: Vec<String>,
    pub network: Option<String>,
    pub security: Option<String>,
    pub heredocs: Vec<Heredoc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyFlags {
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
    pub keep_git_dir: bool,
    pub checksum: Option<String>,
    /// ADD `--unpack[=bool]`: `None` lets the source decide (local archives unpack, URLs do not).
    pub unpack: Option<bool>,
}

/// COPY and ADD share their shape; `Instruction::kind` says which one it is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Copy {
    pub flags: CopyFlags,
    /// Sources as written (unexpanded); a heredoc source is named `<<EOF` here and found in `heredocs`.
    pub sources: Vec<String>,
    pub dest: String,
    /// Written in JSON form (`COPY ["a", "b"]`).
    pub json_form: bool,
    pub heredocs: Vec<Heredoc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HealthcheckFlags {
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    pub retries: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    None,
    Cmd {
        flags: HealthcheckFlags,
        command: CommandLine,
    },
}

/// `ONBUILD <trigger>`: an instruction stored in the image config, run by a build `FROM` that image.
#[derive(Debug, Clone, PartialEq)]
pub struct Onbuild {
    /// What goes into the config's `OnBuild` list: the text after `ONBUILD` as written (continuations joined,
    /// heredoc bodies appended), as BuildKit stores it.
    pub expression: String,
    pub trigger: Trigger,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// The trigger parsed as an instruction (its `original` is the [`Onbuild::expression`]).
    Parsed(Box<Instruction>),
    /// The trigger is not a valid instruction (unknown instruction, unknown flag, wrong arguments…). BuildKit
    /// accepts it at parse time and stores it as written; it fails when an image built FROM this one runs it.
    Invalid {
        /// Where the problem is (the trigger's keyword, or the offending flag).
        pos: Pos,
        /// Why it does not parse (`unknown instruction: FOO`).
        message: String,
    },
}

impl Onbuild {
    /// For an invalid trigger, the warning to show (without the `Dockerfile:line:col:` prefix, which is
    /// [`Trigger::Invalid`]'s `pos`).
    pub fn warning(&self) -> Option<(Pos, String)> {
        match &self.trigger {
            Trigger::Parsed(_) => None,
            Trigger::Invalid { pos, message } => Some((
                *pos,
                format!(
                    "ONBUILD trigger {:?} is not a valid instruction ({message}); it is stored as written and \
                     will fail when an image built FROM this one runs it",
                    self.expression
                ),
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum InstructionKind {
    Run(Run),
    Cmd(CommandLine),
    Entrypoint(CommandLine),
    Env(Vec<KeyValue>),
    Arg(Vec<ArgDecl>),
    Label(Vec<KeyValue>),
    Maintainer(String),
    /// Port words as written (unexpanded, not yet split by expansion).
    Expose(Vec<String>),
    Copy(Copy),
    Add(Copy),
    /// Paths: the JSON array's elements, or the shell-form words.
    Volume(Vec<String>),
    User(String),
    Workdir(String),
    Onbuild(Onbuild),
    Stopsignal(String),
    Healthcheck(Healthcheck),
    Shell(Vec<String>),
}

impl InstructionKind {
    /// The instruction keyword, upper-case (`RUN`).
    pub fn keyword(&self) -> &'static str {
        match self {
            InstructionKind::Run(_) => "RUN",
            InstructionKind::Cmd(_) => "CMD",
            InstructionKind::Entrypoint(_) => "ENTRYPOINT",
            InstructionKind::Env(_) => "ENV",
            InstructionKind::Arg(_) => "ARG",
            InstructionKind::Label(_) => "LABEL",
            InstructionKind::Maintainer(_) => "MAINTAINER",
            InstructionKind::Expose(_) => "EXPOSE",
            InstructionKind::Copy(_) => "COPY",
            InstructionKind::Add(_) => "ADD",
            InstructionKind::Volume(_) => "VOLUME",
            InstructionKind::User(_) => "USER",
            InstructionKind::Workdir(_) => "WORKDIR",
            InstructionKind::Onbuild(_) => "ONBUILD",
            InstructionKind::Stopsignal(_) => "STOPSIGNAL",
            InstructionKind::Healthcheck(_) => "HEALTHCHECK",
            InstructionKind::Shell(_) => "SHELL",
        }
    }
}
