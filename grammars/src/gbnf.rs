//! GBNF, the grammar format of llama.cpp.
//!
//! - `name ::= body`, one rule per line; a body continues on the next line
//!   inside parentheses, after `|`, and on a line that starts with `|`.
//!   Names are letters, digits, `-` and `_`. The output matches `root`.
//! - `"literal"` with the escapes `\n \r \t \\ \" \[ \] \- \xHH \uHHHH
//!   \UHHHHHHHH`; `[a-z0-9_]` and `[^...]` classes of code points, with
//!   the same escapes; `.` is any character (newline included).
//! - `( ... )` groups, `|` alternation, and the postfixes `?`, `*`, `+`,
//!   `{m}`, `{m,}`, `{m,n}`, `{,n}`.
//! - `#` starts a comment that runs to the end of the line.
//!
//! Token-level terminals (`<[1000]>`, `<|im_end|>`, `!<...>`) are refused
//! with [`GrammarErrorKind::Unsupported`]: the engine's grammars are over
//! text bytes, and a special token is never text.
//!
//! ```
//! let g = sluicegate_grammars::gbnf::grammar(r#"
//! root ::= item ("," item){0,2}
//! item ::= [a-z]+ | "\"" [^"]* "\""
//! "#).unwrap();
//! assert!(!g.rules.is_empty());
//! ```

use sluicegate_core::{CompileError, Grammar, GrammarErrorKind};

use crate::ebnf::scan::Cursor;
use crate::ebnf::{gerr, Node, Pos, RuleDef, UserGrammar};

/// Parse GBNF text into the shared syntax tree (no checks beyond syntax).
pub fn parse(text: &str) -> Result<UserGrammar, CompileError> {
    let mut p = Parser { c: Cursor::new(text), groups: Vec::new() };
    let mut rules: Vec<RuleDef> = Vec::new();
    loop {
        p.space(true);
        if p.c.eof() {
            break;
        }
        let pos = p.c.pos();
        let name = p.name().ok_or_else(|| p.c.error(format!("expected a rule name, found {}", p.c.found())))?;
        p.space(false);
        if !p.c.eat("::=") {
            return Err(p.c.error(format!("expected `::=` after the rule name `{name}`, found {}", p.c.found())));
        }
        p.space(true);
        let body = p.alternates(false)?;
        p.space(false);
        if !p.c.eof() && !p.c.eat("\n") {
            return Err(p.c.error(format!("expected the end of the line after rule `{name}`, found {}", p.c.found())));
        }
        if let Some(prev) = rules.iter().find(|r| r.name == name) {
            return Err(gerr(
                GrammarErrorKind::DuplicateRule,
                pos,
                format!("rule `{name}` is already defined at line {}", prev.pos.line),
            ));
        }
        rules.push(RuleDef { name, body, pos, terminal: false });
    }
    Ok(UserGrammar { rules, start: "root".into(), ignore: Vec::new() })
}

/// Parse, check and translate GBNF text into the grammar IR.
pub fn grammar(text: &str) -> Result<Grammar, CompileError> {
    parse(text)?.to_ir()
}

struct Parser<'a> {
    c: Cursor<'a>,
    /// Where the groups being parsed were opened.
    groups: Vec<Pos>,
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

