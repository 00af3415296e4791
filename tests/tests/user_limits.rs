//! Per-user limits, the seed of multi-tenant use: a user's own session defaults (`ALTER USER name
//! SET parameter = value`, applied at login), `CONNECTION LIMIT` (53300 beyond it) and `MAX_JOBS`
//! (a user's further cluster jobs wait their turn, `queued` in SHOW JOBS, while other users' run).

use std::time::{Duration, Instant};

use squall_tests::Server;
use tokio_postgres::{Client, NoTls};

use crate::cancel::{cluster_with_orders, HEAVY};
use crate::squall;

async fn connect(server: &Server, user: &str, password: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) =
        tokio_postgres::connect(&format!("host=127.0.0.1 port={} user={user} password={password} dbname=squall", server.pg_port), NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

fn code(e: &tokio_postgres::Error) -> String {
    e.code().map(|c| c.code().to_string()).unwrap_or_else(|| format!("no SQLSTATE: {e}"))
}

async fn show(client: &Client, parameter: &str) -> String {
    client.query_one(&format!("SHOW {parameter}"), &[]).await.unwrap().get(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_users_defaults_apply_at_login_and_are_checked_when_set() {
    let server = squall().executors(1).start();
    let admin = server.client().await;
    admin
        .batch_execute(
            "CREATE USER bob PASSWORD 'builder'; ALTER USER bob SET statement_timeout = '300ms'; \
             ALTER ROLE bob SET squall.local_scan_limit TO '1MB'; ALTER USER bob SET DateStyle = 'SQL, DMY'",
        )
        .await
        .unwrap();
    for (sql, expected) in [
        ("ALTER USER bob SET no_such_parameter = 1", "42704"),
        ("ALTER USER bob SET statement_timeout = 'soon'", "22023"),
        ("ALTER USER bob SET squall.local_scan_limit = 'huge'", "22023"),
        ("ALTER USER nobody SET statement_timeout = '1s'", "42704"),
    ] {
        assert_eq!(code(&admin.batch_execute(sql).await.unwrap_err()), expected, "{sql}");
    }

    let bob = connect(&server, "bob", "builder").await.unwrap();
    assert_eq!(show(&bob, "squall.local_scan_limit").await, "1MB");
    assert_eq!(show(&bob, "datestyle").await, "SQL, DMY");
    let stopped = bob.batch_execute("SELECT pg_sleep(3)").await.unwrap_err();
    assert_eq!(code(&stopped), "57014", "bob's statement_timeout applies: {stopped}");
    // They are defaults: bob's session may change them, and other users never had them.
    bob.batch_execute("SET statement_timeout = 0; SELECT pg_sleep(0.5)").await.unwrap();
    assert_eq!(show(&admin, "squall.local_scan_limit").await, "0");
    admin.batch_execute("SELECT pg_sleep(0.5)").await.unwrap();
    // A user may set their own defaults, not anyone else's, and not their own limits.
    bob.batch_execute("ALTER USER bob SET extra_float_digits = 2").await.unwrap();
    assert_eq!(code(&bob.batch_execute("ALTER USER squall SET statement_timeout = '1ms'").await.unwrap_err()), "42501");
    assert_eq!(code(&bob.batch_execute("ALTER USER bob CONNECTION LIMIT 100").await.unwrap_err()), "42501");
    assert_eq!(code(&bob.batch_execute("ALTER USER bob MAX_JOBS -1").await.unwrap_err()), "42501");
    // Kept across a restart, and RESET ALL clears them.
    let data_dir = server.data_dir.clone();
    drop((bob, admin));
    let mut server = server;
    server.terminate();
    let server = squall().executors(0).data_dir(&data_dir).start();
    let bob = connect(&server, "bob", "builder").await.unwrap();
    assert_eq!(show(&bob, "extra_float_digits").await, "2");
    assert_eq!(code(&bob.batch_execute("SELECT pg_sleep(3)").await.unwrap_err()), "57014");
    server.client().await.batch_execute("ALTER USER bob RESET ALL").await.unwrap();
    let bob = connect(&server, "bob", "builder").await.unwrap();
    bob.batch_execute("SELECT pg_sleep(0.5)").await.unwrap();
    assert_eq!(show(&bob, "squall.local_scan_limit").await, "0");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_limit_refuses_one_session_too_many_with_53300() {
    let server = squall().executors(0).start();
    let admin = server.client().await;
    admin.batch_execute("CREATE USER carol PASSWORD 'c4rol' CONNECTION LIMIT 2").await.unwrap();
    let first = connect(&server, "carol", "c4rol").await.unwrap();
    let _second = connect(&server, "carol", "c4rol").await.unwrap();
    let refused = connect(&server, "carol", "c4rol").await.unwrap_err();
    assert_eq!(code(&refused), "53300", "{refused}");
    assert_eq!(refused.as_db_error().unwrap().message(), "too many connections for role \"carol\"");
    // A session that ends frees its place.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    let _third = loop {
        match connect(&server, "carol", "c4rol").await {
            Ok(client) => break client,
            Err(e) => {
                assert_eq!(code(&e), "53300");
                assert!(Instant::now() < deadline, "the ended session's place was never freed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    // -1 lifts the limit; superusers are never limited.
    admin.batch_execute("ALTER USER carol CONNECTION LIMIT -1; ALTER USER squall CONNECTION LIMIT 1").await.unwrap();
    let _fourth = connect(&server, "carol", "c4rol").await.unwrap();
    let _another_admin = server.client().await;
}

const LIGHT: &str = "SELECT count(*) FROM orders";

/// The state `squall.jobs` shows for `sql` run by `user`, once it shows `state`.
async fn wait_for_job(observer: &Client, sql: &str, user: &str, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = observer.query("SELECT state FROM squall.jobs WHERE query = $1 AND \"user\" = $2", &[&sql, &user]).await.unwrap();
        if rows.iter().any(|r| r.get::<_, String>(0) == state) {
            return;
        }
        assert!(Instant::now() < deadline, "{sql} by {user} never {state}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_capped_users_next_job_waits_its_turn_while_other_users_run() {
    // HEAVY keeps the executors busy far longer than the test waits (it is cancelled).
    let (server, admin, _files) = cluster_with_orders().await;
    admin.batch_execute("CREATE USER dave PASSWORD 'd4ve' MAX_JOBS 1; GRANT SELECT ON orders TO dave").await.unwrap();
    let total: i64 = admin.query_one(LIGHT, &[]).await.unwrap().get(0);

    let heavy_session = connect(&server, "dave", "d4ve").await.unwrap();
    // One partition: the heavy job holds one task slot of four, so other users' jobs find room
    // (the cap is dave's, not the cluster's).
    heavy_session.batch_execute("SET datafusion.execution.target_partitions = 1").await.unwrap();
    let cancel = heavy_session.cancel_token();
    let heavy = tokio::spawn(async move { heavy_session.batch_execute(HEAVY).await });
    wait_for_job(&admin, HEAVY, "dave", "running").await;
    let light_session = connect(&server, "dave", "d4ve").await.unwrap();
    let light = tokio::spawn(async move { light_session.query_one(LIGHT, &[]).await.map(|row| row.get::<_, i64>(0)) });
    wait_for_job(&admin, LIGHT, "dave", "queued").await;

    // Another user is not held back by dave's cap, and dave's second query still waits.
    let others: i64 = admin.query_one("SELECT count(*) FROM orders WHERE amount >= 0", &[]).await.unwrap().get(0);
    assert_eq!(others, total);
    assert!(!light.is_finished(), "dave's second job waits for his first");
    wait_for_job(&admin, LIGHT, "dave", "queued").await;

    // When the first ends (here: cancelled), the waiting one runs and answers right.
    cancel.cancel_query(NoTls).await.unwrap();
    assert_eq!(code(&heavy.await.unwrap().unwrap_err()), "57014");
    let counted = tokio::time::timeout(Duration::from_secs(60), light).await.expect("the queued job ran").unwrap().unwrap();
    assert_eq!(counted, total);
    let queued: i64 = admin.query_one("SELECT count(*) FROM squall.jobs WHERE state = 'queued'", &[]).await.unwrap().get(0);
    assert_eq!(queued, 0);
}
