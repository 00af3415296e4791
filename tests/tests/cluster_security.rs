//! Only the cluster's own nodes can join it or call it: every call to the scheduler and to an
//! executor's Flight service must carry a credential derived from the cluster secret.

use std::process::{Command, Stdio};

use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::Ticket;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::{ExecuteQueryParams, ExecutorRegistration, GetJobStatusParams, HeartBeatParams, RegisterExecutorParams};
use squall_engine::internal_auth::ClusterSecret;
use squall_tests::Server;
use tonic::transport::{Channel, Endpoint};

use crate::processes::spawn_executor;
use crate::squall;

/// A channel to `address` that presents `credential` (as squall's nodes do) or nothing.
async fn channel(address: &str, credential: Option<String>) -> Channel {
    let mut endpoint = Endpoint::from_shared(format!("http://{address}")).unwrap();
    if let Some(credential) = credential {
        endpoint = endpoint.user_agent(format!("squall-node/{credential}")).unwrap();
    }
    endpoint.connect().await.unwrap()
}

fn credential_of(server: &Server) -> String {
    ClusterSecret::read(&server.data_dir.join("cluster.secret")).unwrap().credential()
}

/// Runs `squall executor` against `server` with `secret_args`; its exit status and stderr.
fn run_executor(server: &Server, id: &str, secret_args: &[&str]) -> (std::process::ExitStatus, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_squall"))
        .args(["executor", "--scheduler", &server.scheduler, "--id", id])
        .args(secret_args)
        .env_remove("SQUALL_CLUSTER_SECRET")
        .env_remove("SQUALL_CLUSTER_SECRET_FILE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (output.status, String::from_utf8_lossy(&output.stderr).to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_executor_with_a_wrong_or_no_secret_never_joins_and_is_recorded_as_rejected() {
    let server = squall().executors(1).start();
    server.wait_for_executors(1).await;
    let client = server.client().await;
    client.batch_execute("CREATE TABLE nums (n BIGINT); INSERT INTO nums VALUES (1), (2), (3)").await.unwrap();

    let wrong = server.data_dir.join("wrong.secret");
    std::fs::write(&wrong, "0123456789abcdef".repeat(4)).unwrap();
    let (status, stderr) = run_executor(&server, "rogue-exec", &["--cluster-secret-file", wrong.to_str().unwrap()]);
    assert!(!status.success(), "the rogue executor is refused and stops: {stderr}");
    assert!(stderr.contains("refused this executor's cluster credential"), "it is told why: {stderr}");
    let (status, stderr) = run_executor(&server, "secretless-exec", &[]);
    assert!(!status.success() && stderr.contains("cluster's secret"), "{stderr}");

    // The cluster goes on with its own executor only, and says who knocked.
    let sum: i64 = client.query_one("SELECT sum(n) FROM nums", &[]).await.unwrap().get(0);
    assert_eq!(sum, 6);
    let executors: Vec<String> = client.query("SELECT id FROM squall.executors", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(executors.len(), 1, "{executors:?}");
    assert!(!executors.iter().any(|id| id.contains("rogue")), "{executors:?}");
    let rejected = client
        .query("SELECT executor, reason FROM squall.cluster_events WHERE kind = 'rejected' AND cause = 'bad-credential'", &[])
        .await
        .unwrap();
    assert_eq!(rejected.len(), 1, "the rogue executor's first poll for work, once");
    assert_eq!(rejected[0].get::<_, String>(0), "rogue-exec");
    let reason: String = rejected[0].get(1);
    assert!(reason.starts_with("poll_work from 127.0.0.1:"), "{reason}");
    let metrics = server.http_get("/metrics");
    assert!(metrics.contains("squall_cluster_events_total{kind=\"rejected\",reason=\"bad-credential\"} 1"), "{metrics}");
    assert!(server.log().contains("refused an internal call with a wrong cluster credential"), "logged");
}

#[tokio::test(flavor = "multi_thread")]
async fn raw_scheduler_and_flight_calls_without_the_credential_are_refused() {
    let server = squall().executors(1).start();
    server.wait_for_executors(1).await;
    let client = server.client().await;
    let flight_address: String = client.query_one("SELECT address FROM squall.executors", &[]).await.unwrap().get(0);

    let mut stranger = SchedulerGrpcClient::new(channel(&server.scheduler, None).await);
    let registration = ExecutorRegistration { id: "stranger".into(), ..Default::default() };
    let refused = stranger.register_executor(RegisterExecutorParams { metadata: Some(registration) }).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused}");
    let refused = stranger.execute_query(ExecuteQueryParams::default()).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused}");
    let beat = HeartBeatParams { executor_id: "stranger".into(), ..Default::default() };
    assert_eq!(stranger.heart_beat_from_executor(beat).await.unwrap_err().code(), tonic::Code::Unauthenticated);
    let mut flight = FlightServiceClient::new(channel(&flight_address, None).await);
    let refused = flight.do_get(Ticket { ticket: "anything".into() }).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused}");

    // The same calls with the credential get past the check (and fail or answer on their merits).
    let credential = credential_of(&server);
    let mut member = SchedulerGrpcClient::new(channel(&server.scheduler, Some(credential.clone())).await);
    let status = member.get_job_status(GetJobStatusParams { job_id: "no-such-job".into() }).await;
    assert!(status.as_ref().map_or_else(|e| e.code() != tonic::Code::Unauthenticated, |_| true), "{status:?}");
    let mut flight = FlightServiceClient::new(channel(&flight_address, Some(credential)).await);
    let read = flight.do_get(Ticket { ticket: "anything".into() }).await;
    assert!(read.as_ref().map_or_else(|e| e.code() != tonic::Code::Unauthenticated, |_| true), "{:?}", read.err());

    // Each refusal is counted; an executor id claimed by refused calls is recorded once.
    let metrics = server.http_get("/metrics");
    assert!(metrics.contains("squall_internal_calls_rejected_total 3"), "{metrics}");
    let claimed: i64 = client
        .query_one("SELECT count(*) FROM squall.cluster_events WHERE kind = 'rejected' AND executor = 'stranger'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(claimed, 1);
}

