//! `hoist debug …`: hidden subcommands that expose the parser for conformance testing.
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use hoist_parser::{dockerignore, parser, shell};
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct DebugArgs {
    #[command(subcommand)]
    command: DebugCommand,
}

#[derive(Debug, Subcommand)]
enum DebugCommand {
    /// Print a Dockerfile's parse tree in BuildKit's dump format (or, with --ast, the typed AST).
    Parse {
        /// Print the typed AST (stages and instructions) instead of the node dump.
        #[arg(long)]
        ast: bool,
        file: PathBuf,
    },
    /// Expand one word (or, with --words, split text into words) as the Dockerfile lexer does.
    Expand {
        /// Escape character: \ (default) or `.
        #[arg(long, default_value = "\\")]
        escape: char,
        /// A variable, NAME=VALUE (NAME alone sets it to the empty string); repeatable.
        #[arg(long = "env", value_name = "NAME=VALUE")]
        env: Vec<String>,
        /// Split the expansion into words, one per line.
        #[arg(long)]
        words: bool,
        word: String,
    },
    /// Print `true` if PATH or a parent directory is excluded by the .dockerignore patterns.
    Ignore {
        /// A pattern as written in .dockerignore; repeatable, later ones win.
        #[arg(long = "pattern", value_name = "PATTERN", allow_hyphen_values = true)]
        patterns: Vec<String>,
        /// Read patterns from a .dockerignore file (before any --pattern).
        #[arg(long)]
        file: Option<PathBuf>,
        path: String,
    },
}

pub fn run(args: DebugArgs) -> anyhow::Result<i32> {
    match args.command {
        DebugCommand::Parse { ast, file } => parse(&file, ast),
        DebugCommand::Expand {
            escape,
            env,
            words,
            word,
        } => expand(escape, &env, words, &word),
        DebugCommand::Ignore {
            patterns,
            file,
            path,
        } => ignore(patterns, file, &path),
    }
}

fn parse(file: &PathBuf, ast: bool) -> anyhow::Result<i32> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "Dockerfile".into());
    if ast {
        match hoist_parser::parse_named(&name, &text) {
            Ok(dockerfile) => emit(&format!("{dockerfile:#?}\n"))?,
            Err(e) => {
                errln!("{e}");
                return Ok(1);
            }
        }
        return Ok(0);
    }
    match parser::parse_tree_named(&name, &text) {
        Ok(tree) => {
            for warning in &tree.warnings {
                errln!("warning: {name}:{}: {}", warning.line, warning.message);
            }
            emit(&tree.dump())?;
            Ok(0)
        }
        Err(e) => {
            errln!("{e}");
            Ok(1)
        }
    }
}

fn expand(escape: char, env: &[String], words: bool, word: &str) -> anyhow::Result<i32> {
    if escape != '\\' && escape != '`' {
        bail!("--escape must be \\ or `, not {escape:?}");
    }
    let vars: HashMap<String, String> = env
        .iter()
        .map(|e| match e.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (e.clone(), String::new()),
        })
        .collect();
    let result = if words {
        shell::expand_words(word, &vars, escape)
            .map(|w| w.into_iter().map(|w| w + "\n").collect::<String>())
    } else {
        shell::expand_word(word, &vars, escape).map(|w| w + "\n")
    };
    match result {
        Ok(out) => {
            emit(&out)?;
            Ok(0)
        }
        Err(e) => {
            errln!("hoist: {e}");
            Ok(1)
        }
    }
}

fn ignore(mut patterns: Vec<String>, file: Option<PathBuf>, path: &str) -> anyhow::Result<i32> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let mut from_file = dockerignore::read_patterns(&text);
        from_file.append(&mut patterns);
        patterns = from_file;
    }
    match dockerignore::Matcher::new(&patterns) {
        Ok(matcher) => {
            emit(&format!("{}\n", matcher.excluded(path)))?;
            Ok(0)
        }
        Err(e) => {
            errln!("hoist: {e}");
            Ok(1)
        }
    }
}

/// Writes to stdout; a closed pipe (`| head`) ends the output quietly instead of panicking.
fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
