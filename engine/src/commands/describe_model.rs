//! `DESCRIBE MODEL name`: everything a user may want to know about a version, as
//! `(property, value)` rows: each feature with its share of the importance, and how the
//! algorithm measures it ([`squall_udf::ml::importance`]). Needs USAGE on the model.

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use squall_udf::ml::store;

use crate::error::Result;
use crate::session::{Output, Session};

pub(super) fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("property", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, false),
    ]))
}

pub(super) async fn run(session: &Session, reference: &str) -> Result<Output> {
    let (entry, version) = session.engine.models.resolve(reference)?;
    crate::access::checks::check_model(session, &entry.name)?;
    let model = store::load(&version.url)?;
    let mut rows: Vec<(String, String)> = vec![
        ("name".into(), entry.name.clone()),
        ("version".into(), format!("{}{}", version.version, if version.version == entry.current { " (current)" } else { "" })),
        ("versions".into(), entry.versions.iter().map(|v| v.version.to_string()).collect::<Vec<_>>().join(", ")),
        ("algorithm".into(), version.algorithm.clone()),
        ("task".into(), version.task.clone()),
        (
            "options".into(),
            model.options.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join(", "),
        ),
    ];
    if let Some(target) = &model.target {
        rows.push(("target".into(), format!("{} {}", target.name, target.data_type)));
        if let Some(classes) = &target.classes {
            rows.push(("classes".into(), classes.join(", ")));
        }
    }
    // Measured in training (trees, linear models: in the file) or after it (by permutation: in
    // the registry); how, for the reader.
    let importance = model.feature_importance.as_ref().or(version.importance.as_ref());
    if let (Some(_), Ok(algorithm)) = (importance, squall_udf::ml::algorithms::find(&version.algorithm)) {
        rows.push(("importance".into(), algorithm.importance().describe().into()));
    }
    for (i, f) in model.features.iter().enumerate() {
        let importance = importance.and_then(|v| v.get(i)).map(|v| format!(", importance {v:.4}")).unwrap_or_default();
        rows.push((format!("feature {}", i + 1), format!("{} {} ({}{importance})", f.name, f.data_type, f.encoding.describe())));
    }
    rows.push(("rows used".into(), format!("{} of {} training rows", version.rows_used, version.rows_total)));
    rows.push(("training time".into(), format!("{:.3} s", version.training_ms as f64 / 1000.0)));
    rows.push(("created at".into(), format_time(version.created_at)));
    for (m, v) in &version.metrics {
        rows.push((format!("holdout {m}"), format!("{v}")));
    }
    if !version.source_tables.is_empty() {
        // Read them again with `SELECT ... FROM t VERSION AS OF n`.
        let tables: Vec<String> = version.source_tables.iter().map(|(t, v)| format!("{t} VERSION AS OF {v}")).collect();
        rows.push(("trained on".into(), tables.join(", ")));
    }
    rows.push(("file".into(), version.url.clone()));
    let (property, value): (Vec<String>, Vec<String>) = rows.into_iter().unzip();
    let batch = RecordBatch::try_new(schema(), vec![Arc::new(StringArray::from(property)), Arc::new(StringArray::from(value))])?;
    Output::from_batches(schema(), vec![batch])
}

fn format_time(seconds: f64) -> String {
    let micros = (seconds * 1e6) as i64;
    datafusion::arrow::temporal_conversions::timestamp_us_to_datetime(micros)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| seconds.to_string())
}
