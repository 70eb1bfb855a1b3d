//! Heredoc markers (`<<EOF`, `<<-EOF`, `<<"EOF"`, `2<<EOF`) in RUN/COPY/ADD lines.

use crate::ast::Heredoc;
use crate::shell::{EmptyEnv, Lexer, LexerOptions};
use nom::bytes::complete::{tag, take_while};
use nom::character::complete::{char, digit0};
use nom::combinator::{eof, opt};
use nom::{IResult, Parser};

/// `(\d*)<<(-?)\s*([^<]*)` over a whole word: the chomp flag and the delimiter text.
fn heredoc_marker(word: &str) -> IResult<&str, (bool, &str)> {
    let re_space = |c: char| matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ');
    let (input, (_, _, dash, _, name, _)) = (
        digit0,
        tag("<<"),
        opt(char('-')),
        take_while(re_space),
        take_while(|c| c != '<'),
        eof,
    )
        .parse(word)?;
    Ok((input, (dash.is_some(), name)))
}

fn lex_words(text: &str, raw_quotes: bool, raw_escapes: bool) -> Result<Vec<String>, String> {
    let opts = LexerOptions {
        escape: '\\',
        raw_quotes,
        raw_escapes,
        skip_unset: true,
    };
    let mut lexer = Lexer::new(text, &EmptyEnv, opts);
    lexer
        .process()
        .map(|(_, words)| words)
        .map_err(|e| e.to_string())
}

/// Reads one word as a heredoc marker; `Ok(None)` when it is not one. The delimiter is the word
/// with quotes removed; any quoting at all turns expansion of the body off.
pub(crate) fn parse_heredoc(word: &str) -> Result<Option<Heredoc>, String> {
    let Ok((_, (chomp, rest))) = heredoc_marker(word) else {
        return Ok(None);
    };
    if rest.is_empty() {
        return Ok(None);
    }
    let words = lex_words(rest, false, false)?;
    if words.len() != 1 {
        return Ok(None);
    }
    let raw = lex_words(rest, true, false)?;
    if raw.len() != words.len() {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        ));
    }
    let quotes = |s: &str| s.chars().filter(|&c| c == '\'' || c == '"').count();
    let expand = quotes(&words[0]) == quotes(&raw[0]);
    Ok(Some(Heredoc {
        name: words[0].clone(),
        content: String::new(),
        expand,
        chomp,
        body_line: 0,
    }))
}

/// Every heredoc marker on an instruction line, in order.
pub(super) fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, String> {
    // A line the shell lexer cannot split (an open quote) has no heredocs, as in BuildKit.
    let words = lex_words(line, true, true).unwrap_or_default();
    let mut docs = Vec::new();
    for word in words {
        if let Some(doc) = parse_heredoc(&word)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_marker_expands() {
        let doc = parse_heredoc("<<EOF").unwrap().unwrap();
        assert_eq!(
            (doc.name.as_str(), doc.expand, doc.chomp),
            ("EOF", true, false)
        );
    }

    #[test]
    fn dash_marker_chomps() {
        let doc = parse_heredoc("<<-END").unwrap().unwrap();
        assert!(doc.chomp);
        assert_eq!(doc.name, "END");
    }

    #[test]
    fn quoted_marker_disables_expansion() {
        for w in ["<<\"EOF\"", "<<'EOF'", "<<E\"O\"F"] {
            let doc = parse_heredoc(w).unwrap().unwrap();
            assert_eq!(doc.name, "EOF");
            assert!(!doc.expand, "{w}");
        }
    }

    #[test]
    fn fd_prefix_and_non_markers() {
        assert_eq!(parse_heredoc("3<<EOF").unwrap().unwrap().name, "EOF");
        assert_eq!(parse_heredoc("<<").unwrap(), None);
        assert_eq!(parse_heredoc("a<<EOF").unwrap(), None);
        assert_eq!(parse_heredoc("<<EOF<").unwrap(), None);
        assert_eq!(parse_heredoc("echo").unwrap(), None);
    }

    #[test]
    fn whitespace_after_the_arrows() {
        let names = |line: &str| -> Vec<String> {
            heredocs_from_line(line)
                .unwrap()
                .into_iter()
                .map(|d| d.name)
                .collect()
        };
        assert_eq!(names("RUN <<  EOF"), vec!["EOF"]);
        assert_eq!(names("RUN <<  EOF  > foo"), vec!["EOF"]);
        // Only whitespace right after `<<` joins the word; after `<<-` it splits, as in BuildKit.
        assert!(names("RUN <<- EOF").is_empty());
        assert_eq!(names("RUN << -EOF"), vec!["-EOF"]);
        assert_eq!(names("RUN <<$EOF"), vec!["$EOF"]);
        assert!(names("RUN '<<EOF' \"<<X\"").is_empty());
        assert_eq!(parse_heredoc("<< EOF").unwrap().unwrap().name, "EOF");
    }

    #[test]
    fn unbalanced_quotes_in_a_marker_are_errors() {
        for bad in ["<<'EOF", "<<\"EOF", "<<EOF'", "<<EOF\""] {
            assert!(parse_heredoc(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_heredoc("<<EOF sh").unwrap(), None);
        assert_eq!(parse_heredoc("<<<EOF").unwrap(), None);
    }

    #[test]
    fn several_markers_on_a_line() {
        let docs = heredocs_from_line("RUN <<A cat - <<-'B'").unwrap();
        let names: Vec<_> = docs
            .iter()
            .map(|d| (d.name.as_str(), d.expand, d.chomp))
            .collect();
        assert_eq!(names, vec![("A", true, false), ("B", false, true)]);
    }
}
