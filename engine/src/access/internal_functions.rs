//! squall's own aggregates that read model files or carry training state take a model's URL as
//! their first argument: `squall_evaluate` (EVALUATE MODEL, holdout metrics),
//! `squall_permutation_importance` (DESCRIBE MODEL's importance) and `squall_train_pass` (TRAIN
//! MODEL's passes). squall's commands build their plans with them after checking the user's
//! privileges; called from a user's SQL, they would read any model by URL, USAGE or not. So user
//! SQL may not call them (42501).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{visit_expressions, Expr, Statement};
use squall_udf::functions::{evaluate, permutation_importance, train_pass};

use crate::error::{Result, SquallError};

/// The functions only squall's commands may call, with the command that does.
const INTERNAL: [(&str, &str); 3] = [
    (evaluate::NAME, "EVALUATE MODEL"),
    (permutation_importance::NAME, "DESCRIBE MODEL"),
    (train_pass::NAME, "TRAIN MODEL"),
];

/// Refuses `statement` if it calls one of squall's internal model functions.
pub fn refuse_internal_calls(statement: &Statement) -> Result<()> {
    let flow = visit_expressions(statement, |expr| {
        if let Expr::Function(function) = expr {
            let name = function.name.0.last().and_then(|part| part.as_ident()).map(|ident| ident.value.to_lowercase());
            if let Some((name, command)) = INTERNAL.iter().find(|(internal, _)| name.as_deref() == Some(*internal)) {
                return ControlFlow::Break(SquallError::InsufficientPrivilege(format!(
                    "{name}() is internal to squall ({command} uses it) and cannot be called from SQL"
                )));
            }
        }
        ControlFlow::Continue(())
    });
    match flow {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn check(sql: &str) -> Result<()> {
        refuse_internal_calls(&Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap()[0])
    }

    #[test]
    fn internal_model_functions_are_refused_wherever_they_hide() {
        for sql in [
            "SELECT squall_evaluate('file:///models/m/v1.json', y, x) FROM t",
            "SELECT * FROM t WHERE x > (SELECT length(SQUALL_PERMUTATION_IMPORTANCE('u', x)) FROM t)",
            "SELECT public.squall_train_pass('nb', 'p', x) OVER () FROM t",
            "CREATE VIEW v AS SELECT squall_evaluate('u', y, x) FROM t",
        ] {
            let error = check(sql).unwrap_err();
            assert_eq!(error.sqlstate(), "42501", "{sql}");
        }
        check("SELECT predict('m', x), count(*) FROM t GROUP BY 1").unwrap();
    }
}
