//! The few small tables the random queries read: integers and text with NULLs, a unique `id` on
//! every table (so that ORDER BY ... LIMIT has one right answer), and an empty table (aggregates
//! and subqueries over no rows are where decorrelation goes wrong).

use super::rng::Rng;

/// Every table has these columns; `id` is unique and never NULL.
pub const COLUMNS: &[(&str, ColumnType)] =
    &[("id", ColumnType::Int), ("a", ColumnType::Int), ("b", ColumnType::Int), ("c", ColumnType::Int), ("s", ColumnType::Text)];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    Int,
    Text,
}

/// (name, rows, rows per INSERT): t4 is empty. Each INSERT is a file of its own in squall, and a
/// table of several files is scanned in several partitions: the distributed path then plans
/// stages that exchange rows, where a table of one file often runs in one stage.
pub const TABLES: &[(&str, usize, usize)] = &[("t1", 9, 3), ("t2", 7, 4), ("t3", 4, 4), ("t4", 0, 0)];

/// The integer columns (for expressions of integer type).
pub fn int_columns() -> impl Iterator<Item = &'static str> {
    COLUMNS.iter().filter(|(_, t)| *t == ColumnType::Int).map(|(n, _)| *n)
}

/// The statements that create and fill the tables, the same text for PostgreSQL and squall.
pub fn setup_statements(seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed ^ 0x7ab1e5);
    let mut statements = Vec::new();
    for (table, rows, per_insert) in TABLES {
        statements.push(format!("CREATE TABLE {table} (id INTEGER NOT NULL, a INTEGER, b INTEGER, c INTEGER, s TEXT)"));
        if *rows == 0 {
            continue;
        }
        let values: Vec<String> = (1..=*rows)
            .map(|id| {
                let mut int = || if rng.chance(0.2) { "NULL".to_string() } else { rng.range(-2, 6).to_string() };
                let (a, b, c) = (int(), int(), int());
                let s = if rng.chance(0.2) { "NULL".to_string() } else { format!("'{}'", rng.pick(&["a", "b", "ab", "ba", "A"])) };
                format!("({id}, {a}, {b}, {c}, {s})")
            })
            .collect();
        for chunk in values.chunks(*per_insert) {
            statements.push(format!("INSERT INTO {table} VALUES {}", chunk.join(", ")));
        }
    }
    statements
}
