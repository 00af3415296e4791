//! `TRAIN MODEL [IF NOT EXISTS] name USING algorithm [(option = value, ...)] [TARGET column]
//! [FEATURES (column, ...)] AS query`
//!
//! Only the shape is read here; which algorithms and options exist is the engine's business, so
//! that adding an algorithm never touches the parser.

use sqlparser::tokenizer::Token;

use super::Command;
use crate::words::Words;
use crate::ParseError;

#[derive(Debug, Clone, PartialEq)]
pub struct TrainModel {
    pub name: String,
    pub if_not_exists: bool,
    pub algorithm: String,
    /// `(option, value)` in the order given; names lower-cased, values as written (unquoted).
    pub options: Vec<(String, String)>,
    pub target: Option<String>,
    /// `None`: every column of the query except the target.
    pub features: Option<Vec<String>>,
    /// The training query, as text.
    pub query: String,
}

pub(super) fn parse(words: &mut Words) -> Result<Option<Command>, ParseError> {
    if !words.accept(&["TRAIN", "MODEL"]) {
        return Ok(None);
    }
    let if_not_exists = words.accept(&["IF", "NOT", "EXISTS"]);
    let name = words.identifier("a model name")?;
    words.expect(&["USING"])?;
    let algorithm = words.identifier("an algorithm")?;
    let options = if words.peek_is(&Token::LParen) { words.option_list()? } else { Vec::new() };
    let mut target = None;
    let mut features = None;
    loop {
        if target.is_none() && words.accept(&["TARGET"]) {
            target = Some(words.identifier("a target column")?);
        } else if features.is_none() && words.accept(&["FEATURES"]) {
            features = Some(words.identifier_list("a feature column")?);
        } else {
            break;
        }
    }
    words.expect(&["AS"])?;
    let query = words.rest();
    if query.is_empty() {
        return Err(ParseError::new("syntax error at end of input: TRAIN MODEL ... AS needs a query"));
    }
    Ok(Some(Command::TrainModel(TrainModel { name, if_not_exists, algorithm, options, target, features, query })))
}

#[cfg(test)]
mod tests {
    use super::TrainModel;
    use crate::{parse, Command, Statement};

    fn train(text: &str) -> TrainModel {
        match parse(text).unwrap().remove(0) {
            Statement::Command(Command::TrainModel(t)) => t,
            other => panic!("not TRAIN MODEL: {other:?}"),
        }
    }

    #[test]
    fn every_clause() {
        let t = train(
            "TRAIN MODEL IF NOT EXISTS Iris USING decision_tree (max_depth = 3, criterion = 'gini', holdout = 0.25, seed = -7)
             TARGET Species FEATURES (a, \"B\") AS SELECT * FROM iris WHERE a > 1",
        );
        assert_eq!(
            t,
            TrainModel {
                name: "iris".into(),
                if_not_exists: true,
                algorithm: "decision_tree".into(),
                options: vec![
                    ("max_depth".into(), "3".into()),
                    ("criterion".into(), "gini".into()),
                    ("holdout".into(), "0.25".into()),
                    ("seed".into(), "-7".into()),
                ],
                target: Some("species".into()),
                features: Some(vec!["a".into(), "B".into()]),
                query: "SELECT * FROM iris WHERE a > 1".into(),
            }
        );
    }

    #[test]
    fn features_before_target_and_no_options() {
        let t = train("train model k using kmeans features (x, y) as with a as (select 1 x, 2 y) select * from a");
        assert_eq!(t.target, None);
        assert_eq!(t.features, Some(vec!["x".into(), "y".into()]));
        assert!(t.options.is_empty());
        assert_eq!(t.query, "with a as (select 1 x, 2 y) select * from a");
    }

    #[test]
    fn a_missing_query_is_a_syntax_error() {
        let err = parse("TRAIN MODEL m USING naive_bayes TARGET y").unwrap_err();
        assert!(err.message.contains("expected AS"), "{}", err.message);
        let err = parse("TRAIN MODEL m USING naive_bayes (depth 3) AS select 1").unwrap_err();
        assert!(err.message.contains("expected ="), "{}", err.message);
    }

    #[test]
    fn other_train_is_not_ours() {
        assert_eq!(parse("SELECT train FROM t").unwrap(), vec![Statement::Sql("SELECT train FROM t".into())]);
    }
}
