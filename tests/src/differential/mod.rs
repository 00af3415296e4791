//! The differential test against PostgreSQL: random queries ([`generator`]) over small tables
//! with NULLs ([`tables`]), run on squall and on PostgreSQL 15, their answers compared
//! ([`outcome`]). Each disagreement is a squall bug to fix, or one of the deliberate differences
//! listed in [`known_differences`].

pub mod generator;
pub mod known_differences;
pub mod outcome;
pub mod rng;
pub mod tables;

use outcome::Outcome;

/// How squall's answer to one query compares with PostgreSQL's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    /// The same rows, or both refused with the same kind of error.
    Agree,
    /// PostgreSQL refused the query as invalid (the generator's mistake, not squall's): skipped.
    Invalid,
    /// A listed, deliberate difference (its name).
    Known(&'static str),
    /// Different rows: the worst bug a database can have.
    WrongRows,
    /// squall refused (its SQLSTATE) what PostgreSQL answered.
    Refused(String),
    /// squall answered what PostgreSQL refused (PostgreSQL's SQLSTATE).
    AnsweredAnError(String),
    /// Both refused, for different reasons that matter (PostgreSQL's SQLSTATE, squall's).
    OtherError(String, String),
}

impl Verdict {
    pub fn is_disagreement(&self) -> bool {
        !matches!(self, Verdict::Agree | Verdict::Invalid | Verdict::Known(_))
    }
}

/// Errors whose SQLSTATE squall must give too (the rest only have to be errors in both).
const SQLSTATES_THAT_MUST_MATCH: &[&str] = &["21000", "22012"];

pub fn judge(sql: &str, postgres: &Outcome, squall: &Outcome, ordered: bool) -> Verdict {
    // Class 42 (syntax or access rule violation): the generator wrote an invalid query; 0A000:
    // PostgreSQL cannot run it (a FULL JOIN on a condition that is not an equality).
    if matches!(postgres, Outcome::Error { sqlstate, .. } if sqlstate.starts_with("42") || sqlstate == "0A000") {
        return Verdict::Invalid;
    }
    if let Some(known) = known_differences::find(sql, postgres, squall) {
        return Verdict::Known(known);
    }
    match (postgres, squall) {
        (Outcome::Rows(expected), Outcome::Rows(got)) => {
            if outcome::same_rows(expected, got, ordered) {
                Verdict::Agree
            } else {
                Verdict::WrongRows
            }
        }
        (Outcome::Rows(_), Outcome::Error { sqlstate, .. }) => Verdict::Refused(sqlstate.clone()),
        (Outcome::Error { sqlstate, .. }, Outcome::Rows(_)) => Verdict::AnsweredAnError(sqlstate.clone()),
        (Outcome::Error { sqlstate: expected, .. }, Outcome::Error { sqlstate: got, .. }) => {
            if expected == got || !SQLSTATES_THAT_MUST_MATCH.contains(&expected.as_str()) {
                Verdict::Agree
            } else {
                Verdict::OtherError(expected.clone(), got.clone())
            }
        }
    }
}
