//! squall's own commands, one file each. A command is recognised by its leading words; anything
//! else is standard SQL.

mod add_executors;
mod alter_cluster;
mod alter_model;
mod alter_table;
mod cancel_job;
mod deallocate;
mod describe_history;
mod describe_model;
mod discard;
mod drop_model;
mod evaluate_model;
mod grants;
mod optimize;
mod pipes;
mod refresh_model;
mod savepoint;
mod show_cluster;
mod show_executors;
mod show_jobs;
mod show_models;
mod stop_executor;
mod train_model;
mod users;
mod vacuum;

use sqlparser::tokenizer::Token;

pub use alter_table::AlterTable;
pub use deallocate::Deallocate;
pub use discard::Discard;
pub use grants::{Grant, ObjectKind, Privilege};
pub use pipes::CreatePipe;
pub use savepoint::Savepoint;
pub use train_model::TrainModel;
pub use users::{RoleSetting, UserOptions};

use crate::words::Words;
use crate::ParseError;

/// A squall command, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `SHOW EXECUTORS`: the live executors and their task counts.
    ShowExecutors,
    /// `ADD EXECUTOR` / `ADD EXECUTORS n`: start executors through the launcher.
    AddExecutors { count: u64 },
    /// `REMOVE EXECUTOR 'id'`: stop an executor now; its tasks run again elsewhere.
    RemoveExecutor { id: String },
    /// `DRAIN EXECUTOR 'id'`: give it no new tasks, keep its shuffle output served until no running
    /// job needs it, then stop it.
    DrainExecutor { id: String },
    /// `SHOW CLUSTER`: the autoscale settings and the live signal.
    ShowCluster,
    /// `ALTER CLUSTER SET (option = value, ...)`
    AlterCluster { options: Vec<(String, String)> },
    /// `SHOW JOBS`: the distributed jobs queued and running now.
    ShowJobs,
    /// `CANCEL JOB 'id'`
    CancelJob { id: String },
    /// `TRAIN MODEL ...`: train a model on the rows of a query.
    TrainModel(TrainModel),
    /// `EVALUATE MODEL name [ON query]`: holdout metrics, or metrics over the query's rows.
    EvaluateModel { name: String, on: Option<String> },
    /// `SHOW MODELS`
    ShowModels,
    /// `DESCRIBE MODEL name`
    DescribeModel { name: String },
    /// `DROP MODEL [IF EXISTS] name`
    DropModel { name: String, if_exists: bool },
    /// `CREATE USER name [WITH] [PASSWORD '...'] [SUPERUSER]`
    CreateUser { name: String, options: UserOptions },
    /// `ALTER USER name [WITH] [PASSWORD '...' | PASSWORD NULL] [SUPERUSER | NOSUPERUSER]`
    AlterUser { name: String, options: UserOptions },
    /// `ALTER USER name SET parameter TO value` / `RESET parameter | ALL`
    AlterUserSet { name: String, setting: RoleSetting },
    /// `DROP USER [IF EXISTS] name, ...`
    DropUser { names: Vec<String>, if_exists: bool },
    /// `GRANT privileges ON [TABLE | MODEL] names TO users`
    Grant(Grant),
    /// `REVOKE privileges ON [TABLE | MODEL] names FROM users`
    Revoke(Grant),
    /// `SAVEPOINT`, `RELEASE SAVEPOINT`, `ROLLBACK TO SAVEPOINT`
    Savepoint { action: Savepoint, name: String },
    /// `DISCARD ALL | PLANS | SEQUENCES | TEMP`: carried out by the connection (see
    /// [`crate::connection_command`]).
    Discard(Discard),
    /// `DEALLOCATE [PREPARE] name | ALL`: carried out by the connection.
    Deallocate(Deallocate),
    /// `OPTIMIZE table`: compact a Delta table's small files.
    Optimize { table: String },
    /// `VACUUM table [RETAIN n HOURS]`: delete files no kept version of the table needs.
    Vacuum { table: String, retain_hours: Option<u64> },
    /// `DESCRIBE HISTORY table`: the table's commits.
    DescribeHistory { table: String },
    /// `ALTER TABLE table ...`: a change Delta tables allow.
    AlterTable { table: String, change: AlterTable },
    /// `CREATE PIPE name INTO table FROM 'source' FORMAT f [OPTIONS (...)]`: load files as they land.
    CreatePipe(CreatePipe),
    /// `ALTER PIPE name PAUSE | RESUME`
    AlterPipe { name: String, paused: bool },
    /// `DROP PIPE [IF EXISTS] name`
    DropPipe { name: String, if_exists: bool },
    /// `SHOW PIPES`
    ShowPipes,
    /// `REFRESH MODEL name`: a new version from the table's new rows, now.
    RefreshModel { name: String },
    /// `ALTER MODEL name SET (refresh = ..., keep_versions = n)`
    AlterModel { name: String, options: Vec<(String, String)> },
}

type CommandParser = fn(&mut Words) -> Result<Option<Command>, ParseError>;

/// Every command's parser; each returns `Ok(None)` when the statement is not its command.
const PARSERS: &[CommandParser] = &[
    show_executors::parse,
    add_executors::parse,
    stop_executor::parse,
    show_cluster::parse,
    alter_cluster::parse,
    show_jobs::parse,
    cancel_job::parse,
    train_model::parse,
    evaluate_model::parse,
    show_models::parse,
    describe_model::parse,
    drop_model::parse,
    users::parse,
    grants::parse,
    savepoint::parse,
    discard::parse,
    deallocate::parse,
    optimize::parse,
    vacuum::parse,
    describe_history::parse,
    alter_table::parse,
    pipes::parse,
    refresh_model::parse,
    alter_model::parse,
];

/// `Ok(None)` when the statement is not a squall command.
pub(crate) fn parse_command(tokens: &[Token]) -> Result<Option<Command>, ParseError> {
    for parse in PARSERS {
        if let Some(command) = parse(&mut Words::new(tokens))? {
            return Ok(Some(command));
        }
    }
    Ok(None)
}
