//! The client-compatibility suite (tests/clients/): real drivers — psycopg, asyncpg,
//! SQLAlchemy + pandas, pyodbc over psqlODBC, pgjdbc, node-postgres, and ADBC's Flight SQL driver on
//! the Flight SQL port — each run as its own program
//! against a real `squall serve` with TLS and a password user; and pgbouncer in front of squall.
//! `scripts/test` installs them.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::squall;
use squall_tests::tls::write_certificates;
use squall_tests::Server;

const USER: &str = "app";
const PASSWORD: &str = "app-secret";

/// A server with TLS, table `items` (3 rows) and user `app`, who may read it.
struct Setup {
    server: Server,
    certs: TempDir,
}

async fn setup() -> Setup {
    let certs = tempfile::tempdir().unwrap();
    write_certificates(certs.path());
    let path = |name: &str| certs.path().join(name).to_string_lossy().into_owned();
    let server = squall().default_routing().executors(1).args(&["--tls-cert", &path("server.pem"), "--tls-key", &path("server.key")]).start();
    server
        .client()
        .await
        .batch_execute(&format!(
            "CREATE TABLE items (id BIGINT, name TEXT, price DOUBLE, added DATE); \
             INSERT INTO items VALUES (1, 'apple', 0.5, DATE '2024-05-01'), (2, 'pear', 0.75, DATE '2024-05-02'), (3, NULL, 2.0, NULL); \
             CREATE USER {USER} WITH PASSWORD '{PASSWORD}'; GRANT SELECT ON items TO {USER}"
        ))
        .await
        .unwrap();
    Setup { server, certs }
}

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// Runs a client program with the server's address; returns what it printed, panicking (with
/// its output and the server's log) if it failed.
fn run(setup: &Setup, program: &str, args: &[&str], dir: &Path) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("SQUALL_HOST", "127.0.0.1")
        .env("SQUALL_PORT", setup.server.pg_port.to_string())
        .env("SQUALL_FLIGHT_SQL", &setup.server.flight_sql)
        .env("SQUALL_USER", USER)
        .env("SQUALL_PASSWORD", PASSWORD)
        .env("SQUALL_CA", setup.certs.path().join("ca.pem"))
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e} (scripts/test installs the client drivers)"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{stdout}\n{}\nserver log (tail):\n{}",
        String::from_utf8_lossy(&output.stderr),
        setup.server.log().lines().rev().take(30).collect::<Vec<_>>().join("\n")
    );
    stdout
}

