//! Predictions served, per model and hour: rows through the prediction API and through PREDICT,
//! PREDICT_PROBA and PREDICT_SCORE (counted where they run, gathered here), for the status page,
//! `/api/status` and `/metrics`.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Hours of counts kept.
const HOURS_KEPT: i64 = 48;

#[derive(Debug, Default)]
pub struct Predictions {
    /// (hour since the epoch, model) → rows.
    by_hour: Mutex<BTreeMap<(i64, String), u64>>,
    /// Model → rows since the server started.
    totals: Mutex<BTreeMap<String, u64>>,
}

fn this_hour() -> i64 {
    chrono::Utc::now().timestamp().div_euclid(3600)
}

impl Predictions {
    /// `rows` predictions of `model` made now.
    pub fn record(&self, model: &str, rows: u64) {
        if rows == 0 {
            return;
        }
        let hour = this_hour();
        {
            let mut by_hour = self.by_hour.lock().unwrap_or_else(|p| p.into_inner());
            *by_hour.entry((hour, model.to_string())).or_default() += rows;
            by_hour.retain(|(h, _), _| *h > hour - HOURS_KEPT);
        }
        *self.totals.lock().unwrap_or_else(|p| p.into_inner()).entry(model.to_string()).or_default() += rows;
    }

    /// (hour start as seconds since the epoch, model, rows), oldest first, over the hours kept.
    pub fn hourly(&self) -> Vec<(i64, String, u64)> {
        self.by_hour.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|((h, m), n)| (h * 3600, m.clone(), *n)).collect()
    }

    /// Rows predicted per model since the server started.
    pub fn totals(&self) -> Vec<(String, u64)> {
        self.totals.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(m, n)| (m.clone(), *n)).collect()
    }
}
