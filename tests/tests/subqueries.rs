//! Subqueries answer as in PostgreSQL, on the coordinator path and the distributed path alike:
//! each form below is run on squall both ways and on PostgreSQL 15 over the same tables, and the
//! answers compared (issue 21). The issue's own example is checked against its known answer too.

use squall_tests::differential::outcome::{run, same_rows, show, Outcome};
use crate::differential::Peers;

const TABLES: &[&str] = &[
    "CREATE TABLE t1(a INTEGER, b INTEGER, c INTEGER, d INTEGER, e INTEGER)",
    "INSERT INTO t1(e,c,b,d,a) VALUES(103,102,100,101,104)",
    "INSERT INTO t1(a,c,d,e,b) VALUES(107,106,108,109,105)",
    "INSERT INTO t1(e,d,b,a,c) VALUES(110,114,112,111,113)",
    "INSERT INTO t1(a,b) VALUES(NULL,NULL)",
    "CREATE TABLE t2(x INTEGER, y INTEGER)",
    "INSERT INTO t2 VALUES (1, 100), (2, 105), (NULL, 112), (3, NULL)",
    "CREATE TABLE empty(x INTEGER, y INTEGER)",
];

/// (form, query): every query's answer is PostgreSQL's.
const FORMS: &[(&str, &str)] = &[
    ("scalar, non-equality correlation, count", "SELECT b, (SELECT count(*) FROM t1 AS x WHERE x.b < t1.b) AS n FROM t1"),
    ("scalar, non-equality correlation, sum", "SELECT b, (SELECT sum(x.a) FROM t1 AS x WHERE x.b < t1.b) FROM t1"),
    ("scalar, equality correlation", "SELECT b, (SELECT max(x) FROM t2 WHERE t2.y = t1.b) FROM t1"),
    ("scalar in WHERE", "SELECT b FROM t1 WHERE (SELECT count(*) FROM t2 WHERE t2.y < t1.b) = 1"),
    ("scalar in HAVING", "SELECT a % 2, count(*) FROM t1 GROUP BY a % 2 HAVING count(*) > (SELECT count(*) FROM t2 WHERE x > 2)"),
    ("scalar with HAVING inside", "SELECT b, (SELECT count(*) FROM t2 WHERE t2.y < t1.b HAVING count(*) > 1) FROM t1"),
    ("scalar over a GROUP BY", "SELECT b, (SELECT max(c) FROM (SELECT count(*) AS c FROM t2 WHERE t2.y < t1.b GROUP BY x > 1) s) FROM t1"),
    ("scalar, correlated LIMIT", "SELECT b, (SELECT x.a FROM t1 AS x WHERE x.b < t1.b ORDER BY x.a LIMIT 1) FROM t1"),
    ("scalar, correlated LIMIT and OFFSET", "SELECT b, (SELECT x.a FROM t1 AS x WHERE x.b < t1.b ORDER BY x.a DESC LIMIT 1 OFFSET 1) FROM t1"),
    ("scalar, outer column in the select list", "SELECT b, (SELECT count(*) + t1.a FROM t2 WHERE t2.y < t1.b) FROM t1"),
    ("scalar, DISTINCT aggregate", "SELECT b, (SELECT count(DISTINCT x) FROM t2 WHERE t2.y <> t1.b) FROM t1"),
    ("scalar in CASE", "SELECT b, CASE WHEN b > 104 THEN (SELECT count(*) FROM t2 WHERE t2.y >= t1.b) END FROM t1"),
    ("scalar inside an aggregate", "SELECT sum((SELECT count(*) FROM t2 WHERE t2.y < t1.b)) FROM t1"),
    ("nested scalar", "SELECT b, (SELECT count(*) FROM t2 WHERE t2.y < t1.b AND t2.x > (SELECT min(x) FROM t2)) FROM t1"),
    ("scalar, one row per outer row", "SELECT b, (SELECT x FROM t2 WHERE t2.y = t1.b) FROM t1"),
    ("scalar over an empty outer query", "SELECT (SELECT x FROM t2) FROM empty"),
    ("scalar in a CASE branch no row takes", "SELECT CASE WHEN b > 1000 THEN (SELECT x FROM t2) END FROM t1"),
    ("EXISTS as a value", "SELECT b, EXISTS (SELECT 1 FROM t2 WHERE t2.y = t1.b) FROM t1"),
    ("NOT EXISTS, non-equality", "SELECT b, NOT EXISTS (SELECT 1 FROM t2 WHERE t2.y < t1.b) FROM t1"),
    ("EXISTS in WHERE", "SELECT b FROM t1 WHERE EXISTS (SELECT 1 FROM t2 WHERE t2.y = t1.b)"),
    ("NOT EXISTS in WHERE, non-equality", "SELECT b FROM t1 WHERE NOT EXISTS (SELECT 1 FROM t2 WHERE t2.y < t1.b)"),
    ("EXISTS under OR", "SELECT b FROM t1 WHERE b > 110 OR EXISTS (SELECT 1 FROM t2 WHERE t2.y > t1.b)"),
    ("IN as a value, NULLs", "SELECT b, b IN (SELECT y FROM t2) FROM t1"),
    ("NOT IN as a value", "SELECT b, b NOT IN (SELECT y FROM t2 WHERE y IS NOT NULL) FROM t1"),
    ("IN, correlated", "SELECT b, b IN (SELECT y FROM t2 WHERE t2.x < t1.a - 100) FROM t1"),
    ("IN of constants", "SELECT 1 IN (SELECT a FROM t1), NULL NOT IN (SELECT a FROM t1), 104 IN (SELECT a FROM t1)"),
    ("IN in WHERE", "SELECT b FROM t1 WHERE b IN (SELECT y FROM t2)"),
    ("NOT IN in WHERE, NULL among the rows", "SELECT b FROM t1 WHERE b NOT IN (SELECT y FROM t2)"),
    ("NOT IN in WHERE, correlated", "SELECT b FROM t1 WHERE a NOT IN (SELECT x + 103 FROM t2 WHERE t2.y <= t1.b)"),
    ("NOT IN under OR", "SELECT b FROM t1 WHERE b NOT IN (SELECT y FROM t2) OR a = 111"),
    ("NOT IN under OR, its subquery with a correlated EXISTS", "SELECT b FROM t1 WHERE b NOT IN (SELECT y FROM t2 WHERE EXISTS (SELECT 1 FROM t2 AS u WHERE u.x = t2.x)) OR a = 111"),
    ("two NOT INs under OR, one with a SOME inside", "SELECT c FROM t1 WHERE 1 NOT IN (SELECT t1.c FROM t2 WHERE 0 > SOME (SELECT 2 * y - 250 FROM t2 AS u)) OR NOT (t1.a IN (SELECT v.a FROM t1 AS v WHERE v.b > 100))"),
    ("NOT IN under OR, its subquery with = SOME", "SELECT b FROM t1 WHERE b NOT IN (SELECT y FROM t2 WHERE x = SOME (SELECT x FROM t2 AS u WHERE u.y > 100) OR y IS NULL) OR a = 111"),
    ("NOT EXISTS whose subquery has an ALL beside a condition on the outer row", "SELECT a FROM t1 WHERE NOT EXISTS (SELECT 1 FROM t2 WHERE y >= ALL (SELECT y FROM t2 AS u) OR x > t1.b - 103)"),
    ("a correlated aggregate over an IN, under a FULL JOIN", "SELECT t1.b, t2.x FROM t1 FULL JOIN t2 ON t1.b >= t2.y WHERE COALESCE((SELECT max(COALESCE(u.x, t1.a)) FROM t2 AS u WHERE u.x IN (SELECT v.x FROM t2 AS v)), t2.x + 100) BETWEEN t1.c - 110 AND t2.y"),
    ("IN and NOT IN under OR inside a scalar subquery", "SELECT (SELECT count(*) FROM t1 WHERE 3 IN (SELECT 4) OR 5 NOT IN (SELECT x FROM t2 WHERE t2.y <= t1.b))"),
    ("NOT IN under OR, its subquery with a correlated EXISTS, inside a scalar subquery", "SELECT (SELECT count(*) FROM t1 WHERE b NOT IN (SELECT y FROM t2 WHERE EXISTS (SELECT 1 FROM t2 AS u WHERE u.x = t2.x)) OR a = 111)"),
    ("a window over no rows", "SELECT sum(x) OVER (PARTITION BY y) FROM t2 WHERE y > 1000"),
    ("a correlated subquery with ORDER BY and LIMIT, over no rows", "SELECT (SELECT u.x + t1.a FROM t2 AS u WHERE false ORDER BY u.x LIMIT 1) FROM t1 WHERE t1.a < t1.a"),
    ("IN over a cross join, under a LEFT JOIN: each row once", "SELECT s.b, u.x FROM (SELECT t1.b FROM t1, t2 WHERE (t1.a - 103) IN (SELECT x FROM t2 AS v)) s LEFT JOIN t2 AS u ON s.b = u.y"),
    ("NOT IN, correlated scalar left side", "SELECT b FROM t1 WHERE (SELECT max(x) FROM t2 WHERE t2.y = t1.b) NOT IN (SELECT x FROM t2 WHERE x > 1)"),
    ("IN, uncorrelated scalar left side", "SELECT b FROM t1 WHERE (SELECT min(x) FROM t2) IN (SELECT x FROM t2 WHERE t2.y <= t1.b)"),
    ("IS NULL of a subquery of a NOT NULL column", "SELECT b FROM t1 WHERE (SELECT 2 FROM t2 WHERE t1.a > 105 LIMIT 1) IS NULL"),
    ("NOT IN of a constant, NULL among the rows", "SELECT b FROM t1 WHERE 4 NOT IN (SELECT x FROM t2)"),
    ("NOT IN of an expression that is NULL", "SELECT b FROM t1 WHERE CASE WHEN b IS NULL THEN 5 END NOT IN (SELECT x FROM t2)"),
    ("a list with NULL, over an aggregate of no rows", "SELECT count(*) FROM t1 WHERE (SELECT count(x) FROM t2 WHERE x > 100) NOT IN (-1, NULL)"),
    ("a condition that is NULL above an aggregate of no rows", "SELECT n FROM (SELECT count(*) AS n FROM t2 WHERE x > 100) s WHERE n NOT IN (5, NULL)"),
    ("a join of two inputs of no columns, no rows", "SELECT count(*) FROM t1, (SELECT count(*) AS n FROM t2 WHERE x > 100) s WHERE n = 5"),
    ("a join of two inputs of no columns, rows", "SELECT 'c', count(*) FROM t1, (SELECT count(*) AS n FROM t2 WHERE x > 100) s WHERE n = 0"),
    ("a join with an empty table", "SELECT t1.b, e.x FROM empty AS e RIGHT JOIN t1 ON e.y = t1.b"),
    ("a subquery two levels out, IN inside EXISTS", "SELECT b FROM t1 WHERE EXISTS (SELECT 1 FROM t2 WHERE t2.x IN (SELECT u.x FROM t2 AS u WHERE u.y < t1.b))"),
    ("a subquery two levels out, scalar inside a scalar", "SELECT b, (SELECT max(x) + (SELECT count(*) FROM t2 AS u WHERE u.y <= t1.b) FROM t2) FROM t1"),
    ("a subquery two levels out, its outer column NULL", "SELECT b, (SELECT count(*) FROM t2 WHERE EXISTS (SELECT 1 FROM t2 AS u WHERE u.x = t2.x AND (t1.a IS NULL OR u.y < t1.b))) FROM t1"),
    ("a subquery two levels out, under an aggregate with a correlated filter", "SELECT b, (SELECT count(*) FROM t2 WHERE t2.y < t1.b AND t2.x NOT IN (SELECT u.x FROM t2 AS u WHERE u.y = t1.b - 5 AND u.x IS NOT NULL)) FROM t1"),
    ("a subquery three levels out", "SELECT b FROM t1 WHERE EXISTS (SELECT 1 FROM t2 WHERE EXISTS (SELECT 1 FROM t2 AS u WHERE u.x = t2.x AND EXISTS (SELECT 1 FROM t2 AS v WHERE v.y = t1.b)))"),
    ("ANY whose left side is the outer query's", "SELECT b, (SELECT count(*) FROM t2 WHERE t1.b > ANY (SELECT u.y FROM t2 AS u WHERE u.x <= t2.x)) FROM t1"),
    ("ALL whose left side is a subquery", "SELECT b FROM t1 WHERE (SELECT min(y) FROM t2 WHERE t2.y >= t1.b) <= ALL (SELECT y FROM t2 WHERE x > 1)"),
    ("an aggregate of the outer query's column: the outer query's aggregate, one row per inner row", "SELECT (SELECT avg(t1.a) FROM t2 WHERE x = 1) FROM t1"),
    ("an aggregate of the outer query's column over no inner rows", "SELECT (SELECT avg(t1.a) FROM t2 WHERE x > 5) FROM t1"),
    ("an aggregate of the outer query's column beside the outer query's own", "SELECT (SELECT sum(t1.a) + 2 FROM t2 WHERE x = 2), count(*) FROM t1"),
    ("an aggregate of the outer query's column in HAVING, per group", "SELECT b, sum(a) FROM t1 GROUP BY b HAVING sum(b) > (SELECT sum(t1.b * t1.b) FROM t2 WHERE x = 1)"),
    ("an aggregate of the outer query's column in a grouped select list", "SELECT b, (SELECT max(t1.a) FROM t2 WHERE x = 1) FROM t1 GROUP BY b"),
    ("an aggregate of the outer query's column, more than one inner row: 21000", "SELECT (SELECT max(t1.a) FROM t2) FROM t1 WHERE b > 100"),
    ("an aggregate of the outer query's column two levels down: the outer query's aggregate", "SELECT (SELECT count(*) FROM t2 WHERE t2.x <= (SELECT sum(t1.a) - 320 FROM t2 AS u WHERE u.x = 2)) FROM t1"),
    ("an aggregate of the outer query's column two levels down, per group", "SELECT a % 2, (SELECT min(y) FROM t2 WHERE y > 100 + (SELECT count(t1.b) FROM t2 AS u WHERE u.y = 100) * 4) FROM t1 GROUP BY a % 2"),
    ("IN inside a subquery, its left side the outer row's", "SELECT b, (SELECT count(*) FROM t2 WHERE t1.a - 103 NOT IN (SELECT u.x FROM t2 AS u WHERE u.y <> t2.y)) FROM t1"),
    ("IN inside a subquery, its left side the outer row's, its subquery uncorrelated", "SELECT b, (SELECT count(*) FROM t2 WHERE t1.a - 103 IN (SELECT u.x FROM t2 AS u) AND t2.x > 1) FROM t1"),
    ("an uncorrelated subquery inside a correlated EXISTS", "SELECT b, EXISTS (SELECT 1 FROM t2 WHERE t2.y < t1.b AND t2.x > (SELECT min(x) FROM t2 AS u)) FROM t1"),
    ("IN as a value, its left side a correlated subquery", "SELECT b, (SELECT count(*) FROM t2 WHERE t2.y < t1.b) NOT IN (SELECT x FROM t2 WHERE x > 1) FROM t1"),
    ("IN inside a subquery, its left side a subquery of the subquery's row", "SELECT b, (SELECT count(*) FROM t2 WHERE (SELECT max(u.x) FROM t2 AS u WHERE u.y < t2.y) IN (SELECT v.x FROM t2 AS v WHERE v.y <= t1.b)) FROM t1"),
    ("ANY inside ANY, an uncorrelated scalar subquery on the inner one's left side", "SELECT b FROM t1 WHERE CASE WHEN 6 < ANY (SELECT x FROM t2 AS u WHERE (SELECT count(*) FROM t1 AS v) >= SOME (SELECT 6 FROM t2 AS w)) THEN t1.b ELSE t1.a END < SOME (SELECT y FROM t2 WHERE y > 100)"),
    ("NOT IN whose subquery's own subquery reads the outer query (Ballista's NOT IN rewrite took it for uncorrelated)", "SELECT b FROM t1 WHERE b NOT IN (SELECT y FROM t2 WHERE 3 IN (SELECT t1.c - 110 FROM t2 AS u WHERE u.x = t2.x AND t1.a <> t2.y))"),
    ("ANY whose left side is an uncorrelated subquery, in WHERE (answered first)", "SELECT b FROM t1 WHERE (SELECT count(*) + 1 FROM t2) <= ANY (SELECT t1.a - 100 FROM t2 AS u WHERE u.x > 1)"),
    ("an uncorrelated subquery beside an outer column in a correlated NOT EXISTS (answered first)", "SELECT a FROM t1 WHERE NOT EXISTS (SELECT * FROM t2 WHERE (SELECT max(x) FROM t2 AS u) BETWEEN t2.x AND t1.a - 105)"),
    ("ALL as a value whose left side is an uncorrelated subquery (answered first)", "SELECT b, (SELECT min(y) FROM t2) > ALL (SELECT t1.b + u.x FROM t2 AS u WHERE u.x IS NOT NULL) FROM t1"),
    ("an uncorrelated subquery answered first, more than one row: 21000", "SELECT b FROM t1 WHERE (SELECT x FROM t2) <= ANY (SELECT t1.a FROM t2 AS u)"),
    ("an uncorrelated EXISTS holding an EXISTS, on ALL's left side (answered first)", "SELECT b FROM t1 WHERE EXISTS (SELECT 1 FROM t2 WHERE EXISTS (SELECT 1 FROM t2 AS u WHERE u.y > 110)) <> ALL (SELECT t1.a > u.y FROM t2 AS u)"),
    ("IN inside a subquery, its left side a subquery of the subquery's row and the outer query's", "SELECT b, (SELECT count(*) FROM t2 WHERE (SELECT max(u.x) FROM t2 AS u WHERE u.y < t2.y + t1.a - 110) IN (SELECT v.x FROM t2 AS v WHERE v.x < 3)) FROM t1"),
    ("NOT IN inside EXISTS, its left side a subquery of the subquery's row and the outer query's", "SELECT b FROM t1 WHERE EXISTS (SELECT 1 FROM t2 WHERE (SELECT max(u.x) FROM t2 AS u WHERE u.y <= t2.y + t1.a - 104) NOT IN (SELECT v.x FROM t2 AS v WHERE v.x > 1))"),
    ("a subquery of a subquery, its condition only on the outer row (not given to the table's scan)", "SELECT b, (SELECT sum(x) FROM t2 WHERE (SELECT count(*) FROM t2 AS u WHERE t1.a < 108) NOT IN (SELECT v.x + 2 FROM t2 AS v WHERE v.x IS NOT NULL)) FROM t1"),
    ("EXISTS in an inner join's ON, the subquery's alias hiding a table the outer query names (was: every row matched)", "SELECT t1.b, t2.x FROM t1 JOIN t2 ON EXISTS (SELECT 1 FROM t2 AS u WHERE u.y < t1.b AND u.x = t2.x)"),
    ("a scalar subquery in an inner join's ON", "SELECT t1.b, t2.x FROM t1 JOIN t2 ON t2.x = (SELECT max(u.x) FROM t2 AS u WHERE u.y < t1.b)"),
    ("NOT IN in an inner join's ON, beside another condition", "SELECT t1.b, t2.x FROM t1 JOIN t2 ON t2.x NOT IN (SELECT u.x FROM t2 AS u WHERE u.y < t1.b AND u.x IS NOT NULL) AND t1.a > 105"),
    ("IN under OR in an inner join's ON", "SELECT t1.b, t2.x FROM t1 JOIN t2 ON t2.y = t1.b OR t2.x IN (SELECT u.x FROM t2 AS u WHERE u.y > t1.b)"),
    ("ALL over SOME, both reading a joined table: a plan nested deeper than the scheduler decodes", "SELECT 0, r1.x, r2.c FROM t2 AS r1 JOIN t1 AS r2 ON r1.y <= r2.b OR NOT (r1.x <> r1.y) WHERE CASE WHEN r1.x < 3 THEN r1.y END <= ALL (SELECT DISTINCT r2.b FROM t1 AS r3 WHERE (110 - r3.a) <= SOME (SELECT r2.a FROM t1 AS r4 WHERE r4.c = r3.c))"),
    ("NOT IN, correlated, its subquery with an IN of its own (not given to the table's scan)", "SELECT b FROM t1 WHERE a NOT IN (SELECT x + 103 FROM t2 WHERE t2.y < t1.b AND t2.x IN (SELECT x FROM t2 AS u WHERE u.y > 100))"),
    ("NOT IN whose subquery has an uncorrelated ANY under OR with a correlated condition (answered first)", "SELECT b FROM t1 WHERE (a - 100) NOT IN (SELECT y - 100 FROM t2 WHERE (7 = ANY (SELECT x FROM t2 AS u) OR t1.b <> t2.y))"),
    ("a query of one uncorrelated expression, an ANY inside it answered first (was: answered itself without end)", "SELECT (SELECT count(*) FROM t2 WHERE (SELECT min(x) FROM t2 AS v) <= ANY (SELECT u.y - 100 FROM t2 AS u WHERE u.x = t2.x))"),
    ("the same expression on the left of a correlated ANY", "SELECT b FROM t1 WHERE (SELECT count(*) FROM t2 WHERE (SELECT min(x) FROM t2 AS v) <= ANY (SELECT u.y - 100 FROM t2 AS u WHERE u.x = t2.x)) <= ANY (SELECT t1.a - 104 FROM t2 AS w)"),
    ("ANY", "SELECT b, 2 = ANY (SELECT x FROM t2 WHERE t2.y <= t1.b) FROM t1"),
    ("ALL", "SELECT b, 5 > ALL (SELECT x FROM t2 WHERE t2.y < t1.b) FROM t1"),
    ("ALL in WHERE", "SELECT b FROM t1 WHERE b >= ALL (SELECT y FROM t2 WHERE y IS NOT NULL)"),
    ("more than one row: 21000", "SELECT b, (SELECT x FROM t2 WHERE t2.y < t1.b) FROM t1"),
    ("uncorrelated, more than one row: 21000", "SELECT (SELECT x FROM t2) FROM t1"),
    ("more than one row in WHERE: 21000", "SELECT b FROM t1 WHERE (SELECT x FROM t2 WHERE t2.y <= t1.b) IS NULL"),
    ("more than one row in HAVING: 21000", "SELECT a % 2, count(*) FROM t1 GROUP BY a % 2 HAVING count(*) > (SELECT x FROM t2)"),
    ("more than one row, nested: 21000", "SELECT b, (SELECT count(*) FROM t2 WHERE t2.x = (SELECT x FROM t2 AS z WHERE z.y > 100)) FROM t1"),
    ("more than one row in a CASE branch: 21000", "SELECT CASE WHEN b > 104 THEN (SELECT x FROM t2 WHERE t2.y < t1.b) END FROM t1"),
    ("more than one row inside an aggregate: 21000", "SELECT sum((SELECT x FROM t2 WHERE t2.y < t1.b)) FROM t1"),
    ("more than one row on IN's left side: 21000", "SELECT b FROM t1 WHERE (SELECT x FROM t2 WHERE t2.y < t1.b) IN (1, 2)"),
];

