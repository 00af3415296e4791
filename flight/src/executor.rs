//! Runs one Ballista executor in this OS process (Ballista's shutdown flag is process-wide, so
//! there is never more than one per process).
//!
//! The executor registers with the scheduler, takes tasks pushed to it, writes shuffle files under
//! its work directory and serves them over Arrow Flight. It exits on SIGTERM / Ctrl-C, on a stop
//! request from the scheduler, and, when started by `squall serve`, as soon as its parent is gone.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ballista_core::config::TaskSchedulingPolicy;
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use squall_udf::{object_stores, registry, settings};

/// What an executor needs to know; each field is a command-line flag of `squall executor`.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's gRPC address, `host:port`.
    pub scheduler: String,
    /// Address to bind the Flight and gRPC services to.
    pub bind_host: String,
    /// Host name other nodes use to reach this executor (defaults to `bind_host`).
    pub external_host: Option<String>,
    /// Arrow Flight port; 0 picks a free one.
    pub flight_port: u16,
    /// Task gRPC port; 0 picks a free one.
    pub grpc_port: u16,
    /// Executor id as the scheduler shows it; generated when absent.
    pub id: Option<String>,
    /// Directory for shuffle files and spills; a temporary one when absent.
    pub work_dir: Option<String>,
    /// Task slots; 0 means one per CPU core.
    pub slots: usize,
    /// Exit when this process id is no longer our parent (set by `squall serve`).
    pub parent_pid: Option<u32>,
}

/// Runs the executor until it is told to stop.
pub async fn run(options: ExecutorOptions) -> anyhow::Result<()> {
    let (scheduler_host, scheduler_port) = split_host_port(&options.scheduler)?;
    if let Some(parent) = options.parent_pid {
        watch_parent(parent);
    }
    let flight_port = free_port_if_zero(&options.bind_host, options.flight_port)?;
    let grpc_port = free_port_if_zero(&options.bind_host, options.grpc_port)?;
    if let Some(dir) = &options.work_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating work directory {dir}"))?;
    }

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
        task_scheduling_policy: TaskSchedulingPolicy::PushStaged,
        work_dir: options.work_dir.clone(),
        print_thread_info: false,
        executor_heartbeat_interval_seconds: 5,
        override_function_registry: Some(Arc::new(registry::function_registry())),
        override_config_producer: Some(Arc::new(settings::session_config)),
        ..Default::default()
    };
    if let Some(id) = &options.id {
        config.executor_id = id.clone();
    }
    let temp_dir = options.work_dir.clone();
    config.override_runtime_producer =
        Some(Arc::new(move |_| object_stores::runtime_env(temp_dir.as_deref())));

    tracing::info!(id = %config.executor_id, flight_port, grpc_port, "squall executor starting");
    start_executor_process(Arc::new(config)).await.context("executor stopped with an error")?;
    Ok(())
}

fn split_host_port(address: &str) -> anyhow::Result<(String, u16)> {
    let (host, port) = address
        .rsplit_once(':')
        .with_context(|| format!("scheduler address {address:?} must be HOST:PORT"))?;
    let port = port.parse().with_context(|| format!("bad port in scheduler address {address:?}"))?;
    Ok((host.to_string(), port))
}

/// A port the OS says is free now. Another process could take it before Ballista binds it, but
/// the window is a few milliseconds and the executor then fails loudly rather than silently.
fn free_port_if_zero(host: &str, port: u16) -> anyhow::Result<u16> {
    if port != 0 {
        return Ok(port);
    }
    let listener = TcpListener::bind((host, 0)).with_context(|| format!("binding {host}:0"))?;
    Ok(listener.local_addr()?.port())
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
    fn zero_port_becomes_a_free_one() {
        assert_ne!(free_port_if_zero("127.0.0.1", 0).unwrap(), 0);
        assert_eq!(free_port_if_zero("127.0.0.1", 4242).unwrap(), 4242);
    }
}
