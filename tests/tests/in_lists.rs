//! IN lists answer as in PostgreSQL, NULLs included, on both paths and as prepared statements:
//! DataFusion's simplifier merged two lists on the same column as sets, which dropped a
//! `NOT IN (..., NULL)`, gave `false` for a NULL column, and, with parameters (squall turns the
//! constants of a simple query's WHERE into parameters), dropped or emptied a list whatever the
//! values (udf/src/in_lists.rs).

use crate::differential::Peers;
use crate::subqueries::answer_as_in_postgresql;

const TABLES: &[&str] = &[
    "CREATE TABLE t (id INTEGER NOT NULL, a INTEGER, b INTEGER)",
    "INSERT INTO t VALUES (1, 3, 1), (2, 6, NULL), (3, NULL, 2)",
    "INSERT INTO t VALUES (4, -1, 3), (5, 3, 3), (6, 2, NULL)",
];

const FORMS: &[(&str, &str)] = &[
    ("NOT IN with NULL, and IN", "SELECT id FROM t WHERE id NOT IN (-2, 0, NULL) AND id IN (1, -2)"),
    ("IN with NULL", "SELECT id FROM t WHERE a IN (3, NULL)"),
    ("IN and NOT IN with NULL as values", "SELECT id, a IN (3, NULL), a NOT IN (6, NULL), a IN (NULL), a NOT IN (NULL) FROM t"),
    ("two lists as values, NULL column", "SELECT id, a IN (3, 6) AND a IN (-1, 2), a NOT IN (3) OR a NOT IN (6) FROM t"),
    ("two ORs of equalities as values, NULL column", "SELECT id, (a = 3 OR a = 6) AND (a = -1 OR a = 2) FROM t"),
    ("IN and NOT IN: constants become parameters", "SELECT id FROM t WHERE a IN (3, 6) AND a NOT IN (6)"),
    ("IN and IN: constants become parameters", "SELECT id FROM t WHERE a IN (3, 6) AND a IN (6)"),
    ("NOT IN or NOT IN", "SELECT id FROM t WHERE a NOT IN (3) OR a NOT IN (6)"),
    ("two lists apart in a conjunction", "SELECT id FROM t WHERE a IN (3, 6) AND b > 0 AND a NOT IN (6)"),
    ("lists of columns", "SELECT id FROM t WHERE a IN (b, 3) AND a NOT IN (id)"),
];

#[tokio::test(flavor = "multi_thread")]
async fn in_lists_answer_as_in_postgresql() {
    let peers = Peers::start(TABLES).await;
    answer_as_in_postgresql(&peers, FORMS).await;

    // The same lists with the values as a prepared statement's parameters.
    let prepared = "SELECT id FROM t WHERE a IN ($1, $2) AND a NOT IN ($3) ORDER BY id";
    let intersected = "SELECT id FROM t WHERE a IN ($1, $2) AND a IN ($3) ORDER BY id";
    for sql in [prepared, intersected] {
        let ids = |rows: Vec<tokio_postgres::Row>| rows.iter().map(|r| r.get::<_, i32>(0)).collect::<Vec<_>>();
        let expected = ids(peers.pg.query(sql, &[&3i32, &6i32, &6i32]).await.unwrap());
        for client in [&peers.coordinator, &peers.distributed] {
            assert_eq!(ids(client.query(sql, &[&3i32, &6i32, &6i32]).await.unwrap()), expected, "{sql}");
        }
    }
}
