//! PostgreSQL's session parameters that drivers and BI tools set and read: psqlODBC sends
//! `SET DateStyle = 'ISO'` on connecting, pgjdbc `SET extra_float_digits = 3`, SQLAlchemy reads
//! `current_setting('standard_conforming_strings')`, tools `SHOW search_path`. Each session keeps
//! its own values (SET changes only its connection); DataFusion's own settings (`datafusion.*`,
//! `ballista.*`) stay DataFusion's. Parameters that would change what squall computes are accepted
//! only with the value squall works with (UTF8, UTC), so nobody is told a setting took effect
//! when it did not.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};

use crate::error::{Result, SquallError};
use crate::pg_functions::POSTGRES_VERSION;

/// Every parameter squall knows, with the value each session starts with.
const DEFAULTS: &[(&str, &str)] = &[
    ("application_name", ""),
    ("bytea_output", "hex"),
    ("client_encoding", "UTF8"),
    ("client_min_messages", "notice"),
    ("datestyle", "ISO, MDY"),
    ("default_transaction_isolation", "read committed"),
    ("default_transaction_read_only", "off"),
    ("extra_float_digits", "1"),
    ("idle_in_transaction_session_timeout", "0"),
    ("integer_datetimes", "on"),
    ("intervalstyle", "postgres"),
    ("jit", "off"),
    ("lc_messages", "C"),
    ("lc_monetary", "C"),
    ("lc_numeric", "C"),
    ("lc_time", "C"),
    ("lock_timeout", "0"),
    ("max_identifier_length", "63"),
    ("search_path", "\"$user\", public"),
    ("server_encoding", "UTF8"),
    ("server_version", POSTGRES_VERSION),
    ("server_version_num", "160006"),
    ("standard_conforming_strings", "on"),
    ("synchronous_commit", "on"),
    ("timezone", "Etc/UTC"),
    ("transaction_isolation", "read committed"),
    ("transaction_read_only", "off"),
];

/// Reported, never changed.
const READ_ONLY: &[&str] = &["integer_datetimes", "max_identifier_length", "server_encoding", "server_version", "server_version_num"];

/// One session's parameters.
#[derive(Debug, Clone, Default)]
pub struct PgSettings(Arc<Mutex<BTreeMap<String, String>>>);

impl PgSettings {
    /// Whether `name` is one of PostgreSQL's parameters squall keeps (not a DataFusion setting).
    pub fn knows(name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        DEFAULTS.iter().any(|(n, _)| *n == name)
    }

