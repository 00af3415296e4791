//! The `squall` command: `serve` (everything on one machine), `scheduler` (the coordinator of a
//! cluster) and `executor` (one worker of a cluster). Every flag is also an environment variable.

mod coordinator;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use coordinator::{CoordinatorOptions, LauncherChoice};
use squall_engine::internal_auth::{ClusterSecret, InternalTls, TlsFiles};
use squall_flight::executor::{self, ExecutorOptions};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "squall", version, about = "A SQL-first distributed query and machine-learning engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run squall on this machine: the Postgres-wire server, the scheduler and executor processes.
    Serve {
        #[command(flatten)]
        coordinator: CoordinatorArgs,
        /// Executors to start at boot: the autoscaler's min_executors until ALTER CLUSTER changes it.
        #[arg(long, env = "SQUALL_EXECUTORS", default_value_t = 2)]
        executors: usize,
        /// Task slots per executor (0: one per CPU core).
        #[arg(long, env = "SQUALL_EXECUTOR_SLOTS", default_value_t = 0)]
        executor_slots: usize,
        /// Who starts executors: `process` (child processes on this host), `command` (see
        /// --launcher-command) or `external`.
        #[arg(long, env = "SQUALL_LAUNCHER", default_value = "process")]
        launcher: String,
        #[command(flatten)]
        launch: LaunchArgs,
    },
    /// Run the coordinator alone; executors join it with `squall executor --scheduler HOST:PORT`
    /// (started by Kubernetes/KEDA or an operator), or through `--launcher command`.
    Scheduler {
        #[command(flatten)]
        coordinator: CoordinatorArgs,
        /// Who starts executors: `external` (not squall) or `command` (see --launcher-command).
        #[arg(long, env = "SQUALL_LAUNCHER", default_value = "external")]
        launcher: String,
        /// Executors to start at boot with `--launcher command`.
        #[arg(long, env = "SQUALL_EXECUTORS", default_value_t = 0)]
        executors: usize,
        /// Task slots per executor the command starts (0: one per CPU core).
        #[arg(long, env = "SQUALL_EXECUTOR_SLOTS", default_value_t = 0)]
        executor_slots: usize,
        #[command(flatten)]
        launch: LaunchArgs,
    },
    /// Run one executor that registers with a scheduler.
    Executor(ExecutorArgs),
}

#[derive(Args)]
struct CoordinatorArgs {
    /// Where tables, the catalog and executor work directories live.
    #[arg(long, env = "SQUALL_DATA_DIR", default_value = "./squall-data")]
    data_dir: PathBuf,
    /// Where model files are stored: a directory or an object-store URL such as s3://bucket/models
    /// (credentials from the environment). Executors read models from it. Default: DATA_DIR/models.
    #[arg(long, env = "SQUALL_MODEL_STORE")]
    model_store: Option<String>,
    /// Address for Postgres clients (psql, JDBC, ODBC, ...).
    #[arg(long, env = "SQUALL_LISTEN", default_value = "127.0.0.1:5433")]
    listen: String,
    /// Address executors register with (Ballista scheduler gRPC).
    #[arg(long, env = "SQUALL_SCHEDULER_LISTEN", default_value = "127.0.0.1:50050")]
    scheduler_listen: String,
    /// Host name executors use to reach the scheduler, when it differs from the listen address.
    #[arg(long, env = "SQUALL_SCHEDULER_ADVERTISE")]
    scheduler_advertise: Option<String>,
    /// Address of the HTTP endpoints /health and /metrics.
    #[arg(long, env = "SQUALL_HTTP_LISTEN", default_value = "127.0.0.1:8433")]
    http_listen: String,
    /// Address for Arrow Flight SQL clients (ADBC, the Flight SQL JDBC driver, pyarrow).
    #[arg(long, env = "SQUALL_FLIGHT_SQL_LISTEN", default_value = "127.0.0.1:32010")]
    flight_sql_listen: String,
    /// PEM certificate (chain) for TLS to Postgres and Flight SQL clients; needs --tls-key.
    #[arg(long, env = "SQUALL_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "SQUALL_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Queries that read at most this much of their tables (bytes, or '512kB', '16MB', ...; the
    /// Parquet columns they need, whole files of other formats) run in the coordinator process
    /// instead of as a job on the executors; 0 sends every query over tables to the executors.
    /// Sessions change it with SET squall.local_scan_limit.
    #[arg(long, env = "SQUALL_LOCAL_SCAN_LIMIT", default_value = "16MB")]
    local_scan_limit: String,
    /// The file holding the cluster's secret, which every internal call proves it knows. Default:
    /// SQUALL_CLUSTER_SECRET's value, else DATA_DIR/cluster.secret (created on first start, mode
    /// 0600), which the executors squall launches are given.
    #[arg(long, env = "SQUALL_CLUSTER_SECRET_FILE")]
    cluster_secret_file: Option<PathBuf>,
    #[command(flatten)]
    internal_tls: InternalTlsArgs,
}

