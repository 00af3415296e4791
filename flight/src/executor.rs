//! Runs one executor in this OS process: `squall executor`'s options made into the parts of
//! [`crate::process`].
//!
//! The executor asks the scheduler for tasks, writes shuffle files under its work directory and
//! serves them over Arrow Flight. It exits on SIGTERM / Ctrl-C, on a stop order from the
//! scheduler, and, when started by `squall serve`, as soon as its parent is gone.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ballista_core::config::TaskSchedulingPolicy;
use ballista_executor::executor_process::ExecutorProcessConfig;
use ballista_core::extension::SessionConfigExt;
use squall_engine::internal_auth::{ClusterSecret, InternalAuth, InternalTls};
use squall_udf::{object_stores, settings};

use crate::process::Parts;
use crate::running_tasks::RunningTasks;
use tokio::sync::Notify;

/// What an executor needs to know; each field is a command-line flag of `squall executor`.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's gRPC address, `host:port`.
    pub scheduler: String,
    /// Address to bind the Flight service to.
    pub bind_host: String,
    /// Host name other nodes use to reach this executor (defaults to `bind_host`).
    pub external_host: Option<String>,
    /// Arrow Flight port; 0 picks a free one.
    pub flight_port: u16,
    /// The task gRPC port Ballista's metadata names; nothing listens on it (executors ask the
    /// scheduler for tasks), 0 picks a free number.
    pub grpc_port: u16,
    /// Executor id as the scheduler shows it; generated when absent.
    pub id: Option<String>,
    /// Directory for shuffle files and spills; a temporary one when absent.
    pub work_dir: Option<String>,
    /// Task slots; 0 means one per CPU core.
    pub slots: usize,
    /// Exit when this process id is no longer our parent (set by `squall serve`).
    pub parent_pid: Option<u32>,
    /// The cluster's secret: this executor's calls prove it, and so must the calls it serves.
    pub secret: ClusterSecret,
    /// Internal TLS (the cluster's certificates), when the cluster uses it.
    pub tls: Option<InternalTls>,
}

/// Runs the executor until it is told to stop.
pub async fn run(options: ExecutorOptions) -> anyhow::Result<()> {
    let (scheduler_host, scheduler_port) = split_host_port(&options.scheduler)?;
    if let Some(parent) = options.parent_pid {
        watch_parent(parent);
    }
    let (flight_port, grpc_port) = choose_ports(&options.bind_host, options.flight_port, options.grpc_port)?;
    if let Some(dir) = &options.work_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating work directory {dir}"))?;
    }

    let auth = InternalAuth::new(options.secret.clone(), options.tls.clone());
    let tasks = RunningTasks::default();
    let wake = Arc::new(Notify::new());
    let use_tls = auth.tls.is_some();
    let endpoint_override = auth.endpoint_override();
    let mut config = ExecutorProcessConfig {
        bind_host: options.bind_host.clone(),
        external_host: Some(options.external_host.clone().unwrap_or_else(|| options.bind_host.clone())),
        port: flight_port,
        grpc_port,
        scheduler_host,
        scheduler_port,
        // Wait for a scheduler that is still starting instead of failing at once.
        scheduler_connect_timeout_seconds: 30,
        vcores: options.slots,
        task_scheduling_policy: TaskSchedulingPolicy::PullStaged,
        work_dir: options.work_dir.clone(),
        ..Default::default()
    };
    if let Some(id) = &options.id {
        config.executor_id = id.clone();
    }
    // Without a work directory, a temporary one for as long as the process runs.
    let temporary = tempfile::TempDir::new()?;
    let work_dir = options.work_dir.clone().unwrap_or_else(|| temporary.path().to_string_lossy().to_string());
    let executor_id = config.executor_id.clone();
    // One runtime for all of this executor's tasks. Ballista keeps a runtime per session id, and
    // squall plans each statement under an id of its own (so that cancelling it cancels its
    // job), so each query started with an empty Parquet footer cache and every task read and
    // decoded the footers of its files again. The caches check each file's size and
    // modification time; each task still gets a memory pool of its own (see `process`).
    let shared_runtime = object_stores::runtime_env(Some(&work_dir))?;
    let parts = Parts {
        config: Arc::new(config),
        work_dir,
        auth: auth.clone(),
        tasks: tasks.clone(),
        wake: Arc::clone(&wake),
        shared_runtime,
        // Shuffle reads from other executors carry the credential (over TLS when on): Ballista
        // takes their clients' endpoint override from the task's session config.
        config_producer: Arc::new(move || {
            settings::session_config()
                .with_ballista_override_create_grpc_client_endpoint(endpoint_override.clone())
                .with_ballista_use_tls(use_tls)
        }),
        // Stages that yield, so cancelled tasks stop, and that wake the poll loop when done.
        execution_engine: Arc::new(crate::cooperative::CooperativeStages::new(tasks.clone(), wake)),
    };
    tracing::info!(id = %executor_id, flight_port, "squall executor starting");
    crate::orders::spawn(options.scheduler.clone(), executor_id, auth, tasks);
    crate::process::serve(parts).await
}

