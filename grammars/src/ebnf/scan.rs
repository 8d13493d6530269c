//! A character cursor over grammar text that knows its line and column.

use sluicegate_core::{CompileError, GrammarErrorKind};

use super::{gerr, Pos};

#[derive(Clone)]
pub(crate) struct Cursor<'a> {
    pub text: &'a str,
    /// Byte offset.
    pub at: usize,
    pub line: u32,
    pub column: u32,
}

impl<'a> Cursor<'a> {
    pub fn new(text: &'a str) -> Self {
        Cursor { text, at: 0, line: 1, column: 1 }
    }

    pub fn pos(&self) -> Pos {
        Pos { line: self.line, column: self.column }
    }

    pub fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    pub fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub fn peek2(&self) -> Option<char> {
        let mut it = self.rest().chars();
        it.next();
        it.next()
    }

    pub fn eof(&self) -> bool {
        self.at >= self.text.len()
    }

    pub fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    /// Advance over `n` bytes (which must end on a character boundary).
    pub fn bump_bytes(&mut self, n: usize) {
        let end = self.at + n;
        while self.at < end {
            self.bump();
        }
    }

    pub fn starts_with(&self, s: &str) -> bool {
        self.rest().starts_with(s)
    }

    /// Consume `s` if the text continues with it.
    pub fn eat(&mut self, s: &str) -> bool {
        if self.starts_with(s) {
            self.bump_bytes(s.len());
            true
        } else {
            false
        }
    }

    pub fn error(&self, message: impl Into<String>) -> CompileError {
        gerr(GrammarErrorKind::Syntax, self.pos(), message)
    }

    /// A description of the next character for error messages.
    pub fn found(&self) -> String {
        match self.peek() {
            None => "end of input".into(),
            Some('\n') => "end of line".into(),
            Some(c) => format!("{c:?}"),
        }
    }

    /// Read `n` hex digits as a character.
    pub fn hex_char(&mut self, n: usize) -> Result<char, CompileError> {
        let start = self.pos();
        let mut v = 0u32;
        for _ in 0..n {
            let d = self.peek().and_then(|c| c.to_digit(16)).ok_or_else(|| {
                gerr(
                    GrammarErrorKind::Syntax,
                    self.pos(),
                    format!("expected {n} hexadecimal digits, found {}", self.found()),
                )
            })?;
            self.bump();
            v = v * 16 + d;
        }
        char::from_u32(v)
            .ok_or_else(|| gerr(GrammarErrorKind::Syntax, start, format!("U+{v:X} is not a Unicode scalar value")))
    }

    /// A decimal number.
    pub fn number(&mut self) -> Result<u32, CompileError> {
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
        if start == self.at {
            return Err(self.error(format!("expected a number, found {}", self.found())));
        }
        self.text[start..self.at].parse().map_err(|_| self.error("number too large"))
    }
}
