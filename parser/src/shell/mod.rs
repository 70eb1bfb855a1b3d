//! Shell-word expansion as BuildKit's Dockerfile lexer does it (`$V`, `${V:-w}`, quotes, escapes,
//! word splitting). This is not a shell: no command substitution, no globbing, no arithmetic.
//!
//! Used by the solver for ARG/ENV/LABEL/WORKDIR/COPY/ADD/EXPOSE/USER/VOLUME/STOPSIGNAL/FROM, and by
//! the parser itself to recognise heredoc delimiters.

mod lexer;
mod pattern;

use std::collections::{BTreeMap, HashMap};

pub(crate) use lexer::{Lexer, LexerOptions};

/// A source of variable values for expansion.
pub trait Env {
    /// The value of `name`, or `None` when it is not set (an empty value is set).
    fn get(&self, name: &str) -> Option<String>;
}

impl Env for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

impl Env for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        BTreeMap::get(self, name).cloned()
    }
}

/// A list of `(name, value)` pairs; a later pair overrides an earlier one with the same name,
/// as in a process environment built up by successive `ENV` instructions.
impl Env for [(String, String)] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

impl Env for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<String> {
        Env::get(self.as_slice(), name)
    }
}

/// Lets a slice (which cannot itself become `&dyn Env`) be passed as `&slice`.
impl<T: Env + ?Sized> Env for &T {
    fn get(&self, name: &str) -> Option<String> {
        (**self).get(name)
    }
}

/// An environment with no variables set.
pub struct EmptyEnv;

impl Env for EmptyEnv {
    fn get(&self, _name: &str) -> Option<String> {
        None
    }
}

/// Why an expansion failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShellErrorReason {
    #[error("unexpected end of text while looking for the matching {0}")]
    Unterminated(&'static str),
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    #[error("{name}: {message}")]
    Required { name: String, message: String },
    #[error("substitutions nested more than {0} deep")]
    TooDeep(usize),
    #[error("invalid pattern ({pattern}) in substitution: {reason}")]
    InvalidPattern { pattern: String, reason: String },
}

/// A word that could not be expanded: which word, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to expand {word:?}: {reason}")]
pub struct ShellError {
    pub word: String,
    pub reason: ShellErrorReason,
}

fn default_options(escape: char) -> LexerOptions {
    LexerOptions {
        escape,
        ..LexerOptions::default()
    }
}

/// Expands variables in `word` and removes quotes and escapes, keeping whitespace (one word in,
/// one string out), as for the value of `ENV`, `ARG`, `WORKDIR`, `USER`, a `COPY` source …
pub fn expand_word(word: &str, env: &dyn Env, escape: char) -> Result<String, ShellError> {
    let mut lexer = Lexer::new(word, env, default_options(escape));
    lexer
        .process()
        .map(|(result, _)| result)
        .map_err(|reason| ShellError {
            word: word.to_string(),
            reason,
        })
}

/// Expands variables in `text` and splits the result into words at unquoted whitespace (including
/// whitespace that came from a variable's value), as for `EXPOSE` and the shell form of `VOLUME`.
pub fn expand_words(text: &str, env: &dyn Env, escape: char) -> Result<Vec<String>, ShellError> {
    let mut lexer = Lexer::new(text, env, default_options(escape));
    lexer
        .process()
        .map(|(_, words)| words)
        .map_err(|reason| ShellError {
            word: text.to_string(),
            reason,
        })
}

/// The names `word` references that have no value in `env`, in order of first use, so the caller
/// can warn about them as BuildKit does. A word that does not expand yields the names seen before
/// the error.
pub fn unset_variables(word: &str, env: &dyn Env, escape: char) -> Vec<String> {
    let mut lexer = Lexer::new(word, env, default_options(escape));
    let _ = lexer.process();
    lexer.into_unmatched()
}

#[cfg(test)]
mod tests;
