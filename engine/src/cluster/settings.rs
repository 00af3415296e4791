//! The cluster's settings (autoscaling, and how rows sent over HTTP are committed), changed with
//! `ALTER CLUSTER SET (...)` and kept in `catalog/cluster.json` (written atomically), so they
//! survive a restart.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::storage::catalog::write_atomically;
use crate::error::{Result, SquallError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterSettings {
    pub min_executors: u64,
    pub max_executors: u64,
    /// How long runnable tasks must wait for a slot before executors are added.
    pub scale_up_after_ms: u64,
    /// How long an executor may sit idle before it is drained.
    pub idle_timeout_ms: u64,
    /// Rows sent over HTTP to a table are committed at most this often, the batches that arrived
    /// meanwhile together ([`crate::storage::delta::grouped_append`]).
    #[serde(default = "default_commit_interval_ms")]
    pub commit_interval_ms: u64,
    /// How many bytes of rows sent over HTTP may wait uncommitted; past it a batch is refused
    /// with 503 and Retry-After ([`crate::ingest::backpressure`]).
    #[serde(default = "default_ingest_buffer_bytes")]
    pub ingest_buffer_bytes: u64,
}

fn default_commit_interval_ms() -> u64 {
    200
}

fn default_ingest_buffer_bytes() -> u64 {
    256 * 1024 * 1024
}

impl ClusterSettings {
    pub fn defaults(executors: u64) -> Self {
        Self { min_executors: executors, max_executors: executors.max(8), scale_up_after_ms: 1_000, idle_timeout_ms: 60_000,
            commit_interval_ms: default_commit_interval_ms(),
            ingest_buffer_bytes: default_ingest_buffer_bytes(),
        }
    }

    /// The settings with `changes` applied, checked as a whole (so `max < min` is refused
    /// whichever of the two changed).
    pub fn with(&self, changes: &[(String, String)]) -> Result<Self> {
        let mut next = self.clone();
        for (name, value) in changes {
            match name.as_str() {
                "min_executors" => next.min_executors = count(name, value)?,
                "max_executors" => next.max_executors = count(name, value)?,
                "scale_up_after" => next.scale_up_after_ms = duration_ms(name, value)?,
                "idle_timeout" => next.idle_timeout_ms = duration_ms(name, value)?,
                "commit_interval" => next.commit_interval_ms = duration_ms(name, value)?,
                "ingest_buffer" => next.ingest_buffer_bytes = bytes(name, value)?,
                other => {
                    return Err(SquallError::InvalidParameter(format!(
                        "unknown cluster setting \"{other}\"; the settings are min_executors, max_executors, scale_up_after, idle_timeout, commit_interval, ingest_buffer"
                    )))
                }
            }
        }
        if next.max_executors < next.min_executors {
            return Err(SquallError::InvalidParameter(format!(
                "max_executors ({}) must not be less than min_executors ({})",
                next.max_executors, next.min_executors
            )));
        }
        if next.max_executors == 0 {
            return Err(SquallError::InvalidParameter("max_executors must be at least 1".into()));
        }
        Ok(next)
    }

    /// `(setting, value)` as SHOW CLUSTER shows them.
    pub fn rows(&self) -> Vec<(String, String)> {
        vec![
            ("min_executors".into(), self.min_executors.to_string()),
            ("max_executors".into(), self.max_executors.to_string()),
            ("scale_up_after".into(), format_ms(self.scale_up_after_ms)),
            ("idle_timeout".into(), format_ms(self.idle_timeout_ms)),
            ("commit_interval".into(), format_ms(self.commit_interval_ms)),
            ("ingest_buffer".into(), format_bytes(self.ingest_buffer_bytes)),
        ]
    }
}

fn count(name: &str, value: &str) -> Result<u64> {
    value
        .parse::<u64>()
        .ok()
        .filter(|v| *v <= 1024)
        .ok_or_else(|| SquallError::InvalidParameter(format!("{name} must be a whole number from 0 to 1024, not '{value}'")))
}

/// `'500ms'`, `'1s'`, `'2min'`, `'1h'`, or a number of seconds.
pub fn duration_ms(name: &str, value: &str) -> Result<u64> {
    let bad = || SquallError::InvalidParameter(format!("{name} must be a duration such as '500ms', '1s' or '2min', not '{value}'"));
    let value = value.trim();
    let split = value.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let scale = match unit.trim() {
        "ms" => 1.0,
        "" | "s" | "sec" | "secs" | "seconds" => 1_000.0,
        "min" | "mins" | "minutes" | "m" => 60_000.0,
        "h" | "hours" => 3_600_000.0,
        _ => return Err(bad()),
    };
    let ms = number * scale;
    if !(0.0..=Duration::from_secs(7 * 24 * 3600).as_millis() as f64).contains(&ms) {
        return Err(bad());
    }
    Ok(ms as u64)
}

/// `'64MB'`, `'1GB'`, `'512kB'` (units of 1024, as PostgreSQL's memory settings), or bytes.
fn bytes(name: &str, value: &str) -> Result<u64> {
    let bad = || SquallError::InvalidParameter(format!("{name} must be a size such as '64MB' or '1GB' (at least 1MB), not '{value}'"));
    let value = value.trim();
    let split = value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "kib" => 1 << 10,
        "mb" | "mib" => 1 << 20,
        "gb" | "gib" => 1 << 30,
        _ => return Err(bad()),
    };
    number.checked_mul(scale).filter(|b| *b >= 1 << 20 && *b <= 1 << 40).ok_or_else(bad)
}

