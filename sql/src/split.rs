//! Splitting a request into statements with sqlparser's tokenizer, so that semicolons inside
//! strings, quoted identifiers and comments never split a statement.

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

use crate::ParseError;

/// The tokens of each non-empty statement of `text`, whitespace and comments included.
pub(crate) fn split_statements(text: &str) -> Result<Vec<Vec<Token>>, ParseError> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, text)
        .tokenize()
        .map_err(|e| ParseError::new(format!("syntax error: {e}")))?;
    let mut statements = Vec::new();
    let mut current = Vec::new();
    for token in tokens {
        if token == Token::SemiColon {
            push_if_not_empty(&mut statements, std::mem::take(&mut current));
        } else {
            current.push(token);
        }
    }
    push_if_not_empty(&mut statements, current);
    Ok(statements)
}

fn push_if_not_empty(statements: &mut Vec<Vec<Token>>, tokens: Vec<Token>) {
    if tokens.iter().any(|t| !is_blank(t)) {
        statements.push(tokens);
    }
}

/// `tokens` with every string literal that follows the word PASSWORD replaced by `'********'`.
pub(crate) fn passwords_masked(mut tokens: Vec<Token>) -> Vec<Token> {
    let mut after_password = false;
    for token in &mut tokens {
        if is_blank(token) {
            continue;
        }
        let literal = matches!(
            token,
            Token::SingleQuotedString(_) | Token::EscapedStringLiteral(_) | Token::NationalStringLiteral(_) | Token::DollarQuotedString(_)
        );
        if after_password && literal {
            *token = Token::SingleQuotedString("********".into());
        }
        after_password = matches!(token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("password"));
    }
    tokens
}

/// Whitespace and comments: tokens that carry no meaning.
pub(crate) fn is_blank(token: &Token) -> bool {
    matches!(token, Token::Whitespace(_))
}

/// The statement's text, as the tokenizer read it (comments become whitespace-equivalent).
pub fn render(tokens: &[Token]) -> String {
    tokens
        .iter()
        .map(|t| match t {
            // A line comment must keep its newline or it would swallow what follows.
            Token::Whitespace(Whitespace::SingleLineComment { .. }) => " ".to_string(),
            Token::Whitespace(Whitespace::MultiLineComment(_)) => " ".to_string(),
            // The tokenizer unescapes quotes in strings and quoted names; their display does not
            // escape them again, so `'it''s'` would come back as `'it's'`.
            Token::SingleQuotedString(s) => format!("'{}'", s.replace('\'', "''")),
            Token::NationalStringLiteral(s) => format!("N'{}'", s.replace('\'', "''")),
            Token::EscapedStringLiteral(s) => format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
            Token::Word(w) if w.quote_style == Some('"') => format!("\"{}\"", w.value.replace('"', "\"\"")),
            other => other.to_string(),
        })
        .collect()
}
