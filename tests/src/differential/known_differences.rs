//! The deliberate differences from PostgreSQL that the differential test accepts, each with why.
//! Anything else squall answers differently is a bug. Keep this list short: a difference belongs
//! here only when squall's answer is a documented choice (README: "Differences from
//! PostgreSQL"), never when squall gives other rows without an error.

use super::outcome::Outcome;

/// One accepted difference: squall refuses with `squall_sqlstate` and a message containing
/// `message` where PostgreSQL answers.
pub struct KnownDifference {
    pub name: &'static str,
    pub squall_sqlstate: &'static str,
    pub message: &'static str,
    pub why: &'static str,
}

pub const KNOWN_DIFFERENCES: &[KnownDifference] = &[KnownDifference {
    name: "subquery DataFusion cannot turn into a join",
    squall_sqlstate: "0A000",
    message: "is not supported yet: squall cannot turn it into a join",
    why: "Deliberate, a refusal rather than a guess (issue 21: a form that cannot be answered gets \
          0A000 naming the construct): squall answers a subquery by turning it into joins \
          (DataFusion's decorrelation and squall's, udf/src/subqueries/) or, failing that, by \
          answering its uncorrelated subqueries first (engine/src/statements/subqueries_first.rs); \
          it does not run a subquery once per outer row. What neither takes is refused: a NOT IN \
          in the outermost WHERE whose subquery compares two subqueries of its own, one reading \
          the outer query (5 of the 50,000 random queries of seed 14 rerun on the current \
          generator), and a subquery reading a side of an outer join in its ON, which decides the \
          rows padded with NULLs (an inner join's is answered).",
}, KnownDifference {
    name: "aggregate of the outer query's columns in a subquery",
    squall_sqlstate: "0A000",
    message: "an aggregate of only the outer query's columns inside a subquery",
    why: "Deliberate, a refusal rather than a guess: squall moves `(SELECT max(o.x) FROM i)`'s \
          aggregate into the outer query, at any depth, as PostgreSQL plans it \
          (udf/src/subqueries/outer_aggregates.rs); it refuses one whose subquery also has \
          aggregates or GROUP BY of its own or whose columns a query in between has, and one in \
          a query PostgreSQL refuses too (42803: the outer query also reads ungrouped columns, or \
          the aggregate is in WHERE).",
}, KnownDifference {
    name: "subquery referring two or more levels out",
    squall_sqlstate: "0A000",
    message: "a subquery that refers to a query two or more levels out",
    why: "Deliberate, a refusal rather than a guess: squall brings a reference two or more levels \
          out one level in with a domain of the outer values (udf/src/subqueries/across_levels.rs); \
          what it refuses is a reference whose domain would itself read a query further out, or a \
          rewrite the decorrelation rules would not take (none in the 65,000 queries of seed 14 \
          rerun on the current generator).",
}];

/// The known difference between answers where only one side raised 21000.
pub const WHICH_ROWS_A_SUBQUERY_IS_EVALUATED_FOR: &str = "21000 depends on the rows a subquery is evaluated for";

/// Why [`WHICH_ROWS_A_SUBQUERY_IS_EVALUATED_FOR`] is accepted.
pub const WHY_WHICH_ROWS: &str = "Deliberate: a scalar subquery that gives more than one row is \
    21000 only for the rows it is evaluated for, and which rows those are is the plan's choice \
    (PostgreSQL: \"the order of evaluation of subexpressions is not defined\"). PostgreSQL evaluates \
    a select list's subquery after ORDER BY ... LIMIT, an uncorrelated one only once a row needs \
    it, and one in WHERE on each table's rows before they are joined; squall evaluates a \
    subquery as the join it became: before a LIMIT, before the outer query has rows, after a \
    join. Either answer is one PostgreSQL's planner could give with another plan. Accepted only \
    when one side raised 21000 and the other answered; that squall raises 21000 wherever it \
    evaluates a subquery of more than one row is tested on its own, for every form on both \
    paths (tests/tests/subqueries.rs).";

/// The name of the known difference `squall`'s answer to `sql` is, if any.
/// (Whatever PostgreSQL's answer: rows, or an error squall's refusal stands in for.)
pub fn find(_sql: &str, postgres: &Outcome, squall: &Outcome) -> Option<&'static str> {
    let raised_21000 = |o: &Outcome| matches!(o, Outcome::Error { sqlstate, .. } if sqlstate == "21000");
    let answered = |o: &Outcome| matches!(o, Outcome::Rows(_));
    if (raised_21000(postgres) && answered(squall)) || (answered(postgres) && raised_21000(squall)) {
        return Some(WHICH_ROWS_A_SUBQUERY_IS_EVALUATED_FOR);
    }
    let Outcome::Error { sqlstate, message } = squall else { return None };
    KNOWN_DIFFERENCES.iter().find(|k| k.squall_sqlstate == sqlstate && message.contains(k.message)).map(|k| k.name)
}
