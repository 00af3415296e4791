//! Rows this process has predicted, per model name, since it started: PREDICT, PREDICT_PROBA and
//! PREDICT_SCORE count here wherever they run. An executor sends its counts with each request for
//! orders; the coordinator adds its own and keeps them per hour (engine `models::predictions`).

use std::collections::BTreeMap;
use std::sync::{LazyLock, Mutex};

static SERVED: LazyLock<Mutex<BTreeMap<String, u64>>> = LazyLock::new(Default::default);

/// `rows` rows of `model` predicted in this process.
pub fn record(model: &str, rows: u64) {
    if rows > 0 {
        *SERVED.lock().unwrap_or_else(|p| p.into_inner()).entry(model.to_string()).or_default() += rows;
    }
}

/// Every model's rows predicted in this process since it started.
pub fn counts() -> Vec<(String, u64)> {
    SERVED.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(m, n)| (m.clone(), *n)).collect()
}
