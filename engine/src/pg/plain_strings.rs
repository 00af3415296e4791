//! Tables hold strings and binaries in Arrow's plain layout (`Utf8`, `Binary`), never in the view
//! layout (`Utf8View`, `BinaryView`), whatever a Parquet file's embedded Arrow schema suggests.
//!
//! Why: a view array's values live in shared buffers that slices, `take` and `interleave` keep
//! whole. Within one process that is what makes views fast; across processes it is ruinous,
//! because Arrow IPC writes every buffer a batch references. A hash shuffle splitting a batch
//! into N partitions wrote the batch's string data N times, and the Flight encoder that returns a
//! query's result splits big batches into slices that each carried all of it again: TPC-H Q10's
//! 37,967 result rows took 2.6 s to arrive, and 35 s over files whose Arrow schema says
//! `Utf8View`. Plain arrays are sliced and copied by their offsets, so only used bytes travel.
//! The session settings (`squall_udf::settings`) make DataFusion infer plain strings and map SQL
//! `TEXT`/`VARCHAR` to them; this factory covers the files whose own schema asks for views.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider, TableProviderFactory};
use datafusion::common::Result;
use datafusion::datasource::listing::{ListingTable, ListingTableConfig};
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::CreateExternalTable;

/// `schema` with every view type replaced by its plain counterpart (also inside lists and
/// structs); `None` when there is none.
pub fn plain_schema(schema: &Schema) -> Option<SchemaRef> {
    let fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone().with_data_type(plain_type(f.data_type()))).collect();
    let changed = fields.iter().zip(schema.fields()).any(|(new, old)| new.data_type() != old.data_type());
    changed.then(|| Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())))
}

fn plain_type(data_type: &DataType) -> DataType {
    let field = |f: &Arc<Field>| Arc::new(f.as_ref().clone().with_data_type(plain_type(f.data_type())));
    match data_type {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        DataType::List(f) => DataType::List(field(f)),
        DataType::LargeList(f) => DataType::LargeList(field(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(field(f), *n),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(field).collect()),
        other => other.clone(),
    }
}

/// Wraps each table factory of `builder` (CREATE EXTERNAL TABLE ... STORED AS x) so the tables it
/// creates have plain string layouts. Call after the default features are installed.
pub fn install(mut builder: SessionStateBuilder) -> SessionStateBuilder {
    if let Some(factories) = builder.table_factories() {
        for factory in factories.values_mut() {
            *factory = Arc::new(PlainStrings { inner: Arc::clone(factory) });
        }
    }
    builder
}

#[derive(Debug)]
struct PlainStrings {
    inner: Arc<dyn TableProviderFactory>,
}

#[async_trait]
impl TableProviderFactory for PlainStrings {
    async fn create(&self, state: &dyn Session, cmd: &CreateExternalTable) -> Result<Arc<dyn TableProvider>> {
        let table = self.inner.create(state, cmd).await?;
        let Some(listing) = table.downcast_ref::<ListingTable>() else { return Ok(table) };
        let Some(schema) = plain_schema(&listing.schema()) else { return Ok(table) };
        // The listing's schema ends with its partition columns, which the config adds itself.
        let partitions = &listing.options().table_partition_cols;
        let file_fields: Vec<usize> =
            (0..schema.fields().len()).filter(|&i| !partitions.iter().any(|(name, _)| name == schema.field(i).name())).collect();
        let config = ListingTableConfig::new_with_multi_paths(listing.table_paths().clone())
            .with_listing_options(listing.options().clone())
            .with_schema(Arc::new(schema.project(&file_fields)?));
        let plain = ListingTable::try_new(config)?
            .with_cache(state.runtime_env().cache_manager.get_file_statistic_cache())
            .with_definition(cmd.definition.clone())
            .with_constraints(cmd.constraints.clone())
            .with_column_defaults(cmd.column_defaults.clone());
        Ok(Arc::new(plain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_become_plain_everywhere_and_other_types_stay() {
        let item = Arc::new(Field::new("item", DataType::Utf8View, true));
        let schema = Schema::new(vec![
            Field::new("s", DataType::Utf8View, false),
            Field::new("b", DataType::BinaryView, true),
            Field::new("l", DataType::List(item), true),
            Field::new("n", DataType::Int64, false),
        ]);
        let plain = plain_schema(&schema).expect("views replaced");
        assert_eq!(plain.field(0).data_type(), &DataType::Utf8);
        assert!(!plain.field(0).is_nullable());
        assert_eq!(plain.field(1).data_type(), &DataType::Binary);
        assert_eq!(plain.field(2).data_type(), &DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))));
        assert_eq!(plain.field(3).data_type(), &DataType::Int64);
        assert!(plain_schema(&plain).is_none(), "nothing left to replace");
    }
}
