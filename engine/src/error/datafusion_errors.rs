//! What DataFusion and Ballista report, as SQLSTATEs. They report errors as kinds plus messages;
//! the message patterns matched here are the ones DataFusion uses for undefined tables, columns
//! and functions, and Ballista's job-failure text (which carries an executor's error as text).

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;

use super::SquallError;

/// The SQLSTATE and message for an error DataFusion or Ballista reported (also inside a stream).
pub fn classify_datafusion(error: &DataFusionError) -> (&'static str, String) {
    // squall's own errors raised inside a stream (a statement stopped while sending rows).
    if let DataFusionError::External(e) = error.find_root() {
        if let Some(squall) = e.downcast_ref::<SquallError>() {
            return squall.classified();
        }
    }
    // squall's own functions put their SQLSTATE in the message, which survives the trip from an
    // executor inside Ballista's job-failure text.
    let text = error.to_string();
    if let Some((code, message)) = squall_udf::ml::error::find_coded(&text) {
        return (known_code(&code), message);
    }
    // Ballista reports a job cancelled by CANCEL JOB (or a cancel request) as "Job <id> failed:
    // Cancelled"; PostgreSQL's words and code for it are these.
    if text.contains("failed: Cancelled") {
        return ("57014", "canceling statement due to user request".to_string());
    }
    let root = error.find_root();
    let message = root.strip_backtrace();
    let message = message.trim();
    let code = match root {
        DataFusionError::SQL(..) => "42601",
        DataFusionError::SchemaError(..) => schema_code(message),
        DataFusionError::NotImplemented(_) => "0A000",
        DataFusionError::ResourcesExhausted(_) => "53200",
        DataFusionError::Configuration(_) => "22023",
        DataFusionError::ArrowError(e, _) => arrow_code(e),
        DataFusionError::IoError(_) | DataFusionError::ObjectStore(_) => "58030",
        DataFusionError::Plan(_) => plan_code(message),
        DataFusionError::Execution(_) | DataFusionError::External(_) => execution_code(message),
        DataFusionError::Internal(_) => "XX000",
        DataFusionError::ParquetError(_) => parquet_code(message),
        _ => execution_code(message),
    };
    (code, readable(code, message))
}

fn schema_code(message: &str) -> &'static str {
    if message.contains("No field named") || message.contains("not found") {
        "42703"
    } else if message.contains("ambiguous") {
        "42702"
    } else if message.contains("duplicate") || message.contains("Duplicate") {
        "42701"
    } else {
        "42P10"
    }
}

fn plan_code(message: &str) -> &'static str {
    if message.contains("No files found at") {
        "58P01"
    } else if message.contains("table '") && message.contains("not found") {
        "42P01"
    } else if message.contains("Invalid function") || message.contains("No function matches") || message.contains("function") && message.contains("does not exist") {
        "42883"
    } else if message.contains("already exists") {
        "42P07"
    } else if message.contains("No field named") {
        "42703"
    } else if message.contains("Unsupported") || message.contains("not supported") {
        "0A000"
    } else if message.contains("Cannot cast") || message.contains("Cannot automatically convert") {
        "42846"
    } else {
        // A statement DataFusion understood but cannot plan: the class of syntax and access
        // rule violations, not a bug.
        "42000"
    }
}

/// Errors at execution time. Ballista carries a task's error as text, so its message decides.
fn execution_code(message: &str) -> &'static str {
    if message.contains("Parquet error") {
        parquet_code(message)
    } else if message.contains("Divide by zero") || message.contains("DivideByZero") {
        "22012"
    } else if out_of_range(message) {
        "22003"
    } else if ["Cast error", "Cannot cast", "Parser error", "CastError", "ParseError"].iter().any(|p| message.contains(p)) {
        "22P02"
    } else if message.contains("invalid format string") || message.contains("Error parsing timestamp from") {
        "22007" // invalid_datetime_format: a template to_char, to_date or to_timestamp cannot use
    } else if message.contains("timestamp out of range") || message.contains("interval out of range") {
        "22008"
    } else if message.contains("Overflow") || message.contains("overflow") {
        "22003"
    } else if message.contains("already exists") {
        "42P07"
    } else if message.contains("Resources exhausted") {
        "53200"
    } else if message.contains("No such file") || message.contains("Object at location") || message.contains("not found") {
        "58P01"
    } else {
        "XX000"
    }
}

/// A Parquet file that cannot be read: a feature the reader lacks (0A000), or a file that is not
/// what its footer or pages say, which PostgreSQL calls data_corrupted (XX001). The Parquet
/// reader reports both as one kind of error, so its message decides.
fn parquet_code(message: &str) -> &'static str {
    if message.contains("NYI") || message.contains("not yet implemented") || message.contains("not supported") {
        "0A000"
    } else {
        "XX001"
    }
}

/// Whether a cast failed because the value does not fit the type (`INSERT` of 3000000000 into
/// an int column), which PostgreSQL calls numeric_value_out_of_range, not a malformed value.
fn out_of_range(message: &str) -> bool {
    ["Can't cast value", "Overflowing on", "is out of range"].iter().any(|p| message.contains(p))
}

