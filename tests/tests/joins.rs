//! Joins answer as in PostgreSQL on the distributed path, over tables of several files (so that
//! a job has stages that exchange rows and Ballista's adaptive planner re-plans the rest with
//! their row counts). Each form here was answered wrongly, or never, before squall planned it
//! without the adaptive planner (squall_engine::statements::query, `misanswered_once_replanned`),
//! or before it pushed physical filters only through plans without repeated column names; and
//! aggregates DataFusion answered from a filter's statistics.

use crate::differential::Peers;
use crate::subqueries::answer_as_in_postgresql;

const TABLES: &[&str] = &[
    "CREATE TABLE t (id INTEGER NOT NULL, a INTEGER, b INTEGER, c INTEGER, s TEXT)",
    "INSERT INTO t VALUES (1, NULL, 6, 1, 'ba'), (2, 1, 1, 4, NULL), (3, -1, 3, 4, 'b')",
    "INSERT INTO t VALUES (4, NULL, 0, -1, 'A'), (5, NULL, 3, -2, 'a')",
    "INSERT INTO t VALUES (6, NULL, NULL, NULL, 'A'), (7, 6, 5, NULL, 'b')",
    "CREATE TABLE u (id INTEGER NOT NULL, a INTEGER, b INTEGER)",
    "INSERT INTO u VALUES (1, 2, 5), (2, 3, NULL), (3, -2, 5)",
    "INSERT INTO u VALUES (4, 3, NULL), (5, 6, 2)",
    // One file: a scan of one partition.
    "CREATE TABLE v (id INTEGER NOT NULL, a INTEGER, b INTEGER)",
    "INSERT INTO v VALUES (1, 2, 5), (2, 3, NULL), (3, -2, 1), (5, 0, 4), (6, 1, 0), (7, 3, 2)",
];

