//! `squall-bench`: squall measured beside a peer in the same run, on the same files.
//!
//! Build everything in release mode first (`cargo build --release --workspace --bins`), then run
//! `target/release/squall-bench <benchmark>`. Results are printed as Markdown and written to
//! `benchmarks/results/`.

mod aggregate;
mod autoscale;
mod ingest;
mod learner;
mod ml;
mod pgbench;
mod report;
mod serving;
mod small_writes;
mod tpch;
mod wire;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
struct Cli {
    /// The squall binary to benchmark.
    #[arg(long, default_value = "target/release/squall")]
    squall: PathBuf,
    /// Where generated data is cached between runs.
    #[arg(long, default_value = "benchmarks/data")]
    data: PathBuf,
    #[command(subcommand)]
    benchmark: Benchmark,
}

#[derive(Subcommand)]
enum Benchmark {
    /// Round trip of `SELECT 1` through tokio-postgres: simple and extended protocol.
    Wire {
        #[arg(long, default_value_t = 1000)]
        iterations: usize,
    },
    /// pgbench (SELECT 1 and a 1,000-row lookup; 1 and 8 clients; simple and prepared protocol)
    /// against squall and a PostgreSQL 15 started here, then COPY FROM STDIN of a CSV file into
    /// each (needs pgbench, psql and PostgreSQL 15: Debian's postgresql-15).
    Pgbench {
        /// Seconds per pgbench run.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Rows in the COPY file.
        #[arg(long, default_value_t = 10_000_000)]
        copy_rows: usize,
    },
    /// One grouped aggregate over generated Parquet rows: squall (2 executors) vs DataFusion
    /// in-process on the same files.
    Aggregate {
        #[arg(long, default_value_t = 10_000_000)]
        rows: usize,
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// TRAIN MODEL for every algorithm, and PREDICT, beside scikit-learn, LightGBM, XGBoost and
    /// Spark MLlib on the same Parquet rows (needs python3 with scikit-learn, lightgbm, xgboost,
    /// pyarrow, pandas and pyspark, and Java 17).
    Ml {
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Which models to train (nb, tree, forest, boosted, linear, logistic, kmeans).
        #[arg(long, value_delimiter = ',', default_value = "nb,tree,forest,boosted,linear,logistic,kmeans")]
        models: Vec<String>,
        /// Peers: sklearn (with LightGBM and XGBoost for boosting), spark, or none.
        #[arg(long, value_delimiter = ',', default_value = "sklearn,spark")]
        peers: Vec<String>,
    },
    /// TPC-H, 22 queries: squall (1, 2, 4 executors) beside DataFusion in-process, DuckDB and
    /// Spark local (needs python3 with duckdb and pyspark, and Java 17), answers verified.
    Tpch {
        /// Scale factor (1 = about 6M lineitem rows; 0.1 for a quick run).
        #[arg(long, default_value_t = 1.0)]
        sf: f64,
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// squall cluster sizes to run.
        #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
        executors: Vec<usize>,
        /// Peers run by benchmarks/tpch/peer_bench.py (`none`: DataFusion only).
        #[arg(long, value_delimiter = ',', default_value = "duckdb,spark")]
        peers: Vec<String>,
        /// SQL run on squall's connection before the queries, to try settings, e.g.
        /// "SET datafusion.execution.target_partitions = 4".
        #[arg(long, default_value = "")]
        setup: String,
        /// Also run, beside each cluster, one more that runs this SQL after `--setup`
        /// (repeatable): a setting compared with the default in the same run, turn by turn. A
        /// variant starting with `--` gives the server arguments instead (e.g. `--internal-tls`),
        /// and `squall=PATH` another squall binary.
        #[arg(long)]
        variant: Vec<String>,
    },
    /// Small writes: single-row INSERTs, then queries before and after compaction and an UPDATE of
    /// 1% of the rows, against a PostgreSQL 15 started here (needs Debian's postgresql-15).
    SmallWrites {
        #[arg(long, default_value_t = 10_000)]
        inserts: usize,
        /// Rows of the large table 1% of which one UPDATE changes.
        #[arg(long, default_value_t = 10_000_000)]
        large: usize,
    },
    /// Continuous ingestion with a continuous naive_bayes model attached: rows/s over HTTP
    /// (Arrow IPC, CSV) and COPY, acknowledgement → model p50/p99; beside PostgreSQL 15's COPY and
    /// River's GaussianNB (needs postgresql-15 and `pip install river`).
    Ingest {
        #[arg(long, default_value_t = 2_000_000)]
        rows: i64,
        #[arg(long, default_value_t = 50_000)]
        batch_rows: i64,
        #[arg(long, default_value_t = 4)]
        producers: usize,
    },
    /// The online naive_bayes learner alone beside River's GaussianNB.learn_one over the same
    /// rows in memory (the ingest benchmark's learner part, without a server; needs
    /// `pip install river` for the peer).
    Learner {
        #[arg(long, default_value_t = 10_000_000)]
        rows: i64,
        #[arg(long, default_value_t = 50_000)]
        batch_rows: i64,
        #[arg(long, default_value_t = 1_000_000)]
        river_rows: i64,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Arrow-native clients and the prediction API: ROWS rows × 4 columns into pandas through ADBC
    /// Flight SQL, psycopg and asyncpg; the prediction API's latency and batch rows/s beside
    /// psycopg's SELECT PREDICT (needs adbc-driver-flightsql, psycopg, asyncpg, pandas).
    Serving {
        #[arg(long, default_value_t = 10_000_000)]
        rows: u64,
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[arg(long, default_value_t = 2_000)]
        requests: usize,
    },
    /// Elastic executors: backlog to first task on a new executor, a burst of 12 queries
    /// autoscaled 1 → 4 vs one fixed executor, and executor kills survived out of 20.
    Autoscale {
        /// Rows in each of the 48 Parquet files.
        #[arg(long, default_value_t = 100_000)]
        rows_per_file: usize,
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Only one part: first-task, burst or kills.
        #[arg(long)]
        only: Option<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    anyhow::ensure!(
        cli.squall.exists(),
        "{} not found: run `cargo build --release --workspace --bins` first",
        cli.squall.display()
    );
    if let Benchmark::Tpch { sf, runs, executors, peers, setup, variant } = &cli.benchmark {
        let peers: Vec<String> = peers.iter().filter(|p| p.as_str() != "none").cloned().collect();
        return tpch::run(&cli.squall, &cli.data, *sf, *runs, executors, &peers, setup, variant).await;
    }
    let report = match cli.benchmark {
        Benchmark::Wire { iterations } => wire::run(&cli.squall, iterations).await?,
        Benchmark::Pgbench { seconds, copy_rows } => pgbench::run(&cli.squall, &cli.data, seconds, copy_rows).await?,
        Benchmark::Aggregate { rows, runs } => aggregate::run(&cli.squall, &cli.data, rows, runs).await?,
        Benchmark::Ml { rows, runs, models, peers } => ml::run(&cli.squall, &cli.data, rows, runs, &models, &peers).await?,
        Benchmark::Tpch { .. } => unreachable!("handled above"),
        Benchmark::Ingest { rows, batch_rows, producers } => ingest::run(&cli.squall, rows, batch_rows, producers).await?,
        Benchmark::SmallWrites { inserts, large } => small_writes::run(&cli.squall, inserts, large).await?,
        Benchmark::Learner { rows, batch_rows, river_rows, runs } => learner::run(rows, batch_rows, river_rows, runs)?,
        Benchmark::Serving { rows, runs, requests } => serving::run(&cli.squall, rows, runs, requests).await?,
        Benchmark::Autoscale { rows_per_file, runs, only } => autoscale::run(&cli.squall, &cli.data, rows_per_file, runs, only.as_deref()).await?,
    };
    report.print_and_save()
}
