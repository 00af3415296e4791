//! PostgreSQL's own load generator, pgbench, against squall and against a PostgreSQL 15 that this
//! benchmark starts on the same machine, in the same run: a `SELECT 1` script and a lookup in a
//! 1,000-row table, with 1 and 8 clients, over the simple and the extended (prepared) protocol;
//! then `COPY ... FROM STDIN` of the same 10M-row CSV file into each, through psql's `\copy`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use squall_tests::ServerBuilder;

use crate::report::Report;

const LOOKUP_ROWS: usize = 1000;

/// One pgbench run's figures.
struct Load {
    tps: f64,
    p50: Duration,
    p99: Duration,
}

pub async fn run(squall: &Path, data: &Path, seconds: u64, copy_rows: usize) -> anyhow::Result<Report> {
    let postgres = Postgres::start()?;
    let server = ServerBuilder::new(squall).executors(2).start();
    let squall_target = Target { name: "squall", port: server.pg_port, user: "squall", database: "squall" };
    let pg_target = Target { name: "PostgreSQL 15", port: postgres.port, user: "postgres", database: "postgres" };

    let work = tempfile::tempdir()?;
    let lookup_csv = work.path().join("lookup.csv");
    std::fs::write(&lookup_csv, (1..=LOOKUP_ROWS).map(|i| format!("{i},name {i}\n")).collect::<String>())?;
    for target in [&squall_target, &pg_target] {
        target.psql("CREATE TABLE lookup (id BIGINT, name TEXT)")?;
        target.psql(&format!("\\copy lookup FROM '{}' WITH (FORMAT csv)", lookup_csv.display()))?;
    }
    let select_one = work.path().join("select1.sql");
    std::fs::write(&select_one, "SELECT 1;\n")?;
    let lookup = work.path().join("lookup.sql");
    std::fs::write(&lookup, format!("\\set id random(1, {LOOKUP_ROWS})\nSELECT name FROM lookup WHERE id = :id;\n"))?;

    let mut rows = Vec::new();
    let mut table = String::from(
        "| script | protocol | clients | squall tps | PostgreSQL tps | squall / PostgreSQL | squall p50 | PostgreSQL p50 | squall p99 | PostgreSQL p99 |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (script_name, script) in [("SELECT 1", &select_one), ("lookup by id", &lookup)] {
        for protocol in ["simple", "prepared"] {
            for clients in [1usize, 8] {
                // Interleaved: each pair runs back to back, so machine drift affects both alike.
                let ours = pgbench(&squall_target, script, protocol, clients, seconds, work.path())?;
                let theirs = pgbench(&pg_target, script, protocol, clients, seconds, work.path())?;
                table.push_str(&format!(
                    "| {script_name} | {protocol} | {clients} | {:.0} | {:.0} | {:.2} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms |\n",
                    ours.tps,
                    theirs.tps,
                    ours.tps / theirs.tps,
                    ms(ours.p50),
                    ms(theirs.p50),
                    ms(ours.p99),
                    ms(theirs.p99)
                ));
                let what = format!("{script_name}, {protocol}, {clients} client(s), p50 latency");
                rows.push(("squall".to_string(), what.clone(), ours.p50));
                rows.push(("PostgreSQL 15".to_string(), what, theirs.p50));
            }
        }
    }

    let csv = copy_file(data, copy_rows)?;
    let mut copy_table = String::from("| system | rows | seconds | rows/s |\n|---|---|---|---|\n");
    for target in [&squall_target, &pg_target] {
        target.psql("CREATE TABLE copy_target (id BIGINT, name TEXT, price DOUBLE PRECISION)")?;
        let started = Instant::now();
        let said = target.psql(&format!("\\copy copy_target FROM '{}' WITH (FORMAT csv)", csv.display()))?;
        let took = started.elapsed();
        anyhow::ensure!(said.trim() == format!("COPY {copy_rows}"), "{}: {said}", target.name);
        let counted = target.psql("SELECT count(*) FROM copy_target")?;
        anyhow::ensure!(counted.trim() == copy_rows.to_string(), "{} holds {counted} rows", target.name);
        copy_table.push_str(&format!("| {} | {copy_rows} | {:.1} | {:.0} |\n", target.name, took.as_secs_f64(), copy_rows as f64 / took.as_secs_f64()));
        rows.push((target.name.to_string(), format!("COPY FROM STDIN of {copy_rows} rows (psql \\copy, CSV)"), took));
    }
    drop(server);
    drop(postgres);
    Ok(Report {
        name: "pgbench".into(),
        description: format!(
            "pgbench {} s per run against squall (2 executors) and PostgreSQL 15 started by the benchmark (default settings, fsync on), same machine, same run.",
            seconds
        ),
        rows,
        notes: vec![table, copy_table],
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(crate) struct Target {
    pub name: &'static str,
    pub port: u16,
    pub user: &'static str,
    pub database: &'static str,
}

impl Target {
    pub(crate) fn psql(&self, command: &str) -> anyhow::Result<String> {
        let out = Command::new("psql")
            .args(["-X", "-t", "-A", "-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", self.user, "-d", self.database, "-v", "ON_ERROR_STOP=1", "-c", command])
            .output()
            .context("psql")?;
        if !out.status.success() {
            bail!("{}: {command}: {}", self.name, String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// One pgbench run; latencies from its per-transaction log.
fn pgbench(target: &Target, script: &Path, protocol: &str, clients: usize, seconds: u64, work: &Path) -> anyhow::Result<Load> {
    let logs = tempfile::tempdir_in(work)?;
    let out = Command::new("pgbench")
        .args(["-n", "-h", "127.0.0.1", "-p", &target.port.to_string(), "-U", target.user])
        .args(["-f", &script.to_string_lossy(), "-M", protocol, "-c", &clients.to_string(), "-j", &clients.min(2).to_string(), "-T", &seconds.to_string()])
        .args(["-l", "--log-prefix", &logs.path().join("tx").to_string_lossy(), target.database])
        .output()
        .context("pgbench (Debian: postgresql-client)")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("pgbench against {}: {stdout}{}", target.name, String::from_utf8_lossy(&out.stderr));
    }
    let tps = stdout
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .with_context(|| format!("no tps in pgbench's output: {stdout}"))?;
    let mut latencies: Vec<u64> = Vec::new();
    for entry in std::fs::read_dir(logs.path())? {
        for line in std::fs::read_to_string(entry?.path())?.lines() {
            // client_id transaction_no time_us script_no epoch epoch_us
            if let Some(us) = line.split_whitespace().nth(2).and_then(|t| t.parse().ok()) {
                latencies.push(us);
            }
        }
    }
    anyhow::ensure!(!latencies.is_empty(), "pgbench logged no transactions against {}", target.name);
    latencies.sort_unstable();
    let at = |q: f64| Duration::from_micros(latencies[((latencies.len() - 1) as f64 * q) as usize]);
    Ok(Load { tps, p50: at(0.5), p99: at(0.99) })
}

/// The COPY input, generated once: `id,name,price`.
fn copy_file(data: &Path, rows: usize) -> anyhow::Result<PathBuf> {
    let path = data.join(format!("copy-{rows}.csv"));
    if !path.exists() {
        std::fs::create_dir_all(data)?;
        let partial = path.with_extension("partial");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&partial)?);
        for i in 0..rows {
            use std::io::Write;
            writeln!(out, "{i},customer {},{}.{:02}", i % 100_000, i % 1000, i % 100)?;
        }
        out.into_inner()?.sync_all()?;
        std::fs::rename(&partial, &path)?;
    }
    Ok(path)
}

/// A throwaway PostgreSQL 15 server: initdb in a temporary directory, trust for local clients,
/// on a free port of 127.0.0.1; stopped when dropped.
pub(crate) struct Postgres {
    dir: tempfile::TempDir,
    port: u16,
    bin: PathBuf,
}

impl Postgres {
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    pub(crate) fn start() -> anyhow::Result<Self> {
        let bin = PathBuf::from("/usr/lib/postgresql/15/bin");
        anyhow::ensure!(bin.join("postgres").exists(), "PostgreSQL 15 is not installed (Debian: apt-get install postgresql-15)");
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        // initdb refuses to run as root; run it (and the server) as the `postgres` user then.
        let as_postgres = unsafe { libc::geteuid() } == 0;
        if as_postgres {
            Command::new("chown").args(["-R", "postgres:postgres", &dir.path().to_string_lossy()]).status()?;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let run = |program: &str, args: &[&str]| -> anyhow::Result<()> {
            let program = bin.join(program);
            let mut command = if as_postgres {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(&program).args(args);
                c
            } else {
                let mut c = Command::new(&program);
                c.args(args);
                c
            };
            let out = command.stdin(Stdio::null()).output()?;
            if !out.status.success() {
                bail!("{}: {}", program.display(), String::from_utf8_lossy(&out.stderr));
            }
            Ok(())
        };
        run("initdb", &["-D", &data.to_string_lossy(), "-U", "postgres", "--auth=trust", "-E", "UTF8"])?;
        let options = format!("-p {port} -c listen_addresses=127.0.0.1 -k {}", dir.path().display());
        run("pg_ctl", &["-D", &data.to_string_lossy(), "-o", &options, "-l", &dir.path().join("log").to_string_lossy(), "-w", "start"])?;
        Ok(Self { dir, port, bin })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let pg_ctl = self.bin.join("pg_ctl");
        let mut command = if unsafe { libc::geteuid() } == 0 {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&pg_ctl);
            c
        } else {
            Command::new(&pg_ctl)
        };
        let _ = command.args(["-D", &data.to_string_lossy(), "-m", "fast", "stop"]).output();
    }
}