/// TLS between squall's own nodes (scheduler gRPC, executor Flight).
#[derive(Args)]
struct InternalTlsArgs {
    /// TLS for all traffic between squall's nodes. Default: on when the scheduler listens on a
    /// non-loopback address or certificates are given; `--internal-tls=false` turns it off.
    #[arg(long, env = "SQUALL_INTERNAL_TLS", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    internal_tls: Option<bool>,
    /// PEM certificate (chain) every node serves with; its DNS names must include
    /// `squall-cluster`. Default (coordinator): made under DATA_DIR/internal-tls/.
    #[arg(long, env = "SQUALL_INTERNAL_TLS_CERT")]
    internal_tls_cert: Option<PathBuf>,
    /// PEM private key of --internal-tls-cert.
    #[arg(long, env = "SQUALL_INTERNAL_TLS_KEY")]
    internal_tls_key: Option<PathBuf>,
    /// PEM certificate of the CA that signed --internal-tls-cert, which every node trusts.
    #[arg(long, env = "SQUALL_INTERNAL_TLS_CA")]
    internal_tls_ca: Option<PathBuf>,
}

impl InternalTlsArgs {
    fn files(&self) -> anyhow::Result<Option<TlsFiles>> {
        match (&self.internal_tls_cert, &self.internal_tls_key, &self.internal_tls_ca) {
            (Some(cert), Some(key), Some(ca)) => Ok(Some(TlsFiles { cert: cert.clone(), key: key.clone(), ca: ca.clone() })),
            (None, None, None) => Ok(None),
            _ => anyhow::bail!("internal TLS needs all three of --internal-tls-cert, --internal-tls-key and --internal-tls-ca"),
        }
    }

    /// An executor's TLS: the certificates it is given, which it needs when TLS is asked for.
    fn for_executor(&self) -> anyhow::Result<Option<InternalTls>> {
        match (self.internal_tls, self.files()?) {
            (Some(false), _) => Ok(None),
            (_, Some(files)) => Ok(Some(InternalTls::load(files)?)),
            (Some(true), None) => anyhow::bail!(
                "--internal-tls needs the cluster's certificates: --internal-tls-cert, --internal-tls-key and --internal-tls-ca \
                 (the coordinator makes them in DATA_DIR/internal-tls/: node.pem, node.key, ca.pem)"
            ),
            (None, None) => Ok(None),
        }
    }
}

#[derive(Args)]
struct LaunchArgs {
    /// With `--launcher command`: the shell command that runs one executor in the foreground;
    /// {id}, {scheduler}, {slots} and {work_dir} are replaced, e.g.
    /// 'ssh node2 squall executor --scheduler {scheduler} --id {id} --bind 0.0.0.0 --advertise node2'.
    #[arg(long, env = "SQUALL_LAUNCHER_COMMAND")]
    launcher_command: Option<String>,
}

impl LaunchArgs {
    fn choice(self, launcher: &str) -> anyhow::Result<LauncherChoice> {
        match (launcher, self.launcher_command) {
            ("process", None) => Ok(LauncherChoice::Process),
            ("command", Some(template)) => Ok(LauncherChoice::Command(template)),
            ("command", None) => anyhow::bail!("--launcher command needs --launcher-command"),
            ("external", None) => Ok(LauncherChoice::External),
            ("process" | "external", Some(_)) => anyhow::bail!("--launcher-command is only used with --launcher command"),
            (other, _) => anyhow::bail!("unknown launcher \"{other}\": expected process, command or external"),
        }
    }
}

