//! Casts of floats and numerics to integer types round as in PostgreSQL (float8 and float4 ties
//! to even, numerics and literals ties away from zero), where DataFusion's cast truncated:
//! `CAST(1.7 AS int)` was 1, `avg(x)::int` one less than PostgreSQL's, an INSERT of 1.7 into an
//! int column stored 1 (udf/src/pg_integer_casts.rs). Checked on both paths, and for the rows an
//! INSERT stores.

use crate::differential::Peers;
use crate::subqueries::answer_as_in_postgresql;

const TABLES: &[&str] = &[
    "CREATE TABLE f (i INTEGER NOT NULL, x DOUBLE PRECISION, r REAL, d NUMERIC(6, 2))",
    "INSERT INTO f VALUES (1, 1.7, 1.7, 1.70), (2, 2.5, 2.5, 2.50), (3, 3.5, 3.5, 3.50), (4, -2.5, -2.5, -2.50), (5, -1.2, -1.2, -1.20), (6, 0.5, 0.5, 0.50), (7, NULL, NULL, NULL)",
    // Stored through an INSERT's own cast to the column types.
    "CREATE TABLE g (k INTEGER NOT NULL, a INTEGER, b BIGINT, c SMALLINT)",
    "INSERT INTO g VALUES (1, 1.7, 2.5, -2.5)",
    "INSERT INTO g VALUES (2, 2.5, 3.5, 0.5), (3, -0.5, -1.5, 1.49)",
];

const FORMS: &[(&str, &str)] = &[
    ("columns of each type", "SELECT i, x::int, r::int, d::int, CAST(x AS bigint), x::smallint, d::bigint FROM f"),
    ("literals", "SELECT CAST(2.5 AS int), CAST(-2.5 AS int), CAST(1.7 AS bigint), 0.5::int, (-1.5)::smallint"),
    ("aggregates", "SELECT avg(x)::int, sum(d)::int, avg(d)::bigint FROM f"),
    ("expressions", "SELECT i, (x * 3)::int, (d / 3)::int FROM f"),
    ("what INSERT stored", "SELECT k, a, b, c FROM g"),
];

#[tokio::test(flavor = "multi_thread")]
async fn casts_to_integers_round_as_in_postgresql() {
    let peers = Peers::start(TABLES).await;
    answer_as_in_postgresql(&peers, FORMS).await;

    // A prepared INSERT's float8 parameter, cast to the int column, rounds as float8 does.
    for (k, value) in [(10, 2.5f64), (11, 3.5), (12, -2.5), (13, 1.7)] {
        for client in [&peers.pg, &peers.coordinator] {
            client.execute("INSERT INTO g (k, a, b, c) VALUES ($1, $2::float8, 0, 0)", &[&k, &value]).await.unwrap();
        }
    }
    let stored = "SELECT k, a FROM g WHERE k >= 10 ORDER BY k";
    let rows = |rows: Vec<tokio_postgres::Row>| rows.iter().map(|r| (r.get::<_, i32>(0), r.get::<_, Option<i32>>(1))).collect::<Vec<_>>();
    assert_eq!(rows(peers.coordinator.query(stored, &[]).await.unwrap()), rows(peers.pg.query(stored, &[]).await.unwrap()));
}
