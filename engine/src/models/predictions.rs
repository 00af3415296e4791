//! Predictions served, per model and hour: rows through the prediction API and through PREDICT,
//! PREDICT_PROBA and PREDICT_SCORE (counted where they run, `squall_udf::ml::served`: each
//! executor sends its counts with its requests for orders, and the coordinator's own are read
//! when the counts are), for the status page, `/api/status` and `/metrics`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Hours of counts kept.
const HOURS_KEPT: i64 = 48;

#[derive(Debug, Default)]
pub struct Predictions {
    /// (hour since the epoch, model) → rows.
    by_hour: Mutex<BTreeMap<(i64, String), u64>>,
    /// Model → rows since the server started.
    totals: Mutex<BTreeMap<String, u64>>,
    /// Per process (an executor's id, or this one's), the counts it last reported: what it
    /// reports next adds the difference.
    reported: Mutex<HashMap<String, BTreeMap<String, u64>>>,
}

/// The coordinator's own process among the reporting ones.
const THIS_PROCESS: &str = "coordinator";

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
            // Ordered by hour first: the hours past keeping are the first entries.
            while by_hour.first_key_value().is_some_and(|((h, _), _)| *h <= hour - HOURS_KEPT) {
                by_hour.pop_first();
            }
        }
        *self.totals.lock().unwrap_or_else(|p| p.into_inner()).entry(model.to_string()).or_default() += rows;
    }

    /// A process's counts since it started (`squall_udf::ml::served`): adds what they grew by since
    /// its last report.
    pub fn absorb(&self, process: &str, counts: &[(String, u64)]) {
        let grown: Vec<(String, u64)> = {
            let mut reported = self.reported.lock().unwrap_or_else(|p| p.into_inner());
            let last = reported.entry(process.to_string()).or_default();
            counts
                .iter()
                .filter_map(|(model, n)| {
                    let before = last.insert(model.clone(), *n).unwrap_or(0);
                    (*n > before).then(|| (model.clone(), n - before))
                })
                .collect()
        };
        for (model, rows) in grown {
            self.record(&model, rows);
        }
    }

    /// Adds the predictions this process made since the last call (queries the coordinator ran
    /// itself, and constants it folded).
    fn absorb_own(&self) {
        self.absorb(THIS_PROCESS, &squall_udf::ml::served::counts());
    }

    /// (hour start as seconds since the epoch, model, rows), oldest first, over the hours kept.
    pub fn hourly(&self) -> Vec<(i64, String, u64)> {
        self.absorb_own();
        self.by_hour.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|((h, m), n)| (h * 3600, m.clone(), *n)).collect()
    }

    /// Rows predicted per model since the server started.
    pub fn totals(&self) -> Vec<(String, u64)> {
        self.absorb_own();
        self.totals.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(m, n)| (m.clone(), *n)).collect()
    }
}
