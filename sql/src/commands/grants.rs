//! `GRANT privileges ON [TABLE] name, ... TO user, ...`, `GRANT USAGE ON MODEL name TO user`, and
//! `REVOKE ... FROM ...`, in PostgreSQL's words. Privileges: `SELECT`, `INSERT`, `UPDATE`,
//! `DELETE`, `ALL [PRIVILEGES]` on tables and views; `USAGE` (or `ALL`) on models.

use super::Command;
use crate::words::Words;
use crate::ParseError;

/// A privilege on a table, view or model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Privilege {
    Select,
    Insert,
    Usage,
    Update,
    Delete,
}

impl Privilege {
    pub fn name(self) -> &'static str {
        match self {
            Privilege::Select => "SELECT",
            Privilege::Insert => "INSERT",
            Privilege::Usage => "USAGE",
            Privilege::Update => "UPDATE",
            Privilege::Delete => "DELETE",
        }
    }
}

/// What a grant is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// A table or a view (PostgreSQL grants on both with `ON TABLE`).
    Table,
    Model,
}

/// One `GRANT` or `REVOKE`.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub privileges: Vec<Privilege>,
    pub kind: ObjectKind,
    pub objects: Vec<String>,
    pub users: Vec<String>,
}

pub(super) fn parse(words: &mut Words) -> Result<Option<Command>, ParseError> {
    let granting = if words.accept(&["GRANT"]) {
        true
    } else if words.accept(&["REVOKE"]) {
        false
    } else {
        return Ok(None);
    };
    let named = privileges(words)?;
    words.expect(&["ON"])?;
    let kind = if words.accept(&["MODEL"]) {
        ObjectKind::Model
    } else {
        words.accept(&["TABLE"]);
        ObjectKind::Table
    };
    let objects = words.name_list(if kind == ObjectKind::Model { "a model name" } else { "a table name" })?;
    words.expect(&[if granting { "TO" } else { "FROM" }])?;
    let users = words.name_list("a user name")?;
    let command = if granting { "GRANT" } else { "REVOKE" };
    words.expect_end(command)?;
    let privileges = match (named, kind) {
        (None, ObjectKind::Table) => vec![Privilege::Select, Privilege::Insert, Privilege::Update, Privilege::Delete],
        (None, ObjectKind::Model) => vec![Privilege::Usage],
        (Some(list), kind) => {
            let fits = |p: &Privilege| (*p == Privilege::Usage) == (kind == ObjectKind::Model);
            if let Some(wrong) = list.iter().find(|p| !fits(p)) {
                let on = if kind == ObjectKind::Model { "a model" } else { "a table" };
                return Err(ParseError::new(format!("invalid privilege type {} for {on}", wrong.name())));
            }
            list
        }
    };
    let grant = Grant { privileges, kind, objects, users };
    Ok(Some(if granting { Command::Grant(grant) } else { Command::Revoke(grant) }))
}

/// The privilege list; `None` for `ALL [PRIVILEGES]`.
fn privileges(words: &mut Words) -> Result<Option<Vec<Privilege>>, ParseError> {
    if words.accept(&["ALL"]) {
        words.accept(&["PRIVILEGES"]);
        return Ok(None);
    }
    let mut list = Vec::new();
    loop {
        let privilege = match words.identifier("a privilege (SELECT, INSERT, UPDATE, DELETE, USAGE or ALL)")?.as_str() {
            "select" => Privilege::Select,
            "insert" => Privilege::Insert,
            "update" => Privilege::Update,
            "delete" => Privilege::Delete,
            "usage" => Privilege::Usage,
            other => {
                return Err(ParseError::new(format!("unrecognized privilege type \"{other}\": squall grants SELECT, INSERT, UPDATE, DELETE and USAGE")))
            }
        };
        if !list.contains(&privilege) {
            list.push(privilege);
        }
        if !words.accept_token(&sqlparser::tokenizer::Token::Comma) {
            return Ok(Some(list));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse, Statement};

    fn one(sql: &str) -> Command {
        match parse(sql).unwrap().remove(0) {
            Statement::Command(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn grant_select_on_tables() {
        assert_eq!(
            one("GRANT SELECT ON TABLE orders, Items TO alice, bob"),
            Command::Grant(Grant {
                privileges: vec![Privilege::Select],
                kind: ObjectKind::Table,
                objects: vec!["orders".into(), "items".into()],
                users: vec!["alice".into(), "bob".into()],
            })
        );
    }

    #[test]
    fn all_means_every_privilege_of_the_kind() {
        assert_eq!(
            one("revoke all privileges on orders from alice"),
            Command::Revoke(Grant {
                privileges: vec![Privilege::Select, Privilege::Insert, Privilege::Update, Privilege::Delete],
                kind: ObjectKind::Table,
                objects: vec!["orders".into()],
                users: vec!["alice".into()],
            })
        );
        assert_eq!(
            one("GRANT USAGE ON MODEL iris TO alice"),
            Command::Grant(Grant { privileges: vec![Privilege::Usage], kind: ObjectKind::Model, objects: vec!["iris".into()], users: vec!["alice".into()] })
        );
    }

    #[test]
    fn privileges_must_fit_the_object() {
        assert!(parse("GRANT USAGE ON orders TO alice").is_err());
        assert!(parse("GRANT SELECT ON MODEL iris TO alice").is_err());
        assert!(parse("GRANT TRUNCATE ON orders TO alice").is_err());
        assert!(parse("GRANT DELETE ON MODEL iris TO alice").is_err());
        assert!(parse("GRANT SELECT ON orders alice").is_err());
    }
}
