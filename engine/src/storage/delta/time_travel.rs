//! `SELECT ... FROM t VERSION AS OF 5` and `FROM t TIMESTAMP AS OF '2026-12-01 10:00:00'`
//! (Delta's and Spark's syntax): a table as it was.
//!
//! PostgreSQL's grammar has no table versions, and sqlparser reads them only in dialects whose
//! other rules differ from PostgreSQL's (Databricks reads `"x"` as a string), so squall desugars
//! the phrase before parsing: `t VERSION AS OF 5` becomes `squall_table_version('t', 5) AS t`,
//! a table function. Before the statement is planned, [`resolve`] checks SELECT on each table so
//! read, loads the version (a timestamp: the last version committed at or before it) and keeps it
//! where the function finds it.

use std::sync::{Arc, LazyLock, Mutex};

use datafusion::catalog::{TableFunctionImpl, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::Expr;
use datafusion::sql::sqlparser::ast::{FunctionArg, FunctionArgExpr, Statement, TableFactor, Value, Visit, Visitor};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use super::{DeltaSnapshot, TimeTravel};
use crate::error::{Result, SquallError};
use crate::session::Session;
use crate::storage::catalog::Entry;

/// The table function `t VERSION AS OF n` becomes.
pub const FUNCTION: &str = "squall_table_version";

/// Versions loaded for statements about to be planned, by (table, version or timestamp as
/// written). Bounded: a plan keeps its own reference once made.
static LOADED: LazyLock<Mutex<Vec<((String, String), Arc<DeltaSnapshot>)>>> = LazyLock::new(Default::default);
const KEPT: usize = 64;

/// `sql` with each `name VERSION | TIMESTAMP AS OF value` written as a call of [`FUNCTION`];
/// `None` when it has none.
pub fn desugar(sql: &str) -> Option<String> {
    if !sql.to_ascii_uppercase().contains(" AS OF ") {
        return None;
    }
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()?;
    let significant: Vec<usize> = (0..tokens.len()).filter(|&i| !matches!(tokens[i], Token::Whitespace(_))).collect();
    let keyword = |at: usize, k: Keyword| matches!(&tokens[significant[at]], Token::Word(w) if w.keyword == k);
    let mut out = String::new();
    let mut copied = 0; // tokens[..copied] are in `out`
    let mut changed = false;
    let mut s = 0;
    while s + 4 < significant.len() {
        let kind = if keyword(s + 1, Keyword::VERSION) {
            Some(Keyword::VERSION)
        } else if keyword(s + 1, Keyword::TIMESTAMP) {
            Some(Keyword::TIMESTAMP)
        } else {
            None
        };
        let phrase = kind.is_some() && keyword(s + 2, Keyword::AS) && keyword(s + 3, Keyword::OF);
        let value = &tokens[significant[s + 4]];
        let value_fits = matches!((kind, value), (Some(Keyword::VERSION), Token::Number(..)) | (Some(Keyword::TIMESTAMP), Token::SingleQuotedString(_)));
        let Token::Word(table) = &tokens[significant[s]] else {
            s += 1;
            continue;
        };
        if !(phrase && value_fits) {
            s += 1;
            continue;
        }
        // The table's whole name: `schema.t` is words and periods before it.
        let mut first = s;
        while first >= 2 && tokens[significant[first - 1]] == Token::Period && matches!(tokens[significant[first - 2]], Token::Word(_)) {
            first -= 2;
        }
        let name: String = (first..=s).map(|i| tokens[significant[i]].to_string()).collect();
        let name_value = if table.quote_style.is_some() && first == s { table.value.clone() } else { name.to_lowercase() };
        for token in &tokens[copied..significant[first]] {
            out.push_str(&token.to_string());
        }
        out.push_str(&format!("{FUNCTION}('{}', {value})", name_value.replace('\'', "''")));
        // The table keeps its name for column references, unless the query gives an alias.
        let aliased = significant.get(s + 5).is_some_and(|&i| match &tokens[i] {
            Token::Word(w) => w.keyword == Keyword::AS || w.keyword == Keyword::NoKeyword,
            _ => false,
        });
        if !aliased {
            out.push_str(&format!(" AS {table}"));
        }
        copied = significant[s + 4] + 1;
        changed = true;
        s += 5;
    }
    if !changed {
        return None;
    }
    for token in &tokens[copied..] {
        out.push_str(&token.to_string());
    }
    Some(out)
}

/// Checks SELECT on every table `statement` reads as it was, and loads those versions for
/// [`TableVersion`] to find.
pub async fn resolve(statement: &Statement, session: &Session) -> Result<()> {
    let calls = calls(statement);
    for (table, at) in calls {
        crate::access::checks::check_uses(session, &crate::access::checks::Uses { reads: vec![table.clone()], ..Default::default() })?;
        let url = delta_url(session, &table).await?;
        let travel = match &at {
            ScalarValue::Int64(Some(v)) if *v >= 0 => TimeTravel::Version(*v as u64),
            ScalarValue::Utf8(Some(text)) => TimeTravel::Timestamp(parse_timestamp(text)?),
            other => return Err(SquallError::InvalidParameter(format!("{table} AS OF {other}: a version number or a timestamp string"))),
        };
        let snapshot = session.engine.tables.snapshot_at(&url, &travel).await?;
        let mut loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
        loaded.retain(|(key, _)| key != &(table.clone(), at.to_string()));
        loaded.push(((table, at.to_string()), snapshot));
        if loaded.len() > KEPT {
            loaded.remove(0);
        }
    }
    Ok(())
}

/// The (table, version or timestamp) of each call of [`FUNCTION`] in `statement`.
fn calls(statement: &Statement) -> Vec<(String, ScalarValue)> {
    struct Calls(Vec<(String, ScalarValue)>);
    impl Visitor for Calls {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> std::ops::ControlFlow<()> {
            if let TableFactor::Table { name, args: Some(args), .. } = factor {
                if name.to_string().eq_ignore_ascii_case(FUNCTION) {
                    let values: Vec<Option<ScalarValue>> = args
                        .args
                        .iter()
                        .map(|arg| match arg {
                            FunctionArg::Unnamed(FunctionArgExpr::Expr(datafusion::sql::sqlparser::ast::Expr::Value(v))) => match &v.value {
                                Value::SingleQuotedString(s) => Some(ScalarValue::Utf8(Some(s.clone()))),
                                Value::Number(n, _) => n.parse::<i64>().ok().map(|n| ScalarValue::Int64(Some(n))),
                                _ => None,
                            },
                            _ => None,
                        })
                        .collect();
                    if let [Some(ScalarValue::Utf8(Some(table))), Some(at)] = values.as_slice() {
                        self.0.push((table.clone(), at.clone()));
                    }
                }
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut found = Calls(Vec::new());
    // (The visitor walks subqueries, CTEs and views' definitions as written too.)
    let _ = statement.visit(&mut found);
    found.0
}

/// The URL of Delta table `table`, managed or external (0A000 for another kind of table).
pub async fn delta_url(session: &Session, table: &str) -> Result<url::Url> {
    match session.engine.catalog.get(table) {
        Some(Entry::Managed { location, .. }) => session.engine.tables.url_of(table, location.as_deref()),
        Some(Entry::External { .. }) => {
            let provider = session.engine.base.table_provider(table).await?;
            match (provider.as_ref() as &dyn std::any::Any).downcast_ref::<super::LiveDeltaTable>() {
                Some(delta) => Ok(delta.url.clone()),
                None => Err(SquallError::Unsupported(format!("\"{table}\" is not a Delta table: it has no versions"))),
            }
        }
        Some(Entry::View { .. }) => Err(SquallError::WrongObjectType(format!("\"{table}\" is a view: it has no versions"))),
        None => Err(SquallError::UndefinedTable(format!("relation \"{table}\" does not exist"))),
    }
}

/// `2026-12-01 10:00:00[.ffffff][+hh:mm]` or RFC 3339; without an offset, UTC (squall's only
/// time zone).
fn parse_timestamp(text: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    use chrono::{DateTime, NaiveDateTime, Utc};
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%#z"] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format).or_else(|e| {
            chrono::NaiveDate::parse_from_str(text, format).map(|d| d.and_hms_opt(0, 0, 0).expect("midnight")).map_err(|_| e)
        }) {
            return Ok(t.and_utc());
        }
    }
    Err(SquallError::WithContext {
        code: "22007",
        message: format!("invalid input syntax for type timestamp: \"{text}\""),
        context: "TIMESTAMP AS OF".into(),
    })
}

/// The table function: the version [`resolve`] loaded.
#[derive(Debug)]
pub struct TableVersion;

impl TableFunctionImpl for TableVersion {
    fn call(&self, args: &[Expr]) -> DfResult<Arc<dyn TableProvider>> {
        let literal = |e: &Expr| match e {
            Expr::Literal(v, _) => Some(v.clone()),
            _ => None,
        };
        let (Some(ScalarValue::Utf8(Some(table))), Some(at)) = (args.first().and_then(literal), args.get(1).and_then(literal)) else {
            return Err(DataFusionError::Plan(format!("{FUNCTION}(table, version or timestamp) takes two constants")));
        };
        let at = match at {
            ScalarValue::Int64(v) => ScalarValue::Int64(v),
            ScalarValue::Utf8(s) => ScalarValue::Utf8(s),
            other => other,
        };
        let key = (table.clone(), at.to_string());
        let loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
        loaded
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, snapshot)| Arc::clone(snapshot) as Arc<dyn TableProvider>)
            .ok_or_else(|| DataFusionError::Plan(format!("{table} AS OF {at} was not loaded for this statement")))
    }
}
