//! A cursor over the meaningful tokens of a statement, for reading squall's commands.

use sqlparser::tokenizer::Token;

use crate::split::{is_blank, render};
use crate::ParseError;

pub(crate) struct Words<'a> {
    /// Every token of the statement, whitespace included, so that a tail can be rendered as text.
    all: &'a [Token],
    /// Indexes into `all` of the meaningful tokens.
    meaningful: Vec<usize>,
    at: usize,
}

impl<'a> Words<'a> {
    pub(crate) fn new(tokens: &'a [Token]) -> Self {
        let meaningful = tokens.iter().enumerate().filter(|(_, t)| !is_blank(t)).map(|(i, _)| i).collect();
        Self { all: tokens, meaningful, at: 0 }
    }

    fn peek(&self) -> Option<&'a Token> {
        self.meaningful.get(self.at).map(|&i| &self.all[i])
    }

    fn peek_at(&self, offset: usize) -> Option<&'a Token> {
        self.meaningful.get(self.at + offset).map(|&i| &self.all[i])
    }

    /// True (and consumed) when the next words are `words`, case-insensitively.
    pub(crate) fn accept(&mut self, words: &[&str]) -> bool {
        let matches = words.iter().enumerate().all(|(i, w)| match self.peek_at(i) {
            Some(Token::Word(word)) => word.quote_style.is_none() && word.value.eq_ignore_ascii_case(w),
            _ => false,
        });
        if matches {
            self.at += words.len();
        }
        matches
    }

    /// Whether the next token is `token` (not consumed).
    pub(crate) fn peek_is(&self, token: &Token) -> bool {
        self.peek() == Some(token)
    }

    /// True (and consumed) when the next token is `token`.
    pub(crate) fn accept_token(&mut self, token: &Token) -> bool {
        if self.peek() == Some(token) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// The next words must be `words`.
    pub(crate) fn expect(&mut self, words: &[&str]) -> Result<(), ParseError> {
        if self.accept(words) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("expected {}", words.join(" "))))
        }
    }

    pub(crate) fn expect_token(&mut self, token: &Token, what: &str) -> Result<(), ParseError> {
        if self.accept_token(token) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("expected {what}")))
        }
    }

    /// An identifier, folded to lower case unless it was quoted (as PostgreSQL does).
    pub(crate) fn identifier(&mut self, what: &str) -> Result<String, ParseError> {
        match self.peek() {
            Some(Token::Word(word)) => {
                self.at += 1;
                Ok(match word.quote_style {
                    Some(_) => word.value.clone(),
                    None => word.value.to_lowercase(),
                })
            }
            _ => Err(self.unexpected(&format!("expected {what}"))),
        }
    }

    /// A name given either as an identifier or as a string constant (`'iris@2'`).
    pub(crate) fn name_or_string(&mut self, what: &str) -> Result<String, ParseError> {
        match self.peek() {
            Some(Token::SingleQuotedString(s)) => {
                self.at += 1;
                Ok(s.clone())
            }
            _ => self.identifier(what),
        }
    }

    /// A string constant (`'...'`), such as a password.
    pub(crate) fn string(&mut self, what: &str) -> Result<String, ParseError> {
        match self.peek() {
            Some(Token::SingleQuotedString(s)) => {
                self.at += 1;
                Ok(s.clone())
            }
            _ => Err(self.unexpected(&format!("expected {what}"))),
        }
    }

    /// A comma-separated list of names (identifiers, as [`Words::identifier`] reads them).
    pub(crate) fn name_list(&mut self, what: &str) -> Result<Vec<String>, ParseError> {
        let mut names = vec![self.identifier(what)?];
        while self.accept_token(&Token::Comma) {
            names.push(self.identifier(what)?);
        }
        Ok(names)
    }

    /// A constant: a number (with an optional sign), a string, or a bare word such as `true`.
    pub(crate) fn constant(&mut self, what: &str) -> Result<String, ParseError> {
        let negative = self.accept_token(&Token::Minus);
        let value = match self.peek() {
            Some(Token::Number(n, _)) => n.clone(),
            Some(Token::SingleQuotedString(s)) if !negative => s.clone(),
            Some(Token::Word(w)) if !negative && w.quote_style.is_none() => w.value.to_lowercase(),
            _ => return Err(self.unexpected(&format!("expected {what}"))),
        };
        self.at += 1;
        Ok(if negative { format!("-{value}") } else { value })
    }

    /// `(name = value, ...)`: names lower-cased, values as [`Words::constant`] reads them.
    pub(crate) fn option_list(&mut self) -> Result<Vec<(String, String)>, ParseError> {
        self.expect_token(&Token::LParen, "(")?;
        let mut options = Vec::new();
        loop {
            let name = self.identifier("an option name")?;
            self.expect_token(&Token::Eq, "=")?;
            options.push((name, self.constant("an option value")?));
            if !self.accept_token(&Token::Comma) {
                break;
            }
        }
        self.expect_token(&Token::RParen, ")")?;
        Ok(options)
    }

    /// A parenthesised, comma-separated list of identifiers.
    pub(crate) fn identifier_list(&mut self, what: &str) -> Result<Vec<String>, ParseError> {
        self.expect_token(&Token::LParen, "(")?;
        let mut names = vec![self.identifier(what)?];
        while self.accept_token(&Token::Comma) {
            names.push(self.identifier(what)?);
        }
        self.expect_token(&Token::RParen, ")")?;
        Ok(names)
    }

    /// Everything after the cursor, as text; the cursor moves to the end.
    pub(crate) fn rest(&mut self) -> String {
        let start = self.meaningful.get(self.at).copied().unwrap_or(self.all.len());
        self.at = self.meaningful.len();
        render(&self.all[start..]).trim().to_string()
    }

    /// A positive whole number.
    pub(crate) fn count(&mut self, what: &str) -> Result<u64, ParseError> {
        self.whole_number(what, 1)
    }

    /// A whole number, zero or more.
    pub(crate) fn natural(&mut self, what: &str) -> Result<u64, ParseError> {
        self.whole_number(what, 0)
    }

    fn whole_number(&mut self, what: &str, least: u64) -> Result<u64, ParseError> {
        let value = match self.peek() {
            Some(Token::Number(n, _)) => n.parse::<u64>().ok().filter(|v| *v >= least),
            _ => None,
        };
        match value {
            Some(v) => {
                self.at += 1;
                Ok(v)
            }
            None => Err(self.unexpected(&format!("expected {what}"))),
        }
    }

    /// The statement must end here.
    pub(crate) fn expect_end(&self, command: &str) -> Result<(), ParseError> {
        match self.peek() {
            None => Ok(()),
            Some(token) => Err(ParseError::new(format!(
                "syntax error at or near \"{token}\": {command} takes no further words"
            ))),
        }
    }

    pub(crate) fn unexpected(&self, expected: &str) -> ParseError {
        match self.peek() {
            Some(token) => ParseError::new(format!("syntax error at or near \"{token}\": {expected}")),
            None => ParseError::new(format!("syntax error at end of input: {expected}")),
        }
    }
}
