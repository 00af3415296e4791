//! `EVALUATE MODEL name [ON query]`

use super::Command;
use crate::words::Words;
use crate::ParseError;

pub(super) fn parse(words: &mut Words) -> Result<Option<Command>, ParseError> {
    if !words.accept(&["EVALUATE", "MODEL"]) {
        return Ok(None);
    }
    let name = words.name_or_string("a model name")?;
    let on = if words.accept(&["ON"]) {
        let query = words.rest();
        if query.is_empty() {
            return Err(ParseError::new("syntax error at end of input: EVALUATE MODEL ... ON needs a query"));
        }
        Some(query)
    } else {
        words.expect_end("EVALUATE MODEL name")?;
        None
    };
    Ok(Some(Command::EvaluateModel { name, on }))
}

#[cfg(test)]
mod tests {
    use crate::{parse, Command, Statement};

    #[test]
    fn with_and_without_a_query() {
        assert_eq!(
            parse("EVALUATE MODEL m").unwrap(),
            vec![Statement::Command(Command::EvaluateModel { name: "m".into(), on: None })]
        );
        assert_eq!(
            parse("evaluate model 'm@2' on select * from t where a > 1").unwrap(),
            vec![Statement::Command(Command::EvaluateModel {
                name: "m@2".into(),
                on: Some("select * from t where a > 1".into())
            })]
        );
    }
}
