//! PostgreSQL catalog functions psql and BI tools call that the pg_catalog emulation lacks, so
//! their introspection queries run (psql's `\df` needs all three). They run on the coordinator,
//! with the catalog tables they describe.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Int32Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};
use datafusion::prelude::SessionContext;

/// Registers the functions in `ctx` (the base session every connection starts from).
pub fn register(ctx: &SessionContext) {
    // squall's functions are all found without a schema.
    ctx.register_udf(crate::pg::session_user::udf());
    ctx.register_udf(per_oid("pg_function_is_visible", DataType::Boolean, |n| Arc::new(BooleanArray::from(vec![true; n]))));
    // squall does not know the signatures of the functions pg_proc lists: NULL, "unknown".
    ctx.register_udf(null_text("pg_get_function_result"));
    ctx.register_udf(null_text("pg_get_function_arguments"));
    ctx.register_udf(per_oid("pg_collation_is_visible", DataType::Boolean, |n| Arc::new(BooleanArray::from(vec![true; n]))));
    // squall has no sequences and no indexes of its own: no column is serial and no index has a
    // definition (SQLAlchemy's column and index introspection ask).
    ctx.register_udf(null_text("pg_get_serial_sequence"));
    ctx.register_udf(null_text("pg_get_indexdef"));
    // Nor comments or SQL function bodies (pgjdbc's getUDTs and remarks, psql's \d+ and \df+).
    for name in ["obj_description", "col_description", "shobj_description", "pg_get_function_sqlbody"] {
        ctx.register_udf(null_text(name));
    }
    // Sizes psql's `\dt+`, `\dv+` and `\l+` show: squall does not size relations or databases by
    // oid (NULL, shown empty).
    for name in ["pg_table_size", "pg_total_relation_size", "pg_database_size", "pg_tablespace_size"] {
        ctx.register_udf(null_valued(name, DataType::Int64));
    }
    ctx.register_udf(pg_size_pretty());
    ctx.register_udf(array_bound("array_lower"));
    ctx.register_udf(array_bound("array_upper"));
    ctx.register_udf(json_build_object());
    ctx.register_udf(pg_expandarray());
    ctx.register_udf(to_regtype());
    ctx.register_udf(crate::pg::sql_rewrites::like_escape_udf());
    ctx.register_udf(crate::pg::sleep::udf());
    // Drivers and BI tools parse `version()` as PostgreSQL's "PostgreSQL <major>.<minor> ..."
    // (SQLAlchemy refuses to connect otherwise); DataFusion's own says "Apache DataFusion ...".
    ctx.register_udf(create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(datafusion::scalar::ScalarValue::Utf8(Some(version_string()))))),
    ));
}

/// A function of any arguments whose answer is always NULL text.
fn null_text(name: &'static str) -> ScalarUDF {
    null_valued(name, DataType::Utf8)
}

/// A function of any arguments whose answer is always NULL of type `returns`.
fn null_valued(name: &'static str, returns: DataType) -> ScalarUDF {
    use datafusion::logical_expr::{ScalarFunctionArgs, ScalarUDFImpl, Signature};
    #[derive(Debug, PartialEq, Eq, Hash)]
    struct NullValued(&'static str, DataType, Signature);
    impl ScalarUDFImpl for NullValued {
        fn name(&self) -> &str {
            self.0
        }
        fn signature(&self) -> &Signature {
            &self.2
        }
        fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
            Ok(self.1.clone())
        }
        fn invoke_with_args(&self, args: ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
            Ok(ColumnarValue::Array(datafusion::arrow::array::new_null_array(&self.1, args.number_rows)))
        }
    }
    ScalarUDF::new_from_impl(NullValued(name, returns.clone(), Signature::variadic_any(Volatility::Stable)))
}

