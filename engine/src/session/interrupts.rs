//! Stopping a running statement, as PostgreSQL does: a client's cancel request (psql's Ctrl-C, a
//! driver's `cancel()`) and `statement_timeout` both end the statement with 57014, whether it is
//! still computing or already sending rows, and the Ballista jobs it started are cancelled so
//! their tasks stop on the executors.
//!
//! Each session has one [`Interrupts`]; every statement gets a fresh [`Running`] from it. Cancel
//! requests arrive on another connection and find the session through [`Backends`] by the
//! process id and secret key the server gave the client at startup.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream};
use futures::{FutureExt, Stream};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::error::SquallError;
use crate::scheduler::EmbeddedScheduler;

/// Why a statement was stopped; each has PostgreSQL's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    UserRequest,
    StatementTimeout,
}

impl Reason {
    pub fn error(self) -> SquallError {
        SquallError::QueryCanceled(
            match self {
                Reason::UserRequest => "canceling statement due to user request",
                Reason::StatementTimeout => "canceling statement due to statement timeout",
            }
            .to_string(),
        )
    }
}

/// The statement a session is running now, if any.
#[derive(Default)]
pub struct Interrupts {
    current: Mutex<Option<Arc<Running>>>,
}

impl Interrupts {
    /// Starts a statement; with a `timeout`, it is stopped once that much time has passed.
    pub fn begin(&self, scheduler: &Arc<EmbeddedScheduler>, timeout: Option<Duration>) -> Arc<Running> {
        let running = Arc::new(Running {
            id: uuid::Uuid::new_v4().to_string(),
            token: CancellationToken::new(),
            reason: OnceLock::new(),
            scheduler: Arc::clone(scheduler),
        });
        if let Some(timeout) = timeout {
            let weak = Arc::downgrade(&running);
            let done = running.token.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = tokio::time::sleep(timeout) => {
                        if let Some(running) = weak.upgrade() {
                            running.stop(Reason::StatementTimeout);
                        }
                    }
                    _ = done.cancelled() => {}
                }
            });
        }
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(running.clone());
        running
    }

    /// The running statement, if any.
    pub fn current(&self) -> Option<Arc<Running>> {
        self.current.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stops the running statement (a cancel request with nothing running does nothing, as in
    /// PostgreSQL).
    pub fn stop(&self, reason: Reason) {
        if let Some(running) = self.current() {
            running.stop(reason);
        }
    }
}

/// One statement in flight.
pub struct Running {
    /// The Ballista session id its queries are planned with, under which the scheduler records
    /// the jobs they submit ([`crate::scheduler::statement_jobs`]).
    id: String,
    token: CancellationToken,
    reason: OnceLock<Reason>,
    scheduler: Arc<EmbeddedScheduler>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.scheduler.statement_jobs.forget(&self.id);
    }
}

impl Running {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Why it was stopped; `None` while it runs.
    pub fn stopped(&self) -> Option<Reason> {
        self.reason.get().copied()
    }

    /// Stops the statement (the first reason wins) and cancels its jobs.
    pub fn stop(&self, reason: Reason) {
        if self.reason.set(reason).is_err() {
            return;
        }
        self.token.cancel();
        // Jobs still being submitted are refused and cancelled by the scheduler's handler.
        for job in self.scheduler.statement_jobs.stop(&self.id) {
            let scheduler = self.scheduler.clone();
            tokio::spawn(async move {
                if let Err(e) = scheduler.server.cancel_job(job.clone()).await {
                    tracing::warn!(%job, "cancelling the job of a stopped statement: {e}");
                }
            });
        }
    }

    /// Runs `work` until it finishes or the statement is stopped.
    pub async fn guard<T>(&self, work: impl std::future::Future<Output = crate::error::Result<T>>) -> crate::error::Result<T> {
        tokio::select! {
            biased;
            _ = self.token.cancelled() => Err(self.stopped().unwrap_or(Reason::UserRequest).error()),
            result = work => match self.stopped() {
                // A job cancelled underneath reports Ballista's words; the client gets ours.
                Some(reason) => Err(reason.error()),
                None => result,
            },
        }
    }

    /// `rows`, ending with the 57014 error if the statement is stopped while they are sent.
    pub fn guard_rows(self: &Arc<Self>, rows: SendableRecordBatchStream) -> SendableRecordBatchStream {
        Box::pin(GuardedRows { stopped: Box::pin(self.token.clone().cancelled_owned()), running: self.clone(), rows, ended: false })
    }
}

struct GuardedRows {
    stopped: Pin<Box<WaitForCancellationFutureOwned>>,
    running: Arc<Running>,
    rows: SendableRecordBatchStream,
    ended: bool,
}

