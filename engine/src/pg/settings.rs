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
use crate::pg::functions::POSTGRES_VERSION;

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
    ("max_index_keys", "32"),
    ("search_path", "\"$user\", public"),
    // squall's own (see crate::routing): queries that read at most this many bytes of their
    // tables run in the coordinator; `0` sends every query over tables to the executors.
    (LOCAL_SCAN_LIMIT, "16MB"),
    ("server_encoding", "UTF8"),
    ("server_version", POSTGRES_VERSION),
    ("server_version_num", "160006"),
    ("standard_conforming_strings", "on"),
    ("synchronous_commit", "on"),
    ("timezone", "Etc/UTC"),
    ("transaction_isolation", "read committed"),
    ("transaction_read_only", "off"),
];

/// The parameter that decides which queries over tables run on the coordinator.
pub const LOCAL_SCAN_LIMIT: &str = "squall.local_scan_limit";

/// Reported, never changed.
const READ_ONLY: &[&str] = &["integer_datetimes", "max_identifier_length", "max_index_keys", "server_encoding", "server_version", "server_version_num"];

/// One session's parameters: those it SET, over the server's start-up choices, over [`DEFAULTS`].
#[derive(Debug, Clone, Default)]
pub struct PgSettings {
    chosen: Arc<Mutex<BTreeMap<String, String>>>,
    server: Arc<BTreeMap<String, String>>,
}

impl PgSettings {
    /// A session's parameters when the server was started with `server` values for some of them
    /// (checked by [`check_value`]); RESET goes back to those.
    pub fn new(server: Arc<BTreeMap<String, String>>) -> Self {
        Self { chosen: Default::default(), server }
    }

    /// As [`PgSettings::new`], with the parameters the client sent in its start-up message over the
    /// server's (pgjdbc sends `extra_float_digits=3`, psqlODBC and others `DateStyle`): as in
    /// PostgreSQL, they are the session's own defaults, which RESET returns to. Names squall does
    /// not keep (`user`, `database`, ...) and values it cannot honour (pgjdbc sends the JVM's
    /// `TimeZone`) leave the server's value in place; squall reports the value it uses.
    pub fn with_startup(server: Arc<BTreeMap<String, String>>, startup: &std::collections::HashMap<String, String>) -> Self {
        let mut start = (*server).clone();
        for (name, value) in startup {
            let name = name.to_ascii_lowercase();
            if Self::knows(&name) && !READ_ONLY.contains(&name.as_str()) && check_value(&name, value).is_ok() {
                start.insert(name, value.clone());
            }
        }
        Self::new(Arc::new(start))
    }

    /// How this session's values are written in text results: DateStyle, IntervalStyle,
    /// bytea_output and extra_float_digits, as the session last SET them. The zone stays
    /// pgwire's `Etc/UTC`: every accepted TimeZone spelling means UTC.
    pub fn format_options(&self) -> pgwire::types::format::FormatOptions {
        let get = |name: &str| self.get(name).unwrap_or_default();
        let mut options = pgwire::types::format::FormatOptions::default();
        options.date_style = get("datestyle");
        options.interval_style = get("intervalstyle");
        options.bytea_output = get("bytea_output");
        options.extra_float_digits = get("extra_float_digits").trim().parse().unwrap_or(1);
        options
    }

    /// Whether `name` is one of PostgreSQL's parameters squall keeps (not a DataFusion setting).
    pub fn knows(name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        DEFAULTS.iter().any(|(n, _)| *n == name)
    }

