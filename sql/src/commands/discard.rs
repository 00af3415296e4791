//! `DISCARD ALL | PLANS | SEQUENCES | TEMP | TEMPORARY`: what connection poolers (pgbouncer's
//! `server_reset_query`) send before handing a connection to the next client.

use super::Command;
use crate::words::Words;
use crate::ParseError;

/// What a DISCARD drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discard {
    /// Settings back to their start-up values, portals closed, prepared statements and kept plans
    /// dropped.
    All,
    /// The plans the session kept to run again.
    Plans,
    /// Sequence state (squall has no sequences).
    Sequences,
    /// Temporary tables (squall has none).
    Temp,
}

impl Discard {
    /// PostgreSQL's command tag.
    pub fn tag(self) -> &'static str {
        match self {
            Discard::All => "DISCARD ALL",
            Discard::Plans => "DISCARD PLANS",
            Discard::Sequences => "DISCARD SEQUENCES",
            Discard::Temp => "DISCARD TEMP",
        }
    }
}

pub(super) fn parse(words: &mut Words) -> Result<Option<Command>, ParseError> {
    if !words.accept(&["DISCARD"]) {
        return Ok(None);
    }
    let what = if words.accept(&["ALL"]) {
        Discard::All
    } else if words.accept(&["PLANS"]) {
        Discard::Plans
    } else if words.accept(&["SEQUENCES"]) {
        Discard::Sequences
    } else if words.accept(&["TEMP"]) || words.accept(&["TEMPORARY"]) {
        Discard::Temp
    } else {
        return Err(words.unexpected("expected ALL, PLANS, SEQUENCES, TEMP or TEMPORARY"));
    };
    words.expect_end(what.tag())?;
    Ok(Some(Command::Discard(what)))
}

#[cfg(test)]
mod tests {
    use super::Discard;
    use crate::{parse, Command, Statement};

    #[test]
    fn every_form_in_any_case() {
        for (text, what) in [("DISCARD ALL", Discard::All), ("discard plans;", Discard::Plans), ("Discard Sequences", Discard::Sequences), ("DISCARD TEMP", Discard::Temp), ("DISCARD temporary", Discard::Temp)] {
            assert_eq!(parse(text).unwrap(), vec![Statement::Command(Command::Discard(what))], "{text}");
        }
    }

    #[test]
    fn anything_else_is_a_syntax_error() {
        for text in ["DISCARD", "DISCARD everything", "DISCARD ALL now"] {
            let err = parse(text).unwrap_err();
            assert!(err.message.starts_with("syntax error"), "{text}: {}", err.message);
        }
    }
}
