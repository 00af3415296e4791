//! squall's errors as gRPC statuses: the code that fits the SQLSTATE, the message ending with
//! `(SQLSTATE xxxxx)`, and the SQLSTATE itself in the `x-sqlstate` metadata.

use squall_engine::error::SquallError;
use tonic::{Code, Status};

pub fn of(error: &SquallError) -> Status {
    let (sqlstate, message) = error.classified();
    coded(sqlstate, &message)
}

pub fn coded(sqlstate: &str, message: &str) -> Status {
    let code = match sqlstate {
        "28000" | "28P01" => Code::Unauthenticated,
        "42501" => Code::PermissionDenied,
        "42P01" | "42704" | "42883" => Code::NotFound,
        "42P07" | "42710" => Code::AlreadyExists,
        "0A000" => Code::Unimplemented,
        "57014" => Code::Cancelled,
        "40001" => Code::Aborted,
        s if s.starts_with("53") || s == "54000" => Code::ResourceExhausted,
        s if s.starts_with("22") || s.starts_with("23") || s.starts_with("42") => Code::InvalidArgument,
        s if s.starts_with("55") => Code::FailedPrecondition,
        _ => Code::Internal,
    };
    let mut status = Status::new(code, format!("{message} (SQLSTATE {sqlstate})"));
    if let Ok(value) = sqlstate.parse() {
        status.metadata_mut().insert("x-sqlstate", value);
    }
    status
}

/// A Flight call that is not one of Flight SQL's, or a malformed one.
pub fn bad_request(message: impl std::fmt::Display) -> Status {
    coded("08P01", &message.to_string())
}
