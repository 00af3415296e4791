//! Resolving model names in PREDICT calls before DataFusion plans a statement:
//! `PREDICT('iris', ...)` becomes `PREDICT('file:///.../models/iris/v3-....json', ...)`, the file
//! of the version current now (or the one `'iris@2'` names), and `PREDICT('iris', t.*)` gets the
//! model's feature columns of `t`, matched by name. Executors then need no catalog: the URL is
//! the model, and a version's URL never changes meaning.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, ObjectName,
    ObjectNamePart, Statement, Value,
};

use super::registry::ModelRegistry;
use crate::error::{Result, SquallError};
use squall_udf::functions::predict::NAMES;

/// Rewrites every PREDICT-family call in `statement`; returns the names of the models used.
pub fn resolve(statement: &mut Statement, registry: &ModelRegistry) -> Result<Vec<String>> {
    let mut models = Vec::new();
    let flow = visit_expressions_mut(statement, |expr| {
        if let Expr::Function(function) = expr {
            if is_predict(&function.name) {
                match rewrite(function, registry) {
                    Ok(model) => models.push(model),
                    Err(e) => return ControlFlow::Break(e),
                }
            }
        }
        ControlFlow::Continue(())
    });
    match flow {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(models),
    }
}

fn is_predict(name: &ObjectName) -> bool {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(ident)] => NAMES.iter().any(|n| ident.value.eq_ignore_ascii_case(n)),
        _ => false,
    }
}

/// Rewrites one call; returns the model's name.
fn rewrite(function: &mut Function, registry: &ModelRegistry) -> Result<String> {
    let name = function.name.to_string().to_lowercase();
    let FunctionArguments::List(list) = &mut function.args else {
        return Err(SquallError::UndefinedFunction(format!("{name}() needs a model name and features")));
    };
    let reference = match list.args.first() {
        Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v)))) => match &v.value {
            Value::SingleQuotedString(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    };
    let Some(reference) = reference else {
        return Err(SquallError::InvalidParameter(format!(
            "{name}() takes the model name as a string constant first, e.g. {name}('iris', sepal_length, ...)"
        )));
    };
    let (model, version) = registry.resolve(&reference)?;
    list.args[0] = FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::value(Value::SingleQuotedString(version.url))));
    // `t.*` and `*` stand for the model's features, by name.
    let mut args = vec![list.args[0].clone()];
    for arg in list.args.drain(1..) {
        match arg {
            FunctionArg::Unnamed(FunctionArgExpr::QualifiedWildcard(table)) => {
                args.extend(version.features.iter().map(|f| {
                    let mut parts: Vec<Ident> = table.0.iter().filter_map(|p| p.as_ident().cloned()).collect();
                    parts.push(Ident::with_quote('"', f));
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::CompoundIdentifier(parts)))
                }));
            }
            FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => {
                args.extend(version.features.iter().map(|f| {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(Ident::with_quote('"', f))))
                }));
            }
            other => args.push(other),
        }
    }
    list.args = args;
    Ok(model.name)
}
