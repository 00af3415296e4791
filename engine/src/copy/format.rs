//! PostgreSQL's COPY text and CSV formats, read incrementally: input arrives in chunks of any size
//! (a psql `\copy` sends 8 KiB or so at a time, cut anywhere, even inside a quoted CSV value), and
//! whole records come out, each with the input line it started on.

/// Which of COPY's formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Csv,
    /// PostgreSQL's binary COPY format (input only; see `binary`).
    Binary,
}

/// The options of a COPY statement that shape its data.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub kind: Kind,
    pub delimiter: u8,
    /// The text that stands for NULL (`\N` in text format, the empty unquoted string in CSV).
    pub null: String,
    /// The first line holds column names (skipped on input, written on output).
    pub header: bool,
    pub quote: u8,
    pub escape: u8,
}

impl Options {
    pub fn new(kind: Kind) -> Self {
        match kind {
            Kind::Text => Self { kind, delimiter: b'\t', null: "\\N".into(), header: false, quote: b'"', escape: b'"' },
            Kind::Csv => Self { kind, delimiter: b',', null: String::new(), header: false, quote: b'"', escape: b'"' },
            Kind::Binary => Self { kind, delimiter: 0, null: String::new(), header: false, quote: 0, escape: 0 },
        }
    }
}

/// One record of input.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The input line it starts on, counting from 1 (the header line included).
    pub line: u64,
    pub fields: Vec<Option<String>>,
}

/// A record that cannot be read.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRecord {
    pub line: u64,
    pub code: &'static str,
    pub message: String,
}

/// Turns chunks of input into records.
pub struct Decoder {
    options: Options,
    buffer: Vec<u8>,
    /// How far into `buffer` the search for the end of the current record has got.
    scanned: usize,
    /// CSV: whether `scanned` is inside a quoted value.
    in_quotes: bool,
    /// CSV: the byte at `scanned - 1` was an escape inside quotes.
    escaped: bool,
    /// Lines consumed before the current record.
    lines: u64,
    header_pending: bool,
    /// `\.` was read: everything after it is ignored, as PostgreSQL does.
    ended: bool,
}

impl Decoder {
    pub fn new(options: Options) -> Self {
        let header_pending = options.header;
        Self { options, buffer: Vec::new(), scanned: 0, in_quotes: false, escaped: false, lines: 0, header_pending, ended: false }
    }

    /// Feeds a chunk; complete records are appended to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Record>) -> Result<(), BadRecord> {
        if self.ended {
            return Ok(());
        }
        self.buffer.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(end) = self.record_end(start) {
            let raw = &self.buffer[start..end];
            let newlines = 1 + if self.options.kind == Kind::Csv { raw.iter().filter(|&&b| b == b'\n').count() as u64 } else { 0 };
            let line = self.lines + 1;
            self.lines += newlines;
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let record = decode(&self.options, &mut self.header_pending, &mut self.ended, raw, line)?;
            start = end + 1;
            self.scanned = start;
            if let Some(record) = record {
                out.push(record);
            }
            if self.ended {
                self.buffer.clear();
                self.scanned = 0;
                return Ok(());
            }
        }
        self.buffer.drain(..start);
        self.scanned -= start;
        Ok(())
    }

    /// The input is over: the last record may lack its newline.
    pub fn finish(&mut self, out: &mut Vec<Record>) -> Result<(), BadRecord> {
        if self.ended || self.buffer.is_empty() {
            return Ok(());
        }
        if self.in_quotes {
            return Err(BadRecord { line: self.lines + 1, code: "22P04", message: "unterminated CSV quoted field".into() });
        }
        let raw = std::mem::take(&mut self.buffer);
        let raw = raw.strip_suffix(b"\r").unwrap_or(&raw);
        if let Some(record) = decode(&self.options, &mut self.header_pending, &mut self.ended, raw, self.lines + 1)? {
            out.push(record);
        }
        self.lines += 1;
        Ok(())
    }

    /// The position of the newline that ends the record starting at `start`, if it has arrived.
    fn record_end(&mut self, start: usize) -> Option<usize> {
        let from = self.scanned.max(start);
        match self.options.kind {
            Kind::Text | Kind::Binary => {
                let found = self.buffer[from..].iter().position(|&b| b == b'\n').map(|p| from + p);
                self.scanned = found.unwrap_or(self.buffer.len());
                found
            }
            Kind::Csv => {
                let (quote, escape) = (self.options.quote, self.options.escape);
                for at in from..self.buffer.len() {
                    let b = self.buffer[at];
                    if self.in_quotes {
                        if self.escaped {
                            self.escaped = false;
                        } else if b == escape && escape != quote && self.buffer.get(at + 1).is_some_and(|&n| n == quote || n == escape) {
                            self.escaped = true;
                        } else if b == quote {
                            self.in_quotes = false;
                        }
                    } else if b == quote {
                        self.in_quotes = true;
                    } else if b == b'\n' {
                        self.scanned = at;
                        return Some(at);
                    }
                }
                self.scanned = self.buffer.len();
                None
            }
        }
    }

}

