//! A refused HTTP request: its status and a JSON body naming the SQLSTATE, as every squall
//! endpoint answers errors (`{"sqlstate": ..., "message": ...}`, with the line and column of a
//! bad row when there is one).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::credentials::Refused;
use crate::error::SquallError;

/// A refused request: its status and the JSON error.
pub struct Failure {
    pub status: StatusCode,
    pub sqlstate: &'static str,
    pub message: String,
    /// Where in the body a bad row is (COPY's line and column).
    pub line: Option<u64>,
    pub column: Option<String>,
    /// Seconds to wait before sending again (503).
    pub retry_after: Option<u64>,
}

impl Failure {
    pub fn new(status: StatusCode, sqlstate: &'static str, message: impl Into<String>) -> Self {
        Self { status, sqlstate, message: message.into(), line: None, column: None, retry_after: None }
    }

    /// 401: no or bad credentials.
    pub fn unauthorized(refused: Refused) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, refused.0, refused.1)
    }

    pub fn with_status(self, status: StatusCode) -> Self {
        Self { status, ..self }
    }
}

impl From<SquallError> for Failure {
    fn from(e: SquallError) -> Self {
        Self::from(&e)
    }
}

impl From<&SquallError> for Failure {
    fn from(e: &SquallError) -> Self {
        let (sqlstate, message) = e.classified();
        // COPY's context: `COPY t, line 3, column a: "x"`.
        let context = match e {
            SquallError::WithContext { context, .. } => context.as_str(),
            _ => "",
        };
        let line = context.split(", line ").nth(1).and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok());
        let column = context.split(", column ").nth(1).and_then(|rest| rest.split_once(':')).map(|(name, _)| name.to_string());
        let status = match sqlstate {
            "42501" => StatusCode::FORBIDDEN,
            "42P01" | "42704" => StatusCode::NOT_FOUND,
            "40001" => StatusCode::CONFLICT,
            code if code.starts_with("22") || code.starts_with("23") || code.starts_with("42") || code == "0A000" => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self { status, sqlstate, message, line, column, retry_after: None }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut body = json!({"sqlstate": self.sqlstate, "message": self.message});
        if let Some(line) = self.line {
            body["line"] = json!(line);
        }
        if let Some(column) = self.column {
            body["column"] = json!(column);
        }
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Basic realm=\"squall\""));
        }
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        response
    }
}
