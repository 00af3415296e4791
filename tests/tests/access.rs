//! Users, passwords, grants and TLS, as clients meet them: tokio-postgres authenticating with
//! SCRAM-SHA-256, psql over TLS, and the server refusing set-ups that would be unsafe.

use std::process::Command;

use tokio_postgres::{Client, NoTls};

use crate::squall;
use squall_tests::data::write_iris_with_ids;
use squall_tests::tls::write_certificates;
use squall_tests::Server;

/// Connects as `user` (with `password`, if any) to `host`.
async fn connect_to(server: &Server, host: &str, user: &str, password: Option<&str>) -> Result<Client, tokio_postgres::Error> {
    let mut config = format!("host={host} port={} user={user} dbname=squall", server.pg_port);
    if let Some(password) = password {
        config.push_str(&format!(" password='{}'", password.replace('\\', "\\\\").replace('\'', "\\'")));
    }
    let (client, connection) = tokio_postgres::connect(&config, NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

async fn connect(server: &Server, user: &str, password: Option<&str>) -> Result<Client, tokio_postgres::Error> {
    connect_to(server, "127.0.0.1", user, password).await
}

fn code(e: &tokio_postgres::Error) -> String {
    e.code().map(|c| c.code().to_string()).unwrap_or_else(|| format!("no SQLSTATE: {e}"))
}

async fn denied(client: &Client, sql: &str) -> String {
    let err = client.batch_execute(sql).await.expect_err(sql);
    assert_eq!(code(&err), "42501", "{sql}: {err}");
    err.as_db_error().unwrap().message().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_authenticate_with_scram_and_need_grants() {
    let mut server = squall().executors(1).start();
    let admin = server.client().await;
    admin.batch_execute("CREATE TABLE orders (id BIGINT, amount DOUBLE); INSERT INTO orders VALUES (1, 10.0), (2, 20.0)").await.unwrap();

    // Who may connect.
    let err = connect(&server, "mallory", None).await.unwrap_err();
    assert_eq!(code(&err), "28000", "{err}");
    assert_eq!(err.as_db_error().unwrap().message(), "role \"mallory\" does not exist");
    admin.batch_execute("CREATE USER alice WITH PASSWORD 'wonder''land'").await.unwrap();
    let err = admin.batch_execute("CREATE USER alice").await.unwrap_err();
    assert_eq!(code(&err), "42710");
    let err = connect(&server, "alice", Some("wonderland")).await.unwrap_err();
    assert_eq!(code(&err), "28P01", "{err}");
    assert_eq!(err.as_db_error().unwrap().message(), "password authentication failed for user \"alice\"");
    let alice = connect(&server, "alice", Some("wonder'land")).await.unwrap();
    // The password is kept only as a SCRAM verifier, and the audit trail has the statement
    // without it.
    let stored = std::fs::read_to_string(server.data_dir.join("catalog/access.json")).unwrap();
    assert!(stored.contains("SCRAM-SHA-256$4096:") && !stored.contains("wonder"), "{stored}");
    let logged: Vec<String> = admin.query("SELECT statement FROM squall.query_log", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert!(logged.iter().any(|s| s == "CREATE USER alice WITH PASSWORD '********'"), "{logged:?}");
    assert!(logged.iter().all(|s| !s.contains("wonder")), "{logged:?}");

    // Without grants, alice reads the system tables and nothing else.
    assert_eq!(denied(&alice, "SELECT * FROM orders").await, "permission denied for table orders");
    denied(&alice, "SELECT count(*) FROM (SELECT id FROM orders) AS o").await;
    denied(&alice, "INSERT INTO orders VALUES (3, 30.0)").await;
    for superuser_only in ["CREATE TABLE mine (a BIGINT)", "DROP TABLE orders", "CREATE USER eve", "GRANT SELECT ON orders TO alice", "ADD EXECUTOR", "ALTER USER alice SUPERUSER"] {
        denied(&alice, superuser_only).await;
    }
    assert_eq!(alice.query("SELECT id FROM squall.executors", &[]).await.unwrap().len(), 1);

    // GRANT and REVOKE take effect at once, also for statements prepared before them.
    admin.batch_execute("GRANT SELECT ON TABLE orders TO alice").await.unwrap();
    let total = alice.prepare("SELECT sum(amount) FROM orders").await.unwrap();
    assert_eq!(alice.query_one(&total, &[]).await.unwrap().get::<_, f64>(0), 30.0);
    denied(&alice, "INSERT INTO orders VALUES (3, 30.0)").await;
    admin.batch_execute("GRANT INSERT ON orders TO alice").await.unwrap();
    assert_eq!(alice.execute("INSERT INTO orders VALUES (3, 30.0)", &[]).await.unwrap(), 1);
    admin.batch_execute("REVOKE SELECT ON orders FROM alice").await.unwrap();
    let err = alice.query_one(&total, &[]).await.unwrap_err();
    assert_eq!(code(&err), "42501");
    // A view is granted on its own, as in PostgreSQL.
    admin.batch_execute("CREATE VIEW big_orders AS SELECT id FROM orders WHERE amount > 15; GRANT SELECT ON big_orders TO alice").await.unwrap();
    assert_eq!(alice.query("SELECT id FROM big_orders", &[]).await.unwrap().len(), 2);
    let err = admin.batch_execute("GRANT SELECT ON nosuch TO alice").await.unwrap_err();
    assert_eq!(code(&err), "42P01");
    let err = admin.batch_execute("GRANT SELECT ON orders TO nobody").await.unwrap_err();
    assert_eq!(code(&err), "42704");

    // Models need USAGE (and the rows they are applied to need SELECT).
    let dir = tempfile::tempdir().unwrap();
    write_iris_with_ids(&dir.path().join("iris.csv"));
    admin
        .batch_execute(&format!(
            "CREATE EXTERNAL TABLE iris STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true'); \
             TRAIN MODEL iris_nb USING naive_bayes (holdout = 0) TARGET species FEATURES (sepal_length, sepal_width, petal_length, petal_width) AS SELECT * FROM iris; \
             GRANT SELECT ON iris TO alice",
            dir.path().join("iris.csv").display()
        ))
        .await
        .unwrap();
    let predict = "SELECT count(*) FROM iris WHERE PREDICT('iris_nb', iris.*) = species";
    assert_eq!(denied(&alice, predict).await, "permission denied for model iris_nb");
    denied(&alice, "EVALUATE MODEL iris_nb ON SELECT * FROM iris").await;
    denied(&alice, "TRAIN MODEL mine USING naive_bayes TARGET species FEATURES (sepal_length) AS SELECT * FROM iris").await;
    admin.batch_execute("GRANT USAGE ON MODEL iris_nb TO alice").await.unwrap();
    assert!(alice.query_one(predict, &[]).await.unwrap().get::<_, i64>(0) > 140);

    // Users change their own password; a user without one connects from this machine only.
    alice.batch_execute("ALTER USER alice PASSWORD 'looking-glass'").await.unwrap();
    assert_eq!(code(&connect(&server, "alice", Some("wonder'land")).await.unwrap_err()), "28P01");
    let alice = connect(&server, "alice", Some("looking-glass")).await.unwrap();
    admin.batch_execute("CREATE USER bob").await.unwrap();
    connect(&server, "bob", None).await.unwrap().query_one("SELECT 1", &[]).await.unwrap();
    // The user functions answer the connected user's name, under PostgreSQL's column names.
    let who = alice.query_one("SELECT current_user, session_user, user, current_role", &[]).await.unwrap();
    let names: Vec<&str> = who.columns().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["current_user", "session_user", "user", "current_role"]);
    assert_eq!((0..4).map(|i| who.get::<_, String>(i)).collect::<Vec<_>>(), ["alice"; 4]);
    // pg_has_role (psql's \l+ asks it): a user has its own role's privileges; a superuser has
    // every role's; a role that does not exist is an error, as in PostgreSQL.
    let roles = "SELECT pg_has_role('alice', 'USAGE'), pg_has_role('bob', 'member'), pg_has_role('pg_read_all_stats', 'USAGE'), \
                 pg_has_role('squall', 'alice', 'USAGE'), pg_has_role('bob', 'squall', 'USAGE')";
    let answers = |row: tokio_postgres::Row| (0..5).map(|i| row.get::<_, bool>(i)).collect::<Vec<_>>();
    assert_eq!(answers(alice.query_one(roles, &[]).await.unwrap()), [true, false, false, true, false]);
    assert_eq!(answers(admin.query_one(roles, &[]).await.unwrap()), [true, true, true, true, false]);
    let err = alice.query_one("SELECT pg_has_role('nobody', 'USAGE')", &[]).await.unwrap_err();
    assert_eq!((code(&err), err.as_db_error().unwrap().message()), ("42704".to_string(), "role \"nobody\" does not exist"));
    let err = alice.query_one("SELECT pg_has_role('bob', 'SELECT')", &[]).await.unwrap_err();
    assert_eq!(code(&err), "22023", "{err}");
    denied(&alice, "DROP USER bob").await;
    let err = admin.batch_execute("DROP USER squall").await.unwrap_err();
    assert!(["42501", "55006"].contains(&code(&err).as_str()), "{err}");

    // Users and grants survive a restart; a dropped user is gone with their grants.
    let data_dir = server.data_dir.clone();
    server.terminate();
    let server = squall().executors(1).data_dir(&data_dir).start();
    let alice = connect(&server, "alice", Some("looking-glass")).await.unwrap();
    assert_eq!(alice.query("SELECT id FROM big_orders", &[]).await.unwrap().len(), 2);
    denied(&alice, "SELECT * FROM orders").await;
    let admin = server.client().await;
    admin.batch_execute("CREATE USER carol PASSWORD 'c'; DROP USER alice, bob").await.unwrap();
    // Once users have passwords, one that does not exist is challenged and refused as a wrong
    // password is (PostgreSQL's mock authentication): names cannot be probed. Without a password
    // the client cannot even answer the challenge, as for a real user.
    let gone = connect(&server, "alice", Some("looking-glass")).await.unwrap_err();
    let wrong = connect(&server, "carol", Some("looking-glass")).await.unwrap_err();
    assert_eq!((code(&gone), gone.as_db_error().unwrap().message()), ("28P01".to_string(), "password authentication failed for user \"alice\""));
    assert_eq!((code(&wrong), wrong.as_db_error().unwrap().message()), ("28P01".to_string(), "password authentication failed for user \"carol\""));
    let (unknown, known) = (connect(&server, "alice", None).await.unwrap_err(), connect(&server, "carol", None).await.unwrap_err());
    assert_eq!(unknown.to_string(), known.to_string(), "both were challenged for a password");
    admin.batch_execute("CREATE USER alice PASSWORD 'again'").await.unwrap();
    let alice = connect(&server, "alice", Some("again")).await.unwrap();
    denied(&alice, "SELECT id FROM big_orders").await;
}

/// A non-loopback address of this machine, through which a connection is not a local one.
fn outside_address() -> Option<String> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.255:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then(|| ip.to_string())
}

/// NOLOGIN (and CREATE ROLE without LOGIN, PostgreSQL's default) refuses a session on every door
/// once the password is proven (a wrong one still gets 28P01, revealing nothing), keeps the role's
/// grants, survives a restart, and LOGIN lets the role in again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_may_not_log_in_is_refused_at_every_door() {
    let server = squall().executors(0).start();
    let admin = server.client().await;
    admin
        .batch_execute(
            "CREATE TABLE notes AS SELECT 1 AS n; CREATE ROLE readers PASSWORD 'r3aders'; \
             CREATE USER erin PASSWORD 'er1n' NOLOGIN; GRANT SELECT ON notes TO erin",
        )
        .await
        .unwrap();
    let refused_everywhere = |server: &Server, user: &'static str, password: &'static str| {
        let server_pg = server.pg_port;
        let http = server.http.clone();
        let flight = server.flight_sql.clone();
        async move {
            let config = format!("host=127.0.0.1 port={server_pg} user={user} password={password} dbname=squall");
            let error = tokio_postgres::connect(&config, NoTls).await.map(|_| ()).unwrap_err();
            assert_eq!(code(&error), "28000", "{user}: {error}");
            assert_eq!(error.as_db_error().unwrap().message(), format!("role \"{user}\" is not permitted to log in"));
            let wrong = tokio_postgres::connect(&config.replace(password, "wrong"), NoTls).await.map(|_| ()).unwrap_err();
            assert_eq!(code(&wrong), "28P01", "{user}: {wrong}");
            let credentials = format!("{user}:{password}");
            let (status, body) = squall_tests::server::post(&http, "/v1/tables/notes/rows", Some(&credentials), "text/csv", &[], b"n\n2\n");
            assert_eq!(status, 401, "{body}");
            assert!(body.contains("28000") && body.contains("not permitted to log in"), "{body}");
            let channel = crate::flight_sql::channel(&flight).await;
            let error = arrow_flight::sql::client::FlightSqlServiceClient::new(channel).handshake(user, password).await.unwrap_err().to_string();
            assert!(error.contains("28000") && error.contains("not permitted to log in"), "{error}");
        }
    };
    refused_everywhere(&server, "readers", "r3aders").await;
    refused_everywhere(&server, "erin", "er1n").await;
    let roles: Vec<(String, bool)> =
        admin.query("SELECT rolname, rolcanlogin FROM pg_catalog.pg_roles ORDER BY rolname", &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(roles, [("erin".to_string(), false), ("readers".to_string(), false), ("squall".to_string(), true)]);
    assert_eq!(code(&admin.batch_execute("ALTER USER squall NOLOGIN").await.unwrap_err()), "0A000");

    // Kept across a restart; LOGIN lets erin in, with the grant she had.
    let data_dir = server.data_dir.clone();
    drop(admin);
    let mut server = server;
    server.terminate();
    let server = squall().executors(0).data_dir(&data_dir).start();
    refused_everywhere(&server, "erin", "er1n").await;
    server.client().await.batch_execute("ALTER ROLE erin LOGIN").await.unwrap();
    let erin = connect(&server, "erin", Some("er1n")).await.unwrap();
    assert_eq!(erin.query_one("SELECT n FROM notes", &[]).await.unwrap().get::<_, i64>(0), 1);
    let channel = crate::flight_sql::channel(&server.flight_sql).await;
    arrow_flight::sql::client::FlightSqlServiceClient::new(channel).handshake("erin", "er1n").await.unwrap();
    // Only a superuser says who may log in.
    assert_eq!(code(&erin.batch_execute("ALTER USER erin NOLOGIN").await.unwrap_err()), "42501");
    refused_everywhere(&server, "readers", "r3aders").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listening_beyond_this_machine_needs_passwords() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("data");
    // No passwords yet: squall refuses to listen on every interface, and says why.
    let refused = Command::new(env!("CARGO_BIN_EXE_squall"))
        .args(["serve", "--executors", "0", "--listen", "0.0.0.0:0", "--scheduler-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--flight-sql-listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(&data_dir)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("refusing to listen on 0.0.0.0:0") && said.contains("PASSWORD"), "{said}");

    // With a password set (locally), it starts; from outside only passwords let users in.
    {
        let server = squall().executors(0).data_dir(&data_dir).start();
        server.client().await.batch_execute("ALTER USER squall PASSWORD 'root-secret'; CREATE USER bob").await.unwrap();
    }
    let server = squall().executors(0).data_dir(&data_dir).listen("0.0.0.0:0").start();
    let Some(outside) = outside_address() else {
        eprintln!("no non-loopback address on this machine: the remote-client half of this test cannot run");
        return;
    };
    // bob has no password: from outside he is answered as a wrong password is.
    let err = connect_to(&server, &outside, "bob", Some("guess")).await.unwrap_err();
    assert_eq!((code(&err), err.as_db_error().unwrap().message()), ("28P01".to_string(), "password authentication failed for user \"bob\""));
    assert_eq!(code(&connect_to(&server, &outside, "squall", Some("wrong")).await.unwrap_err()), "28P01");
    let remote = connect_to(&server, &outside, "squall", Some("root-secret")).await.unwrap();
    assert_eq!(remote.query_one("SELECT 40 + 2", &[]).await.unwrap().get::<_, i64>(0), 42);
    // A user with a password gives it on loopback too; bob, without one, may connect locally.
    assert_eq!(code(&connect(&server, "squall", Some("wrong")).await.unwrap_err()), "28P01");
    connect(&server, "bob", None).await.unwrap();
}

fn psql_with(conninfo: &str, command: &str) -> std::process::Output {
    Command::new("psql").args(["-X", "-v", "ON_ERROR_STOP=1", conninfo, "-c", command]).output().expect("psql")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_psql() {
    let certs = tempfile::tempdir().unwrap();
    write_certificates(certs.path());
    let path = |name: &str| certs.path().join(name).to_string_lossy().into_owned();
    let server = squall().executors(0).args(&["--tls-cert", &path("server.pem"), "--tls-key", &path("server.key")]).start();
    for mode in ["sslmode=require".to_string(), format!("sslmode=verify-full sslrootcert={}", path("ca.pem"))] {
        let conninfo = format!("host=localhost port={} user=squall dbname=squall {mode}", server.pg_port);
        let out = psql_with(&conninfo, "\\conninfo");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && said.contains("SSL connection (protocol: TLSv1."), "{mode}: {said}{}", String::from_utf8_lossy(&out.stderr));
        let out = psql_with(&conninfo, "SELECT 40 + 2");
        assert!(String::from_utf8_lossy(&out.stdout).contains("42"), "{mode}");
    }
    // verify-full checks the name: the certificate is for localhost, not for another CA's name.
    let other_ca = tempfile::tempdir().unwrap();
    write_certificates(other_ca.path());
    let conninfo = format!("host=localhost port={} user=squall dbname=squall sslmode=verify-full sslrootcert={}", server.pg_port, other_ca.path().join("ca.pem").display());
    let out = psql_with(&conninfo, "SELECT 1");
    assert!(!out.status.success(), "a certificate from another CA must be refused");
    // Plaintext clients are still served (sslmode=disable), as PostgreSQL with ssl=on does.
    let out = psql_with(&format!("host=127.0.0.1 port={} user=squall dbname=squall sslmode=disable", server.pg_port), "SELECT 1");
    assert!(out.status.success());

    // A TLS set-up that cannot work stops the server instead of serving plaintext.
    for (cert, key) in [(path("server.pem"), path("missing.key")), (path("server.pem"), path("ca.key")), (path("server.key"), path("server.key"))] {
        let data = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_squall"))
            .args(["serve", "--executors", "0", "--listen", "127.0.0.1:0", "--scheduler-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--flight-sql-listen", "127.0.0.1:0", "--tls-cert", &cert, "--tls-key", &key])
            .arg("--data-dir")
            .arg(data.path())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{cert} {key}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("TLS"), "{}", String::from_utf8_lossy(&out.stderr));
    }
}