/// `array_lower(a, 1)` / `array_upper(a, 1)`: DataFusion's arrays are one-dimensional and start at
/// 1, so the bounds are 1 and the length; NULL for an empty array or another dimension, as in
/// PostgreSQL.
fn array_bound(name: &'static str) -> ScalarUDF {
    use datafusion::arrow::array::{Array, Int32Array, Int64Array};
    use datafusion::logical_expr::{ScalarFunctionArgs, ScalarUDFImpl, Signature};
    #[derive(Debug, PartialEq, Eq, Hash)]
    struct ArrayBound(&'static str, Signature);
    impl ScalarUDFImpl for ArrayBound {
        fn name(&self) -> &str {
            self.0
        }
        fn signature(&self) -> &Signature {
            &self.1
        }
        fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
            Ok(DataType::Int32)
        }
        fn invoke_with_args(&self, args: ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
            let arrays = ColumnarValue::values_to_arrays(&args.args)?;
            let lists = datafusion::common::cast::as_list_array(&arrays[0])?;
            let dimensions = datafusion::arrow::compute::cast(&arrays[1], &DataType::Int64)?;
            let dimensions = dimensions.as_any().downcast_ref::<Int64Array>().expect("cast to Int64");
            let upper = self.0 == "array_upper";
            let bounds: Int32Array = (0..lists.len())
                .map(|i| {
                    if lists.is_null(i) || dimensions.is_null(i) || dimensions.value(i) != 1 {
                        return None;
                    }
                    let length = lists.value_length(i);
                    (length > 0).then_some(if upper { length } else { 1 })
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(bounds)))
        }
    }
    ScalarUDF::new_from_impl(ArrayBound(name, Signature::any(2, Volatility::Immutable)))
}

/// `pg_size_pretty(bytes)` as PostgreSQL writes it: bytes below 10 kB, then kB, MB, GB, TB, PB,
/// each rounded half up from the next smaller unit.
fn pg_size_pretty() -> ScalarUDF {
    create_udf(
        "pg_size_pretty",
        vec![DataType::Int64],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let sizes = ColumnarValue::values_to_arrays(args)?;
            let sizes = datafusion::common::cast::as_int64_array(&sizes[0])?;
            let pretty: StringArray = sizes.iter().map(|size| size.map(size_pretty)).collect();
            Ok(ColumnarValue::Array(Arc::new(pretty)))
        }),
    )
}

/// PostgreSQL's `pg_size_pretty`: bytes under 10 kB, then kB, MB, ... rounded half up.
pub(crate) fn size_pretty(bytes: i64) -> String {
    const LIMIT: i64 = 10 * 1024;
    if bytes.abs() < LIMIT {
        return format!("{bytes} bytes");
    }
    // One extra bit of the next smaller unit, for rounding half up (away from zero).
    let half_rounded = |x: i64| (x + if x < 0 { -1 } else { 1 }) / 2;
    let mut size = bytes >> 9;
    for unit in ["kB", "MB", "GB", "TB"] {
        if size.abs() < 2 * LIMIT - 1 {
            return format!("{} {unit}", half_rounded(size));
        }
        size >>= 10;
    }
    format!("{} PB", half_rounded(size))
}

/// `json_build_object(key, value, ...)`: a JSON object as text, values as JSON strings, numbers,
/// booleans or null (what introspection queries build; squall has no json type of its own).
fn json_build_object() -> ScalarUDF {
    use datafusion::logical_expr::{ScalarFunctionArgs, ScalarUDFImpl, Signature};
    #[derive(Debug, PartialEq, Eq, Hash)]
    struct JsonBuildObject(Signature);
    impl ScalarUDFImpl for JsonBuildObject {
        fn name(&self) -> &str {
            "json_build_object"
        }
        fn signature(&self) -> &Signature {
            &self.0
        }
        fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
            Ok(DataType::Utf8)
        }
        fn invoke_with_args(&self, args: ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
            let arrays = ColumnarValue::values_to_arrays(&args.args)?;
            let rows = args.number_rows;
            let mut out = Vec::with_capacity(rows);
            for row in 0..rows {
                let mut object = serde_json::Map::new();
                for pair in arrays.chunks(2) {
                    let key = datafusion::arrow::util::display::array_value_to_string(&pair[0], row)?;
                    let value = match pair.get(1) {
                        Some(v) if v.is_null(row) => serde_json::Value::Null,
                        Some(v) => match v.data_type() {
                            DataType::Boolean => serde_json::Value::Bool(datafusion::common::cast::as_boolean_array(v)?.value(row)),
                            t if t.is_numeric() => datafusion::arrow::util::display::array_value_to_string(v, row)?
                                .parse::<serde_json::Number>()
                                .map(serde_json::Value::Number)
                                .unwrap_or(serde_json::Value::Null),
                            _ => serde_json::Value::String(datafusion::arrow::util::display::array_value_to_string(v, row)?),
                        },
                        None => serde_json::Value::Null,
                    };
                    object.insert(key, value);
                }
                out.push(Some(serde_json::Value::Object(object).to_string()));
            }
            Ok(ColumnarValue::Array(Arc::new(StringArray::from(out))))
        }
    }
    ScalarUDF::new_from_impl(JsonBuildObject(Signature::variadic_any(Volatility::Stable)))
}

