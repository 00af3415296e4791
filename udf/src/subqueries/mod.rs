//! Scalar subqueries answer as PostgreSQL's do: one value, NULL for no rows, and error 21000
//! for more than one row.
//!
//! DataFusion turns scalar subqueries into joins, and a join has no notion of "more than one
//! row": `SELECT (SELECT a FROM t) FROM u` over a `t` of three rows gives every row of `u` three
//! times (Ballista turns off DataFusion's physical scalar subquery, the one operator that
//! checks). [`single_row::SingleRowSubqueries`] makes every scalar subquery that may give more
//! than one row an aggregate of its rows that counts them, which the join cannot multiply.
//!
//! What DataFusion cannot turn into joins, [`decorrelate::DecorrelateSubqueries`] turns into
//! joins with a domain of outer values (non-equality correlation under aggregates, EXISTS and IN
//! as values, correlated LIMITs).
//!
//! Before either decorrelation, [`across_levels::SubqueriesAcrossLevels`] leaves every subquery
//! referring only to the query right around it: a reference two or more levels out is read from
//! a domain joined one level in, a subquery expression that reads only the outer row is computed
//! beside it, an IN whose left side is the outer row's is stated by EXISTS
//! ([`in_with_outer_left_side`]), one whose left side holds a subquery computes it first
//! ([`computed_left_sides`]). [`outer_aggregates::OuterAggregates`] gives an aggregate of only
//! the outer query's columns to the outer query, as PostgreSQL does.

pub mod decorrelate;
pub mod filters_stay;
pub mod in_with_outer_left_side;
pub mod outer_aggregates;
pub mod across_levels;
pub mod computed_left_sides;
pub mod set_comparison_names;
pub mod single_row;
pub mod single_row_value;
