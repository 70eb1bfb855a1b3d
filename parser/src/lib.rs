//! hoist-parser: Dockerfile and `.dockerignore` text → typed AST with source positions, and shell-word expansion.
pub mod ast;
