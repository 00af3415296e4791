//! The Flight SQL endpoint (flight/src/sql) with arrow-flight's own Rust clients, where the
//! ADBC checks (tests/clients/python/check_flight_sql.py, run by `clients::flight_sql_adbc`) cannot
//! reach: `CancelFlightInfo` stops a running distributed statement and its job; a call without
//! credentials is trusted only as the Postgres port trusts it; a token from another handshake
//! cannot read someone else's result.

use std::time::{Duration, Instant};

use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::{CancelFlightInfoRequest, CancelStatus, FlightClient};
use futures::TryStreamExt;
use tonic::transport::Channel;

use crate::squall;

pub(crate) async fn channel(address: &str) -> Channel {
    Channel::from_shared(format!("http://{address}")).unwrap().connect().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_flight_info_stops_the_statement_and_its_job() {
    let server = squall().executors(1).start();
    server.wait_for_executors(1).await;
    let pg = server.client().await;
    pg.batch_execute("CREATE TABLE big AS SELECT g AS x FROM generate_series(1, 300000) AS s(g)").await.unwrap();
    let channel = channel(&server.flight_sql).await;
    let mut sql = FlightSqlServiceClient::new(channel.clone());
    // No credentials: squall (no password) from this machine, as psql -U squall.
    let info = sql.execute("SELECT count(*) FROM big a, big b WHERE a.x + b.x = 7".into(), None).await.unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let reading = {
        let mut sql = sql.clone();
        tokio::spawn(async move {
            match sql.do_get(ticket).await {
                Ok(stream) => stream.try_collect::<Vec<_>>().await.map(|_| ()).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        })
    };
    // The join runs as a job on the executor.
    let deadline = Instant::now() + Duration::from_secs(30);
    while pg.query_one("SELECT count(*) FROM squall.jobs WHERE state = 'running'", &[]).await.unwrap().get::<_, i64>(0) == 0 {
        assert!(Instant::now() < deadline, "no job started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let result = FlightClient::new(channel).cancel_flight_info(CancelFlightInfoRequest::new(info)).await.unwrap();
    assert_eq!(result.status, CancelStatus::Cancelled as i32);
    let read = tokio::time::timeout(Duration::from_secs(30), reading).await.expect("the read ends").unwrap();
    let error = read.expect_err("a cancelled statement's rows end in an error");
    assert!(error.contains("57014") && error.contains("canceling statement due to user request"), "{error}");
    // Its job is cancelled on the executors, not left running.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let states: Vec<String> = pg.query("SELECT state FROM squall.jobs", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
        if states.iter().any(|s| s == "cancelled") && !states.iter().any(|s| s == "running") {
            break;
        }
        assert!(Instant::now() < deadline, "{states:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_belong_to_their_user_and_strangers_need_a_password() {
    let server = squall().executors(1).start();
    let pg = server.client().await;
    pg.batch_execute("CREATE TABLE notes AS SELECT 1 AS n; CREATE USER reader PASSWORD 'pw'; GRANT SELECT ON notes TO reader").await.unwrap();
    let channel = channel(&server.flight_sql).await;
    let mut admin = FlightSqlServiceClient::new(channel.clone());
    let mut reader = FlightSqlServiceClient::new(channel.clone());
    // The handshake gives a bearer token, which the Rust client then sends.
    reader.handshake("reader", "pw").await.unwrap();
    assert!(reader.token().is_some());
    let error = FlightSqlServiceClient::new(channel.clone()).handshake("reader", "nope").await.unwrap_err().to_string();
    assert!(error.contains("28P01"), "{error}");
    // The superuser's result cannot be read with the reader's token.
    let info = admin.execute("SELECT n FROM notes".into(), None).await.unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let error = reader.do_get(ticket.clone()).await.map(|_| ()).unwrap_err().to_string();
    assert!(error.contains("26000"), "{error}");
    let batches: Vec<_> = admin.do_get(ticket.clone()).await.unwrap().try_collect().await.unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    // A result is read once.
    let error = admin.do_get(ticket).await.map(|_| ()).unwrap_err().to_string();
    assert!(error.contains("26000"), "{error}");
    // Once squall has a password, calls without credentials are refused.
    pg.batch_execute("ALTER USER squall PASSWORD 'root-pw'").await.unwrap();
    let error = FlightSqlServiceClient::new(channel.clone()).execute("SELECT 1".into(), None).await.unwrap_err().to_string();
    assert!(error.contains("28000"), "{error}");
    let info = reader.execute("SELECT n FROM notes".into(), None).await.unwrap();
    assert_eq!(info.endpoint.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn introspection_answers_types_keys_and_cluster_commands() {
    let server = squall().executors(1).start();
    server.wait_for_executors(1).await;
    let mut sql = FlightSqlServiceClient::new(channel(&server.flight_sql).await);
    let read = |info: arrow_flight::FlightInfo, mut sql: FlightSqlServiceClient<Channel>| async move {
        let schema = std::sync::Arc::new(info.clone().try_decode_schema().unwrap());
        let ticket = info.endpoint[0].ticket.clone().unwrap();
        let batches: Vec<arrow::record_batch::RecordBatch> = sql.do_get(ticket).await.unwrap().try_collect().await.unwrap();
        // The batches are of the schema the FlightInfo announced (an empty answer may send none).
        assert!(batches.iter().all(|b| b.schema() == schema), "{schema:?}");
        arrow::compute::concat_batches(&schema, &batches).unwrap()
    };
    // The types squall knows, with their names and XDBC codes.
    let types = read(sql.get_xdbc_type_info(arrow_flight::sql::CommandGetXdbcTypeInfo { data_type: None }).await.unwrap(), sql.clone()).await;
    let names = types.column_by_name("type_name").unwrap().as_any().downcast_ref::<arrow::array::StringArray>().unwrap();
    let names: Vec<&str> = names.iter().flatten().collect();
    for wanted in ["bigint", "double precision", "text", "boolean", "timestamp"] {
        assert!(names.contains(&wanted), "{names:?}");
    }
    // No primary keys, in the columns Flight SQL defines.
    let keys = read(
        sql.get_primary_keys(arrow_flight::sql::CommandGetPrimaryKeys { catalog: None, db_schema: None, table: "anything".into() }).await.unwrap(),
        sql.clone(),
    )
    .await;
    assert_eq!(keys.num_rows(), 0);
    assert_eq!(keys.schema().fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>(), ["catalog_name", "db_schema_name", "table_name", "column_name", "key_name", "key_sequence"]);
    // Cluster commands answer as over the Postgres wire.
    let executors = read(sql.execute("SHOW EXECUTORS".into(), None).await.unwrap(), sql.clone()).await;
    assert_eq!(executors.num_rows(), 1);
    let info = sql.execute("ALTER CLUSTER SET (max_executors = 3)".into(), None).await.unwrap();
    assert!(info.endpoint.is_empty());
    let cluster = read(sql.execute("SHOW CLUSTER".into(), None).await.unwrap(), sql.clone()).await;
    assert!(arrow::util::pretty::pretty_format_batches(&[cluster]).unwrap().to_string().contains("max_executors"));
}
