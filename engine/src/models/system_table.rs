//! `squall.models`: one row per model version (`current` marks the version `'name'` means).

use std::sync::Arc;

use datafusion::arrow::array::{BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::error::Result;

use super::registry::{ModelRegistry, Version};

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("version", DataType::Int64, false),
        Field::new("current", DataType::Boolean, false),
        Field::new("algorithm", DataType::Utf8, false),
        Field::new("task", DataType::Utf8, false),
        Field::new("target", DataType::Utf8, true),
        Field::new("features", DataType::Utf8, false),
        Field::new("rows_used", DataType::Int64, false),
        Field::new("rows_total", DataType::Int64, false),
        Field::new("training_ms", DataType::Int64, false),
        Field::new("created_at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        Field::new("holdout_accuracy", DataType::Float64, true),
        Field::new("holdout_r2", DataType::Float64, true),
    ]))
}

pub fn to_batch(registry: &ModelRegistry) -> Result<RecordBatch> {
    let versions: Vec<(String, u32, Version)> = registry
        .models()
        .into_iter()
        .flat_map(|m| {
            let current = m.current;
            let name = m.name.clone();
            m.versions.into_iter().map(move |v| (name.clone(), current, v))
        })
        .collect();
    let metric = |v: &Version, name: &str| v.metrics.iter().find(|(m, _)| m == name).map(|(_, x)| *x);
    Ok(RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from_iter_values(versions.iter().map(|(n, _, _)| n.as_str()))),
            Arc::new(Int64Array::from_iter_values(versions.iter().map(|(_, _, v)| v.version as i64))),
            Arc::new(BooleanArray::from(versions.iter().map(|(_, c, v)| *c == v.version).collect::<Vec<_>>())),
            Arc::new(StringArray::from_iter_values(versions.iter().map(|(_, _, v)| v.algorithm.as_str()))),
            Arc::new(StringArray::from_iter_values(versions.iter().map(|(_, _, v)| v.task.as_str()))),
            Arc::new(StringArray::from(versions.iter().map(|(_, _, v)| v.target.clone()).collect::<Vec<_>>())),
            Arc::new(StringArray::from_iter_values(versions.iter().map(|(_, _, v)| v.features.join(", ")))),
            Arc::new(Int64Array::from_iter_values(versions.iter().map(|(_, _, v)| v.rows_used as i64))),
            Arc::new(Int64Array::from_iter_values(versions.iter().map(|(_, _, v)| v.rows_total as i64))),
            Arc::new(Int64Array::from_iter_values(versions.iter().map(|(_, _, v)| v.training_ms as i64))),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(versions.iter().map(|(_, _, v)| (v.created_at * 1e6) as i64))
                    .with_timezone("UTC"),
            ),
            Arc::new(Float64Array::from(versions.iter().map(|(_, _, v)| metric(v, "accuracy")).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(versions.iter().map(|(_, _, v)| metric(v, "r2")).collect::<Vec<_>>())),
        ],
    )?)
}
