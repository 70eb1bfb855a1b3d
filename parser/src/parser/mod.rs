//! Text → a generic node tree, as BuildKit's `parser` package does it: parser directives, line
//! continuations, comments inside continuations, heredoc bodies, and per-instruction argument
//! shapes (JSON vs shell form, `KEY=value` pairs, whitespace lists). No meaning is given here:
//! unknown instructions and unknown flags are kept, [`crate::instructions`] judges them.

mod directives;
mod flags;
mod heredoc;
mod json;
mod line_parsers;
mod quote;

use crate::ast::{Directives, Heredoc};
use crate::error::{ParseError, RawError};
use directives::DirectiveParser;

pub(crate) use heredoc::parse_heredoc;
pub use quote::go_quote;

/// One argument of a node: a plain string, or (for `ONBUILD`) a nested instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Value(String),
    Sub(Box<Node>),
}

/// One instruction as the parser sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The instruction keyword as written (`copy`, `COPY`).
    pub keyword: String,
    /// `--name=value` words before the arguments, quotes removed, as written otherwise.
    pub flags: Vec<String>,
    pub args: Vec<Arg>,
    /// The arguments were a JSON array (exec form).
    pub json: bool,
    /// Heredoc bodies read after the line, raw (no `<<-` tab stripping yet).
    pub heredocs: Vec<Heredoc>,
    /// The instruction line with continuations joined (comments and blank lines inside dropped).
    pub original: String,
    /// 1-based first and last physical line (the last includes heredoc bodies).
    pub start_line: usize,
    pub end_line: usize,
    /// 1-based column of the keyword on `start_line`.
    pub col: usize,
    /// Comment lines right above the instruction, without `#`.
    pub comments: Vec<String>,
}

impl Node {
    /// The plain string arguments (a nested instruction contributes its keyword and arguments).
    pub fn arg_values(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.args.len());
        for arg in &self.args {
            match arg {
                Arg::Value(v) => out.push(v.clone()),
                Arg::Sub(node) => {
                    out.push(node.keyword.clone());
                    out.extend(node.arg_values());
                }
            }
        }
        out
    }

    /// BuildKit's s-expression dump of this node: `copy ["--from=a"] "src" "dst"`.
    pub fn dump(&self) -> String {
        let mut out = self.keyword.to_lowercase();
        if !self.flags.is_empty() {
            let quoted: Vec<String> = self.flags.iter().map(|f| go_quote(f)).collect();
            out.push_str(&format!(" [{}]", quoted.join(" ")));
        }
        for arg in &self.args {
            out.push(' ');
            match arg {
                Arg::Value(v) => out.push_str(&go_quote(v)),
                Arg::Sub(node) => out.push_str(&format!("({})", node.dump())),
            }
        }
        out.trim().to_string()
    }

    /// Whether heredocs on this line are read (RUN, COPY, ADD in shell form, also under ONBUILD).
    fn can_contain_heredoc(&self) -> bool {
        let node = match self.args.first() {
            Some(Arg::Sub(inner)) if self.keyword.eq_ignore_ascii_case("onbuild") => inner,
            _ => self,
        };
        let keyword = node.keyword.to_ascii_lowercase();
        matches!(keyword.as_str(), "run" | "copy" | "add") && !node.json
    }
}

/// A warning the parser found (BuildKit prints these but builds anyway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub line: usize,
    /// 1-based column; 0 when the warning is about a whole line.
    pub col: usize,
    pub message: String,
}

/// The parsed node tree of a whole Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    pub directives: Directives,
    pub nodes: Vec<Node>,
    pub warnings: Vec<Warning>,
}

impl Tree {
    /// BuildKit's test dump: one `(instruction args…)` line per node.
    pub fn dump(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("({})\n", n.dump()))
            .collect()
    }
}

/// [`parse_tree_named`] with the file name `Dockerfile`.
pub fn parse_tree(text: &str) -> Result<Tree, ParseError> {
    parse_tree_named("Dockerfile", text)
}

/// Parses Dockerfile text into its node tree; errors carry `file_name`.
pub fn parse_tree_named(file_name: &str, text: &str) -> Result<Tree, ParseError> {
    parse_raw(text).map_err(|e| e.into_parse_error(file_name, text))
}

/// Lines with their line breaks kept (heredoc bodies need them).
fn split_lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    trim_newline(line).trim_start().starts_with('#')
}