/// One record's fields; `None` for the header and the end marker.
fn decode(options: &Options, header_pending: &mut bool, ended: &mut bool, raw: &[u8], line: u64) -> Result<Option<Record>, BadRecord> {
    if raw == b"\\." {
        *ended = true;
        return Ok(None);
    }
    if std::mem::take(header_pending) {
        return Ok(None);
    }
    let fields = match options.kind {
        Kind::Text | Kind::Binary => text_fields(raw, options),
        Kind::Csv => csv_fields(raw, options),
    }
    .map_err(|message| BadRecord { line, code: "22P04", message })?;
    Ok(Some(Record { line, fields }))
}

/// Text format: delimiter-separated, backslash escapes, `\N` (the null string) for NULL.
fn text_fields(raw: &[u8], options: &Options) -> Result<Vec<Option<String>>, String> {
    let mut fields = Vec::new();
    let mut start = 0;
    let mut at = 0;
    while at <= raw.len() {
        if at == raw.len() || raw[at] == options.delimiter {
            let field = &raw[start..at];
            fields.push(if field == options.null.as_bytes() { None } else { Some(unescape(field)?) });
            start = at + 1;
        } else if raw[at] == b'\\' {
            at += 1; // the escaped byte is data, even a delimiter
        }
        at += 1;
    }
    Ok(fields)
}

/// Text format's backslash sequences (`\t`, `\n`, `\\`, octal `\123`, hex `\x41`, ...).
fn unescape(field: &[u8]) -> Result<String, String> {
    if !field.contains(&b'\\') {
        return utf8(field.to_vec());
    }
    let mut out = Vec::with_capacity(field.len());
    let mut at = 0;
    while at < field.len() {
        let b = field[at];
        at += 1;
        if b != b'\\' || at == field.len() {
            out.push(b);
            continue;
        }
        let c = field[at];
        at += 1;
        match c {
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'0'..=b'7' => {
                let mut value = (c - b'0') as u32;
                for _ in 0..2 {
                    match field.get(at) {
                        Some(d @ b'0'..=b'7') => {
                            value = value * 8 + (d - b'0') as u32;
                            at += 1;
                        }
                        _ => break,
                    }
                }
                out.push(value as u8);
            }
            b'x' if field.get(at).is_some_and(u8::is_ascii_hexdigit) => {
                let mut value = 0u32;
                for _ in 0..2 {
                    match field.get(at).and_then(|d| (*d as char).to_digit(16)) {
                        Some(d) => {
                            value = value * 16 + d;
                            at += 1;
                        }
                        None => break,
                    }
                }
                out.push(value as u8);
            }
            other => out.push(other),
        }
    }
    utf8(out)
}