/// `information_schema._pg_expandarray(int2vector)`, which pgjdbc's getPrimaryKeys and
/// getIndexInfo join on: PostgreSQL's set-returning `(x, n)` pairs. squall has no indexes, so
/// pg_index has no rows to expand and the function is only ever planned: it answers NULL.
fn pg_expandarray() -> ScalarUDF {
    use datafusion::arrow::datatypes::{Field, Fields};
    let fields = Fields::from(vec![Field::new("x", DataType::Int32, true), Field::new("n", DataType::Int32, true)]);
    let returns = DataType::Struct(fields.clone());
    create_udf(
        "_pg_expandarray",
        vec![DataType::Utf8],
        returns,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let rows = ColumnarValue::values_to_arrays(args)?.first().map_or(1, |a| a.len());
            Ok(ColumnarValue::Array(Arc::new(datafusion::arrow::array::StructArray::new_null(fields.clone(), rows))))
        }),
    )
}

/// `to_regtype(name)`: the oid of a built-in type, NULL for any other name (psycopg and
/// SQLAlchemy ask it for hstore and json to decide what they may use).
fn to_regtype() -> ScalarUDF {
    create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let names = ColumnarValue::values_to_arrays(args)?;
            let names = datafusion::common::cast::as_string_array(&names[0])?;
            let oids: Int32Array = names.iter().map(|n| n.and_then(builtin_type_oid)).collect();
            Ok(ColumnarValue::Array(Arc::new(oids)))
        }),
    )
}

/// PostgreSQL's oids of its built-in types, by their names and SQL spellings.
fn builtin_type_oid(name: &str) -> Option<i32> {
    let name = name.trim().trim_start_matches("pg_catalog.").to_ascii_lowercase();
    Some(match name.as_str() {
        "bool" | "boolean" => 16,
        "bytea" => 17,
        "char" => 18,
        "name" => 19,
        "int8" | "bigint" => 20,
        "int2" | "smallint" => 21,
        "int4" | "integer" | "int" => 23,
        "text" => 25,
        "oid" => 26,
        "json" => 114,
        "float4" | "real" => 700,
        "float8" | "double precision" => 701,
        "bpchar" | "character" => 1042,
        "varchar" | "character varying" => 1043,
        "date" => 1082,
        "time" | "time without time zone" => 1083,
        "timestamp" | "timestamp without time zone" => 1114,
        "timestamptz" | "timestamp with time zone" => 1184,
        "interval" => 1186,
        "numeric" | "decimal" => 1700,
        "uuid" => 2950,
        "jsonb" => 3802,
        _ => return None,
    })
}

/// The PostgreSQL version squall speaks as (the one pgwire reports in `server_version`), then
/// what squall really is.
pub fn version_string() -> String {
    format!(
        "PostgreSQL {POSTGRES_VERSION} on {}-linux, squall {} (Apache DataFusion and Ballista 55)",
        std::env::consts::ARCH,
        env!("CARGO_PKG_VERSION")
    )
}

/// The PostgreSQL protocol and SQL level squall presents to clients.
pub const POSTGRES_VERSION: &str = "16.6";

/// A function of one oid whose answer does not depend on it: `values(n)` gives n answers.
fn per_oid(name: &str, returns: DataType, values: fn(usize) -> ArrayRef) -> ScalarUDF {
    create_udf(
        name,
        vec![DataType::Int32],
        returns,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let rows = ColumnarValue::values_to_arrays(args)?.first().map_or(1, |a| a.len());
            Ok(ColumnarValue::Array(values(rows)))
        }),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_are_pretty_as_in_postgresql() {
        assert_eq!(super::size_pretty(0), "0 bytes");
        assert_eq!(super::size_pretty(10_239), "10239 bytes");
        assert_eq!(super::size_pretty(10_240), "10 kB");
        assert_eq!(super::size_pretty(1_048_576), "1024 kB");
        assert_eq!(super::size_pretty(20_971_520), "20 MB");
        assert_eq!(super::size_pretty(1_610_612_736), "1536 MB");
    }
}