/// A raw client of `address` over TLS, trusting the cluster's CA under its name, with the
/// credential.
async fn tls_channel(address: &str, ca_pem: &[u8], credential: String) -> Channel {
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(ca_pem))
        .domain_name("squall-cluster");
    Endpoint::from_shared(format!("https://{address}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .user_agent(format!("squall-node/{credential}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn with_internal_tls_the_cluster_speaks_only_tls_and_answers_tpch_correctly() {
    let server = squall().scheduler_only().args(&["--internal-tls"]).start();
    let tls_dir = server.data_dir.join("internal-tls");
    let work = tempfile::tempdir().unwrap();
    // Two executors with work directories of their own, so that shuffles cross Flight.
    let certificates = |name: &str| tls_dir.join(name).to_string_lossy().to_string();
    let (cert, key, ca) = (certificates("node.pem"), certificates("node.key"), certificates("ca.pem"));
    let tls = ["--slots", "2", "--internal-tls-cert", &cert, "--internal-tls-key", &key, "--internal-tls-ca", &ca];
    let mut executors: Vec<_> = (0..2).map(|i| spawn_executor(&server, &work.path().join(format!("e{i}")), &tls)).collect();
    server.wait_for_executors(2).await;
    let client = server.client().await;
    let flight_address: String = client.query_one("SELECT address FROM squall.executors LIMIT 1", &[]).await.unwrap().get(0);

    // Plaintext is not spoken, even with the credential.
    let credential = credential_of(&server);
    for address in [&server.scheduler, &flight_address] {
        let plain = Endpoint::from_shared(format!("http://{address}")).unwrap().user_agent(format!("squall-node/{credential}")).unwrap();
        let refused = match plain.connect().await {
            Err(_) => true,
            Ok(channel) => SchedulerGrpcClient::new(channel).get_job_status(GetJobStatusParams { job_id: "x".into() }).await.is_err(),
        };
        assert!(refused, "{address} answered plaintext");
    }
    // TLS under the cluster's CA is, and still needs the credential.
    let ca = std::fs::read(tls_dir.join("ca.pem")).unwrap();
    let mut member = SchedulerGrpcClient::new(tls_channel(&server.scheduler, &ca, credential.clone()).await);
    let status = member.get_job_status(GetJobStatusParams { job_id: "no-such-job".into() }).await;
    assert!(status.as_ref().map_or_else(|e| e.code() != tonic::Code::Unauthenticated, |_| true), "{status:?}");
    let mut stranger = SchedulerGrpcClient::new(tls_channel(&server.scheduler, &ca, "forged".into()).await);
    let refused = stranger.get_job_status(GetJobStatusParams { job_id: "x".into() }).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);

    let data = tempfile::tempdir().unwrap();
    let tables = squall_tests::tpch::generate(&data.path().join("sf0.01"), 0.01, 3).unwrap();
    client.batch_execute(&squall_tests::tpch::create_tables(&tables)).await.unwrap();
    let mut failures = Vec::new();
    for n in 1..=22 {
        let expected = squall_tests::tpch::datafusion_answer(&tables, n).await.unwrap();
        match squall_tests::tpch::client_answer(&client, n).await {
            Ok(got) => {
                if let Err(difference) = squall_tests::tpch::compare(&got, &expected) {
                    failures.push(format!("Q{n}: {difference}"));
                }
            }
            Err(e) => failures.push(format!("Q{n} failed: {e:?}")),
        }
    }
    assert!(failures.is_empty(), "{} of 22 differ over internal TLS:\n{}", failures.len(), failures.join("\n"));
    // Both executors worked, so results and shuffles crossed TLS between processes.
    let busy: i64 = client.query_one("SELECT count(*) FROM squall.executors WHERE completed_tasks > 0", &[]).await.unwrap().get(0);
    assert_eq!(busy, 2);
    for e in &mut executors {
        e.kill().unwrap();
        e.wait().unwrap();
    }
}

/// squall's internal aggregates take a model's file by URL; from SQL they would read any model
/// without USAGE on it, so no user's SQL may call them.
#[tokio::test(flavor = "multi_thread")]
async fn internal_model_functions_cannot_be_called_from_sql() {
    let server = squall().executors(1).start();
    let client = server.client().await;
    client.batch_execute("CREATE TABLE t (x DOUBLE, y TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b')").await.unwrap();
    for sql in [
        "SELECT squall_evaluate('file:///anywhere/models/secret/v1.json', y, x) FROM t",
        "SELECT squall_permutation_importance('file:///anywhere/m.json', y, x) FROM t",
        "SELECT x FROM t WHERE x > (SELECT length(squall_train_pass('naive_bayes', 'pass', x)) FROM t)",
        "CREATE VIEW v AS SELECT squall_evaluate('file:///m.json', y, x) FROM t",
    ] {
        let refused = client.batch_execute(sql).await.unwrap_err();
        let db = refused.as_db_error().unwrap();
        assert_eq!(db.code().code(), "42501", "{sql}: {db:?}");
        assert!(db.message().contains("internal to squall"), "{}", db.message());
    }
}
