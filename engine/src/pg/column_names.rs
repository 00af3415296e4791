//! PostgreSQL's names for a query's result columns.
//!
//! DataFusion names an unaliased column after its whole expression (`sum(sales.amount)`,
//! `Int64(1) + Int64(1)`, `Utf8("2024-03-01")`); PostgreSQL after its outermost function, column
//! or cast type (`sum`, `?column?`, `date`). Applications read columns by those names (pandas
//! frames, node-postgres row objects, ORMs), so squall reports PostgreSQL's, following its
//! `FigureColname`. Only the names clients see change: the plan keeps DataFusion's, which must be
//! unique, while PostgreSQL's may repeat (`SELECT 1, 2` answers two `?column?`).

use datafusion::sql::sqlparser::ast::{DataType, ExactNumberInfo, Expr, Ident, ObjectName, Query, SelectItem, SetExpr, Statement, TimezoneInfo};

/// What a name was figured from: PostgreSQL prefers a column or function name (`Strong`) to a
/// cast's type name (`TypeName`), and either to nothing (`?column?`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Strength {
    Unnamed,
    TypeName,
    Strong,
}

/// The result column names of `statement` as PostgreSQL gives them, one per column (`None`: keep
/// DataFusion's); `None` for statements that are not plain queries or
/// whose column count is not known from the text (`SELECT *`).
pub fn of(statement: &Statement) -> Option<Vec<Option<String>>> {
    let Statement::Query(query) = statement else { return None };
    of_query(query)
}

fn of_query(query: &Query) -> Option<Vec<Option<String>>> {
    of_set_expr(&query.body)
}

fn of_set_expr(body: &SetExpr) -> Option<Vec<Option<String>>> {
    match body {
        SetExpr::Select(select) => select
            .projection
            .iter()
            .map(|item| match item {
                SelectItem::UnnamedExpr(expr) => Some(Some(figure(expr).0)),
                SelectItem::ExprWithAlias { alias, .. } => Some(Some(normalized(alias))),
                SelectItem::ExprWithAliases { .. } => Some(None),
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => None,
            })
            .collect(),
        // A set operation's columns are named by its first branch.
        SetExpr::SetOperation { left, .. } => of_set_expr(left),
        SetExpr::Query(query) => of_query(query),
        _ => None,
    }
}

/// The name and its strength, as PostgreSQL's `FigureColnameInternal`.
fn figure(expr: &Expr) -> (String, Strength) {
    let strong = |name: &str| (name.to_string(), Strength::Strong);
    match expr {
        Expr::Identifier(ident) => (normalized(ident), Strength::Strong),
        Expr::CompoundIdentifier(parts) => parts.last().map(|p| (normalized(p), Strength::Strong)).unwrap_or_else(unnamed),
        Expr::Function(function) => last_name(&function.name).map(|name| (name, Strength::Strong)).unwrap_or_else(unnamed),
        Expr::Cast { expr, data_type, .. } => {
            let inner = figure(expr);
            if inner.1 == Strength::Strong {
                inner
            } else {
                (type_name(data_type), Strength::TypeName)
            }
        }
        Expr::TypedString(typed) => (type_name(&typed.data_type), Strength::TypeName),
        Expr::Interval(_) => ("interval".into(), Strength::TypeName),
        Expr::Nested(inner) | Expr::Collate { expr: inner, .. } => figure(inner),
        Expr::Case { else_result, .. } => match else_result.as_deref().map(figure) {
            Some(named @ (_, Strength::Strong)) => named,
            _ => ("case".into(), Strength::TypeName),
        },
        // `NOT EXISTS` is a NOT in PostgreSQL, which names nothing.
        Expr::Exists { negated: false, .. } => strong("exists"),
        Expr::Array(_) => strong("array"),
        Expr::Tuple(_) => strong("row"),
        Expr::Subquery(query) => match of_query(query).as_deref() {
            Some([Some(name)]) if name != UNNAMED => strong(name),
            _ => unnamed(),
        },
        // SQL's special forms are function calls in PostgreSQL.
        Expr::Extract { .. } => strong("extract"),
        Expr::Substring { .. } => strong("substring"),
        Expr::Trim { .. } => strong("btrim"),
        Expr::Position { .. } => strong("position"),
        Expr::Overlay { .. } => strong("overlay"),
        Expr::Ceil { .. } => strong("ceil"),
        Expr::Floor { .. } => strong("floor"),
        _ => unnamed(),
    }
}

/// PostgreSQL's name for a column it cannot name.
const UNNAMED: &str = "?column?";

fn unnamed() -> (String, Strength) {
    (UNNAMED.into(), Strength::Unnamed)
}

