//! Statements between the calls of a Flight SQL exchange: prepared statements by handle (with
//! the parameters bound to them), and results by ticket between the `GetFlightInfo` that ran the
//! statement and the `DoGet` that streams its rows. A result is held as the statement's stream
//! of batches, unread, so a large result never sits in the coordinator's memory; results not
//! fetched within [`UNCLAIMED`] are dropped (and their statements stopped).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::execution::SendableRecordBatchStream;
use squall_engine::error::SquallError;
use squall_engine::session::interrupts::{Reason, Running};
use squall_engine::session::Prepared;

use super::clients::Client;

/// How long a result waits for its `DoGet`.
const UNCLAIMED: Duration = Duration::from_secs(600);

pub struct Statement {
    pub client: Arc<Client>,
    pub prepared: Prepared,
    /// Bound by the last `DoPut` of parameters (one row).
    pub params: Option<ParamValues>,
}

/// A result waiting for (or being read by) its `DoGet`.
pub struct Pending {
    pub user: String,
    pub schema: SchemaRef,
    /// Taken by the `DoGet`.
    pub rows: Option<SendableRecordBatchStream>,
    /// What a cancel stops.
    pub running: Option<Arc<Running>>,
    created: Instant,
}

#[derive(Default)]
pub struct Store {
    statements: Mutex<HashMap<Vec<u8>, Statement>>,
    results: Mutex<HashMap<Vec<u8>, Pending>>,
}

fn handle() -> Vec<u8> {
    uuid::Uuid::new_v4().as_bytes().to_vec()
}

impl Store {
    pub fn prepare(&self, statement: Statement) -> Vec<u8> {
        let handle = handle();
        self.statements.lock().unwrap_or_else(|p| p.into_inner()).insert(handle.clone(), statement);
        handle
    }

    /// The statement's client, plan and bound parameters, if `user` prepared it.
    pub fn statement(&self, handle: &[u8], user: &str) -> Option<(Arc<Client>, Prepared, Option<ParamValues>)> {
        let statements = self.statements.lock().unwrap_or_else(|p| p.into_inner());
        statements.get(handle).filter(|s| s.client.user == user).map(|s| (Arc::clone(&s.client), s.prepared.clone(), s.params.clone()))
    }

    pub fn bind(&self, handle: &[u8], user: &str, params: ParamValues) -> bool {
        let mut statements = self.statements.lock().unwrap_or_else(|p| p.into_inner());
        match statements.get_mut(handle).filter(|s| s.client.user == user) {
            Some(statement) => {
                statement.params = Some(params);
                true
            }
            None => false,
        }
    }

    pub fn close(&self, handle: &[u8], user: &str) {
        let mut statements = self.statements.lock().unwrap_or_else(|p| p.into_inner());
        if statements.get(handle).is_some_and(|s| s.client.user == user) {
            statements.remove(handle);
        }
    }

    /// Holds `rows` (all of `schema`'s columns nullable: see [`flight_schema`]) for a `DoGet`;
    /// its ticket.
    pub fn hold(&self, user: &str, schema: SchemaRef, rows: SendableRecordBatchStream, running: Option<Arc<Running>>) -> Vec<u8> {
        let ticket = handle();
        let mut results = self.results.lock().unwrap_or_else(|p| p.into_inner());
        results.retain(|_, pending| {
            let keep = pending.rows.is_none() || pending.created.elapsed() < UNCLAIMED;
            if !keep {
                if let Some(running) = &pending.running {
                    running.stop(Reason::UserRequest);
                }
            }
            keep
        });
        results.insert(ticket.clone(), Pending { user: user.to_string(), schema, rows: Some(rows), running, created: Instant::now() });
        ticket
    }

    /// The rows behind `ticket`, once, for `user`.
    pub fn take(&self, ticket: &[u8], user: &str) -> Option<(SchemaRef, SendableRecordBatchStream)> {
        let mut results = self.results.lock().unwrap_or_else(|p| p.into_inner());
        let pending = results.get_mut(ticket).filter(|p| p.user == user)?;
        let rows = pending.rows.take()?;
        Some((Arc::clone(&pending.schema), rows))
    }

    /// The result is read (or its reader gone): forgotten.
    pub fn finished(&self, ticket: &[u8]) {
        self.results.lock().unwrap_or_else(|p| p.into_inner()).remove(ticket);
    }

    /// Stops the statement behind `ticket` (its rows, being read or not, end with 57014);
    /// whether there was one to stop.
    pub fn cancel(&self, ticket: &[u8], user: &str) -> bool {
        let results = self.results.lock().unwrap_or_else(|p| p.into_inner());
        match results.get(ticket).filter(|p| p.user == user) {
            Some(Pending { running: Some(running), .. }) => {
                running.stop(Reason::UserRequest);
                true
            }
            _ => false,
        }
    }
}

/// The schema a result is sent under: the statement's columns, every one nullable. Flight SQL
/// clients check that every batch is of the schema announced, and a plan's nullability is not
/// always what its batches carry.
pub fn flight_schema(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(schema.fields().iter().map(|f| Field::new(f.name(), f.data_type().clone(), true)).collect::<Vec<_>>()))
}

/// `batch` under `schema`: its columns cast where their type differs.
pub fn conform(batch: &RecordBatch, schema: &SchemaRef) -> datafusion::error::Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| if column.data_type() == field.data_type() { Ok(Arc::clone(column)) } else { cast(column, field.data_type()) })
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// Row `row` of bound parameter batches as `$1, $2, ...`, each cast to the type the statement
/// expects of it where known.
pub fn parameters(batch: &RecordBatch, row: usize, types: &[Option<DataType>]) -> Result<ParamValues, SquallError> {
    if batch.num_columns() != types.len() {
        return Err(SquallError::WithContext {
            code: "08P01",
            message: format!("the statement has {} parameters, {} were bound", types.len(), batch.num_columns()),
            context: String::new(),
        });
    }
    let values = batch
        .columns()
        .iter()
        .zip(types)
        .map(|(column, wanted)| {
            let value = ScalarValue::try_from_array(column, row)?;
            Ok(match wanted {
                Some(t) if value.data_type() != *t => value.cast_to(t)?,
                _ => value,
            })
        })
        .collect::<datafusion::error::Result<Vec<_>>>()?;
    Ok(ParamValues::List(values.into_iter().map(Into::into).collect()))
}

/// The parameter schema of a prepared statement: `$1, $2, ...` of the types it expects (Null
/// where unknown).
pub fn parameter_schema(types: &[Option<DataType>]) -> Schema {
    Schema::new(types.iter().enumerate().map(|(i, t)| Field::new(format!("${}", i + 1), t.clone().unwrap_or(DataType::Null), true)).collect::<Vec<_>>())
}
