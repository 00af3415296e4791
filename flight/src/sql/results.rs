//! Statements between the calls of a Flight SQL exchange: prepared statements by handle (with
//! the parameters bound to them), and results by ticket between the `GetFlightInfo` that ran the
//! statement and the `DoGet` that streams its rows. A result is held as the statement's stream
//! of batches, unread, so a large result never sits in the coordinator's memory; results not
//! fetched within [`UNCLAIMED`] are dropped (and their statements stopped).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::execution::SendableRecordBatchStream;
use squall_engine::error::SquallError;
use squall_engine::session::interrupts::{Reason, Running};
use squall_engine::session::{Output, Prepared};

use super::clients::Client;

/// How long a result waits for its `DoGet`.
const UNCLAIMED: Duration = Duration::from_secs(600);

pub struct Statement {
    pub client: Arc<Client>,
    pub prepared: Prepared,
    /// Bound by the last `DoPut` of parameters (one row).
    pub params: Option<ParamValues>,
}

/// How far a result's statement has got, for a cancel.
enum Phase {
    Queued,
    Executing,
    /// Its rows are ready (or being read); this stops them.
    Answered(Option<Arc<Running>>),
}

/// A statement run for a `DoGet`: in the background from its `GetFlightInfo` on, so that the
/// FlightInfo (whose schema is the plan's) comes at once and a cancel can reach it meanwhile.
struct Control {
    client: Arc<Client>,
    cancelled: AtomicBool,
    phase: Mutex<Phase>,
}

impl Control {
    fn set(&self, phase: Phase) {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner()) = phase;
    }

    fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        match &*self.phase.lock().unwrap_or_else(|p| p.into_inner()) {
            Phase::Queued => {}
            Phase::Executing => self.client.session.cancel(),
            Phase::Answered(running) => {
                if let Some(running) = running {
                    running.stop(Reason::UserRequest);
                }
            }
        }
    }
}

type Answer = Result<SendableRecordBatchStream, SquallError>;

/// A result waiting for (or being read by) its `DoGet`.
struct Pending {
    user: String,
    schema: SchemaRef,
    /// Taken by the `DoGet`.
    answer: Option<tokio::sync::oneshot::Receiver<Answer>>,
    control: Arc<Control>,
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

    /// Runs `prepared` in `client`'s session in the background (one statement at a time per
    /// session), its rows kept for a `DoGet` of the ticket returned. `schema`: what it answers
    /// under ([`flight_schema`]).
    pub fn start(&self, client: Arc<Client>, prepared: Prepared, params: Option<ParamValues>, schema: SchemaRef) -> Vec<u8> {
        let (send, receive) = tokio::sync::oneshot::channel();
        let control = Arc::new(Control { client: Arc::clone(&client), cancelled: AtomicBool::new(false), phase: Mutex::new(Phase::Queued) });
        let running = Arc::clone(&control);
        let user = client.user.clone();
        tokio::spawn(async move {
            let answer = {
                let _turn = client.turn.lock().await;
                if running.cancelled.load(Ordering::SeqCst) {
                    Err(Reason::UserRequest.error())
                } else {
                    running.set(Phase::Executing);
                    let output = client.session.execute(&prepared, params).await;
                    let statement = client.session.running_statement();
                    running.set(Phase::Answered(statement.clone()));
                    // Cancelled while it was being started: stopped now.
                    if running.cancelled.load(Ordering::SeqCst) {
                        if let Some(statement) = &statement {
                            statement.stop(Reason::UserRequest);
                        }
                    }
                    match output {
                        Ok(Output::Rows { rows, .. }) => Ok(rows),
                        Ok(_) => Err(SquallError::Internal("a query answered without rows".into())),
                        Err(e) => Err(e),
                    }
                }
            };
            // No reader any more (expired): the rows are dropped, which ends the statement.
            let _ = send.send(answer);
        });
        self.keep(user, schema, receive, control)
    }

    /// Rows already there (a command that answered with rows), for a `DoGet`.
    pub fn hold(&self, client: Arc<Client>, schema: SchemaRef, rows: SendableRecordBatchStream, running: Option<Arc<Running>>) -> Vec<u8> {
        let (send, receive) = tokio::sync::oneshot::channel();
        let _ = send.send(Ok(rows));
        let user = client.user.clone();
        let control = Arc::new(Control { client, cancelled: AtomicBool::new(false), phase: Mutex::new(Phase::Answered(running)) });
        self.keep(user, schema, receive, control)
    }

    fn keep(&self, user: String, schema: SchemaRef, answer: tokio::sync::oneshot::Receiver<Answer>, control: Arc<Control>) -> Vec<u8> {
        let ticket = handle();
        let mut results = self.results.lock().unwrap_or_else(|p| p.into_inner());
        results.retain(|_, pending| {
            let keep = pending.answer.is_none() || pending.created.elapsed() < UNCLAIMED;
            if !keep {
                pending.control.cancel();
            }
            keep
        });
        results.insert(ticket.clone(), Pending { user, schema, answer: Some(answer), control, created: Instant::now() });
        ticket
    }

    /// The rows behind `ticket`, once, for `user` (waiting for its statement to answer).
    pub async fn take(&self, ticket: &[u8], user: &str) -> Option<(SchemaRef, Answer)> {
        let (schema, answer) = {
            let mut results = self.results.lock().unwrap_or_else(|p| p.into_inner());
            let pending = results.get_mut(ticket).filter(|p| p.user == user)?;
            (Arc::clone(&pending.schema), pending.answer.take()?)
        };
        let answer = answer.await.unwrap_or_else(|_| Err(SquallError::Internal("the statement's task ended without an answer".into())));
        Some((schema, answer))
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
            Some(pending) => {
                pending.control.cancel();
                true
            }
            None => false,
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