/// An identifier as PostgreSQL keeps it: folded to lower case unless quoted.
fn normalized(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

fn last_name(name: &ObjectName) -> Option<String> {
    name.0.last().and_then(|part| part.as_ident()).map(normalized)
}

/// The name PostgreSQL gives a type in a column header: its internal name (`int4`, `float8`),
/// an array's element type's.
fn type_name(data_type: &DataType) -> String {
    let name = match data_type {
        DataType::SmallInt(_) | DataType::Int2(_) => "int2",
        DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_) => "int4",
        DataType::BigInt(_) | DataType::Int8(_) => "int8",
        DataType::Real | DataType::Float4 => "float4",
        DataType::Float(ExactNumberInfo::Precision(precision)) if *precision <= 24 => "float4",
        DataType::Double(_) | DataType::DoublePrecision | DataType::Float8 | DataType::Float(_) | DataType::Float64 => "float8",
        DataType::Boolean | DataType::Bool => "bool",
        DataType::Text | DataType::String(_) => "text",
        DataType::Varchar(_) | DataType::CharacterVarying(_) | DataType::CharVarying(_) => "varchar",
        DataType::Char(_) | DataType::Character(_) => "bpchar",
        DataType::Numeric(_) | DataType::Decimal(_) | DataType::Dec(_) => "numeric",
        DataType::Date => "date",
        DataType::Timestamp(_, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz) => "timestamptz",
        DataType::Timestamp(..) => "timestamp",
        DataType::Time(_, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz) => "timetz",
        DataType::Time(..) => "time",
        DataType::Interval { .. } => "interval",
        DataType::Bytea => "bytea",
        DataType::JSON => "json",
        DataType::JSONB => "jsonb",
        DataType::Uuid => "uuid",
        DataType::Array(element) => {
            return match element {
                datafusion::sql::sqlparser::ast::ArrayElemTypeDef::AngleBracket(t)
                | datafusion::sql::sqlparser::ast::ArrayElemTypeDef::SquareBracket(t, _)
                | datafusion::sql::sqlparser::ast::ArrayElemTypeDef::Parenthesis(t) => type_name(t),
                datafusion::sql::sqlparser::ast::ArrayElemTypeDef::None => "anyarray".into(),
            }
        }
        DataType::Custom(name, _) => return last_name(name).unwrap_or_else(|| UNNAMED.into()),
        other => return other.to_string().split(['(', ' ']).next().unwrap_or(UNNAMED).to_lowercase(),
    };
    name.into()
}

/// `schema` with the columns renamed to `names` where given (Arrow allows repeated names, as
/// PostgreSQL's results do). A schema of another width is returned as it is.
pub fn renamed(schema: &datafusion::arrow::datatypes::SchemaRef, names: &[Option<String>]) -> datafusion::arrow::datatypes::SchemaRef {
    use datafusion::arrow::datatypes::Schema;
    if schema.fields().len() != names.len() {
        return schema.clone();
    }
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .zip(names)
        .map(|(field, name)| match name {
            Some(name) if name != field.name() => std::sync::Arc::new(field.as_ref().clone().with_name(name)),
            _ => field.clone(),
        })
        .collect();
    std::sync::Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(sql: &str) -> Option<Vec<Option<String>>> {
        use datafusion::sql::sqlparser::{dialect::PostgreSqlDialect, parser::Parser};
        of(&Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().remove(0))
    }

    fn given(names: &[&str]) -> Option<Vec<Option<String>>> {
        Some(names.iter().map(|n| (!n.is_empty()).then(|| n.to_string())).collect())
    }

    /// Each as PostgreSQL 15 names it.
    #[test]
    fn columns_are_named_as_postgresql_names_them() {
        assert_eq!(
            names("SELECT count(*), SUM(t.amount), t.id, Name, \"Mixed\", upper(name), id + 1, 1, 1::float8, id::text, DATE '2024-03-01', x AS y FROM t"),
            given(&["count", "sum", "id", "name", "Mixed", "upper", "?column?", "?column?", "float8", "id", "date", "y"])
        );
        assert_eq!(
            names("SELECT CASE WHEN a THEN 1 END, CASE WHEN a THEN 1 ELSE b END, coalesce(a, b), EXISTS (SELECT 1), (SELECT max(v) FROM u), ARRAY[1], '{1}'::int[], 1::numeric(10, 2), 'x'::varchar(3), now()::timestamptz"),
            given(&["case", "b", "coalesce", "exists", "max", "array", "int4", "numeric", "varchar", "now"])
        );
        assert_eq!(names("SELECT extract(year FROM d), trim(s), substring(s FROM 1 FOR 2) FROM t"), given(&["extract", "btrim", "substring"]));
        // A set operation is named by its first branch; `*` is not known from the text.
        assert_eq!(names("SELECT sum(a) FROM t UNION ALL SELECT b FROM u"), given(&["sum"]));
        assert_eq!(names("SELECT *, count(*) FROM t"), None);
        assert_eq!(names("INSERT INTO t VALUES (1)"), None);
    }
}
