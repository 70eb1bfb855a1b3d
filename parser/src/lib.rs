//! hoist-parser: Dockerfile and `.dockerignore` text → typed AST with source positions, and shell-word expansion.
//!
//! Three layers, as in BuildKit's front end: [`parser`] turns text into a generic node tree
//! (directives, continuations, heredocs, JSON vs shell form), [`instructions`] gives the nodes
//! meaning (flags, arity, stages) and produces [`ast`]; [`shell`] expands words for the solver and
//! [`dockerignore`] reads and matches `.dockerignore` patterns.
pub mod ast;
pub mod dockerignore;
mod error;
mod instructions;
pub mod lint;
pub mod parser;
pub mod shell;

pub use error::{snippet, ParseError};

/// Parses a Dockerfile; errors are reported against the file name `Dockerfile`.
pub fn parse(text: &str) -> Result<ast::Dockerfile, ParseError> {
    parse_named("Dockerfile", text)
}

/// Parses a Dockerfile; errors are reported as `file_name:line:col: message`.
pub fn parse_named(file_name: &str, text: &str) -> Result<ast::Dockerfile, ParseError> {
    parse_with_warnings(file_name, text).map(|(dockerfile, _)| dockerfile)
}

/// [`parse_named`], also returning what BuildKit accepts silently but is a mistake (empty continuation lines,
/// ONBUILD triggers that do not parse), in line order.
pub fn parse_with_warnings(
    file_name: &str,
    text: &str,
) -> Result<(ast::Dockerfile, Vec<parser::Warning>), ParseError> {
    let tree = parser::parse_tree_named(file_name, text)?;
    let dockerfile =
        instructions::build(&tree, text).map_err(|e| e.into_parse_error(file_name, text))?;
    let mut warnings = tree.warnings;
    let instructions = dockerfile
        .meta_args
        .iter()
        .chain(dockerfile.stages.iter().flat_map(|s| s.instructions.iter()));
    for ins in instructions {
        if let ast::InstructionKind::Onbuild(onbuild) = &ins.kind {
            if let Some((pos, message)) = onbuild.warning() {
                warnings.push(parser::Warning {
                    line: pos.line,
                    col: pos.col,
                    message,
                });
            }
        }
    }
    warnings.sort_by_key(|w| (w.line, w.col));
    Ok((dockerfile, warnings))
}
