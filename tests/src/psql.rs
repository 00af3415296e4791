//! Running the real `psql` client.

use std::process::Command;

use crate::Server;

/// Runs `psql` with each of `commands` as a `-c` argument; returns stdout, panics on failure.
pub fn psql(server: &Server, commands: &[&str]) -> String {
    psql_output(server, commands).0
}

/// Like [`psql`], with what psql wrote to stderr (NOTICE messages, for one) as well.
pub fn psql_output(server: &Server, commands: &[&str]) -> (String, String) {
    let (success, stdout, stderr) = psql_status(server, commands);
    assert!(success, "psql {commands:?} failed:\n{stdout}\n{stderr}");
    (stdout, stderr)
}

/// Runs `psql` as [`psql`] does, failing or not: whether it succeeded, its stdout and stderr.
pub fn psql_status(server: &Server, commands: &[&str]) -> (bool, String, String) {
    psql_status_at(server.pg_port, commands)
}

/// [`psql_status`] against the Postgres port `port` (for a thread of its own while the test
/// goes on with the server).
pub fn psql_status_at(port: u16, commands: &[&str]) -> (bool, String, String) {
    let mut command = Command::new("psql");
    command.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "squall", "-X", "-v", "ON_ERROR_STOP=1"]);
    for c in commands {
        command.args(["-c", c]);
    }
    let output = command.output().expect("psql must be installed (scripts/test installs postgresql-client)");
    (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}
