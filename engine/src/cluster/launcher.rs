//! Starts executors as child processes: the `process` launcher (this binary's `squall executor`
//! on this host, the default of `squall serve`) and the `command` launcher (a configured command
//! line, e.g. one that starts an executor on another host or in a container; the executor's life
//! is the command's).
//!
//! Children never outlive the coordinator: they are stopped with SIGTERM (then SIGKILL) on a clean
//! shutdown, the kernel sends them SIGTERM if the coordinator dies (PR_SET_PDEATHSIG), and a
//! `process` child also watches its parent id and exits when it changes.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::error::{Result, SquallError};
use crate::internal_auth::ExecutorAccess;

/// Who asked for an executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchedBy {
    /// Started to keep the cluster at its size (at start-up, and later on the task backlog).
    Autoscaler,
    /// Started with `ADD EXECUTOR`.
    Operator,
}

impl LaunchedBy {
    pub fn name(self) -> &'static str {
        match self {
            LaunchedBy::Autoscaler => "autoscaler",
            LaunchedBy::Operator => "operator",
        }
    }
}

/// One executor process started by this coordinator.
struct LaunchedExecutor {
    id: String,
    child: Child,
    by: LaunchedBy,
    /// Milliseconds since the epoch.
    started_at: i64,
}

/// What the launcher knows of one of its executors.
#[derive(Debug, Clone)]
pub struct Launched {
    pub by: LaunchedBy,
    pub started_at: i64,
}

/// What a launched executor runs.
#[derive(Debug, Clone, PartialEq)]
pub enum LaunchCommand {
    /// `squall executor ...` of this binary.
    ThisBinary,
    /// `sh -c TEMPLATE` with `{id}`, `{scheduler}`, `{slots}`, `{work_dir}` and `{secret_file}`
    /// (the cluster secret's file) replaced (also in the environment as SQUALL_EXECUTOR_ID,
    /// SQUALL_SCHEDULER, SQUALL_EXECUTOR_SLOTS, SQUALL_EXECUTOR_WORK_DIR, with
    /// SQUALL_CLUSTER_SECRET_FILE and, with internal TLS, SQUALL_INTERNAL_TLS_CERT/KEY/CA). The command must run the executor in the foreground, registering
    /// with that id; it runs in its own process group, which is what stopping it signals.
    Template(String),
}

/// The work directory, under `data_dir/executors/`, of every executor process squall starts on
/// its own host.
const SHARED_WORK_DIR: &str = "work";

pub struct ProcessLauncher {
    command: LaunchCommand,
    exe: PathBuf,
    scheduler: String,
    executors_dir: PathBuf,
    slots: usize,
    /// The cluster secret's and internal TLS's files, which every executor is given.
    access: ExecutorAccess,
    children: Mutex<Vec<LaunchedExecutor>>,
}

impl ProcessLauncher {
    /// `scheduler` is the `host:port` executors register with; their work directories and logs go
    /// under `data_dir/executors/`.
    pub fn new(command: LaunchCommand, scheduler: String, data_dir: &Path, slots: usize, access: ExecutorAccess) -> Result<Self> {
        let exe = std::env::current_exe()
            .map_err(|e| SquallError::Internal(format!("cannot find the squall binary to start executors: {e}")))?;
        let executors_dir = data_dir.join("executors");
        std::fs::create_dir_all(&executors_dir)?;
        Ok(Self { command, exe, scheduler, executors_dir, slots, access, children: Mutex::new(Vec::new()) })
    }

