//! What delta-rs reports, as the SQLSTATE a user can act on.

use deltalake::kernel::transaction::TransactionError;
use deltalake::DeltaTableError;

use crate::error::SquallError;

/// `e`, met while `doing` (e.g. `committing to table "t"`), classified.
pub fn classify(doing: impl std::fmt::Display, e: DeltaTableError) -> SquallError {
    match e {
        // Another commit won: nothing of this one was applied, and running it again may work.
        DeltaTableError::Transaction { source: TransactionError::CommitConflict(conflict) } => {
            SquallError::SerializationFailure(format!("could not serialize access due to concurrent update ({doing}: {conflict})"))
        }
        DeltaTableError::Transaction { source: TransactionError::MaxCommitAttempts(n) } => SquallError::SerializationFailure(format!(
            "could not serialize access due to concurrent update ({doing}: other commits kept winning, {n} attempts)"
        )),
        DeltaTableError::VersionAlreadyExists(v) => {
            SquallError::SerializationFailure(format!("could not serialize access due to concurrent update ({doing}: version {v} was committed first)"))
        }
        DeltaTableError::Transaction { source: TransactionError::UnsupportedTableFeatures(features) } => SquallError::Unsupported(format!(
            "{doing}: the table uses Delta features squall cannot handle: {}",
            features.iter().map(|f| f.to_string()).collect::<Vec<_>>().join(", ")
        )),
        DeltaTableError::Transaction { source: TransactionError::TableFeaturesRequired(feature) } => {
            SquallError::Unsupported(format!("{doing}: the table requires Delta feature {feature}"))
        }
        DeltaTableError::MissingFeature { .. } | DeltaTableError::UnsupportedColumnMapping { .. } => {
            SquallError::Unsupported(format!("{doing}: {e}"))
        }
        // The log asks for what no reader here handles (a newer protocol, an unknown feature).
        DeltaTableError::KernelError(ref kernel) if kernel.to_string().starts_with("Unsupported") => {
            SquallError::Unsupported(format!("{doing}: {}", super::write::first_line(&kernel.to_string())))
        }
        DeltaTableError::NotATable(m) => SquallError::UndefinedTable(format!("{doing}: not a Delta table: {m}")),
        DeltaTableError::InvalidData { message } => SquallError::DataException(format!("{doing}: {message}")),
        DeltaTableError::ObjectStore { .. } | DeltaTableError::Io { .. } | DeltaTableError::Parquet { .. } => SquallError::storage(doing, e),
        other => SquallError::storage(doing, other),
    }
}