impl Parser<'_> {
    /// Skip blanks and comments, and newlines when `newlines`.
    fn space(&mut self, newlines: bool) {
        while let Some(c) = self.c.peek() {
            match c {
                ' ' | '\t' | '\r' => {
                    self.c.bump();
                }
                '\n' if newlines => {
                    self.c.bump();
                }
                '#' => {
                    while self.c.peek().is_some_and(|c| c != '\n') {
                        self.c.bump();
                    }
                }
                _ => break,
            }
        }
    }

    fn name(&mut self) -> Option<String> {
        let start = self.c.at;
        while self.c.peek().is_some_and(is_word) {
            self.c.bump();
        }
        (self.c.at > start).then(|| self.c.text[start..self.c.at].to_string())
    }

    fn alternates(&mut self, nested: bool) -> Result<Node, CompileError> {
        let mut alts = vec![self.sequence(nested)?];
        loop {
            if self.c.peek() == Some('|') {
                self.c.bump();
                self.space(true);
                alts.push(self.sequence(nested)?);
                continue;
            }
            if !nested {
                // A continuation line that starts with `|`.
                let save = self.c.clone();
                self.space(true);
                if self.c.peek() == Some('|') {
                    continue;
                }
                self.c = save;
            }
            break;
        }
        Ok(if alts.len() == 1 { alts.pop().expect("one") } else { Node::Alt(alts) })
    }

    fn sequence(&mut self, nested: bool) -> Result<Node, CompileError> {
        let mut items = Vec::new();
        loop {
            self.space(nested);
            let pos = self.c.pos();
            let item = match self.c.peek() {
                None | Some('|') | Some(')') | Some('\n') => break,
                Some('"') => self.literal()?,
                Some('[') => self.class()?,
                Some('.') => {
                    self.c.bump();
                    Node::AnyChar
                }
                Some('(') => {
                    self.c.bump();
                    self.groups.push(pos);
                    self.space(true);
                    let inner = self.alternates(true)?;
                    self.space(true);
                    if !self.c.eat(")") {
                        return Err(self.unclosed());
                    }
                    self.groups.pop();
                    inner
                }
                Some('<') => return Err(self.token_terminal(pos)),
                Some('!') if self.c.peek2() == Some('<') => return Err(self.token_terminal(pos)),
                Some(c) if is_word(c) => {
                    let name = self.name().expect("a word character");
                    Node::Ref { name, pos }
                }
                Some(c @ ('*' | '+' | '?' | '{')) => return Err(self.c.error(format!("`{c}` has nothing to repeat"))),
                Some(':') if !self.groups.is_empty() => return Err(self.unclosed()),
                Some(_) => return Err(self.c.error(format!("unexpected {}", self.c.found()))),
            };
            items.push(self.postfix(item)?);
        }
        Ok(if items.len() == 1 { items.pop().expect("one") } else { Node::Seq(items) })
    }

    fn unclosed(&self) -> CompileError {
        let open = self.groups.last().copied().unwrap_or_default();
        self.c.error(format!(
            "expected `)` to close the group opened at line {}, column {}, found {}",
            open.line,
            open.column,
            self.c.found()
        ))
    }

    fn postfix(&mut self, mut item: Node) -> Result<Node, CompileError> {
        loop {
            let (min, max) = match self.c.peek() {
                Some('*') => (0, None),
                Some('+') => (1, None),
                Some('?') => (0, Some(1)),
                Some('{') => {
                    let pos = self.c.pos();
                    self.c.bump();
                    self.space(false);
                    let min = if self.c.peek() == Some(',') { 0 } else { self.c.number()? };
                    self.space(false);
                    let max = if self.c.eat(",") {
                        self.space(false);
                        if self.c.peek() == Some('}') {
                            None
                        } else {
                            Some(self.c.number()?)
                        }
                    } else {
                        Some(min)
                    };
                    self.space(false);
                    if !self.c.eat("}") {
                        return Err(self
                            .c
                            .error(format!("expected `}}` to close the repetition, found {}", self.c.found())));
                    }
                    if max.is_some_and(|m| m < min) {
                        return Err(gerr(
                            GrammarErrorKind::Syntax,
                            pos,
                            format!("repetition {{{min},{}}} has a maximum below its minimum", max.unwrap_or(0)),
                        ));
                    }
                    item = Node::Repeat { node: Box::new(item), min, max };
                    continue;
                }
                _ => return Ok(item),
            };
            self.c.bump();
            item = Node::Repeat { node: Box::new(item), min, max };
        }
    }

    fn token_terminal(&mut self, pos: Pos) -> CompileError {
        let rest = self.c.rest();
        let end = rest.find('>').map_or(rest.len().min(20), |i| i + 1);
        let end = rest.char_indices().map(|(i, _)| i).find(|&i| i >= end).unwrap_or(rest.len());
        gerr(
            GrammarErrorKind::Unsupported,
            pos,
            format!(
                "token-level terminal `{}` is not supported: sluicegate grammars constrain text, \
                 and token ids and special tokens are not text",
                &rest[..end]
            ),
        )
    }

    /// One character of a literal or class, escapes decoded.
    fn char(&mut self) -> Result<char, CompileError> {
        let pos = self.c.pos();
        match self.c.bump() {
            None => Err(self.c.error("unexpected end of input")),
            Some('\\') => match self.c.bump() {
                Some('n') => Ok('\n'),
                Some('r') => Ok('\r'),
                Some('t') => Ok('\t'),
                Some(c @ ('\\' | '"' | '[' | ']' | '-')) => Ok(c),
                Some('x') => self.c.hex_char(2),
                Some('u') => self.c.hex_char(4),
                Some('U') => self.c.hex_char(8),
                Some(c) => Err(gerr(GrammarErrorKind::Syntax, pos, format!("unknown escape `\\{c}`"))),
                None => Err(self.c.error("unexpected end of input after `\\`")),
            },
            Some(c) => Ok(c),
        }
    }

    fn literal(&mut self) -> Result<Node, CompileError> {
        let start = self.c.pos();
        self.c.bump();
        let mut text = String::new();
        loop {
            match self.c.peek() {
                Some('"') => {
                    self.c.bump();
                    return Ok(Node::Literal { text, ci: false });
                }
                None | Some('\n') => {
                    return Err(gerr(GrammarErrorKind::Syntax, start, "unterminated string literal"));
                }
                _ => text.push(self.char()?),
            }
        }
    }

    fn class(&mut self) -> Result<Node, CompileError> {
        let start = self.c.pos();
        self.c.bump();
        let negated = self.c.eat("^");
        let mut ranges = Vec::new();
        loop {
            match self.c.peek() {
                Some(']') => {
                    self.c.bump();
                    return Ok(Node::Class { ranges, negated });
                }
                None | Some('\n') => {
                    return Err(gerr(GrammarErrorKind::Syntax, start, "unterminated character class"));
                }
                _ => {
                    let pos = self.c.pos();
                    let lo = self.char()?;
                    let hi = if self.c.peek() == Some('-') && self.c.peek2().is_some_and(|c| c != ']' && c != '\n') {
                        self.c.bump();
                        self.char()?
                    } else {
                        lo
                    };
                    if hi < lo {
                        return Err(gerr(
                            GrammarErrorKind::Syntax,
                            pos,
                            format!("character range {lo:?}-{hi:?} is reversed"),
                        ));
                    }
                    ranges.push((lo, hi));
                }
            }
        }
    }
}