fn arrow_code(error: &ArrowError) -> &'static str {
    match error {
        ArrowError::DivideByZero => "22012",
        ArrowError::CastError(message) if out_of_range(message) => "22003",
        ArrowError::CastError(_) | ArrowError::ParseError(_) => "22P02",
        ArrowError::ArithmeticOverflow(_) => "22003",
        ArrowError::IoError(..) => "58030",
        ArrowError::MemoryError(_) => "53200",
        _ => "XX000",
    }
}

/// PostgreSQL's wording for the errors users meet most; DataFusion's otherwise.
fn readable(code: &str, message: &str) -> String {
    let message = message
        .trim_start_matches("Error during planning: ")
        .trim_start_matches("Schema error: ")
        .trim_start_matches("Execution error: ")
        .trim_start_matches("This feature is not implemented: ");
    match code {
        "22012" => return "division by zero".to_string(),
        "42703" => {
            // "No field named nosuch. Valid fields are t.a, t.b."
            if let Some(rest) = message.strip_prefix("No field named ") {
                let name = rest.split(".\nValid fields").next().unwrap_or(rest);
                let name = name.split(". Valid fields").next().unwrap_or(name).trim_end_matches('.');
                let hint = rest.split_once("Valid fields are ").map(|(_, f)| f.trim_end_matches('.')).unwrap_or("");
                return format!("column {name} does not exist (columns: {hint})");
            }
        }
        _ => {}
    }
    if code == "42P01" {
        // "table 'squall.public.t' not found"
        if let Some(name) = message.split('\'').nth(1) {
            let short = name.rsplit('.').next().unwrap_or(name);
            return format!("relation \"{short}\" does not exist");
        }
    }
    message.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(e: DataFusionError) -> &'static str {
        SquallError::DataFusion(e).sqlstate()
    }

    #[test]
    fn undefined_table_reads_like_postgres() {
        let e = DataFusionError::Plan("table 'squall.public.nope' not found".into());
        assert_eq!(SquallError::classified(&SquallError::DataFusion(e)), ("42P01", "relation \"nope\" does not exist".to_string()));
    }

    #[test]
    fn kinds_map_to_their_sqlstates() {
        assert_eq!(code(DataFusionError::Plan("Invalid function 'nosuch'.\nDid you mean 'nanvl'?".into())), "42883");
        assert_eq!(code(DataFusionError::NotImplemented("x".into())), "0A000");
        assert_eq!(code(DataFusionError::Plan("No files found at file:///nope/. Cannot infer schema".into())), "58P01");
        assert_eq!(code(DataFusionError::ArrowError(Box::new(ArrowError::DivideByZero), None)), "22012");
        assert_eq!(code(DataFusionError::Execution("Job failed: Arrow error: Divide by zero error".into())), "22012");
        let ballista = "Job 1 failed: Task failed due to runtime execution error: DataFusionError(Shared(External(ArrowError(DivideByZero))))";
        assert_eq!(SquallError::classified(&SquallError::DataFusion(DataFusionError::Execution(ballista.into()))), ("22012", "division by zero".into()));
        let wrapped = DataFusionError::Context("while planning".into(), Box::new(DataFusionError::NotImplemented("y".into())));
        assert_eq!(code(wrapped), "0A000");
        // A corrupt Parquet file, read in the coordinator and in a job.
        let corrupt = datafusion::parquet::errors::ParquetError::General("Invalid Parquet file. Corrupt footer".into());
        assert_eq!(code(DataFusionError::ParquetError(Box::new(corrupt))), "XX001");
        let in_a_job = "Job 038G60A70R000 failed: DataFusion error: Parquet error: Parquet error: Invalid Parquet file. Corrupt footer";
        assert_eq!(code(DataFusionError::Execution(in_a_job.into())), "XX001");
        let unsupported = datafusion::parquet::errors::ParquetError::NYI("a nested type".into());
        assert_eq!(code(DataFusionError::ParquetError(Box::new(unsupported))), "0A000");
    }

    #[test]
    fn undefined_column_names_the_column() {
        let e = DataFusionError::SchemaError(
            Box::new(datafusion::common::SchemaError::FieldNotFound {
                field: Box::new(datafusion::common::Column::from_name("nosuch")),
                valid_fields: vec![datafusion::common::Column::from_qualified_name("t.a")],
            }),
            Box::new(None),
        );
        let (code, message) = SquallError::classified(&SquallError::DataFusion(e));
        assert_eq!(code, "42703");
        assert!(message.starts_with("column nosuch does not exist"), "{message}");
    }

    #[test]
    fn only_internal_errors_are_xx000() {
        assert_eq!(SquallError::classified(&SquallError::Syntax("x".into())).0, "42601");
        assert_eq!(code(DataFusionError::Internal("bug".into())), "XX000");
    }
}

/// The codes squall's functions raise, as static strings.
fn known_code(code: &str) -> &'static str {
    const CODES: &[&str] = &["21000", "22000", "22004", "22023", "42703", "42704", "42883", "0A000", "54000", "58030", "XX000"];
    CODES.iter().find(|c| **c == code).copied().unwrap_or("XX000")
}
