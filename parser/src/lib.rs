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
pub mod parser;
pub mod shell;

pub use error::ParseError;

/// Parses a Dockerfile; errors are reported against the file name `Dockerfile`.
pub fn parse(text: &str) -> Result<ast::Dockerfile, ParseError> {
    parse_named("Dockerfile", text)
}

/// Parses a Dockerfile; errors are reported as `file_name:line:col: message`.
pub fn parse_named(file_name: &str, text: &str) -> Result<ast::Dockerfile, ParseError> {
    parse_with_warnings(file_name, text).map(|(dockerfile, _)| dockerfile)
}

/// [`parse_named`], also returning what BuildKit warns about but accepts (empty continuation lines).
pub fn parse_with_warnings(
    file_name: &str,
    text: &str,
) -> Result<(ast::Dockerfile, Vec<parser::Warning>), ParseError> {
    let tree = parser::parse_tree_named(file_name, text)?;
    let dockerfile =
        instructions::build(&tree, text).map_err(|e| e.into_parse_error(file_name, text))?;
    Ok((dockerfile, tree.warnings))
}
