//! The character-level expansion state machine, following BuildKit's `shell.Lex` rule for rule
//! (quote handling, which characters an escape protects, when a `$` is literal, how words split).

use super::pattern::{replace_pattern, trim_prefix, trim_suffix};
use super::{Env, ShellErrorReason};

#[derive(Debug, Clone, Copy)]
pub(crate) struct LexerOptions {
    pub escape: char,
    /// Keep quote characters in the output (used to tell quoted heredoc delimiters apart).
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Leave references to unset variables as written (`$X`, `${X:-y}`) instead of expanding them.
    pub skip_unset: bool,
}

impl Default for LexerOptions {
    fn default() -> Self {
        LexerOptions {
            escape: '\\',
            raw_quotes: false,
            raw_escapes: false,
            skip_unset: false,
        }
    }
}

/// Accumulates the split words while the expanded string is built.
#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    /// A character that came from unquoted text or a variable: whitespace separates words.
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }

    fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        for ch in s.chars() {
            self.add_char(ch);
        }
    }

    /// Quoted text: whitespace inside stays part of the word.
    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(std::mem::take(&mut self.word));
        }
        self.words
    }
}

pub(crate) struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn super::Env,
    opts: LexerOptions,
    unmatched: Vec<String>,
    /// How many `${…}` are open; bounded so hostile input cannot exhaust the stack.
    depth: usize,
}

/// Deeper nesting than any real Dockerfile uses.
const MAX_NESTING: usize = 128;

type Res<T> = Result<T, ShellErrorReason>;

impl<'a> Lexer<'a> {
    pub fn new(text: &str, env: &'a dyn Env, opts: LexerOptions) -> Self {
        Lexer {
            chars: text.chars().collect(),
            pos: 0,
            env,
            opts,
            unmatched: Vec::new(),
            depth: 0,
        }
    }

    /// Expands the whole text: the joined result and the split words.
    pub fn process(&mut self) -> Res<(String, Vec<String>)> {
        let raw = self.opts.raw_escapes;
        self.process_stop_on(None, raw)
    }

    pub fn into_unmatched(self) -> Vec<String> {
        self.unmatched
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let ch = self.peek();
        if ch.is_some() {
            self.pos += 1;
        }
        ch
    }

    fn get_env(&mut self, name: &str) -> Option<String> {
        let value = self.env.get(name);
        if value.is_none() && !self.unmatched.iter().any(|n| n == name) {
            self.unmatched.push(name.to_string());
        }
        value
    }

    /// Processes until `stop` (consumed) or the end of the text; `raw_escapes` applies for the
    /// duration of this call (patterns inside `${…}` keep their escapes for the matcher).
    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Res<(String, Vec<String>)> {
        let saved = self.opts.raw_escapes;
        self.opts.raw_escapes = raw_escapes;
        let result = self.process_stop_on_inner(stop);
        self.opts.raw_escapes = saved;
        result
    }