impl Stream for GuardedRows {
    type Item = datafusion::error::Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if self.stopped.poll_unpin(cx).is_ready() {
            self.ended = true;
            let reason = self.running.stopped().unwrap_or(Reason::UserRequest);
            return Poll::Ready(Some(Err(DataFusionError::External(Box::new(reason.error())))));
        }
        self.rows.as_mut().poll_next(cx)
    }
}

impl RecordBatchStream for GuardedRows {
    fn schema(&self) -> datafusion::arrow::datatypes::SchemaRef {
        self.rows.schema()
    }
}

/// Sessions' interrupts by the (process id, secret key) their clients were given, for cancel
/// requests.
#[derive(Default)]
pub struct Backends {
    sessions: Mutex<HashMap<(i32, Vec<u8>), Weak<Interrupts>>>,
}

impl Backends {
    /// Registers a session's `interrupts`; they are forgotten when the returned guard is dropped.
    pub fn register(self: &Arc<Self>, pid: i32, secret: Vec<u8>, interrupts: &Arc<Interrupts>) -> BackendGuard {
        let key = (pid, secret);
        self.sessions.lock().unwrap_or_else(|p| p.into_inner()).insert(key.clone(), Arc::downgrade(interrupts));
        BackendGuard { backends: Arc::clone(self), key }
    }

    /// A cancel request: stops what the session with this key runs. Unknown keys are ignored,
    /// as PostgreSQL does (the requester learns nothing).
    pub fn cancel(&self, pid: i32, secret: &[u8]) {
        let interrupts = self.sessions.lock().unwrap_or_else(|p| p.into_inner()).get(&(pid, secret.to_vec())).and_then(Weak::upgrade);
        if let Some(interrupts) = interrupts {
            interrupts.stop(Reason::UserRequest);
        }
    }
}

/// Keeps a session reachable by cancel requests while the connection lives.
pub struct BackendGuard {
    backends: Arc<Backends>,
    key: (i32, Vec<u8>),
}

impl Drop for BackendGuard {
    fn drop(&mut self) {
        self.backends.sessions.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.key);
    }
}

/// The setting's name, as PostgreSQL spells it.
pub const STATEMENT_TIMEOUT: &str = "statement_timeout";

/// A `statement_timeout` value: milliseconds as a bare number, or a number with one of
/// PostgreSQL's units (`ms`, `s`, `min`, `h`, `d`); 0 or `DEFAULT` turn it off (22023 otherwise).
pub fn parse_timeout(value: &str) -> crate::error::Result<Option<Duration>> {
    let text = value.trim().trim_matches(|c| c == '\'' || c == '"').trim().to_ascii_lowercase();
    if text == "default" {
        return Ok(None);
    }
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let invalid = || SquallError::InvalidParameter(format!("invalid value for parameter \"statement_timeout\": \"{value}\""));
    let number: f64 = number.parse().map_err(|_| invalid())?;
    let ms_per_unit = match unit.trim() {
        "" | "ms" => 1.0,
        "s" => 1_000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return Err(invalid()),
    };
    let ms = (number * ms_per_unit).round();
    if !(0.0..=i32::MAX as f64).contains(&ms) {
        return Err(invalid());
    }
    Ok((ms > 0.0).then(|| Duration::from_millis(ms as u64)))
}

/// `SHOW statement_timeout`'s answer, in PostgreSQL's format (`0`, `250ms`, `5s`, `2min`).
pub fn show_timeout(timeout: Option<Duration>) -> String {
    let Some(timeout) = timeout else { return "0".into() };
    let ms = timeout.as_millis();
    match ms {
        _ if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        _ if ms % 60_000 == 0 => format!("{}min", ms / 60_000),
        _ if ms % 1_000 == 0 => format!("{}s", ms / 1_000),
        _ => format!("{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_timeout_values_read_as_postgresql_reads_them() {
        assert_eq!(parse_timeout("100").unwrap(), Some(Duration::from_millis(100)));
        assert_eq!(parse_timeout("'5s'").unwrap(), Some(Duration::from_secs(5)));
        assert_eq!(parse_timeout("1.5min").unwrap(), Some(Duration::from_secs(90)));
        assert_eq!(parse_timeout("250 ms").unwrap(), Some(Duration::from_millis(250)));
        assert_eq!(parse_timeout("0").unwrap(), None);
        assert_eq!(parse_timeout("DEFAULT").unwrap(), None);
        for bad in ["soon", "-1", "5 fortnights", ""] {
            assert!(matches!(parse_timeout(bad), Err(SquallError::InvalidParameter(_))), "{bad}");
        }
        assert_eq!(show_timeout(None), "0");
        assert_eq!(show_timeout(Some(Duration::from_millis(250))), "250ms");
        assert_eq!(show_timeout(Some(Duration::from_secs(5))), "5s");
        assert_eq!(show_timeout(Some(Duration::from_secs(120))), "2min");
    }
}
