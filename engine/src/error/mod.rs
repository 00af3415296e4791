//! The coordinator's error type, and the one place where failures become SQLSTATEs (DESIGN.md
//! §6): each variant is one kind of failure a user can act on, with its code
//! ([`SquallError::classified`]); what DataFusion and Ballista report is classified beside it
//! ([`datafusion_errors`]). The front end only writes the result in the wire's terms.

mod datafusion_errors;

use datafusion::error::DataFusionError;

pub use datafusion_errors::classify_datafusion;

pub type Result<T, E = SquallError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum SquallError {
    /// The text is not SQL squall can read (42601).
    #[error("{0}")]
    Syntax(String),
    /// The statement names a table that does not exist (42P01).
    #[error("{0}")]
    UndefinedTable(String),
    /// A model or other named object does not exist (42704).
    #[error("{0}")]
    UndefinedObject(String),
    /// A column the statement names is not there (42703).
    #[error("{0}")]
    UndefinedColumn(String),
    /// No function of that name takes these arguments (42883).
    #[error("{0}")]
    UndefinedFunction(String),
    /// The data cannot do what the statement asks, e.g. train a classifier on one class (22000).
    #[error("{0}")]
    DataException(String),
    /// A NULL where none is allowed, e.g. in training rows under `nulls = 'error'` (22004).
    #[error("{0}")]
    NullValueNotAllowed(String),
    /// The statement creates something that already exists (42P07).
    #[error("{0}")]
    DuplicateTable(String),
    /// The statement adds a column a table already has (42701).
    #[error("{0}")]
    DuplicateColumn(String),
    /// The statement creates a user (or other non-relation) that already exists (42710).
    #[error("{0}")]
    DuplicateObject(String),
    /// The object is in use and cannot be changed so, e.g. dropping the connected user (55006).
    #[error("{0}")]
    ObjectInUse(String),
    /// Other objects depend on it, e.g. DROP TABLE of a table a view reads (2BP01).
    #[error("{0}")]
    DependentObjectsStillExist(String),
    /// A failure with PostgreSQL's CONTEXT line, e.g. a bad row in COPY FROM
    /// (`COPY t, line 3, column a: "x"`).
    #[error("{message}")]
    WithContext { code: &'static str, message: String, context: String },
    /// A parameter that cannot be changed, e.g. `SET server_version` (55P02).
    #[error("{0}")]
    CantChangeRuntimeParam(String),
    /// The statement names an object of the wrong kind, e.g. DROP TABLE on a view (42809).
    #[error("{0}")]
    WrongObjectType(String),
    /// The user may not do this, e.g. a cluster command by a non-superuser (42501).
    #[error("{0}")]
    InsufficientPrivilege(String),
    /// squall does not do this (yet) (0A000).
    #[error("{0}")]
    Unsupported(String),
    /// An option or argument has a value squall cannot use (22023).
    #[error("{0}")]
    InvalidParameter(String),
    /// A NULL went into a NOT NULL column (23502).
    #[error("{0}")]
    NotNullViolation(String),
    /// The statement was stopped: a cancel request or statement_timeout (57014).
    #[error("{0}")]
    QueryCanceled(String),
    /// A MERGE would change one target row twice (21000).
    #[error("{0}")]
    CardinalityViolation(String),
    /// A concurrent transaction committed first and this one's changes would conflict with it;
    /// nothing of this statement was applied and it may be run again (40001).
    #[error("{0}")]
    SerializationFailure(String),
    /// Reading or writing the data directory failed (58030).
    #[error("{0}")]
    Storage(String),
    /// Anything DataFusion or Ballista reported; classified by its kind and message.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    /// A bug in squall (XX000).
    #[error("internal error: {0}")]
    Internal(String),
}

impl SquallError {
    /// The SQLSTATE a client receives for this failure.
    pub fn sqlstate(&self) -> &'static str {
        self.classified().0
    }

    /// The SQLSTATE and message a client receives for this failure.
    /// The same error (its SQLSTATE, message and context), for a second receiver of one
    /// failure (every batch of a group commit that failed).
    pub fn copied(&self) -> SquallError {
        let (code, message) = self.classified();
        let context = match self {
            SquallError::WithContext { context, .. } => context.clone(),
            _ => String::new(),
        };
        SquallError::WithContext { code, message, context }
    }

    pub fn classified(&self) -> (&'static str, String) {
        match self {
            SquallError::Syntax(m) => ("42601", m.clone()),
            SquallError::UndefinedTable(m) => ("42P01", m.clone()),
            SquallError::DuplicateTable(m) => ("42P07", m.clone()),
            SquallError::DuplicateObject(m) => ("42710", m.clone()),
            SquallError::DuplicateColumn(m) => ("42701", m.clone()),
            SquallError::ObjectInUse(m) => ("55006", m.clone()),
            SquallError::DependentObjectsStillExist(m) => ("2BP01", m.clone()),
            SquallError::CantChangeRuntimeParam(m) => ("55P02", m.clone()),
            SquallError::WithContext { code, message, .. } => (code, message.clone()),
            SquallError::UndefinedObject(m) => ("42704", m.clone()),
            SquallError::InsufficientPrivilege(m) => ("42501", m.clone()),
            SquallError::UndefinedColumn(m) => ("42703", m.clone()),
            SquallError::UndefinedFunction(m) => ("42883", m.clone()),
            SquallError::DataException(m) => ("22000", m.clone()),
            SquallError::NullValueNotAllowed(m) => ("22004", m.clone()),
            SquallError::WrongObjectType(m) => ("42809", m.clone()),
            SquallError::Unsupported(m) => ("0A000", m.clone()),
            SquallError::InvalidParameter(m) => ("22023", m.clone()),
            SquallError::NotNullViolation(m) => ("23502", m.clone()),
            SquallError::QueryCanceled(m) => ("57014", m.clone()),
            SquallError::SerializationFailure(m) => ("40001", m.clone()),
            SquallError::CardinalityViolation(m) => ("21000", m.clone()),
            SquallError::Storage(m) => ("58030", m.clone()),
            SquallError::Internal(m) => ("XX000", format!("internal error: {m}")),
            SquallError::DataFusion(e) => classify_datafusion(e),
        }
    }

    pub fn storage(context: impl std::fmt::Display, e: impl std::fmt::Display) -> Self {
        Self::Storage(format!("{context}: {e}"))
    }
}

impl From<std::io::Error> for SquallError {
    fn from(e: std::io::Error) -> Self {
        Self::Storage(format!("I/O error in the data directory: {e}"))
    }
}

impl From<datafusion::arrow::error::ArrowError> for SquallError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        Self::DataFusion(DataFusionError::from(e))
    }
}