/// Removes a trailing escape character (and spaces/tabs after it). An escape that is itself
/// escaped (`\\` at the end) is not a continuation. Returns the line and whether it ended.
fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    if let Some(before) = body.strip_suffix(escape) {
        match before.chars().last() {
            None => return (String::new(), false),
            Some(c) if c != escape => return (before.to_string(), false),
            Some(_) => {}
        }
    }
    (line.to_string(), true)
}

pub(crate) fn parse_raw(text: &str) -> Result<Tree, RawError> {
    let lines = split_lines(text);
    let mut directive_parser = DirectiveParser::default();
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    let mut comments: Vec<String> = Vec::new();
    let mut next = 0usize; // index of the next unread line
    let mut current_line = 0usize; // 1-based number of the last line read

    while next < lines.len() {
        let mut raw = lines[next];
        next += 1;
        if current_line == 0 {
            raw = raw.strip_prefix('\u{feff}').unwrap_or(raw);
        }
        current_line += 1;
        if is_comment(raw) {
            let comment = trim_newline(raw).trim_start()[1..].trim().to_string();
            if comment.is_empty() {
                comments.clear();
            } else {
                comments.push(comment);
            }
        }
        let processed = process_line(&mut directive_parser, raw, true, current_line)?;
        let start_line = current_line;
        let col = raw.chars().take_while(|c| c.is_whitespace()).count() + 1;
        let (mut line, mut ended) = trim_continuation(&processed, directive_parser.escape());
        if ended && line.is_empty() {
            continue;
        }

        let mut has_empty_continuation = false;
        while !ended && next < lines.len() {
            let raw = lines[next];
            next += 1;
            current_line += 1;
            let processed = process_line(&mut directive_parser, raw, false, current_line)?;
            if is_comment(raw) {
                continue;
            }
            if processed.trim_start().is_empty() {
                has_empty_continuation = true;
                continue;
            }
            let (continuation, now_ended) =
                trim_continuation(&processed, directive_parser.escape());
            ended = now_ended;
            line.push_str(&continuation);
        }
        if has_empty_continuation {
            warnings.push(Warning {
                line: current_line,
                col: 0,
                message: format!(
                    "empty continuation line found in: {line} (empty continuation lines will become errors in a future release)"
                ),
            });
        }

        let mut node = line_parsers::node_from_line(&line, directive_parser.escape())
            .map_err(|message| RawError::new(start_line, col, message))?;

        if node.can_contain_heredoc() && line.contains("<<") {
            let heredocs = heredoc::heredocs_from_line(&line)
                .map_err(|m| RawError::new(start_line, col, m))?;
            for mut doc in heredocs {
                doc.body_line = current_line + 1;
                let mut terminated = false;
                while next < lines.len() {
                    let raw = lines[next];
                    next += 1;
                    current_line += 1;
                    let mut candidate = trim_newline(raw);
                    if doc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    doc.content.push_str(raw);
                }
                if !terminated {
                    return Err(RawError::new(
                        start_line,
                        col,
                        format!(
                            "unterminated heredoc: no line {:?} ends it before the end of the file",
                            doc.name
                        ),
                    ));
                }
                node.heredocs.push(doc);
            }
        }

        node.set_position(start_line, current_line, col);
        node.comments = std::mem::take(&mut comments);
        nodes.push(node);
    }

    if nodes.is_empty() {
        return Err(RawError::new(
            current_line,
            1,
            "file with no instructions: a Dockerfile needs at least a FROM instruction",
        ));
    }
    Ok(Tree {
        directives: directive_parser.into_directives(),
        nodes,
        warnings,
    })
}

/// Strips the line break (and leading whitespace on a first line), feeds the directive parser,
/// and blanks out a comment line.
fn process_line(
    directives: &mut DirectiveParser,
    raw: &str,
    strip_leading: bool,
    line_no: usize,
) -> Result<String, RawError> {
    let mut token = trim_newline(raw);
    if strip_leading {
        token = token.trim_start();
    }
    directives
        .parse_line(token)
        .map_err(|m| RawError::new(line_no, 1, m))?;
    if token.starts_with('#') {
        return Ok(String::new());
    }
    Ok(token.to_string())
}

impl Node {
    fn set_position(&mut self, start_line: usize, end_line: usize, col: usize) {
        self.start_line = start_line;
        self.end_line = end_line;
        self.col = col;
        for arg in &mut self.args {
            if let Arg::Sub(inner) = arg {
                let inner_col = self
                    .original
                    .trim_start()
                    .find(&inner.keyword)
                    .map(|i| col + self.original.trim_start()[..i].chars().count())
                    .unwrap_or(col);
                inner.set_position(start_line, end_line, inner_col);
            }
        }
    }
}

#[cfg(test)]
mod tests;