fn format_bytes(bytes: u64) -> String {
    match bytes {
        b if b % (1 << 30) == 0 => format!("{}GB", b >> 30),
        b if b % (1 << 20) == 0 => format!("{}MB", b >> 20),
        b if b % (1 << 10) == 0 => format!("{}kB", b >> 10),
        b => b.to_string(),
    }
}

fn format_ms(ms: u64) -> String {
    if ms % 1_000 == 0 {
        format!("{}s", ms / 1_000)
    } else {
        format!("{ms}ms")
    }
}

/// Where the settings live in the data directory.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("catalog").join("cluster.json")
}

/// The stored settings, if they were ever changed.
pub fn load(data_dir: &Path) -> Result<Option<ClusterSettings>> {
    match std::fs::read(path(data_dir)) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| SquallError::storage(format!("reading {}", path(data_dir).display()), e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(SquallError::storage(format!("reading {}", path(data_dir).display()), e)),
    }
}

pub fn save(data_dir: &Path, settings: &ClusterSettings) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(settings).map_err(|e| SquallError::Internal(e.to_string()))?;
    write_atomically(&path(data_dir), &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn durations_and_checks() {
        let s = ClusterSettings::defaults(2);
        let t = s.with(&set(&[("scale_up_after", "500ms"), ("idle_timeout", "2min"), ("max_executors", "3")])).unwrap();
        assert_eq!((t.scale_up_after_ms, t.idle_timeout_ms, t.max_executors), (500, 120_000, 3));
        assert!(s.with(&set(&[("max_executors", "1")])).is_err(), "max < min");
        assert!(s.with(&set(&[("min_executors", "-1")])).is_err());
        assert!(s.with(&set(&[("idle_timeout", "soon")])).is_err());
        assert!(s.with(&set(&[("colour", "blue")])).is_err());
        assert_eq!(t.rows()[2].1, "500ms");
        let u = s.with(&set(&[("commit_interval", "50ms"), ("ingest_buffer", "64MB")])).unwrap();
        assert_eq!((u.commit_interval_ms, u.ingest_buffer_bytes), (50, 64 << 20));
        assert_eq!(u.rows()[5].1, "64MB");
        assert!(s.with(&set(&[("ingest_buffer", "12")])).is_err(), "below 1MB");
        assert!(s.with(&set(&[("ingest_buffer", "lots")])).is_err());
        // Settings stored before these two existed read with their defaults.
        let old: ClusterSettings = serde_json::from_str(r#"{"min_executors":1,"max_executors":8,"scale_up_after_ms":1000,"idle_timeout_ms":60000}"#).unwrap();
        assert_eq!((old.commit_interval_ms, old.ingest_buffer_bytes), (200, 256 << 20));
    }
}
