//! Many clients at once, and clients that misbehave: nobody disturbs anybody else.

use std::io::{Read, Write};
use std::time::Duration;

use squall_tests::data::write_orders;

use crate::squall;

/// A quarter of the statements run on the executors (a count, a prepared lookup), the rest on the
/// coordinator (constants, parameters, catalog reads, an error); every answer is checked.
#[tokio::test(flavor = "multi_thread")]
async fn sixty_four_clients_running_a_hundred_mixed_statements_each_get_every_answer_right() {
    let server = squall().executors(2).start();
    let files = tempfile::tempdir().unwrap();
    let orders = write_orders(&files.path().join("orders"), 4, 500, 50);
    let setup = server.client().await;
    setup
        .batch_execute(&format!("CREATE EXTERNAL TABLE orders STORED AS PARQUET LOCATION '{}/'", files.path().join("orders").display()))
        .await
        .unwrap();
    let mut clients = Vec::new();
    for c in 0..64i64 {
        let client = server.client().await;
        let orders = orders.clone();
        clients.push(tokio::spawn(async move {
            let by_id = client.prepare("SELECT amount FROM orders WHERE id = $1").await.unwrap();
            for i in 0..100i64 {
                let k = (c * 100 + i) % 2000;
                match i % 5 {
                    0 => {
                        let n: i64 = client.query_one("SELECT count(*) FROM orders WHERE id < $1", &[&k]).await.unwrap().get(0);
                        assert_eq!(n, k);
                    }
                    1 if i % 25 == 1 => {
                        let amount: i64 = client.query_one(&by_id, &[&k]).await.unwrap().get(0);
                        assert_eq!(amount, orders[k as usize].amount);
                    }
                    1 => {
                        let rows = client.query("SELECT relname FROM pg_catalog.pg_class WHERE relname = $1", &[&"orders"]).await.unwrap();
                        assert_eq!(rows.len(), 1);
                    }
                    2 => {
                        let one: i64 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
                        assert_eq!(one, 1);
                    }
                    3 => {
                        let rows = client.simple_query("SELECT relname FROM pg_catalog.pg_class WHERE relname = 'orders'").await.unwrap();
                        assert!(rows.iter().any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_))));
                    }
                    _ => {
                        let err = client.query("SELECT nosuch FROM orders", &[]).await.unwrap_err();
                        assert_eq!(err.code().unwrap().code(), "42703");
                    }
                }
            }
        }));
    }
    for client in clients {
        client.await.expect("a client failed");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_oversized_messages_and_vanishing_clients_do_not_disturb_others() {
    let server = squall().executors(1).start();
    let files = tempfile::tempdir().unwrap();
    write_orders(&files.path().join("orders"), 2, 20_000, 50);
    let client = server.client().await;
    client
        .batch_execute(&format!("CREATE EXTERNAL TABLE orders STORED AS PARQUET LOCATION '{}/'", files.path().join("orders").display()))
        .await
        .unwrap();
    let address = format!("127.0.0.1:{}", server.pg_port);
    let closed = |bytes: &[u8]| {
        let mut socket = std::net::TcpStream::connect(&address).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        socket.write_all(bytes).unwrap();
        let mut rest = Vec::new();
        // The server ends the connection (read returns 0) rather than waiting for more.
        socket.read_to_end(&mut rest).is_ok()
    };
    // Not a startup packet at all; a startup packet claiming 2 GiB.
    assert!(closed(b"\x00\x00\x00\x08garbage!garbage!"));
    assert!(closed(b"\x7f\xff\xff\xff\x00\x03\x00\x00"));
    // After start-up, an unknown message type and a message claiming 2 GiB are protocol
    // violations: a FATAL 08P01 error, then the connection closes.
    for violation in [&b"g\x00\x00\x00\x08junk"[..], &b"Q\x7f\xff\xff\xffSELECT 1"[..]] {
        let reply = after_startup(&address, violation);
        assert_eq!(reply.first(), Some(&b'E'), "{reply:?}");
        let text = String::from_utf8_lossy(&reply);
        assert!(text.contains("SFATAL") && text.contains("C08P01"), "{text}");
    }
    // A client that asks for many rows and vanishes mid-result.
    let (vanishing, connection) = tokio_postgres::connect(&server.connection_string(), tokio_postgres::NoTls).await.unwrap();
    let task = tokio::spawn(connection);
    let query = tokio::spawn(async move { vanishing.query("SELECT * FROM orders", &[]).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    task.abort();
    query.abort();
    // Everyone else carries on.
    let n: i64 = client.query_one("SELECT count(*) FROM orders", &[]).await.unwrap().get(0);
    assert_eq!(n, 40_000);
    let other = server.client().await;
    let n: i64 = other.query_one("SELECT count(*) FROM orders WHERE id < 10", &[]).await.unwrap().get(0);
    assert_eq!(n, 10);
}

/// Starts a session as `squall` over a raw socket (a protocol violation needs bytes no client
/// library sends), sends `bytes`, and returns everything the server answers until it closes.
fn after_startup(address: &str, bytes: &[u8]) -> Vec<u8> {
    let mut socket = std::net::TcpStream::connect(address).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut body = 196_608u32.to_be_bytes().to_vec(); // protocol 3.0
    body.extend_from_slice(b"user\0squall\0database\0squall\0\0");
    let mut startup = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    startup.extend_from_slice(&body);
    socket.write_all(&startup).unwrap();
    // Messages until ReadyForQuery ('Z', length 5, status).
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !seen.ends_with(b"Z\0\0\0\x05I") {
        socket.read_exact(&mut byte).expect("start-up ends with ReadyForQuery");
        seen.push(byte[0]);
    }
    socket.write_all(bytes).unwrap();
    let mut reply = Vec::new();
    socket.read_to_end(&mut reply).expect("the server closes the connection");
    reply
}
