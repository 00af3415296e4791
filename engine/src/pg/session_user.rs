//! `current_user`, `session_user`, `user` and `current_role`: the name of the user the session
//! connected as (squall has no SET ROLE, so all four are the same), as PostgreSQL answers.
//!
//! They are read in two steps, because a view is planned once by the user who creates it and
//! queried by others: the statement names squall's function [`FUNCTION`] in their place, and each
//! session's analyzer rule [`SessionUser`] puts the session's user name in place of that call
//! whenever a plan is prepared to run, views included. PostgreSQL's names for the columns
//! (`current_user`, ...) come from the statement as written (crate::pg::column_names). The same rule
//! names the user `pg_has_role(role, privilege)` asks about.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{create_udf, lit, ColumnarValue, Expr as PlanExpr, LogicalPlan, ScalarUDF, Volatility};
use datafusion::optimizer::AnalyzerRule;
use datafusion::sql::sqlparser::ast::{Expr, Function, FunctionArgumentList, FunctionArguments, Ident, ObjectName, Statement};

/// The function that stands for the session's user until [`SessionUser`] replaces it.
pub const FUNCTION: &str = "squall_session_user";

/// PostgreSQL's parenthesis-less functions that name the session's user.
const NAMES: &[&str] = &["current_user", "session_user", "user", "current_role"];

/// Puts [`FUNCTION`]`()` in place of each of [`NAMES`] in `statement`.
pub fn name_session_user(statement: &mut Statement) {
    let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(statement, |expr| {
        let names_user = match expr {
            // sqlparser reads current_user, session_user and user as functions without
            // arguments; current_role as a name.
            Expr::Function(f) => matches!(f.args, FunctionArguments::None) && f.name.0.len() == 1 && is_user_name(&f.name.to_string()),
            Expr::Identifier(ident) => ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case("current_role"),
            _ => false,
        };
        if names_user {
            *expr = Expr::Function(Function {
                name: ObjectName::from(vec![Ident::new(FUNCTION)]),
                uses_odbc_syntax: false,
                parameters: FunctionArguments::None,
                args: FunctionArguments::List(FunctionArgumentList { duplicate_treatment: None, args: vec![], clauses: vec![] }),
                filter: None,
                null_treatment: None,
                over: None,
                within_group: vec![],
            });
        }
        ControlFlow::<()>::Continue(())
    });
}

fn is_user_name(name: &str) -> bool {
    NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// [`FUNCTION`] for planning. It is always replaced before a plan runs in a session; a plan that
/// still calls it was planned elsewhere (a view's plan on an executor), where the user is not
/// known: an error rather than a guess.
pub fn udf() -> ScalarUDF {
    create_udf(
        FUNCTION,
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(|_: &[ColumnarValue]| {
            Err(datafusion::error::DataFusionError::NotImplemented(
                "current_user is not supported in a view read on the executors; query the view with squall.local_scan_limit above its size".into(),
            ))
        }),
    )
}

/// A session's analyzer rule: [`FUNCTION`]`()` is the session's user name.
#[derive(Debug)]
pub struct SessionUser {
    pub user: String,
}

impl AnalyzerRule for SessionUser {
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> datafusion::error::Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            // The columns keep their names (a literal would be named after its value).
            let names = NamePreserver::new(&node);
            node.map_expressions(|expr| {
                let name = names.save(&expr);
                let replaced = expr.transform_up(|e| match e {
                    PlanExpr::ScalarFunction(call) if call.func.name() == FUNCTION => Ok(Transformed::yes(lit(self.user.clone()))),
                    // pg_has_role(role, privilege) asks about the session's user.
                    PlanExpr::ScalarFunction(mut call) if call.func.name() == crate::pg::has_role::NAME && call.args.len() == 2 => {
                        call.args.insert(0, lit(self.user.clone()));
                        Ok(Transformed::yes(PlanExpr::ScalarFunction(call)))
                    }
                    e => Ok(Transformed::no(e)),
                })?;
                Ok(replaced.update_data(|e| name.restore(e)))
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "squall_session_user"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::{dialect::PostgreSqlDialect, parser::Parser};

    #[test]
    fn every_spelling_names_the_session_user() {
        let mut statement =
            Parser::parse_sql(&PostgreSqlDialect {}, "SELECT current_user, session_user, user, current_role, \"user\" FROM t").unwrap().remove(0);
        name_session_user(&mut statement);
        assert_eq!(
            statement.to_string(),
            "SELECT squall_session_user(), squall_session_user(), squall_session_user(), squall_session_user(), \"user\" FROM t"
        );
    }
}