    fn process_stop_on_inner(&mut self, stop: Option<char>) -> Res<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            match ch {
                '$' => {
                    let value = self.process_dollar()?;
                    result.push_str(&value);
                    words.add_string(&value);
                }
                '<' => {
                    let value = self.process_possible_heredoc();
                    result.push_str(&value);
                    words.add_raw_string(&value);
                }
                '\'' => {
                    let value = self.process_single_quote()?;
                    result.push_str(&value);
                    words.add_raw_string(&value);
                }
                '"' => {
                    let value = self.process_double_quote()?;
                    result.push_str(&value);
                    words.add_raw_string(&value);
                }
                _ => {
                    self.pos += 1;
                    if ch == self.opts.escape {
                        if self.opts.raw_escapes {
                            words.add_raw_char(ch);
                            result.push(ch);
                        }
                        // The escape protects the next character; at the very end it vanishes.
                        let Some(escaped) = self.next() else { break };
                        words.add_raw_char(escaped);
                        result.push(escaped);
                    } else {
                        words.add_char(ch);
                        result.push(ch);
                    }
                }
            }
        }
        if let Some(stop) = stop {
            return Err(ShellErrorReason::Unterminated(match stop {
                '}' => "'}'",
                '/' => "'/'",
                _ => "delimiter",
            }));
        }
        Ok((result, words.finish()))
    }

    /// `<<` keeps the whitespace after it in the same word, so `<<  EOF` stays one heredoc
    /// marker when a line is split into words.
    fn process_possible_heredoc(&mut self) -> String {
        self.pos += 1;
        if self.peek() != Some('<') {
            return "<".to_string();
        }
        self.pos += 1;
        let mut marker = String::from("<<");
        while let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
            marker.push(c);
            self.pos += 1;
        }
        marker
    }

    /// Everything up to the next `'` is literal; there is no escape inside single quotes.
    fn process_single_quote(&mut self) -> Res<String> {
        let mut result = String::new();
        let open = self.next();
        if self.opts.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.next() {
                None => return Err(ShellErrorReason::Unterminated("single quote")),
                Some('\'') => {
                    if self.opts.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(ch) => result.push(ch),
            }
        }
    }

    /// Inside double quotes `$` expands and the escape protects only `"`, `$` and itself;
    /// before any other character it stays literal.
    fn process_double_quote(&mut self) -> Res<String> {
        let mut result = String::new();
        let open = self.next();
        if self.opts.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.peek() {
                None => return Err(ShellErrorReason::Unterminated("double quote")),
                Some('"') => {
                    self.pos += 1;
                    if self.opts.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let value = self.process_dollar()?;
                    result.push_str(&value);
                }
                Some(mut ch) => {
                    self.pos += 1;
                    if ch == self.opts.escape {
                        if self.opts.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(next)
                                if next == '"' || next == '$' || next == self.opts.escape =>
                            {
                                ch = next;
                                self.pos += 1;
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn process_dollar(&mut self) -> Res<String> {
        if self.depth >= MAX_NESTING {
            return Err(ShellErrorReason::TooDeep(MAX_NESTING));
        }
        self.depth += 1;
        let result = self.process_dollar_inner();
        self.depth -= 1;
        result
    }

    fn process_dollar_inner(&mut self) -> Res<String> {
        self.pos += 1; // the '$'
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.opts.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1; // the '{'
        match self.peek() {
            None => return Err(ShellErrorReason::MissingBrace),
            Some('{' | '}' | ':') => return Err(ShellErrorReason::BadSubstitution),
            Some(_) => {}
        }
        let name = self.process_name();
        let Some(mut op) = self.next() else {
            return Err(ShellErrorReason::MissingBrace);
        };
        let mut modifier = op.to_string();
        match op {
            '}' => Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.opts.skip_unset => format!("${{{name}}}"),
                None => String::new(),
            }),
            ':' | '+' | '-' | '?' | '#' | '%' => {
                let null_is_unset = op == ':';
                if null_is_unset {
                    match self.next() {
                        Some(c) => {
                            op = c;
                            modifier.push(c);
                        }
                        None => return Err(ShellErrorReason::MissingBrace),
                    }
                }
                let raw_escapes = op == '#' || op == '%';
                let word = match self.process_stop_on(Some('}'), raw_escapes) {
                    Ok((word, _)) => word,
                    Err(_) if self.peek().is_none() => return Err(ShellErrorReason::MissingBrace),
                    Err(e) => return Err(e),
                };
                let value = self.get_env(&name);
                if self.opts.skip_unset && value.is_none() {
                    return Ok(format!("${{{name}{modifier}{word}}}"));
                }
                let is_null = |v: &Option<String>| match v {
                    None => true,
                    Some(s) => null_is_unset && s.is_empty(),
                };
                match op {
                    '-' => Ok(if is_null(&value) {
                        word
                    } else {
                        value.unwrap_or_default()
                    }),
                    '+' => Ok(if is_null(&value) { String::new() } else { word }),
                    '?' => match value {
                        None => Err(required(&name, word, "is not allowed to be unset")),
                        Some(v) if null_is_unset && v.is_empty() => {
                            Err(required(&name, word, "is not allowed to be empty"))
                        }
                        Some(v) => Ok(v),
                    },
                    '#' | '%' if !null_is_unset => {
                        let (pattern, greedy) = match word.strip_prefix(op) {
                            Some(rest) => (rest.to_string(), true),
                            None => (word, false),
                        };
                        let value = value.unwrap_or_default();
                        if op == '%' {
                            trim_suffix(&pattern, &value, greedy)
                        } else {
                            trim_prefix(&pattern, &value, greedy)
                        }
                    }
                    _ => Err(ShellErrorReason::UnsupportedModifier(modifier)),
                }
            }
            '/' => {
                let replace_all = self.peek() == Some('/');
                if replace_all {
                    self.pos += 1;
                }
                let pattern = match self.process_stop_on(Some('/'), true) {
                    Ok((p, _)) => p,
                    Err(_) if self.peek().is_none() => return Err(ShellErrorReason::MissingSlash),
                    Err(e) => return Err(e),
                };
                let replacement = match self.process_stop_on(Some('}'), true) {
                    Ok((r, _)) => r,
                    Err(_) if self.peek().is_none() => return Err(ShellErrorReason::MissingBrace),
                    Err(e) => return Err(e),
                };
                let value = self.get_env(&name);
                if self.opts.skip_unset && value.is_none() {
                    return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
                }
                replace_pattern(
                    &pattern,
                    &replacement,
                    &value.unwrap_or_default(),
                    replace_all,
                )
            }
            _ => Err(ShellErrorReason::UnsupportedModifier(modifier)),
        }
    }

    /// A variable name: letters, digits and `_`; or a run of digits (a positional parameter);
    /// or one special parameter character (`$@`, `$#` …). Those are never set in a Dockerfile.
    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return ch.to_string();
            }
            if !(ch.is_alphanumeric() || ch == '_') {
                break;
            }
            name.push(ch);
            self.pos += 1;
        }
        name
    }
}

fn required(name: &str, word: String, default_message: &str) -> ShellErrorReason {
    let message = if word.is_empty() {
        default_message.to_string()
    } else {
        word
    };
    ShellErrorReason::Required {
        name: name.to_string(),
        message,
    }
}
