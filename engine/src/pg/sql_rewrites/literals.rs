//! Literals PostgreSQL writes that DataFusion reads otherwise.
//!
//! - `'name'::regproc` (pgjdbc's getTypeInfo: `typinput = 'array_in'::regproc`) is the bare
//!   name, rewritten in the text before parsing: the pg_catalog emulation keeps
//!   `typinput`/`typoutput` as function names, and its own rewrite of the cast into an oid lookup
//!   would compare a name with a number.
//! - Interval literals with a time part (`INTERVAL '1 day 02:00:00'`), which DataFusion's parser
//!   refuses, with the time part spelled out.
//! - `to_date` / `to_timestamp` templates written as PostgreSQL's (`'DD/MM/YYYY'`), as the chrono
//!   formats DataFusion reads.

use datafusion::sql::sqlparser::ast::DataType as SqlType;
use datafusion::sql::sqlparser::ast::{Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Value};

use super::{function_name, mentions};

/// `sql` with every `'name'::regproc` written `'name'` (see the module docs); `None` if there is
/// none, which a substring test decides for nearly every statement.
pub fn regproc_literals_as_names(sql: &str) -> Option<String> {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    if !mentions(sql, "regproc") {
        return None;
    }
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()?;
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    let mut changed = false;
    while i < tokens.len() {
        let is_regproc_cast = matches!(&tokens[i], Token::SingleQuotedString(_))
            && matches!(tokens.get(i + 1), Some(Token::DoubleColon))
            && matches!(tokens.get(i + 2), Some(Token::Word(w)) if w.value.eq_ignore_ascii_case("regproc"));
        out.push(tokens[i].clone());
        if is_regproc_cast {
            i += 3;
            changed = true;
        } else {
            i += 1;
        }
    }
    // Rendered so that quotes inside strings stay escaped (`'it''s'`).
    changed.then(|| squall_sql::render_tokens(&out))
}

/// Interval literals with a time part, as PostgreSQL writes them and reads them back
/// (`INTERVAL '1 day 02:00:00'`, `'-04:05:06.5'::interval`), which DataFusion's parser refuses:
/// the time part is spelled out in hours, minutes and seconds, which it reads.
pub(super) fn interval_time_parts(expr: &mut Expr) -> bool {
    let literal = match expr {
        Expr::Interval(interval) => interval.value.as_mut(),
        Expr::Cast { expr, data_type: SqlType::Interval { .. }, .. } => expr.as_mut(),
        _ => return false,
    };
    let Expr::Value(value) = literal else { return false };
    let Value::SingleQuotedString(text) = &mut value.value else { return false };
    match spelled_out_time_parts(text) {
        Some(spelled) => {
            *text = spelled;
            true
        }
        None => false,
    }
}

/// `text` with each `[-]H:MM[:SS[.f]]` part written as `H hours M minutes S seconds` (each
/// signed as the part is); `None` if it has none.
pub(super) fn spelled_out_time_parts(text: &str) -> Option<String> {
    let mut changed = false;
    let words: Vec<String> = text
        .split_whitespace()
        .map(|word| {
            let (negative, unsigned) = match word.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, word.strip_prefix('+').unwrap_or(word)),
            };
            let parts: Vec<&str> = unsigned.split(':').collect();
            let numeric = |p: &&str| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit() || c == '.');
            if !(2..=3).contains(&parts.len()) || !parts.iter().all(numeric) || parts[..parts.len() - 1].iter().any(|p| p.contains('.')) {
                return word.to_string();
            }
            changed = true;
            let sign = if negative { "-" } else { "" };
            let units = ["hours", "minutes", "seconds"];
            parts.iter().zip(units).map(|(number, unit)| format!("{sign}{number} {unit}")).collect::<Vec<_>>().join(" ")
        })
        .collect();
    changed.then(|| words.join(" "))
}

/// `to_date(text, template)` and `to_timestamp(text, template)` with PostgreSQL's template
/// (`'DD/MM/YYYY'`), which DataFusion would read as chrono's: the template becomes the chrono
/// format that reads the same text. Templates with a `%` are chrono's already; ones chrono cannot
/// express are left to fail with 22007.
pub(super) fn parse_template_as_chrono(expr: &mut Expr) -> bool {
    let Expr::Function(function) = expr else { return false };
    if !matches!(function_name(function).as_str(), "to_date" | "to_timestamp") {
        return false;
    }
    let FunctionArguments::List(list) = &mut function.args else { return false };
    let [_, FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(template)))] = list.args.as_mut_slice() else { return false };
    let Value::SingleQuotedString(text) = &mut template.value else { return false };
    if text.contains('%') {
        return false;
    }
    match squall_udf::functions::to_char::chrono_parse_format(text) {
        Some(chrono) => {
            *text = chrono;
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regproc_literals_become_names() {
        assert_eq!(
            regproc_literals_as_names("SELECT t.typname FROM pg_type t WHERE t.typinput = 'array_in'::regproc AND x = 'a'").as_deref(),
            Some("SELECT t.typname FROM pg_type t WHERE t.typinput = 'array_in' AND x = 'a'")
        );
        assert_eq!(regproc_literals_as_names("SELECT 'it''s', 'f'::regproc").as_deref(), Some("SELECT 'it''s', 'f'"));
        assert_eq!(regproc_literals_as_names("SELECT 1"), None);
    }
}
