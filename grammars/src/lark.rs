//! Lark grammars (the subset used for LLM constraints).
//!
//! - `rule: expansion | expansion ...` (lower-case names; the prefixes `?`
//!   and `!`, priorities `rule.2` and aliases `-> name` are accepted and do
//!   not change the language) and `TERMINAL: ...` (upper-case names; a
//!   terminal refers only to terminals and is never recursive). Alternatives
//!   may continue on lines that start with `|`. The output matches `start`.
//! - `"literal"` (Python escapes; `"..."i` is case-insensitive), `"a".."z"`
//!   character ranges, `/regex/flags` (Rust `regex` syntax, which shares
//!   Python's for everyday patterns; flags `i`, `s`, `m`, `x`; anchors and
//!   look-around are refused), `( ... )`, `[ ... ]` (optional), `?`, `*`,
//!   `+`, `item ~ n`, `item ~ n..m`.
//! - `%import common.NAME`, `%import common.NAME -> ALIAS` and
//!   `%import common (A, B)` for the common terminals (`WS`, `WS_INLINE`,
//!   `NEWLINE`, `CR`, `LF`, `DIGIT`, `HEXDIGIT`, `INT`, `SIGNED_INT`,
//!   `DECIMAL`, `FLOAT`, `SIGNED_FLOAT`, `NUMBER`, `SIGNED_NUMBER`,
//!   `ESCAPED_STRING`, `LETTER`, `LCASE_LETTER`, `UCASE_LETTER`, `WORD`,
//!   `CNAME`, `SH_COMMENT`, `CPP_COMMENT`, `C_COMMENT`, `SQL_COMMENT`).
//! - `%ignore TERMINAL` (or any terminal expression): that text may appear
//!   before every terminal that a rule uses and at the end of the output,
//!   never inside a terminal.
//! - `name: %json { ...schema... }`: the rule matches one JSON value valid
//!   against the schema (compiled by [`crate::json`] with default options).
//! - `//` starts a comment.
//!
//! Templates, `%declare`, `%override` and `%extend` are refused with an
//! error naming them.
//!
//! ```
//! let g = sluicegate_grammars::lark::grammar(r#"
//! start: pair ("," pair)*
//! pair: CNAME "=" SIGNED_NUMBER
//! %import common (CNAME, SIGNED_NUMBER, WS)
//! %ignore WS
//! "#).unwrap();
//! assert!(!g.rules.is_empty());
//! ```

use sluicegate_core::{CompileError, Grammar, GrammarErrorKind};

use crate::ebnf::scan::Cursor;
use crate::ebnf::{gerr, Node, Pos, RuleDef, UserGrammar};

/// The common terminals (`%import common.NAME`), as regular expressions.
pub const COMMON: &[(&str, &str)] = &[
    ("DIGIT", "[0-9]"),
    ("HEXDIGIT", "[a-fA-F0-9]"),
    ("INT", "[0-9]+"),
    ("SIGNED_INT", "[+-]?[0-9]+"),
    ("DECIMAL", r"[0-9]+\.[0-9]*|\.[0-9]+"),
    ("_EXP", "[eE][+-]?[0-9]+"),
    ("FLOAT", r"[0-9]+[eE][+-]?[0-9]+|(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"),
    ("SIGNED_FLOAT", r"[+-]?(?:[0-9]+[eE][+-]?[0-9]+|(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"),
    ("NUMBER", r"[0-9]+(?:[eE][+-]?[0-9]+)?|(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"),
    ("SIGNED_NUMBER", r"[+-]?(?:[0-9]+(?:[eE][+-]?[0-9]+)?|(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"),
    ("ESCAPED_STRING", r#""(?:[^"\\\n]|\\[^\n])*""#),
    ("LETTER", "[A-Za-z]"),
    ("LCASE_LETTER", "[a-z]"),
    ("UCASE_LETTER", "[A-Z]"),
    ("WORD", "[A-Za-z]+"),
    ("CNAME", "[_A-Za-z][_A-Za-z0-9]*"),
    ("WS_INLINE", "[ \t]+"),
    ("WS", "[ \t\x0C\r\n]+"),
    ("CR", "\r"),
    ("LF", "\n"),
    ("NEWLINE", "(?:\r?\n)+"),
    ("SH_COMMENT", "#[^\n]*"),
    ("CPP_COMMENT", "//[^\n]*"),
    ("C_COMMENT", r"/\*(?:[^*]|\*+[^*/])*\*+/"),
    ("SQL_COMMENT", "--[^\n]*"),
];

/// Parse Lark text into the shared syntax tree (no checks beyond syntax).
pub fn parse(text: &str) -> Result<UserGrammar, CompileError> {
    let mut p = Parser { c: Cursor::new(text), rules: Vec::new(), ignore: Vec::new() };
    loop {
        p.space(true);
        if p.c.eof() {
            break;
        }
        if p.c.peek() == Some('%') {
            p.directive()?;
        } else {
            p.definition()?;
        }
        p.space(false);
        if !p.c.eof() && !p.c.eat("\n") {
            return Err(p.c.error(format!("expected the end of the line, found {}", p.c.found())));
        }
    }
    Ok(UserGrammar { rules: p.rules, start: "start".into(), ignore: p.ignore })
}

/// Parse, check and translate Lark text into the grammar IR.
pub fn grammar(text: &str) -> Result<Grammar, CompileError> {
    parse(text)?.to_ir()
}

struct Parser<'a> {
    c: Cursor<'a>,
    rules: Vec<RuleDef>,
    ignore: Vec<Node>,
}

