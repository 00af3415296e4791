//! A benchmark's result: a Markdown table printed and saved, with the raw numbers as JSON.

use std::time::{Duration, Instant};

pub struct Report {
    pub name: String,
    pub description: String,
    /// (system, measurement, median)
    pub rows: Vec<(String, String, Duration)>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut text = format!("### {}\n\n{}\n\n| system | measurement | median |\n|---|---|---|\n", self.name, self.description);
        for (system, what, median) in &self.rows {
            text.push_str(&format!("| {system} | {what} | {} |\n", format_duration(*median)));
        }
        for note in &self.notes {
            text.push_str(&format!("\n{note}\n"));
        }
        text
    }

    pub fn print_and_save(&self) -> anyhow::Result<()> {
        let markdown = self.markdown();
        println!("{markdown}");
        let dir = std::path::Path::new("benchmarks/results");
        std::fs::create_dir_all(dir)?;
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
        std::fs::write(dir.join(format!("{}-{stamp}.md", self.name)), &markdown)?;
        let json = serde_json::json!({
            "benchmark": self.name,
            "unix_time": stamp,
            "machine": machine(),
            "rows": self.rows.iter().map(|(s, w, d)| serde_json::json!({"system": s, "measurement": w, "median_seconds": d.as_secs_f64()})).collect::<Vec<_>>(),
            "notes": self.notes,
        });
        std::fs::write(dir.join(format!("{}-{stamp}.json", self.name)), serde_json::to_string_pretty(&json)?)?;
        Ok(())
    }
}

pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn format_duration(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{:.3} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    }
}

pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string()))
        .unwrap_or_default();
    format!("{cores} cores, MemTotal {memory} kB")
}

/// Runs `f` once to warm up, then `runs` times; the median time and the last answer.
pub async fn timed<T, F, Fut>(runs: usize, mut f: F) -> anyhow::Result<(Duration, T)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut answer = f().await?;
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        answer = f().await?;
        samples.push(start.elapsed());
    }
    Ok((median(samples), answer))
}
