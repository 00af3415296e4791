//! Starting and stopping the coordinator: `squall serve` (with executor child processes) and
//! `squall scheduler` (executors come from elsewhere). It puts the engine's parts together (the
//! embedded scheduler, the shared engine, the Postgres and HTTP listeners, the launcher and the
//! autoscaler), so it sits above them all, here in the `squall` command.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use squall_engine::cluster::launcher::{LaunchCommand, LaunchedBy, ProcessLauncher};
use squall_engine::engine::Engine;
use squall_engine::internal_auth::{ClusterSecret, ExecutorAccess, InternalAuth, InternalTls, TlsFiles};
use squall_engine::scheduler::EmbeddedScheduler;
use squall_engine::{frontend, http};

#[derive(Debug, Clone)]
pub struct CoordinatorOptions {
    pub data_dir: PathBuf,
    /// Where model files go: a directory or an object-store URL (default: `<data_dir>/models`).
    pub model_store: Option<String>,
    /// pgwire address, `host:port`.
    pub listen: String,
    /// Scheduler gRPC address executors register with.
    pub scheduler_listen: String,
    /// Host name executors use to reach the scheduler (defaults to the scheduler's listen host).
    pub scheduler_advertise: Option<String>,
    pub http_listen: String,
    /// Arrow Flight SQL clients' address.
    pub flight_sql_listen: String,
    /// How executors are started.
    pub launcher: LauncherChoice,
    /// Executors to start at boot (the autoscaler's `min_executors` until an operator changes it).
    pub executors: usize,
    /// Task slots per launched executor (0: one per core).
    pub executor_slots: usize,
    /// PEM certificate chain and private key for TLS to Postgres clients.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Every session's `squall.local_scan_limit` until it SETs its own (see squall_engine::routing).
    pub local_scan_limit: String,
    /// The cluster secret's file (default: `SQUALL_CLUSTER_SECRET`, else `<data_dir>/cluster.secret`).
    pub cluster_secret_file: Option<PathBuf>,
    /// `--internal-tls`: on, off, or (None) on when the scheduler listens on a non-loopback address
    /// or certificates are given.
    pub internal_tls: Option<bool>,
    /// The operator's certificates for internal TLS (default: made under `<data_dir>/internal-tls`).
    pub internal_tls_files: Option<TlsFiles>,
}

/// `--launcher`: who starts executors.
#[derive(Debug, Clone, PartialEq)]
pub enum LauncherChoice {
    /// Child processes of this binary on this host (`squall serve`'s default).
    Process,
    /// A configured command per executor (see [`LaunchCommand::Template`]).
    Command(String),
    /// Nobody in squall: Kubernetes/KEDA or an operator starts executors, reading `/metrics`
    /// (`squall scheduler`'s default).
    External,
}

