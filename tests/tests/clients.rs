//! The client-compatibility suite (tests/clients/): real drivers — psycopg, asyncpg,
//! SQLAlchemy + pandas, pyodbc over psqlODBC, pgjdbc, node-postgres — each run as its own program
//! against a real `squall serve` with TLS and a password user. `.ci/run` installs the drivers.

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
        .env("SQUALL_USER", USER)
        .env("SQUALL_PASSWORD", PASSWORD)
        .env("SQUALL_CA", setup.certs.path().join("ca.pem"))
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e} (.ci/run installs the client drivers)"));
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
async fn jdbc() {
    let setup = setup().await;
    let jar = "/usr/share/java/postgresql.jar";
    assert!(Path::new(jar).exists(), "pgjdbc is not installed: .ci/run installs libpostgresql-jdbc-java");
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
    assert!(dir.join("node_modules/pg").exists(), "node-postgres is not installed: .ci/run runs npm ci in tests/clients/node");
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