fn split_host_port(address: &str) -> anyhow::Result<(String, u16)> {
    let (host, port) = address
        .rsplit_once(':')
        .with_context(|| format!("scheduler address {address:?} must be HOST:PORT"))?;
    let port = port.parse().with_context(|| format!("bad port in scheduler address {address:?}"))?;
    Ok((host.to_string(), port))
}

/// The two ports, with 0 replaced by a free port. Ballista binds the ports itself, so a free port
/// must be chosen before it is bound. Ports the kernel hands out for `bind(0)` would be a poor
/// choice: another process starting at the same moment may be handed the same one as soon as we
/// release it. So free ports are drawn at random from just below the kernel's ephemeral range,
/// where `bind(0)` never lands, and each is checked by binding it while the other is held.
fn choose_ports(host: &str, flight: u16, grpc: u16) -> anyhow::Result<(u16, u16)> {
    let mut held = Vec::new();
    let mut pick = |wanted: u16| -> anyhow::Result<u16> {
        if wanted != 0 {
            return Ok(wanted);
        }
        let (low, high) = non_ephemeral_range();
        for _ in 0..200 {
            let port = low + (random_u64() % u64::from(high - low)) as u16;
            if let Ok(listener) = TcpListener::bind((host, port)) {
                held.push(listener);
                return Ok(port);
            }
        }
        anyhow::bail!("no free port found on {host} in {low}..{high}")
    };
    let flight = pick(flight)?;
    let grpc = pick(grpc)?;
    Ok((flight, grpc))
}

/// A port range of about 10,000 ports that ends where the kernel's ephemeral range begins.
fn non_ephemeral_range() -> (u16, u16) {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse::<u16>().ok()))
        .unwrap_or(32768);
    let high = ephemeral_low.max(12_000);
    (high.saturating_sub(10_000).max(1024), high)
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// Exits this process when `parent` stops being our parent: if `squall serve` is killed with
/// SIGKILL it cannot stop its children, so each child notices on its own (re-parented processes
/// get a new parent id). The launcher also asks the kernel for SIGTERM on parent death; this
/// poll is the fallback that does not depend on which thread spawned us.
fn watch_parent(parent: u32) {
    std::thread::spawn(move || loop {
        // SAFETY: getppid has no preconditions and cannot fail.
        let current = unsafe { libc::getppid() } as u32;
        if current != parent {
            eprintln!("squall executor: parent process {parent} is gone, exiting");
            std::process::exit(0);
        }
        std::thread::sleep(Duration::from_millis(500));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_address_needs_a_port() {
        assert_eq!(split_host_port("10.0.0.1:50050").unwrap(), ("10.0.0.1".to_string(), 50050));
        assert!(split_host_port("localhost").is_err());
        assert!(split_host_port("localhost:http").is_err());
    }

    #[test]
    fn zero_ports_become_two_distinct_free_ones_outside_the_ephemeral_range() {
        let (flight, grpc) = choose_ports("127.0.0.1", 0, 0).unwrap();
        assert_ne!(flight, grpc);
        let (low, high) = non_ephemeral_range();
        assert!((low..high).contains(&flight) && (low..high).contains(&grpc), "{flight} {grpc} not in {low}..{high}");
        assert_eq!(choose_ports("127.0.0.1", 4242, 0).unwrap().0, 4242);
    }
}
