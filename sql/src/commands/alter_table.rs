//! `ALTER TABLE name` changes Delta tables allow: `ADD [COLUMN] c type`, `RENAME TO u`,
//! `RENAME [COLUMN] a TO b`, `ALTER [COLUMN] c DROP NOT NULL`. Other forms are not this
//! command's (they reach the SQL planner, which refuses them).

use super::Command;
use crate::words::Words;
use crate::ParseError;

/// One change to a table.
#[derive(Debug, Clone, PartialEq)]
pub enum AlterTable {
    /// `ADD COLUMN name type [NOT NULL]`: `type` as written, for the engine to read.
    AddColumn { column: String, data_type: String, not_null: bool },
    RenameTo { name: String },
    RenameColumn { from: String, to: String },
    DropNotNull { column: String },
}

pub(super) fn parse(words: &mut Words) -> Result<Option<Command>, ParseError> {
    if !words.accept(&["ALTER", "TABLE"]) {
        return Ok(None);
    }
    let table = words.identifier("a table name")?;
    let change = if words.accept(&["ADD"]) {
        words.accept(&["COLUMN"]);
        let column = words.identifier("a column name")?;
        let rest = words.rest();
        let trimmed = rest.trim();
        let (data_type, not_null) = match trimmed.to_ascii_uppercase().strip_suffix("NOT NULL") {
            Some(head) => (trimmed[..head.len()].trim().to_string(), true),
            None => (trimmed.to_string(), false),
        };
        if data_type.is_empty() {
            return Err(ParseError::new(format!("ALTER TABLE {table} ADD COLUMN {column}: expected a type")));
        }
        AlterTable::AddColumn { column, data_type, not_null }
    } else if words.accept(&["RENAME", "TO"]) {
        AlterTable::RenameTo { name: words.identifier("a table name")? }
    } else if words.accept(&["RENAME"]) {
        words.accept(&["COLUMN"]);
        let from = words.identifier("a column name")?;
        words.expect(&["TO"])?;
        AlterTable::RenameColumn { from, to: words.identifier("a column name")? }
    } else if words.accept(&["ALTER"]) {
        words.accept(&["COLUMN"]);
        let column = words.identifier("a column name")?;
        if !words.accept(&["DROP", "NOT", "NULL"]) {
            return Ok(None);
        }
        AlterTable::DropNotNull { column }
    } else {
        return Ok(None);
    };
    words.expect_end("ALTER TABLE")?;
    Ok(Some(Command::AlterTable { table, change }))
}

#[cfg(test)]
mod tests {
    use super::AlterTable;
    use crate::{parse, Command, Statement};

    fn change(sql: &str) -> AlterTable {
        match parse(sql).unwrap().remove(0) {
            Statement::Command(Command::AlterTable { change, .. }) => change,
            other => panic!("{sql}: {other:?}"),
        }
    }

    #[test]
    fn the_four_changes() {
        assert_eq!(change("ALTER TABLE t ADD COLUMN c numeric(10, 2)"), AlterTable::AddColumn { column: "c".into(), data_type: "numeric(10, 2)".into(), not_null: false });
        assert_eq!(change("alter table t add c text not null"), AlterTable::AddColumn { column: "c".into(), data_type: "text".into(), not_null: true });
        assert_eq!(change("ALTER TABLE t RENAME TO u"), AlterTable::RenameTo { name: "u".into() });
        assert_eq!(change("ALTER TABLE t RENAME COLUMN a TO b"), AlterTable::RenameColumn { from: "a".into(), to: "b".into() });
        assert_eq!(change("ALTER TABLE t ALTER COLUMN c DROP NOT NULL"), AlterTable::DropNotNull { column: "c".into() });
        assert!(matches!(parse("ALTER TABLE t OWNER TO bob").unwrap().remove(0), Statement::Sql(_)));
    }
}
