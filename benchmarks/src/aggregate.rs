//! One grouped aggregate over generated Parquet rows, through squall (distributed over two
//! executor processes) and through DataFusion in this process, on the same files. DataFusion
//! in-process is the floor under squall's distribution overhead.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use parquet::arrow::ArrowWriter;
use squall_tests::ServerBuilder;

use crate::report::{timed, Report};

const FILES: usize = 8;
const GROUPS: i64 = 1000;
const QUERY: &str = "SELECT k, count(*) AS n, sum(v) AS total, avg(v) AS mean FROM events GROUP BY k ORDER BY k";

pub async fn run(squall: &Path, data: &Path, rows: usize, runs: usize) -> anyhow::Result<Report> {
    let dir = data.join(format!("events-{rows}"));
    generate(&dir, rows)?;
    let dir = dir.canonicalize()?;

    // DataFusion in-process.
    let ctx = SessionContext::new();
    ctx.register_parquet("events", dir.to_str().unwrap(), ParquetReadOptions::default()).await?;
    let (datafusion, datafusion_answer) = timed(runs, || async {
        let batches = ctx.sql(QUERY).await?.collect().await?;
        Ok(checksum(&batches))
    })
    .await?;

    // squall, two executor processes.
    let server = ServerBuilder::new(squall).executors(2).start();
    server.wait_for_executors(2).await;
    let client = server.client().await;
    client
        .batch_execute(&format!("CREATE EXTERNAL TABLE events STORED AS PARQUET LOCATION '{}/'", dir.display()))
        .await?;
    let (squall_time, squall_answer) = timed(runs, || async {
        let rows = client.query(QUERY, &[]).await?;
        anyhow::ensure!(rows.len() as i64 == GROUPS, "squall returned {} groups", rows.len());
        Ok((rows.iter().map(|r| r.get::<_, i64>(1)).sum::<i64>(), rows.iter().map(|r| r.get::<_, f64>(2)).sum::<f64>()))
    })
    .await?;
    anyhow::ensure!(
        squall_answer.0 == datafusion_answer.0 && (squall_answer.1 - datafusion_answer.1).abs() <= 1e-6 * datafusion_answer.1.abs(),
        "answers differ: squall {squall_answer:?}, DataFusion {datafusion_answer:?}"
    );

    let ratio = squall_time.as_secs_f64() / datafusion.as_secs_f64();
    Ok(Report {
        name: "aggregate".into(),
        description: format!(
            "`{QUERY}` over {rows} rows in {FILES} Parquet files ({GROUPS} groups); one warm-up, median of {runs} runs; answers verified equal."
        ),
        rows: vec![
            ("DataFusion 55 in-process".into(), "collect all rows".into(), datafusion),
            ("squall, 2 executor processes".into(), "over the Postgres wire".into(), squall_time),
        ],
        notes: vec![format!("squall / DataFusion = {ratio:.2}x")],
    })
}

fn checksum(batches: &[RecordBatch]) -> (i64, f64) {
    let mut n = 0;
    let mut total = 0.0;
    for b in batches {
        n += b.column(1).as_any().downcast_ref::<Int64Array>().unwrap().iter().flatten().sum::<i64>();
        total += b.column(2).as_any().downcast_ref::<Float64Array>().unwrap().iter().flatten().sum::<f64>();
    }
    (n, total)
}

/// `rows` events (k: group 0..1000, v: a deterministic float) in FILES files; kept between runs.
fn generate(dir: &Path, rows: usize) -> anyhow::Result<()> {
    if dir.join("done").exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Float64, false),
    ]));
    let per_file = rows / FILES;
    for f in 0..FILES {
        let mut writer = ArrowWriter::try_new(std::fs::File::create(dir.join(format!("part-{f}.parquet")))?, schema.clone(), None)?;
        let start = f * per_file;
        let mut at = start;
        while at < start + per_file {
            let end = (at + 65_536).min(start + per_file);
            let ids: Vec<i64> = (at as i64..end as i64).collect();
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from_iter_values(ids.iter().copied())),
                    Arc::new(Int64Array::from_iter_values(ids.iter().map(|i| (i * 7919) % GROUPS))),
                    Arc::new(Float64Array::from_iter_values(ids.iter().map(|i| ((i * 31) % 10_007) as f64 / 7.0))),
                ],
            )?;
            writer.write(&batch)?;
            at = end;
        }
        writer.close()?;
    }
    std::fs::write(dir.join("done"), b"")?;
    Ok(())
}
