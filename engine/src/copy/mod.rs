//! `COPY`: `COPY t [(columns)] FROM STDIN` loads rows streamed by the client (psql's `\copy`,
//! drivers' copy APIs) into a managed table, atomically; `COPY t TO STDOUT` and
//! `COPY (query) TO STDOUT` stream a query's rows back. Text and CSV formats, with PostgreSQL's
//! options (FORMAT, DELIMITER, NULL, HEADER, QUOTE, ESCAPE), in both the modern `WITH (...)` and
//! the older `WITH CSV HEADER` spellings.

pub mod binary;
pub mod format;
pub mod from_stdin;
pub mod to_stdout;

use datafusion::sql::sqlparser::ast::{CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Statement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::error::{Result, SquallError};
use format::{Kind, Options};

/// A COPY statement, read.
#[derive(Debug, Clone, PartialEq)]
pub enum Copy {
    /// `COPY table [(columns)] FROM STDIN`; no columns: all of them, in table order.
    In { table: String, columns: Vec<String>, options: Options },
    /// `COPY ... TO STDOUT`: the query whose rows are sent.
    Out { query: String, options: Options },
}

/// Whether `sql` is a COPY statement (which DataFusion does not plan: squall runs it).
pub fn is_copy(sql: &str) -> bool {
    let sql = sql.trim_start();
    sql.get(..4).is_some_and(|w| w.eq_ignore_ascii_case("copy")) && sql[4..].starts_with(|c: char| c.is_whitespace() || c == '(')
}

/// Reads a COPY statement.
pub fn parse(sql: &str) -> Result<Copy> {
    let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(|e| SquallError::Syntax(format!("syntax error: {}", e.to_string().trim_start_matches("sql parser error: "))))?;
    let [Statement::Copy { source, to, target, options, legacy_options, .. }] = statements.as_slice() else {
        return Err(SquallError::Syntax("expected one COPY statement".into()));
    };
    match (to, target) {
        (false, CopyTarget::Stdin) | (true, CopyTarget::Stdout) => {}
        (_, CopyTarget::File { .. } | CopyTarget::Program { .. }) => {
            return Err(SquallError::Unsupported(
                "COPY to or from a file on the server is not supported: use COPY ... FROM STDIN / TO STDOUT (psql: \\copy)".into(),
            ))
        }
        (false, _) => return Err(SquallError::Syntax("COPY FROM reads only STDIN".into())),
        (true, _) => return Err(SquallError::Syntax("COPY TO writes only STDOUT".into())),
    }
    let options = read_options(options, legacy_options)?;
    Ok(match (source, to) {
        (CopySource::Table { table_name, columns }, false) => Copy::In {
            // Tables outside squall's schema are not user tables: named as written, they are
            // then reported as not existing.
            table: Some(crate::access::checks::relation_name(table_name)).filter(|t| !t.is_empty()).unwrap_or_else(|| table_name.to_string()),
            columns: columns.iter().map(|c| if c.quote_style.is_some() { c.value.clone() } else { c.value.to_lowercase() }).collect(),
            options,
        },
        (CopySource::Table { table_name, columns }, true) => {
            let list = if columns.is_empty() { "*".to_string() } else { columns.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ") };
            Copy::Out { query: format!("SELECT {list} FROM {table_name}"), options }
        }
        (CopySource::Query(query), true) => Copy::Out { query: query.to_string(), options },
        (CopySource::Query(_), false) => return Err(SquallError::Syntax("COPY FROM needs a table, not a query".into())),
    })
}

fn read_options(modern: &[CopyOption], legacy: &[CopyLegacyOption]) -> Result<Options> {
    let kind = modern
        .iter()
        .find_map(|o| match o {
            CopyOption::Format(name) => Some(name.value.to_lowercase()),
            _ => None,
        })
        .or_else(|| legacy.iter().find_map(|o| matches!(o, CopyLegacyOption::Csv(_)).then(|| "csv".to_string())));
    let mut options = match kind.as_deref() {
        None | Some("text") => Options::new(Kind::Text),
        Some("csv") => Options::new(Kind::Csv),
        Some("binary") => Options::new(Kind::Binary),
        Some(other) => return Err(SquallError::InvalidParameter(format!("COPY format \"{other}\" not recognized"))),
    };
    let csv_only = |what: &str, options: &Options| {
        if options.kind == Kind::Csv {
            Ok(())
        } else {
            Err(SquallError::Unsupported(format!("COPY {what} available only in CSV mode")))
        }
    };
    for option in modern {
        match option {
            CopyOption::Format(_) | CopyOption::Freeze(_) => {}
            CopyOption::Delimiter(c) => options.delimiter = one_byte(*c, "delimiter")?,
            CopyOption::Null(s) => options.null = s.clone(),
            CopyOption::Header(h) => options.header = *h,
            CopyOption::Quote(c) => {
                csv_only("quote", &options)?;
                options.quote = one_byte(*c, "quote")?;
            }
            CopyOption::Escape(c) => {
                csv_only("escape", &options)?;
                options.escape = one_byte(*c, "escape")?;
            }
            CopyOption::Encoding(e) if matches!(e.to_uppercase().as_str(), "UTF8" | "UTF-8") => {}
            CopyOption::Encoding(e) => return Err(SquallError::Unsupported(format!("COPY encoding \"{e}\": squall reads and writes UTF8"))),
            other => return Err(SquallError::Unsupported(format!("COPY option {other} is not supported"))),
        }
    }
    for option in legacy {
        match option {
            CopyLegacyOption::Delimiter(c) => options.delimiter = one_byte(*c, "delimiter")?,
            CopyLegacyOption::Null(s) => options.null = s.clone(),
            CopyLegacyOption::Csv(csv) => {
                for option in csv {
                    match option {
                        CopyLegacyCsvOption::Header => options.header = true,
                        CopyLegacyCsvOption::Quote(c) => options.quote = one_byte(*c, "quote")?,
                        CopyLegacyCsvOption::Escape(c) => options.escape = one_byte(*c, "escape")?,
                        other => return Err(SquallError::Unsupported(format!("COPY option {other} is not supported"))),
                    }
                }
            }
            CopyLegacyOption::Binary => options = Options::new(Kind::Binary),
            other => return Err(SquallError::Unsupported(format!("COPY option {other} is not supported"))),
        }
    }
    if options.kind == Kind::Binary {
        let text_only = modern.iter().any(|o| matches!(o, CopyOption::Delimiter(_) | CopyOption::Null(_) | CopyOption::Header(true)))
            || legacy.iter().any(|o| matches!(o, CopyLegacyOption::Delimiter(_) | CopyLegacyOption::Null(_)));
        if text_only {
            return Err(SquallError::Syntax("cannot specify DELIMITER, NULL or HEADER in BINARY mode".into()));
        }
        return Ok(options);
    }
    if options.delimiter == b'\n' || options.delimiter == b'\r' || (options.kind == Kind::Text && options.delimiter == b'\\') {
        return Err(SquallError::InvalidParameter("COPY delimiter cannot be newline, carriage return or backslash".into()));
    }
    if options.kind == Kind::Csv && options.delimiter == options.quote {
        return Err(SquallError::InvalidParameter("COPY delimiter and quote must be different".into()));
    }
    Ok(options)
}

fn one_byte(c: char, what: &str) -> Result<u8> {
    if c.is_ascii() {
        Ok(c as u8)
    } else {
        Err(SquallError::InvalidParameter(format!("COPY {what} must be a single one-byte character")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_of_the_options() {
        let modern = parse("COPY t (a, \"B\") FROM STDIN WITH (FORMAT csv, HEADER true, DELIMITER ';', NULL 'NA')").unwrap();
        let legacy = parse("copy t (a, \"B\") from stdin with delimiter ';' null 'NA' csv header").unwrap();
        let expected = Copy::In {
            table: "t".into(),
            columns: vec!["a".into(), "B".into()],
            options: Options { delimiter: b';', null: "NA".into(), header: true, ..Options::new(Kind::Csv) },
        };
        assert_eq!(modern, expected);
        assert_eq!(legacy, expected);
        assert_eq!(parse("COPY public.T FROM STDIN").unwrap(), Copy::In { table: "t".into(), columns: vec![], options: Options::new(Kind::Text) });
    }

    #[test]
    fn copy_out_is_a_query() {
        assert_eq!(parse("COPY t (a) TO STDOUT (FORMAT csv)").unwrap(), Copy::Out { query: "SELECT a FROM t".into(), options: Options::new(Kind::Csv) });
        let Copy::Out { query, .. } = parse("COPY (SELECT a + 1 FROM t WHERE b > 2) TO STDOUT").unwrap() else { panic!() };
        assert_eq!(query, "SELECT a + 1 FROM t WHERE b > 2");
    }

    #[test]
    fn what_is_refused() {
        assert!(matches!(parse("COPY t FROM '/etc/passwd'"), Err(SquallError::Unsupported(_))));
        assert!(matches!(parse("COPY t FROM STDIN (FORMAT binary, DELIMITER ',')"), Err(SquallError::Syntax(_))));
        assert!(matches!(parse("COPY t FROM STDIN (QUOTE '\"')"), Err(SquallError::Unsupported(_))));
        assert!(matches!(parse("COPY t FROM STDIN (FORMAT xml)"), Err(SquallError::InvalidParameter(_))));
        assert!(matches!(parse("COPY t FROM STDIN (FORMAT csv, DELIMITER '\"')"), Err(SquallError::InvalidParameter(_))));
        assert!(is_copy("  copy t from stdin") && is_copy("COPY(select 1) TO STDOUT") && !is_copy("copying"));
    }
}
