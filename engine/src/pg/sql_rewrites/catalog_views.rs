//! `pg_settings` and `pg_roles` as views of the session's parameters and squall's users, in place
//! of the emulation's (which lists one parameter and no roles).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{SetExpr, Statement, TableFactor};

use super::{quoted};

/// Reads of `pg_catalog.pg_settings` as a view of `settings` (name, current value): the
/// emulation's lists one parameter, while pgjdbc's foreign-key calls read `max_index_keys` there,
/// and tools list the session's parameters with it. Whether any read was rewritten.
pub fn settings_view(statement: &mut Statement, settings: &[(String, String)]) -> bool {
    let rows: Vec<String> = settings.iter().map(|(n, v)| format!("({}, {})", quoted(n), quoted(v))).collect();
    catalog_view(
        statement,
        "pg_settings",
        &format!(
            "SELECT name, setting, CAST(NULL AS TEXT) AS unit, 'Ungrouped' AS category, CAST(NULL AS TEXT) AS short_desc, \
             CAST(NULL AS TEXT) AS extra_desc, 'user' AS context, 'string' AS vartype, 'default' AS source, CAST(NULL AS TEXT) AS min_val, \
             CAST(NULL AS TEXT) AS max_val, CAST(NULL AS TEXT) AS enumvals, setting AS boot_val, setting AS reset_val, \
             CAST(NULL AS TEXT) AS sourcefile, CAST(NULL AS INT) AS sourceline, false AS pending_restart \
             FROM (VALUES {}) AS settings(name, setting)",
            rows.join(", ")
        ),
    )
}

/// One user as `pg_catalog.pg_roles` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub name: String,
    pub superuser: bool,
    pub login: bool,
    /// -1: no limit.
    pub connection_limit: i64,
}

/// Reads of `pg_catalog.pg_roles` as a view of squall's users (psql's `\du`, tools' user lists);
/// the emulation's is empty. Oids are the users' positions from 10, the bootstrap superuser's oid
/// in PostgreSQL.
pub fn roles_view(statement: &mut Statement, users: &[Role]) -> bool {
    let rows: Vec<String> = users
        .iter()
        .enumerate()
        .map(|(i, r)| format!("({}, {}, {}, {}, {})", quoted(&r.name), r.superuser, r.login, r.connection_limit, 10 + i))
        .collect();
    catalog_view(
        statement,
        "pg_roles",
        &format!(
            "SELECT rolname, rolsuper, true AS rolinherit, rolsuper AS rolcreaterole, rolsuper AS rolcreatedb, rolcanlogin, \
             rolsuper AS rolreplication, rolconnlimit, '********' AS rolpassword, CAST(NULL AS TIMESTAMPTZ) AS rolvaliduntil, \
             rolsuper AS rolbypassrls, CAST(NULL AS TEXT[]) AS rolconfig, oid \
             FROM (VALUES {}) AS roles(rolname, rolsuper, rolcanlogin, rolconnlimit, oid)",
            rows.join(", ")
        ),
    )
}

/// Replaces every read of `pg_catalog.<table>` in `statement` with `(<view>) AS <its alias>`;
/// whether there was one.
pub(super) fn catalog_view(statement: &mut Statement, table: &str, view: &str) -> bool {
    let mut rewrite = CatalogView { table, view, changed: false };
    let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(statement, &mut rewrite);
    rewrite.changed
}

pub(super) struct CatalogView<'a> {
    table: &'a str,
    view: &'a str,
    changed: bool,
}

impl datafusion::sql::sqlparser::ast::VisitorMut for CatalogView<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table { name, alias, args: None, .. } = factor else { return ControlFlow::Continue(()) };
        let parts: Vec<String> = name.0.iter().filter_map(|p| p.as_ident()).map(|i| i.value.to_ascii_lowercase()).collect();
        let names_table = match parts.as_slice() {
            [table] => table == self.table,
            [schema, table] | [_, schema, table] => schema == "pg_catalog" && table == self.table,
            _ => false,
        };
        if !names_table {
            return ControlFlow::Continue(());
        }
        let alias = alias.as_ref().map_or_else(|| self.table.to_string(), |a| a.to_string());
        let text = format!("SELECT * FROM ({}) AS {alias}", self.view);
        let parsed = datafusion::sql::sqlparser::parser::Parser::parse_sql(&datafusion::sql::sqlparser::dialect::PostgreSqlDialect {}, &text);
        let Ok(Some(Statement::Query(query))) = parsed.map(|mut statements| statements.pop()) else { return ControlFlow::Continue(()) };
        let SetExpr::Select(mut select) = *query.body else { return ControlFlow::Continue(()) };
        if let Some(from) = select.from.pop() {
            *factor = from.relation;
            self.changed = true;
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_settings_lists_the_session_parameters() {
        use datafusion::sql::sqlparser::{dialect::PostgreSqlDialect, parser::Parser};
        let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, "SELECT s.setting FROM pg_catalog.pg_settings s WHERE s.name = 'max_index_keys'").unwrap().remove(0);
        assert!(settings_view(&mut statement, &[("max_index_keys".into(), "32".into()), ("datestyle".into(), "ISO, MDY".into())]));
        let text = statement.to_string();
        assert!(text.contains("FROM (VALUES ('max_index_keys', '32'), ('datestyle', 'ISO, MDY')) AS settings (name, setting)) AS s WHERE s.name"), "{text}");
    }

    #[test]
    fn pg_roles_lists_the_users() {
        use datafusion::sql::sqlparser::{dialect::PostgreSqlDialect, parser::Parser};
        let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, "SELECT r.rolname FROM pg_catalog.pg_roles r").unwrap().remove(0);
        let role = |name: &str, superuser, login, connection_limit| Role { name: name.into(), superuser, login, connection_limit };
        assert!(roles_view(&mut statement, &[role("squall", true, true, -1), role("o'brien", false, false, 3)]));
        let text = statement.to_string();
        assert!(
            text.contains("FROM (VALUES ('squall', true, true, -1, 10), ('o''brien', false, false, 3, 11)) AS roles (rolname, rolsuper, rolcanlogin, rolconnlimit, oid)) AS r"),
            "{text}"
        );
    }
}
