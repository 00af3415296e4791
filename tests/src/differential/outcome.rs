//! What one database answered to one query, in a form two databases' answers can be compared in:
//! rows of text values (the simple query protocol's), or an error with its SQLSTATE.
//!
//! Numbers are compared to a tolerance (PostgreSQL's `avg` of integers is `numeric`
//! `2.5000000000000000`, squall's a float `2.5`); rows as a multiset unless the query orders them.

use tokio_postgres::{Client, SimpleQueryMessage};

#[derive(Debug, Clone)]
pub enum Outcome {
    Rows(Vec<Vec<Option<String>>>),
    Error { sqlstate: String, message: String },
}

/// Runs `sql` with the simple query protocol.
pub async fn run(client: &Client, sql: &str) -> Outcome {
    match client.simple_query(sql).await {
        Ok(messages) => Outcome::Rows(
            messages
                .into_iter()
                .filter_map(|m| match m {
                    SimpleQueryMessage::Row(row) => Some((0..row.len()).map(|i| row.get(i).map(str::to_string)).collect()),
                    _ => None,
                })
                .collect(),
        ),
        Err(e) => match e.as_db_error() {
            Some(db) => Outcome::Error { sqlstate: db.code().code().to_string(), message: db.message().to_string() },
            None => Outcome::Error { sqlstate: "connection".to_string(), message: e.to_string() },
        },
    }
}

/// Whether two values are the same: equal text, or numbers equal to a relative 1e-9.
fn same_value(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) if a == b => true,
        (Some(a), Some(b)) => match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
            _ => false,
        },
        _ => false,
    }
}

/// The order rows are compared in when their order is free: by each value, numbers as numbers.
fn sort_key(row: &[Option<String>]) -> Vec<(u8, f64, String)> {
    row.iter()
        .map(|v| match v {
            None => (0, 0.0, String::new()),
            Some(text) => match text.parse::<f64>() {
                Ok(number) => (1, number, String::new()),
                Err(_) => (2, 0.0, text.clone()),
            },
        })
        .collect()
}

fn sorted(rows: &[Vec<Option<String>>]) -> Vec<Vec<Option<String>>> {
    let mut rows = rows.to_vec();
    rows.sort_by(|a, b| sort_key(a).partial_cmp(&sort_key(b)).unwrap_or(std::cmp::Ordering::Equal));
    rows
}

/// Whether two results hold the same rows (in the same order when `ordered`).
pub fn same_rows(expected: &[Vec<Option<String>>], got: &[Vec<Option<String>>], ordered: bool) -> bool {
    if expected.len() != got.len() {
        return false;
    }
    let (expected, got) = if ordered { (expected.to_vec(), got.to_vec()) } else { (sorted(expected), sorted(got)) };
    expected.iter().zip(&got).all(|(e, g)| e.len() == g.len() && e.iter().zip(g).all(|(a, b)| same_value(a, b)))
}

/// A short rendering of an outcome for a failure report.
pub fn show(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Error { sqlstate, message } => format!("ERROR {sqlstate}: {message}"),
        Outcome::Rows(rows) => {
            let shown: Vec<String> = rows
                .iter()
                .take(12)
                .map(|r| format!("({})", r.iter().map(|v| v.as_deref().unwrap_or("NULL")).collect::<Vec<_>>().join(", ")))
                .collect();
            format!("{} rows: {}{}", rows.len(), shown.join(" "), if rows.len() > 12 { " ..." } else { "" })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(values: &[Option<&str>]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(str::to_string)).collect()
    }

    #[test]
    fn numbers_compare_to_a_tolerance_and_rows_as_multisets() {
        let pg = vec![row(&[Some("1"), Some("2.5000000000000000")]), row(&[None, Some("a")])];
        let squall = vec![row(&[None, Some("a")]), row(&[Some("1"), Some("2.5")])];
        assert!(same_rows(&pg, &squall, false));
        assert!(!same_rows(&pg, &squall, true));
        assert!(!same_rows(&pg, &[row(&[Some("1"), Some("2.6")]), row(&[None, Some("a")])], false));
        assert!(!same_rows(&pg, &pg[..1], false));
    }
}