/// CSV: quoted values may hold delimiters, quotes (doubled or escaped) and newlines; an unquoted
/// value equal to the null string is NULL, a quoted one never is.
fn csv_fields(raw: &[u8], options: &Options) -> Result<Vec<Option<String>>, String> {
    let (delimiter, quote, escape) = (options.delimiter, options.quote, options.escape);
    let mut fields = Vec::new();
    let mut at = 0;
    loop {
        let mut value = Vec::new();
        let mut quoted = false;
        let mut in_quotes = false;
        while at < raw.len() {
            let b = raw[at];
            if in_quotes {
                if b == escape && raw.get(at + 1).is_some_and(|&n| n == quote || n == escape) && (escape != quote || raw[at + 1] == quote) {
                    value.push(raw[at + 1]);
                    at += 2;
                    continue;
                }
                if b == quote {
                    in_quotes = false;
                } else {
                    value.push(b);
                }
            } else if b == quote {
                in_quotes = true;
                quoted = true;
            } else if b == delimiter {
                break;
            } else {
                value.push(b);
            }
            at += 1;
        }
        if in_quotes {
            return Err("unterminated CSV quoted field".into());
        }
        let is_null = !quoted && value == options.null.as_bytes();
        fields.push(if is_null { None } else { Some(utf8(value)?) });
        if at >= raw.len() {
            return Ok(fields);
        }
        at += 1; // the delimiter
    }
}

fn utf8(bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|e| format!("invalid byte sequence for encoding \"UTF8\": 0x{:02x}", e.as_bytes()[e.utf8_error().valid_up_to()]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(options: Options, input: &[u8], piece: usize) -> Result<Vec<Record>, BadRecord> {
        let mut decoder = Decoder::new(options);
        let mut out = Vec::new();
        for chunk in input.chunks(piece) {
            decoder.push(chunk, &mut out)?;
        }
        decoder.finish(&mut out)?;
        Ok(out)
    }

    fn fields(records: &[Record]) -> Vec<Vec<Option<&str>>> {
        records.iter().map(|r| r.fields.iter().map(|f| f.as_deref()).collect()).collect()
    }

    #[test]
    fn text_format_with_escapes_and_nulls_in_any_chunking() {
        let input = b"1\tplain\t\\N\n2\ttab\\there\\\\ and \\x41\\101\r\n3\t\\\t\t\n\\.\nignored\n";
        for piece in [1, 2, 3, 7, 1000] {
            let records = decode_in_pieces(Options::new(Kind::Text), input, piece).unwrap();
            assert_eq!(
                fields(&records),
                vec![
                    vec![Some("1"), Some("plain"), None],
                    vec![Some("2"), Some("tab\there\\ and AA")],
                    vec![Some("3"), Some("\t"), Some("")],
                ],
                "chunks of {piece}"
            );
            assert_eq!(records.iter().map(|r| r.line).collect::<Vec<_>>(), vec![1, 2, 3]);
        }
    }

    #[test]
    fn csv_with_header_quotes_and_newlines_in_values() {
        let mut options = Options::new(Kind::Csv);
        options.header = true;
        let input = b"id,note\n1,\"a, \"\"quoted\"\" note\"\n2,\"two\nlines\"\n3,\n4,\"\"\n5,last";
        for piece in [1, 4, 1000] {
            let records = decode_in_pieces(options.clone(), input, piece).unwrap();
            assert_eq!(
                fields(&records),
                vec![
                    vec![Some("1"), Some("a, \"quoted\" note")],
                    vec![Some("2"), Some("two\nlines")],
                    vec![Some("3"), None],
                    vec![Some("4"), Some("")],
                    vec![Some("5"), Some("last")],
                ]
            );
            assert_eq!(records.iter().map(|r| r.line).collect::<Vec<_>>(), vec![2, 3, 5, 6, 7]);
        }
    }

    #[test]
    fn csv_options_delimiter_null_and_escape() {
        let options = Options { delimiter: b'|', null: "NULL".into(), escape: b'\\', ..Options::new(Kind::Csv) };
        let records = decode_in_pieces(options, b"a|NULL|\"NULL\"|\"x\\\"y\"\n", 3).unwrap();
        assert_eq!(fields(&records), vec![vec![Some("a"), None, Some("NULL"), Some("x\"y")]]);
    }

    #[test]
    fn unterminated_quote_and_bad_utf8_are_errors_with_lines() {
        let err = decode_in_pieces(Options::new(Kind::Csv), b"1,ok\n2,\"open\n", 5).unwrap_err();
        assert_eq!((err.line, err.code), (2, "22P04"));
        let err = decode_in_pieces(Options::new(Kind::Text), b"ok\n\xff\n", 5).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("UTF8"), "{}", err.message);
    }
}