#[tokio::test(flavor = "multi_thread")]
async fn every_subquery_form_answers_as_in_postgresql_on_both_paths() {
    let peers = Peers::start(TABLES).await;
    let Peers { coordinator, distributed, .. } = &peers;

    // The example, as PostgreSQL answers it.
    let example = "SELECT b, (SELECT count(*) FROM t1 AS x WHERE x.b < t1.b) AS n FROM t1 WHERE b IS NOT NULL ORDER BY 1";
    for client in [coordinator, distributed] {
        let rows: Vec<(i32, i64)> = client.query(example, &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
        assert_eq!(rows, [(100, 0), (105, 1), (112, 2)]);
    }

    answer_as_in_postgresql(&peers, FORMS).await;
}

/// Runs each of `forms` (name, query) on PostgreSQL and on squall's two paths, and fails with
/// every one whose answers differ (rows as multisets; errors by SQLSTATE).
pub async fn answer_as_in_postgresql(peers: &Peers, forms: &[(&str, &str)]) {
    let Peers { pg, coordinator, distributed, .. } = peers;
    // A query that never finishes fails as a disagreement (57014), not as a test that hangs.
    for client in [pg, coordinator, distributed] {
        client.batch_execute("SET statement_timeout = '60s'").await.unwrap();
    }
    let mut disagreements = vec![];
    for (form, sql) in forms {
        let expected = run(pg, sql).await;
        assert!(!matches!(&expected, Outcome::Error { sqlstate, .. } if sqlstate != "21000"), "{form}: PostgreSQL refused it: {}", show(&expected));
        for (path, client) in [("coordinator", coordinator), ("distributed", distributed)] {
            let got = run(client, sql).await;
            let agree = match (&expected, &got) {
                (Outcome::Rows(expected), Outcome::Rows(got)) => same_rows(expected, got, false),
                (Outcome::Error { sqlstate: expected, .. }, Outcome::Error { sqlstate: got, .. }) => expected == got,
                _ => false,
            };
            if !agree {
                disagreements.push(format!("{form} [{path}]: {sql}\n  PostgreSQL: {}\n  squall:     {}", show(&expected), show(&got)));
            }
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