    pub fn get(&self, name: &str) -> Result<String> {
        let name = name.to_ascii_lowercase();
        if let Some(value) = self.lock().get(&name) {
            return Ok(value.clone());
        }
        DEFAULTS.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string()).ok_or_else(|| unrecognized(&name))
    }

    /// `SET name = value`.
    pub fn set(&self, name: &str, value: &str) -> Result<()> {
        let name = name.to_ascii_lowercase();
        if !Self::knows(&name) {
            return Err(unrecognized(&name));
        }
        if READ_ONLY.contains(&name.as_str()) {
            return Err(SquallError::CantChangeRuntimeParam(format!("parameter \"{name}\" cannot be changed")));
        }
        let value = value.trim().trim_matches('\'').to_string();
        let upper = value.to_ascii_uppercase();
        match name.as_str() {
            "client_encoding" if !matches!(upper.as_str(), "UTF8" | "UTF-8" | "UNICODE") => {
                return Err(SquallError::Unsupported(format!("client_encoding \"{value}\" is not supported: squall speaks UTF8")));
            }
            "timezone" if !matches!(upper.as_str(), "UTC" | "ETC/UTC" | "GMT" | "Z" | "+00:00" | "00:00" | "0" | "UCT" | "ZULU" | "ETC/GMT") => {
                return Err(SquallError::Unsupported(format!("time zone \"{value}\" is not supported: squall sessions are in UTC")));
            }
            _ => {}
        }
        self.lock().insert(name, value);
        Ok(())
    }

    /// `RESET name`: back to the value the session started with.
    pub fn reset(&self, name: &str) -> Result<()> {
        let name = name.to_ascii_lowercase();
        if !Self::knows(&name) {
            return Err(unrecognized(&name));
        }
        self.lock().remove(&name);
        Ok(())
    }

    /// `current_setting(name)` for this session's statements.
    pub fn current_setting_udf(&self) -> ScalarUDF {
        let settings = self.clone();
        create_udf(
            "current_setting",
            vec![DataType::Utf8],
            DataType::Utf8,
            Volatility::Stable,
            Arc::new(move |args: &[ColumnarValue]| {
                let names = ColumnarValue::values_to_arrays(args)?;
                let names = names[0].as_any().downcast_ref::<StringArray>().ok_or_else(|| DataFusionError::Plan("current_setting takes a text argument".into()))?;
                let values = (0..names.len())
                    .map(|i| if names.is_null(i) { Ok(None) } else { settings.get(names.value(i)).map(Some) })
                    .collect::<Result<StringArray>>()
                    .map_err(|e| DataFusionError::External(Box::new(e)))?;
                Ok(ColumnarValue::Array(Arc::new(values)))
            }),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The parameter a `SHOW` statement asks for, if it is one of these or `statement_timeout`
/// (kept by the session's interrupts); PostgreSQL also spells some with spaces: `SHOW TIME ZONE`,
/// `SHOW TRANSACTION ISOLATION LEVEL`.
pub fn shown_parameter(sql: &str) -> Option<String> {
    let words: Vec<String> = sql.trim().trim_end_matches(';').split_whitespace().map(str::to_ascii_lowercase).collect();
    let name = match words.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["show", "time", "zone"] => "timezone".to_string(),
        ["show", "transaction", "isolation", "level"] => "transaction_isolation".to_string(),
        ["show", name] => name.trim_matches('"').to_string(),
        _ => return None,
    };
    (PgSettings::knows(&name) || name == crate::interrupts::STATEMENT_TIMEOUT).then_some(name)
}

fn unrecognized(name: &str) -> SquallError {
    SquallError::UndefinedObject(format!("unrecognized configuration parameter \"{name}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_show_reset_per_session() {
        let (a, b) = (PgSettings::default(), PgSettings::default());
        a.set("DateStyle", "'ISO'").unwrap();
        a.set("extra_float_digits", "3").unwrap();
        assert_eq!(a.get("datestyle").unwrap(), "ISO");
        assert_eq!(b.get("DATESTYLE").unwrap(), "ISO, MDY");
        a.reset("datestyle").unwrap();
        assert_eq!(a.get("datestyle").unwrap(), "ISO, MDY");
        assert!(matches!(a.set("nosuch", "1"), Err(SquallError::UndefinedObject(_))));
        assert!(matches!(a.set("server_version", "9"), Err(SquallError::CantChangeRuntimeParam(_))));
        a.set("client_encoding", "UTF8").unwrap();
        assert!(a.set("client_encoding", "LATIN1").is_err());
        a.set("TimeZone", "'UTC'").unwrap();
        assert!(a.set("TimeZone", "'Europe/Paris'").is_err());
    }

    #[test]
    fn show_spellings() {
        assert_eq!(shown_parameter("SHOW DateStyle").as_deref(), Some("datestyle"));
        assert_eq!(shown_parameter("show time zone;").as_deref(), Some("timezone"));
        assert_eq!(shown_parameter("SHOW TRANSACTION ISOLATION LEVEL").as_deref(), Some("transaction_isolation"));
        assert_eq!(shown_parameter("SHOW datafusion.execution.batch_size"), None);
        assert_eq!(shown_parameter("SHOW ALL"), None);
        assert_eq!(shown_parameter("show STATEMENT_TIMEOUT;").as_deref(), Some("statement_timeout"));
        assert_eq!(shown_parameter("show search_path").as_deref(), Some("search_path"));
    }
}
