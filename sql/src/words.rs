//! A cursor over the meaningful tokens of a statement, for reading squall's commands.

use sqlparser::tokenizer::Token;

use crate::split::is_blank;
use crate::ParseError;

pub(crate) struct Words<'a> {
    tokens: Vec<&'a Token>,
    at: usize,
}

impl<'a> Words<'a> {
    pub(crate) fn new(tokens: &'a [Token]) -> Self {
        Self { tokens: tokens.iter().filter(|t| !is_blank(t)).collect(), at: 0 }
    }

    /// True (and consumed) when the next words are `words`, case-insensitively.
    pub(crate) fn accept(&mut self, words: &[&str]) -> bool {
        let matches = words.iter().enumerate().all(|(i, w)| match self.tokens.get(self.at + i) {
            Some(Token::Word(word)) => word.quote_style.is_none() && word.value.eq_ignore_ascii_case(w),
            _ => false,
        });
        if matches {
            self.at += words.len();
        }
        matches
    }

    /// The statement must end here.
    pub(crate) fn expect_end(&self, command: &str) -> Result<(), ParseError> {
        match self.tokens.get(self.at) {
            None => Ok(()),
            Some(token) => Err(ParseError::new(format!(
                "syntax error at or near \"{token}\": {command} takes no further words"
            ))),
        }
    }
}