#[derive(Args)]
struct ExecutorArgs {
    /// The scheduler to register with, HOST:PORT.
    #[arg(long, env = "SQUALL_SCHEDULER", default_value = "127.0.0.1:50050")]
    scheduler: String,
    /// Address to bind the executor's Flight service to.
    #[arg(long, env = "SQUALL_EXECUTOR_BIND", default_value = "127.0.0.1")]
    bind: String,
    /// Host name other nodes use to reach this executor (default: the bind address).
    #[arg(long, env = "SQUALL_EXECUTOR_ADVERTISE")]
    advertise: Option<String>,
    /// Arrow Flight port (0: a free port).
    #[arg(long, env = "SQUALL_EXECUTOR_FLIGHT_PORT", default_value_t = 0)]
    flight_port: u16,
    /// Ignored: executors serve no task port; they ask the scheduler for tasks (accepted so that
    /// older scripts still run).
    #[arg(long, env = "SQUALL_EXECUTOR_GRPC_PORT", default_value_t = 0, hide = true)]
    grpc_port: u16,
    /// Executor id (default: generated).
    #[arg(long, env = "SQUALL_EXECUTOR_ID")]
    id: Option<String>,
    /// Directory for shuffle files and spills (default: a temporary directory).
    #[arg(long, env = "SQUALL_EXECUTOR_WORK_DIR")]
    work_dir: Option<String>,
    /// Task slots (0: one per CPU core).
    #[arg(long, env = "SQUALL_EXECUTOR_SLOTS", default_value_t = 0)]
    slots: usize,
    /// Exit when this process is no longer our parent (set by `squall serve`).
    #[arg(long, hide = true)]
    parent_pid: Option<u32>,
    /// The file holding the cluster's secret (the scheduler's DATA_DIR/cluster.secret, copied, or
    /// a Kubernetes Secret mounted as a file); or give the secret itself in SQUALL_CLUSTER_SECRET.
    #[arg(long, env = "SQUALL_CLUSTER_SECRET_FILE")]
    cluster_secret_file: Option<PathBuf>,
    #[command(flatten)]
    internal_tls: InternalTlsArgs,
}

impl CoordinatorArgs {
    fn into_options(self, launcher: LauncherChoice, executors: usize, executor_slots: usize) -> anyhow::Result<CoordinatorOptions> {
        Ok(CoordinatorOptions {
            data_dir: self.data_dir,
            model_store: self.model_store,
            listen: self.listen,
            scheduler_listen: self.scheduler_listen,
            scheduler_advertise: self.scheduler_advertise,
            http_listen: self.http_listen,
            flight_sql_listen: self.flight_sql_listen,
            launcher,
            executors,
            executor_slots,
            tls_cert: self.tls_cert,
            tls_key: self.tls_key,
            local_scan_limit: self.local_scan_limit,
            cluster_secret_file: self.cluster_secret_file,
            internal_tls: self.internal_tls.internal_tls,
            internal_tls_files: self.internal_tls.files()?,
        })
    }
}

/// The stack of each of the runtime's threads.
const STACK_SIZE: usize = 16 << 20;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("SQUALL_LOG").unwrap_or_else(|_| EnvFilter::new("info,buoyant_kernel=warn,deltalake_core=warn")))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    // Planning recurses through the plan and its expressions (DataFusion's tree rewrites, the
    // decorrelation of nested subqueries): a query of a few nested subqueries overflowed
    // tokio's 2 MiB default and took the whole server down. Untouched stack costs no memory.
    let runtime = tokio::runtime::Builder::new_multi_thread().thread_stack_size(STACK_SIZE).enable_all().build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve { coordinator, executors, executor_slots, launcher, launch } => {
                let launcher = launch.choice(&launcher)?;
                coordinator::run(coordinator.into_options(launcher, executors, executor_slots)?).await
            }
            Command::Scheduler { coordinator, launcher, executors, executor_slots, launch } => {
                let launcher = launch.choice(&launcher)?;
                coordinator::run(coordinator.into_options(launcher, executors, executor_slots)?).await
            }
            Command::Executor(args) => {
                let (secret, _) = ClusterSecret::resolve(args.cluster_secret_file.as_deref(), None)?;
                executor::run(ExecutorOptions {
                    scheduler: args.scheduler,
                    bind_host: args.bind,
                    external_host: args.advertise,
                    flight_port: args.flight_port,
                    grpc_port: args.grpc_port,
                    id: args.id,
                    work_dir: args.work_dir,
                    slots: args.slots,
                    parent_pid: args.parent_pid,
                    secret,
                    tls: args.internal_tls.for_executor()?,
                })
                .await
            }
        }
    })
}
