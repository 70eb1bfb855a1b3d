//! Text → nodes: the template's text and its `{{ … }}` actions, with Go's trim markers (`{{-`, `-}}`).

/// One piece of a template.
#[derive(Debug, Clone)]
pub(super) enum Node {
    Text(String),
    /// `{{pipeline}}` (prints its value, unless it declares variables).
    Action(Pipeline),
    /// `{{if}}…{{else if}}…{{else}}…{{end}}`: the branches in order, then the else body.
    If {
        branches: Vec<(Pipeline, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
    Range {
        pipeline: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    With {
        pipeline: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

/// `$a, $b := cmd | cmd`.
#[derive(Debug, Clone)]
pub(super) struct Pipeline {
    pub declare: Vec<String>,
    pub commands: Vec<Vec<Operand>>,
    /// Where the action starts (for error messages): `line:col`.
    pub at: String,
}

#[derive(Debug, Clone)]
pub(super) enum Operand {
    /// `.` followed by fields (`.` alone: none).
    Dot(Vec<String>),
    /// `$` or `$name`, followed by fields.
    Var(String, Vec<String>),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    Func(String),
    /// `(pipeline)` followed by fields.
    Sub(Box<Pipeline>, Vec<String>),
}

/// Parses a whole template.
pub(super) fn parse(text: &str) -> Result<Vec<Node>, String> {
    let pieces = split(text)?;
    let mut iter = pieces.into_iter().peekable();
    let (nodes, end) = parse_list(&mut iter)?;
    match end {
        None => Ok(nodes),
        Some((word, at)) => Err(format!("template: :{at}: unexpected {{{{{word}}}}}")),
    }
}

/// A piece of the template text: text, or the inside of an action with its position.
enum Piece {
    Text(String),
    Action(String, String),
}

/// Splits text into text and actions, applying the trim markers.
fn split(text: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    let mut consumed = 0;
    let mut trim_next_text = false;
    loop {
        let Some(start) = rest.find("{{") else {
            let t = if trim_next_text {
                rest.trim_start()
            } else {
                rest
            };
            if !t.is_empty() {
                pieces.push(Piece::Text(t.to_string()));
            }
            return Ok(pieces);
        };
        let mut before = &rest[..start];
        if trim_next_text {
            before = before.trim_start();
        }
        let after_open = &rest[start + 2..];
        let trim_before = after_open.starts_with("- ") || after_open.starts_with("-\t");
        if trim_before {
            before = before.trim_end();
        }
        if !before.is_empty() {
            pieces.push(Piece::Text(before.to_string()));
        }
        let at = position(text, consumed + start);
        let Some(close) = find_close(after_open) else {
            return Err(format!("template: :{at}: unclosed action"));
        };
        let mut inner = &after_open[..close];
        if trim_before {
            inner = &inner[1..];
        }
        trim_next_text = inner.ends_with(" -") || inner.ends_with("\t-");
        if trim_next_text {
            inner = &inner[..inner.len() - 1];
        }
        let inner = inner.trim();
        // `{{/* comment */}}` prints nothing.
        if !(inner.starts_with("/*") && inner.ends_with("*/")) {
            pieces.push(Piece::Action(inner.to_string(), at));
        }
        let advance = start + 2 + close + 2;
        consumed += advance;
        rest = &rest[advance..];
    }
}

/// The index of the `}}` that closes an action, skipping quoted strings.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        match quote {
            Some(q) => {
                if b[i] == b'\\' && q == b'"' {
                    i += 1;
                } else if b[i] == q {
                    quote = None;
                }
            }
            None => {
                if b[i] == b'"' || b[i] == b'`' {
                    quote = Some(b[i]);
                } else if b[i] == b'}' && b.get(i + 1) == Some(&b'}') {
                    return Some(i);
                }
            }
        }
        i += 1;
    }
    None
}

fn position(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = offset - before.rfind('\n').map_or(0, |i| i + 1);
    format!("{line}:{col}")
}

type Pieces = std::iter::Peekable<std::vec::IntoIter<Piece>>;

/// Parses nodes until `end`/`else` (returned, with the rest of that action) or the end of input.
/// The `end`/`else` action that stopped a list (its text and position), if any.
type ListEnd = Option<(String, String)>;

fn parse_list(iter: &mut Pieces) -> Result<(Vec<Node>, ListEnd), String> {
    let mut nodes = Vec::new();
    while let Some(piece) = iter.next() {
        let (inner, at) = match piece {
            Piece::Text(t) => {
                nodes.push(Node::Text(t));
                continue;
            }
            Piece::Action(inner, at) => (inner, at),
        };
        let (keyword, rest) = match inner.split_once(|c: char| c.is_whitespace()) {
            Some((k, r)) => (k, r.trim()),
            None => (inner.as_str(), ""),
        };
        match keyword {
            "end" | "else" => return Ok((nodes, Some((inner.clone(), at)))),
            "if" => nodes.push(parse_if(iter, rest, &at)?),
            "range" | "with" => {
                let pipeline = parse_pipeline(rest, &at)?;
                let (body, end) = parse_list(iter)?;
                let otherwise = match end {
                    Some((word, _)) if word == "end" => Vec::new(),
                    Some((word, at)) if word == "else" => expect_end(iter, &at)?,
                    Some((word, at)) => {
                        return Err(format!("template: :{at}: unexpected {{{{{word}}}}}"))
                    }
                    None => return Err(format!("template: :{at}: unexpected EOF")),
                };
                nodes.push(if keyword == "range" {
                    Node::Range {
                        pipeline,
                        body,
                        otherwise,
                    }
                } else {
                    Node::With {
                        pipeline,
                        body,
                        otherwise,
                    }
                });
            }
            "define" | "template" | "block" | "break" | "continue" => {
                return Err(format!(
                    "template: :{at}: {{{{{keyword}}}}} is not supported by hoist's templates"
                ))
            }
            _ => nodes.push(Node::Action(parse_pipeline(&inner, &at)?)),
        }
    }
    Ok((nodes, None))
}

/// The body of an `else` up to its `end`.
fn expect_end(iter: &mut Pieces, at: &str) -> Result<Vec<Node>, String> {
    match parse_list(iter)? {
        (body, Some((word, _))) if word == "end" => Ok(body),
        (_, Some((word, at))) => Err(format!("template: :{at}: unexpected {{{{{word}}}}}")),
        (_, None) => Err(format!("template: :{at}: unexpected EOF")),
    }
}

fn parse_if(iter: &mut Pieces, condition: &str, at: &str) -> Result<Node, String> {
    let mut branches = vec![(parse_pipeline(condition, at)?, Vec::new())];
    loop {
        let (body, end) = parse_list(iter)?;
        if let Some(last) = branches.last_mut() {
            last.1 = body;
        }
        match end {
            Some((word, _)) if word == "end" => {
                return Ok(Node::If {
                    branches,
                    otherwise: Vec::new(),
                })
            }
            Some((word, at)) if word == "else" => {
                return Ok(Node::If {
                    branches,
                    otherwise: expect_end(iter, &at)?,
                })
            }
            Some((word, at)) if word.starts_with("else ") => {
                let rest = word["else ".len()..].trim();
                let Some(condition) = rest.strip_prefix("if ") else {
                    return Err(format!("template: :{at}: unexpected {{{{{word}}}}}"));
                };
                branches.push((parse_pipeline(condition.trim(), &at)?, Vec::new()));
            }
            Some((word, at)) => return Err(format!("template: :{at}: unexpected {{{{{word}}}}}")),
            None => return Err(format!("template: :{at}: unexpected EOF")),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Pipe,
    Open,
    Close,
    Declare,
    Comma,
    Word(String),
    Str(String),
}

fn lex(s: &str, at: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '|' => {
                tokens.push(Token::Pipe);
                i += 1;
            }
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            ',' => {
                tokens.push(Token::Comma);
                i += 1;
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                tokens.push(Token::Declare);
                i += 2;
            }
            '"' => {
                let mut text = String::new();
                i += 1;
                loop {
                    let Some(&c) = chars.get(i) else {
                        return Err(format!("template: :{at}: unterminated quoted string"));
                    };
                    i += 1;
                    match c {
                        '"' => break,
                        '\\' => {
                            let Some(&e) = chars.get(i) else {
                                return Err(format!("template: :{at}: unterminated quoted string"));
                            };
                            i += 1;
                            text.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '0' => '\0',
                                other => other,
                            });
                        }
                        c => text.push(c),
                    }
                }
                tokens.push(Token::Str(text));
            }
            '`' => {
                let start = i + 1;
                let Some(len) = chars[start..].iter().position(|&c| c == '`') else {
                    return Err(format!("template: :{at}: unterminated raw quoted string"));
                };
                tokens.push(Token::Str(chars[start..start + len].iter().collect()));
                i = start + len + 1;
            }
            _ => {
                let start = i;
                while i < chars.len() && !chars[i].is_whitespace() && !"|(),\"`".contains(chars[i])
                {
                    if chars[i] == ':' && chars.get(i + 1) == Some(&'=') {
                        break;
                    }
                    i += 1;
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(tokens)
}

fn parse_pipeline(text: &str, at: &str) -> Result<Pipeline, String> {
    let tokens = lex(text, at)?;
    let mut pos = 0;
    let pipeline = pipeline_of(&tokens, &mut pos, at)?;
    if pos != tokens.len() {
        return Err(format!(
            "template: :{at}: unexpected {:?} in operand",
            tokens[pos]
        ));
    }
    Ok(pipeline)
}

fn pipeline_of(tokens: &[Token], pos: &mut usize, at: &str) -> Result<Pipeline, String> {
    let mut declare = Vec::new();
    // `$a :=` or `$a, $b :=`.
    let mut look = *pos;
    let mut names = Vec::new();
    while let Some(Token::Word(w)) = tokens.get(look) {
        if !w.starts_with('$') || w.contains('.') {
            break;
        }
        names.push(w.clone());
        look += 1;
        match tokens.get(look) {
            Some(Token::Comma) => look += 1,
            Some(Token::Declare) => {
                declare = std::mem::take(&mut names);
                *pos = look + 1;
                break;
            }
            _ => break,
        }
    }
    let mut commands = Vec::new();
    let mut command = Vec::new();
    while let Some(token) = tokens.get(*pos) {
        match token {
            Token::Close => break,
            Token::Pipe => {
                if command.is_empty() {
                    return Err(format!("template: :{at}: missing command before |"));
                }
                commands.push(std::mem::take(&mut command));
                *pos += 1;
            }
            Token::Open => {
                *pos += 1;
                let inner = pipeline_of(tokens, pos, at)?;
                if tokens.get(*pos) != Some(&Token::Close) {
                    return Err(format!("template: :{at}: unclosed left paren"));
                }
                *pos += 1;
                // `(…).Field`
                let mut fields = Vec::new();
                if let Some(Token::Word(w)) = tokens.get(*pos) {
                    if w.starts_with('.') && w.len() > 1 {
                        fields = field_chain(w, at)?;
                        *pos += 1;
                    }
                }
                command.push(Operand::Sub(Box::new(inner), fields));
            }
            Token::Str(s) => {
                command.push(Operand::Str(s.clone()));
                *pos += 1;
            }
            Token::Word(w) => {
                command.push(operand(w, at)?);
                *pos += 1;
            }
            Token::Comma | Token::Declare => {
                return Err(format!("template: :{at}: unexpected {token:?} in command"))
            }
        }
    }
    if !command.is_empty() {
        commands.push(command);
    }
    if commands.is_empty() {
        return Err(format!("template: :{at}: missing value for command"));
    }
    Ok(Pipeline {
        declare,
        commands,
        at: at.to_string(),
    })
}

fn field_chain(word: &str, at: &str) -> Result<Vec<String>, String> {
    let fields: Vec<String> = word[1..].split('.').map(str::to_string).collect();
    if fields.iter().any(String::is_empty) {
        return Err(format!("template: :{at}: bad field {word:?}"));
    }
    Ok(fields)
}

fn operand(word: &str, at: &str) -> Result<Operand, String> {
    if word == "." {
        return Ok(Operand::Dot(Vec::new()));
    }
    if word.starts_with('.') {
        return Ok(Operand::Dot(field_chain(word, at)?));
    }
    if let Some(rest) = word.strip_prefix('$') {
        let (name, fields) = match rest.find('.') {
            Some(i) => (&rest[..i], field_chain(&rest[i..], at)?),
            None => (rest, Vec::new()),
        };
        return Ok(Operand::Var(format!("${name}"), fields));
    }
    match word {
        "true" => return Ok(Operand::Bool(true)),
        "false" => return Ok(Operand::Bool(false)),
        "nil" => return Ok(Operand::Nil),
        _ => {}
    }
    if word.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+') {
        if let Ok(i) = word.parse::<i64>() {
            return Ok(Operand::Int(i));
        }
        if let Ok(f) = word.parse::<f64>() {
            return Ok(Operand::Float(f));
        }
        return Err(format!("template: :{at}: bad number syntax: {word:?}"));
    }
    if word.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Ok(Operand::Func(word.to_string()));
    }
    Err(format!("template: :{at}: unexpected {word:?} in operand"))
}