/// Runs the coordinator until Ctrl-C or SIGTERM, then stops its executors.
pub async fn run(options: CoordinatorOptions) -> anyhow::Result<()> {
    std::fs::create_dir_all(&options.data_dir)
        .with_context(|| format!("creating data directory {}", options.data_dir.display()))?;
    let data_dir = options.data_dir.canonicalize()?;

    squall_engine::pg::settings::check_value(squall_engine::pg::settings::LOCAL_SCAN_LIMIT, &options.local_scan_limit).context("--local-scan-limit")?;
    let session_defaults = [(squall_engine::pg::settings::LOCAL_SCAN_LIMIT.to_string(), options.local_scan_limit.clone())].into();

    let scheduler_host = options
        .scheduler_advertise
        .clone()
        .unwrap_or_else(|| host_of(&options.scheduler_listen).to_string());
    let (secret, secret_file) = ClusterSecret::resolve(options.cluster_secret_file.as_deref(), Some(&data_dir))?;
    let tls = internal_tls(&options, &data_dir)?;
    let access = ExecutorAccess { secret_file, tls: tls.as_ref().map(|tls| tls.files.clone()) };
    let scheduler = EmbeddedScheduler::start(&options.scheduler_listen, &scheduler_host, InternalAuth::new(secret, tls)).await?;
    let engine = Engine::open(&data_dir, options.model_store.as_deref(), scheduler.clone(), session_defaults).await?;

    let tls = match (&options.tls_cert, &options.tls_key) {
        (Some(cert), Some(key)) => Some(frontend::tls::acceptor(cert, key)?),
        (None, None) => None,
        _ => anyhow::bail!("TLS needs both --tls-cert and --tls-key"),
    };
    let pg = TcpListener::bind(&options.listen)
        .await
        .with_context(|| format!("cannot listen for clients on {}", options.listen))?;
    let pg_ip = pg.local_addr()?.ip().to_canonical();
    if !pg_ip.is_loopback() && !engine.users.any_password() {
        anyhow::bail!(
            "refusing to listen on {}: no user has a password yet, so anyone who can reach it would be let in. \
             Start squall on 127.0.0.1, set passwords (ALTER USER squall PASSWORD '...', CREATE USER name PASSWORD '...'), \
             then listen on {}",
            options.listen,
            options.listen
        );
    }
    let flight_sql = TcpListener::bind(&options.flight_sql_listen)
        .await
        .with_context(|| format!("cannot listen for Flight SQL clients on {}", options.flight_sql_listen))?;
    if !flight_sql.local_addr()?.ip().to_canonical().is_loopback() && !engine.users.any_password() {
        anyhow::bail!(
            "refusing to listen for Flight SQL on {}: no user has a password yet (set one first, as for --listen)",
            options.flight_sql_listen
        );
    }
    let flight_sql_tls = match (&options.tls_cert, &options.tls_key) {
        (Some(cert), Some(key)) => Some(squall_flight::sql::tls(cert, key)?),
        _ => None,
    };
    let flight_sql_addr = flight_sql.local_addr()?;
    {
        let engine = engine.clone();
        tokio::spawn(async move {
            if let Err(e) = squall_flight::sql::serve(flight_sql, engine, flight_sql_tls).await {
                tracing::error!("Flight SQL listener stopped: {e}");
            }
        });
    }
    let web = TcpListener::bind(&options.http_listen)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", options.http_listen))?;
    let (pg_addr, web_addr) = (pg.local_addr()?, web.local_addr()?);
    tokio::spawn(frontend::serve(pg, engine.clone(), tls));
    tokio::spawn(http::serve(web, engine.clone()));

    let command = match &options.launcher {
        LauncherChoice::Process => Some(LaunchCommand::ThisBinary),
        LauncherChoice::Command(template) => Some(LaunchCommand::Template(template.clone())),
        LauncherChoice::External => None,
    };
    let launcher = match command {
        Some(command) => {
            let scheduler_address = format!("{scheduler_host}:{}", scheduler.address.port());
            let launcher = Arc::new(ProcessLauncher::new(command, scheduler_address, &data_dir, options.executor_slots, access)?);
            engine.set_launcher(Arc::clone(&launcher));
            Some(launcher)
        }
        None => None,
    };
    let executors = engine.init_cluster(options.executors as u64);
    if let Some(launcher) = &launcher {
        for _ in 0..executors {
            launcher.launch(LaunchedBy::Autoscaler)?;
        }
    }
    // With a launcher it scales the cluster; with `external` it still notices losses and finishes
    // drains, while Kubernetes or an operator reads the same signal from /metrics.
    squall_engine::cluster::autoscaler::spawn(Arc::clone(&engine));
    // Pipes go on loading where they stopped.
    engine.pipes.start(&engine);
    // Models that follow their tables.
    squall_engine::models::refresh::spawn(Arc::clone(&engine));
    squall_engine::status::history::spawn(Arc::clone(&engine));
    // One line, on stdout, that people and scripts can wait for.
    println!(
        "squall is ready: psql -h {} -p {} -U squall (scheduler {}{}, http {}, flight-sql {}, data {}, {} executors launched)",
        pg_addr.ip(),
        pg_addr.port(),
        scheduler.address,
        if scheduler.auth.tls.is_some() { " over TLS" } else { "" },
        web_addr,
        flight_sql_addr,
        data_dir.display(),
        if launcher.is_some() { executors } else { 0 }
    );

    shutdown_signal().await;
    tracing::info!("shutting down");
    if let Some(launcher) = launcher {
        launcher.stop_all(Duration::from_secs(5)).await;
    }
    Ok(())
}

/// Internal TLS as asked for, by default on when the scheduler listens beyond this host: the
/// operator's certificates, or ones made under the data directory.
fn internal_tls(options: &CoordinatorOptions, data_dir: &std::path::Path) -> anyhow::Result<Option<InternalTls>> {
    let beyond_this_host = match options.scheduler_listen.parse::<std::net::SocketAddr>() {
        Ok(address) => !address.ip().is_loopback(),
        Err(_) => host_of(&options.scheduler_listen) != "localhost",
    };
    let on = options.internal_tls.unwrap_or(beyond_this_host || options.internal_tls_files.is_some());
    if !on {
        if beyond_this_host {
            tracing::warn!(listen = %options.scheduler_listen, "internal TLS is off on a non-loopback address: the cluster's traffic travels in plaintext");
        }
        return Ok(None);
    }
    Ok(Some(match &options.internal_tls_files {
        Some(files) => InternalTls::load(files.clone())?,
        None => InternalTls::generated(data_dir)?,
    }))
}

fn host_of(address: &str) -> &str {
    match address.rsplit_once(':') {
        Some((host, _)) if host != "0.0.0.0" && !host.is_empty() => host.trim_matches(|c| c == '[' || c == ']'),
        _ => "127.0.0.1",
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn advertised_host_defaults_sensibly() {
        assert_eq!(host_of("127.0.0.1:50050"), "127.0.0.1");
        assert_eq!(host_of("0.0.0.0:50050"), "127.0.0.1");
        assert_eq!(host_of("node1:50050"), "node1");
    }
}