    /// Starts one executor process; returns its id. It registers with the scheduler on its own.
    pub fn launch(&self, by: LaunchedBy) -> Result<String> {
        let id = format!("exec-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let work_dir = match &self.command {
            // One shuffle directory for the executors of this host: Ballista reads a shuffle file
            // it finds under its own work directory from disk, and fetches the others through the
            // executor that wrote them. Shared, no shuffle output crosses a socket between two
            // processes of one machine. Each file's path names the job, stage and map task that
            // wrote it, so executors never write the same file.
            LaunchCommand::ThisBinary => self.executors_dir.join(SHARED_WORK_DIR),
            // Elsewhere, possibly on other hosts: a directory of its own.
            LaunchCommand::Template(_) => self.executors_dir.join(&id),
        };
        let log_path = self.executors_dir.join(format!("{id}.log"));
        let log = std::fs::File::create(&log_path)?;
        let work_dir = work_dir.to_string_lossy().to_string();
        let slots = self.slots.to_string();
        let secret_file = self.access.secret_file.as_ref().map(|f| f.to_string_lossy().to_string()).unwrap_or_default();
        let mut command = match &self.command {
            LaunchCommand::ThisBinary => {
                let mut command = Command::new(&self.exe);
                command
                    .arg("executor")
                    .args(["--scheduler", &self.scheduler])
                    .args(["--id", &id])
                    .args(["--work-dir", &work_dir])
                    .args(["--slots", &slots])
                    .args(["--parent-pid", &std::process::id().to_string()]);
                command
            }
            LaunchCommand::Template(template) => {
                let line = template
                    .replace("{id}", &id)
                    .replace("{scheduler}", &self.scheduler)
                    .replace("{slots}", &slots)
                    .replace("{work_dir}", &work_dir)
                    .replace("{secret_file}", &secret_file);
                let mut command = Command::new("sh");
                command
                    .args(["-c", &line])
                    .env("SQUALL_EXECUTOR_ID", &id)
                    .env("SQUALL_SCHEDULER", &self.scheduler)
                    .env("SQUALL_EXECUTOR_SLOTS", &slots)
                    .env("SQUALL_EXECUTOR_WORK_DIR", &work_dir)
                    .process_group(0);
                command
            }
        };
        command.envs(self.access.env());
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        // SAFETY: prctl is async-signal-safe and touches only the child being set up.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .spawn()
            .map_err(|e| SquallError::Internal(format!("cannot start executor process {}: {e}", self.exe.display())))?;
        tracing::info!(%id, pid = child.id(), log = %log_path.display(), "started executor process");
        let started_at = crate::epoch_ms();
        self.lock().push(LaunchedExecutor { id: id.clone(), child, by, started_at });
        Ok(id)
    }

    /// Executors whose process has exited without being asked to (killed, crashed): they are
    /// forgotten here and returned, so the caller can tell the scheduler at once.
    pub fn reap_exited(&self) -> Vec<(String, String)> {
        let mut children = self.lock();
        let mut exited = Vec::new();
        children.retain_mut(|e| match e.child.try_wait() {
            Ok(Some(status)) => {
                exited.push((e.id.clone(), status.to_string()));
                false
            }
            _ => true,
        });
        exited
    }

    /// Task slots each executor gets (its cores when configured as 0).
    pub fn slots_per_executor(&self) -> u64 {
        match self.slots {
            0 => std::thread::available_parallelism().map(|n| n.get() as u64).unwrap_or(1),
            n => n as u64,
        }
    }

    /// The executors this launcher started and that it has not stopped, by id.
    pub fn launched(&self) -> std::collections::HashMap<String, Launched> {
        self.lock().iter().map(|e| (e.id.clone(), Launched { by: e.by, started_at: e.started_at })).collect()
    }

    /// Stops the executor `id` now (SIGKILL: it is being removed, not drained); false if this
    /// launcher did not start it.
    pub async fn stop(&self, id: &str) -> bool {
        let removed = {
            let mut children = self.lock();
            children.iter().position(|e| e.id == id).map(|at| children.remove(at))
        };
        match removed {
            Some(mut executor) => {
                if let (LaunchCommand::Template(_), Some(pid)) = (&self.command, executor.child.id()) {
                    // The whole group the command started, not only its shell.
                    // SAFETY: signalling the process group of a child we own.
                    unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
                }
                let _ = executor.child.kill().await;
                tracing::info!(%id, "executor process stopped");
                true
            }
            None => false,
        }
    }

    /// Stops every child: SIGTERM, then SIGKILL for those still running after `grace`.
    pub async fn stop_all(&self, grace: Duration) {
        let mut children: Vec<LaunchedExecutor> = std::mem::take(&mut *self.lock());
        let group = matches!(self.command, LaunchCommand::Template(_));
        for executor in &children {
            if let Some(pid) = executor.child.id() {
                // SAFETY: sending a signal to a child (or the group of a command) we own.
                unsafe { libc::kill(if group { -(pid as i32) } else { pid as i32 }, libc::SIGTERM) };
            }
        }
        let deadline = tokio::time::Instant::now() + grace;
        for executor in &mut children {
            match tokio::time::timeout_at(deadline, executor.child.wait()).await {
                Ok(_) => tracing::info!(id = %executor.id, "executor stopped"),
                Err(_) => {
                    tracing::warn!(id = %executor.id, "executor did not stop in time; killing it");
                    let _ = executor.child.kill().await;
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<LaunchedExecutor>> {
        self.children.lock().unwrap_or_else(|p| p.into_inner())
    }
}
