//! What Flight SQL clients ask to introspect (ADBC's `adbc_get_objects`, JDBC's
//! `DatabaseMetaData`): the one catalog, its schemas, its tables with their Arrow schemas, table
//! types, what the server supports (`GetSqlInfo`), the types it knows (`GetXdbcTypeInfo`), and
//! primary keys (squall has none).

use std::sync::{Arc, LazyLock};

use arrow_flight::sql::metadata::{GetTablesBuilder, SqlInfoData, SqlInfoDataBuilder, XdbcTypeInfo, XdbcTypeInfoData, XdbcTypeInfoDataBuilder};
use arrow_flight::sql::{Nullable, Searchable, SqlInfo, SqlSupportedTransaction, XdbcDataType};
use datafusion::arrow::array::{RecordBatch, StringArray, Int32Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::TableType;
use squall_engine::engine::Engine;
use squall_udf::settings::DATABASE;

pub static SQL_INFO: LazyLock<SqlInfoData> = LazyLock::new(|| {
    let mut info = SqlInfoDataBuilder::new();
    info.append(SqlInfo::FlightSqlServerName, "squall");
    info.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    info.append(SqlInfo::FlightSqlServerArrowVersion, "1.3");
    info.append(SqlInfo::FlightSqlServerReadOnly, false);
    info.append(SqlInfo::FlightSqlServerSql, true);
    info.append(SqlInfo::FlightSqlServerSubstrait, false);
    info.append(SqlInfo::FlightSqlServerTransaction, SqlSupportedTransaction::None as i32);
    info.append(SqlInfo::FlightSqlServerCancel, true);
    info.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    info.append(SqlInfo::SqlDdlCatalog, false);
    info.append(SqlInfo::SqlDdlSchema, false);
    info.append(SqlInfo::SqlDdlTable, true);
    info.build().expect("squall's SQL info")
});

pub static XDBC_TYPES: LazyLock<XdbcTypeInfoData> = LazyLock::new(|| {
    let mut types = XdbcTypeInfoDataBuilder::new();
    let mut add = |name: &str, data_type: XdbcDataType, size: Option<i32>, radix: Option<i32>, quoted: bool| {
        types.append(XdbcTypeInfo {
            type_name: name.to_string(),
            data_type,
            column_size: size,
            literal_prefix: quoted.then(|| "'".to_string()),
            literal_suffix: quoted.then(|| "'".to_string()),
            create_params: None,
            nullable: Nullable::NullabilityNullable,
            case_sensitive: quoted,
            searchable: Searchable::Full,
            unsigned_attribute: radix.map(|_| false),
            fixed_prec_scale: false,
            auto_increment: Some(false),
            local_type_name: Some(name.to_string()),
            minimum_scale: None,
            maximum_scale: None,
            sql_data_type: data_type,
            datetime_subcode: None,
            num_prec_radix: radix,
            interval_precision: None,
        });
    };
    add("boolean", XdbcDataType::XdbcBit, Some(1), None, false);
    add("smallint", XdbcDataType::XdbcSmallint, Some(5), Some(10), false);
    add("integer", XdbcDataType::XdbcInteger, Some(10), Some(10), false);
    add("bigint", XdbcDataType::XdbcBigint, Some(19), Some(10), false);
    add("real", XdbcDataType::XdbcFloat, Some(24), Some(2), false);
    add("double precision", XdbcDataType::XdbcDouble, Some(53), Some(2), false);
    add("numeric", XdbcDataType::XdbcDecimal, Some(38), Some(10), false);
    add("text", XdbcDataType::XdbcVarchar, None, None, true);
    add("date", XdbcDataType::XdbcDate, Some(10), None, true);
    add("timestamp", XdbcDataType::XdbcTimestamp, Some(26), None, true);
    types.build().expect("squall's types")
});

/// Every schema of squall's catalog.
pub fn schemas(engine: &Engine) -> Vec<String> {
    engine.base.catalog(DATABASE).map(|c| c.schema_names()).unwrap_or_default()
}

fn table_type(t: TableType) -> &'static str {
    match t {
        TableType::Base => "TABLE",
        TableType::View => "VIEW",
        TableType::Temporary => "LOCAL TEMPORARY",
    }
}

pub const TABLE_TYPES: [&str; 3] = ["TABLE", "VIEW", "LOCAL TEMPORARY"];

/// Every table into `builder` (which filters by the request's patterns and types).
pub async fn tables(engine: &Engine, builder: &mut GetTablesBuilder) -> datafusion::error::Result<()> {
    let Some(catalog) = engine.base.catalog(DATABASE) else { return Ok(()) };
    for schema_name in catalog.schema_names() {
        let Some(schema) = catalog.schema(&schema_name) else { continue };
        for name in schema.table_names() {
            // A table dropped meanwhile is left out.
            let Ok(Some(table)) = schema.table(&name).await else { continue };
            builder
                .append(DATABASE, &schema_name, &name, table_type(table.table_type()), &table.schema())
                .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        }
    }
    Ok(())
}

/// `GetPrimaryKeys`' columns (FlightSql.proto); squall's tables have no primary keys.
pub fn primary_keys_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("catalog_name", DataType::Utf8, true),
        Field::new("db_schema_name", DataType::Utf8, true),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("column_name", DataType::Utf8, false),
        Field::new("key_name", DataType::Utf8, true),
        Field::new("key_sequence", DataType::Int32, false),
    ]))
}

pub fn no_primary_keys() -> datafusion::error::Result<RecordBatch> {
    let empty = || Arc::new(StringArray::from(Vec::<Option<&str>>::new())) as _;
    Ok(RecordBatch::try_new(primary_keys_schema(), vec![empty(), empty(), empty(), empty(), empty(), Arc::new(Int32Array::from(Vec::<i32>::new()))])?)
}
