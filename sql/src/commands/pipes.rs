//! Pipes, which load files into a table as they land (Snowflake's Snowpipe is the model):
//! `CREATE PIPE [IF NOT EXISTS] name INTO table FROM 'dir or url' FORMAT csv | parquet | ndjson
//! [OPTIONS (name = value, ...)]`, `ALTER PIPE name PAUSE | RESUME`, `DROP PIPE [IF EXISTS] name`,
//! `SHOW PIPES`. Which options exist is the engine's business.

use super::Command;
use crate::words::Words;
use crate::ParseError;

/// `CREATE PIPE ...`, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatePipe {
    pub name: String,
    pub table: String,
    /// A directory on the server, or an object store prefix (`s3://bucket/prefix/`).
    pub source: String,
    /// `csv`, `parquet` or `ndjson`, lower-cased.
    pub format: String,
    pub options: Vec<(String, String)>,
    pub if_not_exists: bool,
}

pub(super) fn parse(words: &mut Words) -> Result<Option<Command>, ParseError> {
    if words.accept(&["SHOW", "PIPES"]) {
        words.expect_end("SHOW PIPES")?;
        return Ok(Some(Command::ShowPipes));
    }
    if words.accept(&["CREATE", "PIPE"]) {
        let if_not_exists = words.accept(&["IF", "NOT", "EXISTS"]);
        let name = words.identifier("a pipe name")?;
        words.expect(&["INTO"])?;
        let table = words.identifier("a table name")?;
        words.expect(&["FROM"])?;
        let source = words.string("the files' directory or URL, as a string ('/data/incoming/')")?;
        words.expect(&["FORMAT"])?;
        let format = words.identifier("a format: csv, parquet or ndjson")?;
        let options = if words.accept(&["OPTIONS"]) { words.option_list()? } else { Vec::new() };
        words.expect_end("CREATE PIPE")?;
        return Ok(Some(Command::CreatePipe(CreatePipe { name, table, source, format, options, if_not_exists })));
    }
    if words.accept(&["ALTER", "PIPE"]) {
        let name = words.identifier("a pipe name")?;
        let paused = if words.accept(&["PAUSE"]) {
            true
        } else if words.accept(&["RESUME"]) {
            false
        } else {
            return Err(words.unexpected("expected PAUSE or RESUME"));
        };
        words.expect_end("ALTER PIPE")?;
        return Ok(Some(Command::AlterPipe { name, paused }));
    }
    if words.accept(&["DROP", "PIPE"]) {
        let if_exists = words.accept(&["IF", "EXISTS"]);
        let name = words.identifier("a pipe name")?;
        words.expect_end("DROP PIPE")?;
        return Ok(Some(Command::DropPipe { name, if_exists }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::CreatePipe;
    use crate::{parse, Command, Statement};

    fn command(text: &str) -> Command {
        match parse(text).unwrap().pop() {
            Some(Statement::Command(command)) => command,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn create_alter_drop_show() {
        assert_eq!(
            command("CREATE PIPE Arrivals INTO events FROM '/data/in/' FORMAT CSV OPTIONS (poll_interval = '500ms', delimiter = ';')"),
            Command::CreatePipe(CreatePipe {
                name: "arrivals".into(),
                table: "events".into(),
                source: "/data/in/".into(),
                format: "csv".into(),
                options: vec![("poll_interval".into(), "500ms".into()), ("delimiter".into(), ";".into())],
                if_not_exists: false,
            })
        );
        assert!(matches!(command("create pipe if not exists p into t from 's3://b/p/' format parquet"), Command::CreatePipe(CreatePipe { if_not_exists: true, .. })));
        assert_eq!(command("ALTER PIPE p PAUSE"), Command::AlterPipe { name: "p".into(), paused: true });
        assert_eq!(command("alter pipe p resume"), Command::AlterPipe { name: "p".into(), paused: false });
        assert_eq!(command("DROP PIPE IF EXISTS p"), Command::DropPipe { name: "p".into(), if_exists: true });
        assert_eq!(command("SHOW PIPES"), Command::ShowPipes);
        assert!(parse("CREATE PIPE p INTO t FROM /data FORMAT csv").is_err(), "the source is a string");
        assert!(parse("ALTER PIPE p STOP").is_err());
        assert!(parse("CREATE PIPE p INTO t FROM '/d'").is_err(), "FORMAT is required");
    }
}