fn is_terminal_name(name: &str) -> bool {
    name.trim_start_matches('_').chars().next().is_some_and(|c| c.is_ascii_uppercase())
}

fn unsupported(pos: Pos, what: &str) -> CompileError {
    gerr(GrammarErrorKind::Unsupported, pos, format!("{what} is not supported"))
}

impl Parser<'_> {
    fn space(&mut self, newlines: bool) {
        while let Some(c) = self.c.peek() {
            match c {
                ' ' | '\t' | '\r' => {
                    self.c.bump();
                }
                '\n' if newlines => {
                    self.c.bump();
                }
                '/' if self.c.peek2() == Some('/') => {
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
        if !self.c.peek().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') {
            return None;
        }
        while self.c.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            self.c.bump();
        }
        Some(self.c.text[start..self.c.at].to_string())
    }

    fn add(&mut self, def: RuleDef) -> Result<(), CompileError> {
        if let Some(prev) = self.rules.iter().find(|r| r.name == def.name) {
            return Err(gerr(
                GrammarErrorKind::DuplicateRule,
                def.pos,
                format!("`{}` is already defined at line {}", def.name, prev.pos.line),
            ));
        }
        self.rules.push(def);
        Ok(())
    }

    fn definition(&mut self) -> Result<(), CompileError> {
        let pos = self.c.pos();
        while matches!(self.c.peek(), Some('?' | '!')) {
            self.c.bump();
        }
        let name = self
            .name()
            .ok_or_else(|| self.c.error(format!("expected a rule or terminal name, found {}", self.c.found())))?;
        if self.c.peek() == Some('{') {
            return Err(unsupported(pos, &format!("template rule `{name}{{...}}`")));
        }
        if self.c.eat(".") {
            self.c.eat("-");
            self.c.number()?;
        }
        self.space(false);
        if !self.c.eat(":") {
            return Err(self.c.error(format!("expected `:` after `{name}`, found {}", self.c.found())));
        }
        self.space(false);
        let terminal = is_terminal_name(&name);
        let body = self.expansions(false)?;
        self.add(RuleDef { name, body, pos, terminal })
    }

    fn directive(&mut self) -> Result<(), CompileError> {
        let pos = self.c.pos();
        self.c.bump();
        let word = self.name().unwrap_or_default();
        self.space(false);
        match word.as_str() {
            "ignore" => {
                let n = self.expansions(false)?;
                self.ignore.push(n);
                Ok(())
            }
            "import" => self.import(pos),
            "declare" | "override" | "extend" => Err(unsupported(pos, &format!("`%{word}`"))),
            "" => Err(self.c.error("expected a directive name after `%`")),
            _ => Err(unsupported(pos, &format!("the directive `%{word}`"))),
        }
    }

    fn import(&mut self, pos: Pos) -> Result<(), CompileError> {
        let module =
            self.name().ok_or_else(|| self.c.error(format!("expected a module name, found {}", self.c.found())))?;
        if module != "common" {
            let mut full = module.clone();
            while self.c.eat(".") {
                full.push('.');
                full.push_str(&self.name().unwrap_or_default());
            }
            return Err(unsupported(pos, &format!("importing from `{full}` (only `common` is built in)")));
        }
        let mut names: Vec<(String, String, Pos)> = Vec::new();
        if self.c.eat(".") {
            let at = self.c.pos();
            let name = self.name().ok_or_else(|| self.c.error(format!("expected a name, found {}", self.c.found())))?;
            self.space(false);
            let alias = if self.c.eat("->") {
                self.space(false);
                self.name().ok_or_else(|| self.c.error(format!("expected an alias, found {}", self.c.found())))?
            } else {
                name.clone()
            };
            names.push((name, alias, at));
        } else {
            self.space(false);
            if !self.c.eat("(") {
                return Err(self
                    .c
                    .error(format!("expected `.NAME` or `(NAME, ...)` after `common`, found {}", self.c.found())));
            }
            loop {
                self.space(true);
                let at = self.c.pos();
                let name =
                    self.name().ok_or_else(|| self.c.error(format!("expected a name, found {}", self.c.found())))?;
                names.push((name.clone(), name, at));
                self.space(true);
                if self.c.eat(")") {
                    break;
                }
                if !self.c.eat(",") {
                    return Err(self.c.error(format!("expected `,` or `)`, found {}", self.c.found())));
                }
            }
        }
        for (name, alias, at) in names {
            let Some((_, pattern)) = COMMON.iter().find(|(n, _)| *n == name) else {
                return Err(gerr(GrammarErrorKind::UndefinedRule, at, format!("`common` has no terminal `{name}`")));
            };
            let hir = crate::regex::parse(pattern).expect("built-in pattern");
            self.add(RuleDef { name: alias, body: Node::Regex(hir), pos: at, terminal: true })?;
        }
        Ok(())
    }

    fn expansions(&mut self, nested: bool) -> Result<Node, CompileError> {
        let mut alts = vec![self.alias(nested)?];
        loop {
            if self.c.peek() == Some('|') {
                self.c.bump();
                self.space(nested);
                alts.push(self.alias(nested)?);
                continue;
            }
            if !nested {
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

    /// An expansion with an optional `-> alias` (which does not change the language).
    fn alias(&mut self, nested: bool) -> Result<Node, CompileError> {
        let e = self.expansion(nested)?;
        if self.c.eat("->") {
            self.space(false);
            self.name().ok_or_else(|| self.c.error(format!("expected an alias name, found {}", self.c.found())))?;
            self.space(nested);
        }
        Ok(e)
    }

    fn expansion(&mut self, nested: bool) -> Result<Node, CompileError> {
        let mut items = Vec::new();
        loop {
            self.space(nested);
            if self.c.starts_with("->") {
                break;
            }
            let atom = match self.c.peek() {
                None | Some('|' | ')' | ']' | '\n') => break,
                _ => self.atom()?,
            };
            items.push(self.op(atom)?);
        }
        Ok(if items.len() == 1 { items.pop().expect("one") } else { Node::Seq(items) })
    }

    fn op(&mut self, mut atom: Node) -> Result<Node, CompileError> {
        loop {
            self.space(false);
            let (min, max) = match self.c.peek() {
                Some('?') => (0, Some(1)),
                Some('*') => (0, None),
                Some('+') => (1, None),
                Some('~') => {
                    let pos = self.c.pos();
                    self.c.bump();
                    self.space(false);
                    let min = self.c.number()?;
                    self.space(false);
                    let max = if self.c.eat("..") {
                        self.space(false);
                        self.c.number()?
                    } else {
                        min
                    };
                    if max < min {
                        return Err(gerr(
                            GrammarErrorKind::Syntax,
                            pos,
                            format!("repetition ~ {min}..{max} is reversed"),
                        ));
                    }
                    atom = Node::Repeat { node: Box::new(atom), min, max: Some(max) };
                    continue;
                }
                _ => return Ok(atom),
            };
            self.c.bump();
            atom = Node::Repeat { node: Box::new(atom), min, max };
        }
    }

    fn atom(&mut self) -> Result<Node, CompileError> {
        let pos = self.c.pos();
        match self.c.peek() {
            Some(open @ ('(' | '[')) => {
                self.c.bump();
                self.space(true);
                let inner = self.expansions(true)?;
                self.space(true);
                let close = if open == '(' { ")" } else { "]" };
                if !self.c.eat(close) {
                    return Err(self.c.error(format!("expected `{close}`, found {}", self.c.found())));
                }
                Ok(if open == '(' { inner } else { Node::Repeat { node: Box::new(inner), min: 0, max: Some(1) } })
            }
            Some('"') => {
                let (text, ci) = self.string()?;
                if self.c.starts_with("..") {
                    self.c.bump_bytes(2);
                    let (hi, _) = self.string()?;
                    let (mut a, mut b) = (text.chars(), hi.chars());
                    return match (a.next(), a.next(), b.next(), b.next()) {
                        (Some(lo), None, Some(hi), None) if lo <= hi => {
                            Ok(Node::Class { ranges: vec![(lo, hi)], negated: false })
                        }
                        _ => Err(gerr(
                            GrammarErrorKind::Syntax,
                            pos,
                            "a range `\"a\"..\"z\"` needs two single characters in order",
                        )),
                    };
                }
                Ok(Node::Literal { text, ci })
            }
            Some('/') => self.regex(),
            Some('%') => {
                self.c.bump();
                let word = self.name().unwrap_or_default();
                if word != "json" {
                    return Err(self.c.error(format!("expected `%json` inside an expansion, found `%{word}`")));
                }
                self.space(true);
                let mut it = serde_json::Deserializer::from_str(self.c.rest()).into_iter::<serde_json::Value>();
                match it.next() {
                    Some(Ok(schema)) => {
                        let n = it.byte_offset();
                        self.c.bump_bytes(n);
                        Ok(Node::Json { schema, pos })
                    }
                    Some(Err(e)) => Err(self.c.error(format!("`%json` must be followed by a JSON Schema: {e}"))),
                    None => Err(self.c.error("`%json` must be followed by a JSON Schema")),
                }
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let name = self.name().expect("a name");
                if self.c.peek() == Some('{') {
                    return Err(unsupported(pos, &format!("template use `{name}{{...}}`")));
                }
                Ok(Node::Ref { name, pos })
            }
            _ => Err(self.c.error(format!("unexpected {}", self.c.found()))),
        }
    }

    /// A double-quoted string with Python escapes, and whether it has the `i` flag.
    fn string(&mut self) -> Result<(String, bool), CompileError> {
        let start = self.c.pos();
        if !self.c.eat("\"") {
            return Err(self.c.error(format!("expected a string, found {}", self.c.found())));
        }
        let mut text = String::new();
        loop {
            let pos = self.c.pos();
            match self.c.bump() {
                None | Some('\n') => return Err(gerr(GrammarErrorKind::Syntax, start, "unterminated string")),
                Some('"') => break,
                Some('\\') => match self.c.bump() {
                    Some('n') => text.push('\n'),
                    Some('r') => text.push('\r'),
                    Some('t') => text.push('\t'),
                    Some('f') => text.push('\x0C'),
                    Some('v') => text.push('\x0B'),
                    Some('0') => text.push('\0'),
                    Some(c @ ('\\' | '"' | '\'')) => text.push(c),
                    Some('x') => text.push(self.c.hex_char(2)?),
                    Some('u') => text.push(self.c.hex_char(4)?),
                    Some('U') => text.push(self.c.hex_char(8)?),
                    // Python keeps unknown escapes as written.
                    Some(c) => {
                        text.push('\\');
                        text.push(c);
                    }
                    None => return Err(gerr(GrammarErrorKind::Syntax, pos, "unterminated string")),
                },
                Some(c) => text.push(c),
            }
        }
        let ci = self.c.peek() == Some('i') && !self.c.peek2().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if ci {
            self.c.bump();
        }
        Ok((text, ci))
    }

    fn regex(&mut self) -> Result<Node, CompileError> {
        let start = self.c.pos();
        self.c.bump();
        let mut body = String::new();
        loop {
            match self.c.bump() {
                None | Some('\n') => {
                    return Err(gerr(GrammarErrorKind::Syntax, start, "unterminated regular expression"))
                }
                Some('/') => break,
                Some('\\') if self.c.peek() == Some('/') => {
                    self.c.bump();
                    body.push('/');
                }
                Some('\\') => {
                    body.push('\\');
                    match self.c.bump() {
                        Some(c) if c != '\n' => body.push(c),
                        _ => return Err(gerr(GrammarErrorKind::Syntax, start, "unterminated regular expression")),
                    }
                }
                Some(c) => body.push(c),
            }
        }
        let mut flags = String::new();
        while let Some(f) = self.c.peek().filter(|c| c.is_ascii_alphabetic()) {
            match f {
                'i' | 's' | 'm' | 'x' => flags.push(f),
                'u' | 'l' => {}
                _ => return Err(self.c.error(format!("unknown regular expression flag `{f}`"))),
            }
            self.c.bump();
        }
        let pattern = if flags.is_empty() { body.clone() } else { format!("(?{flags}:{body})") };
        let hir = crate::regex::parse(&pattern).map_err(|e| {
            let msg = match e {
                CompileError::Regex { message, .. } => message,
                e => e.to_string(),
            };
            gerr(GrammarErrorKind::Syntax, start, format!("invalid regular expression /{body}/: {msg}"))
        })?;
        if !hir.properties().look_set().is_empty() {
            return Err(gerr(
                GrammarErrorKind::Unsupported,
                start,
                format!("regular expression /{body}/ uses anchors or word boundaries, which a terminal cannot use"),
            ));
        }
        Ok(Node::Regex(hir))
    }
}
