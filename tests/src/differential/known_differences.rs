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

pub const KNOWN_DIFFERENCES: &[KnownDifference] = &[];

/// The name of the known difference `squall`'s answer to `sql` is, if any.
pub fn find(_sql: &str, postgres: &Outcome, squall: &Outcome) -> Option<&'static str> {
    let (Outcome::Rows(_), Outcome::Error { sqlstate, message }) = (postgres, squall) else { return None };
    KNOWN_DIFFERENCES.iter().find(|k| k.squall_sqlstate == sqlstate && message.contains(k.message)).map(|k| k.name)
}
