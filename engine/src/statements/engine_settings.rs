//! `SET` and `RESET` of DataFusion's and Ballista's own settings (`datafusion.…`, `ballista.…`),
//! checked as PostgreSQL checks its parameters: a name it does not know is 42704 and a value the
//! setting cannot take is 22023, both before anything changes.
//!
//! Why squall checks: DataFusion refuses a bad value itself, but its error reads as an internal
//! one (XX000), and Ballista stores any text for its settings and fails later, in the middle of
//! the next distributed query (`SET ballista.shuffle.compression.codec = 'bogus'` was accepted and
//! every job after it failed).

use ballista_core::config::{BallistaConfig, BALLISTA_SHUFFLE_COMPRESSION_CODEC};
use datafusion::arrow::datatypes::DataType;
use datafusion::config::ConfigEntry;
use datafusion::logical_expr::{LogicalPlan, ResetVariable, SetVariable, Statement};

use crate::error::{Result, SquallError};
use crate::session::{Output, Session};

/// `SET name = value` for a dotted name.
pub(super) async fn set(session: &Session, set: SetVariable) -> Result<Output> {
    let variable = known_name(session, &set.variable)?;
    check_ballista_value(&variable, &set.value)?;
    let value = set.value.clone();
    let plan = LogicalPlan::Statement(Statement::SetVariable(SetVariable { variable: variable.clone(), value: set.value }));
    // DataFusion's own error nests the parse failure in two layers of context.
    session.ctx.execute_logical_plan(plan).await.map_err(|e| invalid_value(&variable, &value, &e.find_root().to_string()))?;
    session.note_setting(&variable, true);
    Ok(Output::Done { tag: "SET", rows: None })
}

/// `RESET name` for a dotted name: as in PostgreSQL, back to the value every session starts with
/// (squall's settings), which is not always DataFusion's default.
pub(super) async fn reset(session: &Session, reset: ResetVariable) -> Result<Output> {
    let variable = known_name(session, &reset.variable)?;
    let initial = start_up_entries(session).into_iter().find(|e| e.key == variable).and_then(|e| e.value);
    restore(session, variable, initial).await?;
    Ok(Output::Done { tag: "RESET", rows: None })
}

/// `RESET ALL`: every setting back to the value the session started with, PostgreSQL's
/// parameters (statement_timeout among them) and DataFusion's and Ballista's alike.
pub(crate) async fn reset_all(session: &Session) -> Result<Output> {
    session.set_statement_timeout(None);
    session.pg_settings.reset_all();
    let now = session.ctx.state().config_options().entries();
    for initial in start_up_entries(session) {
        let current = now.iter().find(|entry| entry.key == initial.key).and_then(|entry| entry.value.clone());
        if current == initial.value {
            // Still no longer the session's choice, even if it chose the value it started with.
            session.note_setting(&initial.key, false);
        } else {
            restore(session, initial.key, initial.value).await?;
        }
    }
    Ok(Output::Done { tag: "RESET", rows: None })
}

/// Every setting's value when a session starts: the engine's own (sessions are copies of it).
fn start_up_entries(session: &Session) -> Vec<ConfigEntry> {
    session.engine.base.state().config_options().entries()
}

/// Puts `variable` back to `initial`, its value when the session started, and notes that the
/// session no longer chooses it.
async fn restore(session: &Session, variable: String, initial: Option<String>) -> Result<()> {
    let plan = match initial {
        Some(value) => Statement::SetVariable(SetVariable { variable: variable.clone(), value }),
        None => Statement::ResetVariable(ResetVariable { variable: variable.clone() }),
    };
    session.ctx.execute_logical_plan(LogicalPlan::Statement(plan)).await?;
    session.note_setting(&variable, false);
    Ok(())
}

/// The setting's own spelling (names are case-insensitive, as PostgreSQL's are), or 42704.
fn known_name(session: &Session, variable: &str) -> Result<String> {
    session
        .ctx
        .state()
        .config_options()
        .entries()
        .into_iter()
        .map(|entry| entry.key)
        .find(|key| key.eq_ignore_ascii_case(variable))
        .ok_or_else(|| SquallError::UndefinedObject(format!("unrecognized configuration parameter \"{variable}\"")))
}

/// Ballista keeps any text it is given: its values are parsed by their declared type here, and
/// the one text setting with a fixed set of values (the shuffle codec) by Ballista's own reader.
fn check_ballista_value(variable: &str, value: &str) -> Result<()> {
    let Some(entry) = BallistaConfig::valid_entries().get(variable) else { return Ok(()) };
    BallistaConfig::parse_value(value, entry.data_type().clone()).map_err(|_| invalid_value(variable, value, expected(entry.data_type())))?;
    if variable == BALLISTA_SHUFFLE_COMPRESSION_CODEC {
        let mut config = BallistaConfig::default();
        datafusion::config::ExtensionOptions::set(&mut config, &variable["ballista.".len()..], value)?;
        config.shuffle_compression_codec().map_err(|_| invalid_value(variable, value, "one of lz4, zstd, none"))?;
    }
    Ok(())
}

/// What a Ballista setting of this type takes, in words.
fn expected(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Boolean => "true or false",
        DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => "a whole number, 0 or more",
        DataType::Float64 => "a number",
        _ => "text",
    }
}

/// PostgreSQL's message for a value a parameter cannot take, with why in parentheses.
fn invalid_value(variable: &str, value: &str, reason: &str) -> SquallError {
    let reason = reason.trim_start_matches("External error: ");
    SquallError::InvalidParameter(format!("invalid value for parameter \"{variable}\": \"{value}\" ({reason})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ballista_values_are_checked_by_their_type_and_the_codec_by_name() {
        assert!(check_ballista_value("ballista.scheduler.max_partitions_per_task", "2").is_ok());
        let refused = |variable, value| matches!(check_ballista_value(variable, value), Err(SquallError::InvalidParameter(_)));
        assert!(refused("ballista.scheduler.max_partitions_per_task", "x"));
        assert!(refused("ballista.optimizer.broadcast_join_threshold_rows", "-5"));
        assert!(refused("ballista.planner.adaptive.enabled", "maybe"));
        assert!(check_ballista_value(BALLISTA_SHUFFLE_COMPRESSION_CODEC, "zstd").is_ok());
        assert!(refused(BALLISTA_SHUFFLE_COMPRESSION_CODEC, "bogus"));
        assert!(check_ballista_value("datafusion.execution.target_partitions", "anything").is_ok(), "DataFusion checks its own");
    }
}
