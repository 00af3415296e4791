//! Simple-protocol queries that differ only in the constants of their WHERE clause
//! (`SELECT name FROM t WHERE id = 17`, then `... = 42`) share one plan: the constants become
//! parameters, and the query runs as a prepared statement would ([`crate::plans::generic_plans`]). An
//! application that writes its values into the text (psql, most ORMs' "simple" mode, pgbench's
//! default) would otherwise have every statement parsed, planned and optimised afresh.
//!
//! Only what cannot change the answer is replaced, so a template is made only when:
//! - the statement is one SELECT without subqueries in its WHERE clause (where `GROUP BY 1` or
//!   `ORDER BY 2` would name a column by position);
//! - the constant is an integer or a plain string in the WHERE clause, right after a comparison,
//!   LIKE, BETWEEN ... AND, or in a list (`IN (1, 2)`, a function's arguments).
//!
//! The template is then planned as a prepared statement; it is used only if its parameters all
//! took a type from their context and its generic plan may be kept, and each value must cast to
//! its parameter's type exactly as the constant would have been cast (see
//! [`crate::plans::generic_plans::Parameters::bind`]). Otherwise the text is planned as written.

use datafusion::common::ScalarValue;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

/// A statement's text with its WHERE clause's constants replaced by `$1`, `$2`, ..., and the
/// constants' values.
#[derive(Debug, PartialEq)]
pub struct Template {
    pub text: String,
    pub values: Vec<ScalarValue>,
}

/// Words that end a WHERE clause when they are not inside parentheses.
const AFTER_WHERE: &[Keyword] = &[
    Keyword::GROUP,
    Keyword::ORDER,
    Keyword::HAVING,
    Keyword::LIMIT,
    Keyword::OFFSET,
    Keyword::WINDOW,
    Keyword::FETCH,
    Keyword::FOR,
    Keyword::QUALIFY,
];

/// The template of `sql`, if it is a query whose WHERE clause holds constants that may be
/// replaced; `None` otherwise.
pub fn template(sql: &str) -> Option<Template> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize_with_location().ok()?;
    let meaningful: Vec<&TokenWithSpan> = tokens.iter().filter(|t| !matches!(t.token, Token::Whitespace(_))).collect();
    if !matches!(meaningful.first().map(|t| &t.token), Some(Token::Word(w)) if w.keyword == Keyword::SELECT) {
        return None;
    }
    let mut depth = 0usize;
    let (mut in_where, mut replaced, mut values) = (false, Vec::new(), Vec::new());
    for (i, t) in meaningful.iter().enumerate() {
        match &t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.checked_sub(1)?,
            // Already a parameter, or more than one statement.
            Token::Placeholder(_) => return None,
            Token::SemiColon if i + 1 != meaningful.len() => return None,
            Token::Word(w) if w.quote_style.is_none() => match w.keyword {
                Keyword::UNION | Keyword::EXCEPT | Keyword::INTERSECT => return None,
                Keyword::SELECT if in_where => return None,
                Keyword::WHERE if depth == 0 => in_where = true,
                keyword if depth == 0 && AFTER_WHERE.contains(&keyword) => in_where = false,
                _ => {}
            },
            Token::Number(n, false) if in_where && follows_operand_position(&meaningful[..i]) => {
                if let Ok(value) = n.parse::<i64>() {
                    replaced.push(t.span);
                    values.push(ScalarValue::Int64(Some(value)));
                }
            }
            Token::SingleQuotedString(s) if in_where && follows_operand_position(&meaningful[..i]) => {
                replaced.push(t.span);
                values.push(ScalarValue::Utf8(Some(s.clone())));
            }
            _ => {}
        }
    }
    if values.is_empty() {
        return None;
    }
    let offsets = LineOffsets::new(sql);
    let mut text = String::with_capacity(sql.len());
    let mut copied = 0;
    for (n, span) in replaced.iter().enumerate() {
        let (start, end) = (offsets.byte(sql, span.start)?, offsets.byte(sql, span.end)?);
        text.push_str(sql.get(copied..start)?);
        text.push_str(&format!("${}", n + 1));
        copied = end;
    }
    text.push_str(sql.get(copied..)?);
    Some(Template { text, values })
}

