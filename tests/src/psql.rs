//! Running the real `psql` client.

use std::process::Command;

use crate::Server;

/// Runs `psql` with each of `commands` as a `-c` argument; returns stdout, panics on failure.
pub fn psql(server: &Server, commands: &[&str]) -> String {
    psql_output(server, commands).0
}

/// Like [`psql`], with what psql wrote to stderr (NOTICE messages, for one) as well.
pub fn psql_output(server: &Server, commands: &[&str]) -> (String, String) {
    let mut command = Command::new("psql");
    command.args(["-h", "127.0.0.1", "-p", &server.pg_port.to_string(), "-U", "squall", "-X", "-v", "ON_ERROR_STOP=1"]);
    for c in commands {
        command.args(["-c", c]);
    }
    let output = command.output().expect("psql must be installed (.ci/run installs postgresql-client)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "psql {commands:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (stdout, String::from_utf8_lossy(&output.stderr).into_owned())
}