const FORMS: &[(&str, &str)] = &[
    ("cross join with an input of no columns", "SELECT r2.id FROM t AS r1, t AS r2 WHERE r2.s NOT LIKE '_'"),
    ("cross join of two inputs of no columns", "SELECT count(*) FROM t, (SELECT count(*) AS n FROM u WHERE a > 100) s WHERE n = 0"),
    ("RIGHT join without an equality", "SELECT r1.a, count(*) FROM u AS r1 RIGHT JOIN t AS r2 ON r1.b > r2.a GROUP BY r1.a"),
    ("inner join whose condition is split below it", "SELECT r1.b, r1.a, -1 FROM t AS r1 JOIN t AS r2 ON r1.a < r2.b WHERE (r2.b <= r1.c OR 6 >= r1.id OR r1.a IS NULL) AND r2.c <> r2.a"),
    ("LEFT join of an empty side", "SELECT r2.a < r2.b, r1.a, abs(r2.id) FROM t AS r1 LEFT JOIN t AS r2 ON r1.b = r2.b AND r1.b > 100"),
    ("FULL join of an empty side", "SELECT count(*) FROM t AS r1 FULL JOIN (SELECT * FROM u WHERE b > 100) AS r2 ON r1.b = r2.b"),
    ("NOT EXISTS of no rows", "SELECT count(*) FROM t AS r1 WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.b > 100 AND u.b = r1.b)"),
    ("SOME, correlated", "SELECT r1.id FROM t AS r1 WHERE r1.c = SOME (SELECT r2.b FROM u AS r2 WHERE r1.id IS NULL OR r1.id = r2.b)"),
    // Filters on the second of two columns of one name (squall_udf::repeated_names):
    // the condition was moved below the join onto `r2.a`, and answered three rows for one.
    ("condition on both sides' a above a RIGHT join", "SELECT r2.id, r1.id FROM u AS r1 RIGHT JOIN t AS r2 ON r1.b = r2.c AND r1.id * 6 = 2 WHERE r1.a > 0 OR r2.a < 0"),
    ("TopK over joins that repeat a name", "SELECT o.b, p.b FROM t AS o JOIN u AS p ON o.id = p.id JOIN t AS c ON p.id = c.id ORDER BY p.b LIMIT 1"),
    // Joins with a condition besides their keys, which sort-merge joins failed (squall plans
    // them as hash joins, `has_join_filter`).
    ("count of a subquery correlated by < and <>", "SELECT r1.id, (SELECT count(*) + 1 FROM u AS r2 WHERE NOT (r1.a <> r2.id OR r2.id >= r1.id)) FROM t AS r1"),
    ("FULL join with a CASE in ON", "SELECT r2.a, sum(r2.id), count(*) FROM u AS r1 FULL JOIN t AS r2 ON r1.b = r2.a AND CASE WHEN r2.b <= r2.id THEN r1.b ELSE 4 END < 3 GROUP BY r2.a"),
    ("RIGHT join with a CASE in ON", "SELECT r2.id, r2.s = 'ab' FROM u AS r1 RIGHT JOIN t AS r2 ON r1.a = r2.id AND CASE WHEN CAST(NULL AS INTEGER) < r2.a THEN r2.c ELSE r1.b END >= -2 WHERE (r1.a > r2.c AND r2.c > r2.id) OR r2.s < 'B' OR r2.s IS NOT NULL"),
    // A LEFT join Ballista turned from a broadcast join into a partitioned one under a plan made
    // for one partition (squall plans such jobs without broadcast joins, `has_join_keeping_rows`).
    ("sorted LEFT join under a one-row subquery", "SELECT r1.id, r2.b FROM t AS r1 LEFT JOIN v AS r2 ON r1.id = r2.id WHERE (SELECT count(*) FROM u) >= r2.b ORDER BY r1.id"),
    ("LIMIT of a LEFT join under a one-row subquery", "SELECT r1.id, r2.b FROM t AS r1 LEFT JOIN v AS r2 ON r1.id = r2.id WHERE (SELECT count(*) FROM u) >= r2.b ORDER BY r1.id LIMIT 3"),
    ("sorted RIGHT join whose padded side is filtered to one value", "SELECT r1.id, r2.id FROM t AS r1 RIGHT JOIN t AS r2 ON r1.id > r2.b AND r1.id = 4 ORDER BY r1.id DESC, r2.id LIMIT 2"),
    // Projection pushdown, run again over a filter that projects `r1.a, r1.b, r1.c, r2.a, r2.b,
    // r2.c`, read `a` for `c` (squall_udf::repeated_names; was XX000).
    ("projections over a filtered LEFT join of one table twice", "SELECT COALESCE(CASE WHEN r2.c >= r1.b THEN r2.c ELSE r2.b END, r1.b), (r1.a % NULLIF(r1.b, 0)), r1.c FROM t AS r1 LEFT JOIN t AS r2 ON r1.id >= r2.id WHERE r2.a IN (5, 3, -2, NULL)"),
    // An ALL whose subquery's own subquery compares with the outer row, under OR: DataFusion
    // copied the OR's subquery below `r1`'s alias without renaming its outer references
    // (squall_udf::subqueries::filters_stay; was 42703 "column r1.a does not exist").
    ("ALL over a correlated subquery of a subquery, under OR", "SELECT r1.id FROM t AS r1 WHERE (-1 < ALL (SELECT DISTINCT r2.a FROM t AS r2 WHERE (SELECT (r3.a * r3.c) FROM t AS r3 WHERE r3.id = CASE WHEN 1 > r2.a THEN r2.id END) <= (r1.a * r1.id)) OR CASE WHEN r1.id >= r1.b THEN r1.c ELSE r1.a END NOT IN (1, 4, 2, NULL)) ORDER BY r1.id LIMIT 5 OFFSET 1"),
    ("SOME over a correlated subquery of a subquery, after a RIGHT join", "SELECT DISTINCT (r1.b * (SELECT sum((r2.c - r3.c)) + 2 FROM t AS r3 WHERE CASE WHEN r2.a <= -2 THEN r3.b ELSE r3.c END <> CASE WHEN r3.id <= r3.a THEN -2 ELSE r3.a END)) AS x FROM t AS r1 RIGHT JOIN t AS r2 ON r1.id <> r2.c WHERE 1 >= SOME (SELECT -2 FROM v AS r4 WHERE (SELECT count(*) FROM t AS r5 WHERE r5.c <= r4.b) NOT BETWEEN r1.id AND r4.b)"),
    // A `Filter: true` above that filter: DataFusion merged the two and moved the merged one past
    // squall's check (seed 14, query 305559: 42703 where PostgreSQL answers 21000).
    ("ANY over a subquery comparing with the outer row, grouped with a HAVING subquery", "SELECT r1.a, sum((5 - r1.c)), count(*) FROM t AS r1 WHERE 1 >= ANY (SELECT r2.c FROM t AS r2 WHERE r1.a > (SELECT 0 FROM u AS r3 WHERE r3.a < (r2.a * r3.b))) GROUP BY r1.a HAVING count(*) <> (SELECT count(*) + 1 FROM u AS r4)"),
    // Not a join: a filter that narrows `id` to one value (`a` is at most 3) and passes no row.
    // DataFusion's statistics claimed exactly one distinct `id` and answered the count from them
    // (squall_udf::functions::count); and so for `b = 3` where no `b` is 3.
    ("count(DISTINCT) of a filter no row passes", "SELECT count(DISTINCT COALESCE(id, b)) FROM v WHERE a > id + 1"),
    ("two distinct counts of a filter no row passes", "SELECT count(DISTINCT b), count(DISTINCT a) FROM v WHERE b = 3 AND a = 1"),
    ("the same in a scalar subquery", "SELECT (SELECT count(DISTINCT COALESCE(r2.id, r2.b)) + 3 FROM v AS r2 WHERE r2.a > r2.id + 1)"),
    // And where statistics are exact (a table's rows), they still answer.
    ("count(*) of a table", "SELECT count(*), count(b) FROM v"),
];

#[tokio::test(flavor = "multi_thread")]
async fn joins_answer_as_in_postgresql_on_tables_of_several_files() {
    let peers = Peers::start(TABLES).await;
    for client in [&peers.pg, &peers.coordinator, &peers.distributed] {
        client.batch_execute("SET statement_timeout = '60s'").await.unwrap();
    }
    answer_as_in_postgresql(&peers, FORMS).await;
}