/// Whether the token after `before` stands where an operand of a comparison, LIKE, BETWEEN or
/// a list stands.
fn follows_operand_position(before: &[&TokenWithSpan]) -> bool {
    match before.last().map(|t| &t.token) {
        Some(Token::Eq | Token::Neq | Token::Lt | Token::Gt | Token::LtEq | Token::GtEq | Token::Comma | Token::LParen) => true,
        Some(Token::Word(w)) => matches!(w.keyword, Keyword::LIKE | Keyword::ILIKE | Keyword::BETWEEN)
            // The AND of BETWEEN x AND y, not that of two conditions.
            || (w.keyword == Keyword::AND && before.iter().rev().nth(2).is_some_and(|t| matches!(&t.token, Token::Word(b) if b.keyword == Keyword::BETWEEN))),
        _ => false,
    }
}

/// Byte offsets of a text's lines, to find a token's [`Location`] (line and character column,
/// both from 1) in it.
struct LineOffsets(Vec<usize>);

impl LineOffsets {
    fn new(text: &str) -> Self {
        Self(std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect())
    }

    fn byte(&self, text: &str, location: Location) -> Option<usize> {
        let line_start = *self.0.get(usize::try_from(location.line).ok()?.checked_sub(1)?)?;
        let column = usize::try_from(location.column).ok()?.checked_sub(1)?;
        let line = &text[line_start..];
        Some(line_start + line.char_indices().nth(column).map_or(line.len(), |(i, _)| i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templated(sql: &str) -> Option<(String, Vec<ScalarValue>)> {
        template(sql).map(|t| (t.text, t.values))
    }

    #[test]
    fn constants_of_the_where_clause_become_parameters() {
        let int = |v| ScalarValue::Int64(Some(v));
        let text = |v: &str| ScalarValue::Utf8(Some(v.into()));
        assert_eq!(templated("SELECT name FROM lookup WHERE id = 17;"), Some(("SELECT name FROM lookup WHERE id = $1;".into(), vec![int(17)])));
        assert_eq!(
            templated("select a, 'kept' from t\n where b like 'x%' and c between 1 and 9 and d in ('it''s', 'é') order by 1 limit 5"),
            Some(("select a, 'kept' from t\n where b like $1 and c between $2 and $3 and d in ($4, $5) order by 1 limit 5".into(), vec![text("x%"), int(1), int(9), text("it's"), text("é")]))
        );
        assert_eq!(
            templated("SELECT x FROM t WHERE k >= 'ü' AND n <> 2.5 AND m = -3 AND 7 < 2 + 1 GROUP BY 1"),
            Some(("SELECT x FROM t WHERE k >= $1 AND n <> 2.5 AND m = -3 AND 7 < $2 + 1 GROUP BY 1".into(), vec![text("ü"), int(2)]))
        );
    }

    #[test]
    fn statements_that_could_change_meaning_are_left_as_written() {
        for sql in [
            "SELECT 1",
            "SELECT a FROM t ORDER BY 1 LIMIT 10",
            "SELECT a FROM t WHERE a IN (SELECT b FROM u GROUP BY 1)",
            "SELECT a FROM t WHERE a = 1 UNION SELECT 2",
            "SELECT a FROM t WHERE a = $1",
            "SELECT a FROM t WHERE a = 1; DROP TABLE t",
            "INSERT INTO t SELECT a FROM u WHERE a = 1",
            "SELECT a FROM t WHERE d > DATE '2020-01-01' AND i < INTERVAL '1 day'",
        ] {
            assert_eq!(templated(sql), None, "{sql}");
        }
    }
}