    pub fn get(&self, name: &str) -> Result<String> {
        let name = name.to_ascii_lowercase();
        if let Some(value) = self.lock().get(&name).or_else(|| self.server.get(&name)) {
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
        check_value(&name, &value)?;
        self.lock().insert(name, value);
        Ok(())
    }

    /// Every parameter with this session's value, in name order (`pg_catalog.pg_settings`).
    pub fn all(&self) -> Vec<(String, String)> {
        DEFAULTS.iter().map(|(name, _)| (name.to_string(), self.get(name).unwrap_or_default())).collect()
    }

    /// `squall.local_scan_limit` in bytes.
    pub fn local_scan_limit(&self) -> u64 {
        self.get(LOCAL_SCAN_LIMIT).ok().and_then(|v| parse_bytes(&v)).unwrap_or(0)
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

    /// `RESET ALL`: every parameter back to the value the session started with.
    pub fn reset_all(&self) {
        self.lock().clear();
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
        self.chosen.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Refuses a value squall would not honour for parameter `name` (lowercase).
pub fn check_value(name: &str, value: &str) -> Result<()> {
    let upper = value.to_ascii_uppercase();
    match name {
        "client_encoding" if !matches!(upper.as_str(), "UTF8" | "UTF-8" | "UNICODE") => {
            Err(SquallError::Unsupported(format!("client_encoding \"{value}\" is not supported: squall speaks UTF8")))
        }
        "timezone" if !matches!(upper.as_str(), "UTC" | "ETC/UTC" | "GMT" | "Z" | "+00:00" | "00:00" | "0" | "UCT" | "ZULU" | "ETC/GMT") => {
            Err(SquallError::Unsupported(format!("time zone \"{value}\" is not supported: squall sessions are in UTC")))
        }
        LOCAL_SCAN_LIMIT if parse_bytes(value).is_none() => Err(SquallError::InvalidParameter(format!(
            "invalid value for parameter \"{name}\": \"{value}\" (a size such as 0, 65536, '512kB', '16MB' or '1GB')"
        ))),
        "extra_float_digits" if !value.trim().parse::<i8>().is_ok_and(|digits| (-15..=3).contains(&digits)) => Err(
            SquallError::InvalidParameter(format!("invalid value for parameter \"{name}\": \"{value}\" (an integer from -15 to 3)")),
        ),
        "datestyle" if !upper.split(',').all(|word| DATE_STYLE_WORDS.contains(&word.trim())) => {
            Err(SquallError::InvalidParameter(format!("invalid value for parameter \"DateStyle\": \"{value}\"")))
        }
        "intervalstyle" if !matches!(upper.as_str(), "POSTGRES" | "POSTGRES_VERBOSE" | "SQL_STANDARD" | "ISO_8601") => {
            Err(SquallError::InvalidParameter(format!("invalid value for parameter \"IntervalStyle\": \"{value}\"")))
        }
        "bytea_output" if !matches!(upper.as_str(), "HEX" | "ESCAPE") => {
            Err(SquallError::InvalidParameter(format!("invalid value for parameter \"{name}\": \"{value}\"")))
        }
        _ => Ok(()),
    }
}

/// The words PostgreSQL's DateStyle is made of: an output style and a field order.
const DATE_STYLE_WORDS: &[&str] = &["ISO", "SQL", "POSTGRES", "GERMAN", "MDY", "DMY", "YMD", "US", "NONEURO", "NONEUROPEAN", "EURO", "EUROPEAN"];

/// A size as PostgreSQL writes memory settings: bytes, or a number with B, kB, MB, GB or TB.
pub fn parse_bytes(value: &str) -> Option<u64> {
    let value = value.trim();
    let split = value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1 << 10,
        "mb" => 1 << 20,
        "gb" => 1 << 30,
        "tb" => 1 << 40,
        _ => return None,
    };
    number.parse::<u64>().ok()?.checked_mul(scale)
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
    (PgSettings::knows(&name) || name == crate::session::interrupts::STATEMENT_TIMEOUT).then_some(name)
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
    fn local_scan_limit_sizes_and_server_default() {
        assert_eq!(parse_bytes("0"), Some(0));
        assert_eq!(parse_bytes("65536"), Some(65536));
        assert_eq!(parse_bytes("512kB"), Some(512 << 10));
        assert_eq!(parse_bytes("16 MB"), Some(16 << 20));
        assert_eq!(parse_bytes("1GB"), Some(1 << 30));
        assert_eq!(parse_bytes("-1"), None);
        assert_eq!(parse_bytes("lots"), None);
        let server = Arc::new([(LOCAL_SCAN_LIMIT.to_string(), "0".to_string())].into());
        let session = PgSettings::new(server);
        assert_eq!(session.local_scan_limit(), 0);
        session.set("squall.local_scan_limit", "'1MB'").unwrap();
        assert_eq!(session.local_scan_limit(), 1 << 20);
        assert!(matches!(session.set("squall.local_scan_limit", "big"), Err(SquallError::InvalidParameter(_))));
        session.reset("squall.local_scan_limit").unwrap();
        assert_eq!(session.get("squall.local_scan_limit").unwrap(), "0", "RESET returns to the server's choice");
        assert_eq!(PgSettings::default().local_scan_limit(), 16 << 20);
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