fn assert_checks(stdout: &str, expected: &[&str]) {
    for check in expected {
        assert!(stdout.lines().any(|l| l == format!("ok {check}")), "missing \"ok {check}\" in:\n{stdout}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_drivers() {
    let setup = setup().await;
    let out = run(&setup, "python3", &["check_clients.py"], &clients_dir().join("python"));
    assert_checks(
        &out,
        &[
            "psycopg text results and parameters",
            "psycopg binary results and parameters",
            "psycopg prepared statements",
            "psycopg errors carry SQLSTATE",
            "psycopg COPY FROM STDIN and TO STDOUT",
            "psycopg cancel",
            "psycopg transactions and savepoints",
            "psycopg SCRAM over TLS (verify-full) and grants",
            "psycopg wrong password refused",
            "asyncpg queries, prepared statements, errors, COPY (CSV and binary), SCRAM over TLS",
            "SQLAlchemy inspect: schemas, tables, columns and types, views, keys, indexes, reflection",
            "pandas read_sql and to_sql, SQLAlchemy text() with parameters, PostgreSQL's column names, exists()",
            "pyodbc SQLTables, SQLColumns, SQLStatistics, SQLPrimaryKeys, SQLForeignKeys",
            "pyodbc parameters and SQLSTATE",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_sql_adbc() {
    let setup = setup().await;
    let out = run(&setup, "python3", &["check_flight_sql.py"], &clients_dir().join("python"));
    assert_checks(
        &out,
        &[
            "connect with a password over TLS; a wrong password refused with 28P01",
            "DDL and INSERT with row counts",
            "a query fetched as Arrow equals the same query over psycopg",
            "prepared statements with parameters",
            "TRAIN MODEL, PREDICT and EVALUATE MODEL",
            "adbc_get_objects, table types, table schema and server info",
            "errors carry SQLSTATE",
            "GRANTs enforced",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jdbc() {
    let setup = setup().await;
    let jar = "/usr/share/java/postgresql.jar";
    assert!(Path::new(jar).exists(), "pgjdbc is not installed: scripts/test installs libpostgresql-jdbc-java");
    let classes = tempfile::tempdir().unwrap();
    let source = clients_dir().join("jdbc/JdbcCheck.java");
    run(&setup, "javac", &["-cp", jar, "-d", classes.path().to_str().unwrap(), source.to_str().unwrap()], &clients_dir());
    let class_path = format!("{}:{jar}", classes.path().display());
    let out = run(&setup, "java", &["-cp", &class_path, "JdbcCheck"], &clients_dir());
    assert_checks(
        &out,
        &[
            "DatabaseMetaData getTables, getColumns, getSchemas, getPrimaryKeys, getTypeInfo",
            "DatabaseMetaData getIndexInfo, getImportedKeys, getExportedKeys, getCrossReference, getTablePrivileges, getProcedures, getUDTs, getBestRowIdentifier",
            "PreparedStatement with ? parameters, text and binary",
            "floats, timestamps and intervals in PostgreSQL's text forms",
            "fetch size (portal row limits)",
            "errors carry SQLSTATE",
            "CopyManager copyIn and copyOut",
            "Statement.cancel",
            "SCRAM-SHA-256 over TLS (verify-full), grants",
            "wrong password refused with 28P01",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_postgres() {
    let setup = setup().await;
    let dir = clients_dir().join("node");
    assert!(dir.join("node_modules/pg").exists(), "node-postgres is not installed: scripts/test runs npm ci in tests/clients/node");
    let out = run(&setup, "node", &["check.js"], &dir);
    assert_checks(
        &out,
        &[
            "queries, named prepared statements, parameters, binary results",
            "floats and timestamps in PostgreSQL text forms",
            "errors carry SQLSTATE",
            "SCRAM-SHA-256 over verified TLS",
            "wrong password refused with 28P01",
        ],
    );
}

/// pgbouncer in session pooling, as applications put it in front of PostgreSQL: it hands one
/// server connection to one client after another and sends `DISCARD ALL` in between, so nothing
/// a client SET may reach the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbouncer_hands_the_next_client_a_reset_session() {
    let server = squall().executors(1).start();
    let dir = tempfile::tempdir().unwrap();
    // pgbouncer refuses to run as root; as root it is told to become `nobody`, who must be able
    // to write its log there.
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let ini = dir.path().join("pgbouncer.ini");
    std::fs::write(
        &ini,
        format!(
            "[databases]\nsquall = host=127.0.0.1 port={} dbname=squall user=squall\n\
             [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = any\npool_mode = session\nserver_reset_query = DISCARD ALL\n\
             default_pool_size = 1\nmax_db_connections = 1\nlogfile = {}\n",
            server.pg_port,
            dir.path().join("pgbouncer.log").display()
        ),
    )
    .unwrap();
    let program = ["pgbouncer", "/usr/sbin/pgbouncer"].into_iter().find(|p| Command::new(p).arg("--version").output().is_ok());
    let program = program.expect("pgbouncer is not installed (scripts/test installs it)");
    let mut command = Command::new(program);
    if unsafe { libc::geteuid() } == 0 {
        command.args(["-u", "nobody"]);
    }
    let mut bouncer = KillOnDrop(command.arg(&ini).spawn().unwrap());
    let through_bouncer = format!("host=127.0.0.1 port={port} user=squall dbname=squall");
    let (first, connection) = connect_through(&through_bouncer, &mut bouncer, dir.path()).await;
    let partitions_at_start: String = first.query_one("SHOW datafusion.execution.target_partitions", &[]).await.unwrap().get(1);
    let digits_at_start: String = first.query_one("SHOW extra_float_digits", &[]).await.unwrap().get(0);
    first.batch_execute("SET datafusion.execution.target_partitions = 7; SET extra_float_digits = 0").await.unwrap();
    first.batch_execute("SELECT 'first client'").await.unwrap();
    // Asked once under the SET values: a plan kept from then must not answer the next client.
    assert_eq!(first.query_one("SHOW datafusion.execution.target_partitions", &[]).await.unwrap().get::<_, String>(1), "7");
    assert_eq!(first.query_one("SHOW extra_float_digits", &[]).await.unwrap().get::<_, String>(0), "0");
    drop(first);
    connection.await.unwrap().unwrap();

    let (second, _connection) = connect_through(&through_bouncer, &mut bouncer, dir.path()).await;
    second.batch_execute("SELECT 'second client'").await.unwrap();
    assert_eq!(second.query_one("SHOW datafusion.execution.target_partitions", &[]).await.unwrap().get::<_, String>(1), partitions_at_start);
    assert_eq!(second.query_one("SHOW extra_float_digits", &[]).await.unwrap().get::<_, String>(0), digits_at_start);

    // Both clients were served by one server session (the pool holds one connection).
    let direct = server.client().await;
    let markers = "SELECT count(*), count(DISTINCT client) FROM squall.query_log WHERE statement IN ('SELECT ''first client''', 'SELECT ''second client''')";
    let row = direct.query_one(markers, &[]).await.unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (2, 1), "both clients went through one pooled server connection");
}

/// A client connected through pgbouncer, once it listens.
async fn connect_through(
    connection_string: &str,
    bouncer: &mut KillOnDrop,
    dir: &Path,
) -> (tokio_postgres::Client, tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>) {
    for _ in 0..100 {
        if let Ok((client, connection)) = tokio_postgres::connect(connection_string, tokio_postgres::NoTls).await {
            return (client, tokio::spawn(connection));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let log = std::fs::read_to_string(dir.join("pgbouncer.log")).unwrap_or_default();
    panic!("pgbouncer did not accept {connection_string}; exited: {:?}\n{log}", bouncer.0.try_wait());
}

/// A child process killed when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}
