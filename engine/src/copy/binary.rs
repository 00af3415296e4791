//! COPY's binary format on input (asyncpg's `copy_records_to_table`, psycopg's binary copy):
//! the `PGCOPY` header, then tuples of length-prefixed values in each column's binary send format.
//! Values are turned into PostgreSQL's text forms of the same values, which the loader types as it
//! types text and CSV input, so all formats share one path (and one set of error messages).

use datafusion::arrow::datatypes::{DataType, TimeUnit};

use super::format::{BadRecord, Record};

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
/// 2000-01-01, PostgreSQL's epoch, in days and microseconds after 1970-01-01.
const EPOCH_DAYS: i64 = 10_957;
const EPOCH_MICROS: i64 = EPOCH_DAYS * 86_400_000_000;
/// The largest field (and header extension) accepted: PostgreSQL's limit on one value (1 GiB).
/// A length beyond it, or negative other than -1 (NULL), is a damaged file, not a wait for data.
const MAX_FIELD: i32 = (1 << 30) - 1;

/// Turns chunks of binary COPY data into records, given the types of the input columns.
pub struct BinaryDecoder {
    types: Vec<DataType>,
    buffer: Vec<u8>,
    header_read: bool,
    ended: bool,
    tuples: u64,
}

impl BinaryDecoder {
    pub fn new(types: Vec<DataType>) -> Self {
        Self { types, buffer: Vec::new(), header_read: false, ended: false, tuples: 0 }
    }

    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Record>) -> Result<(), BadRecord> {
        if self.ended {
            return Ok(());
        }
        self.buffer.extend_from_slice(chunk);
        let mut at = 0;
        if !self.header_read {
            // Signature, flags, header extension length, extension.
            if self.buffer.len() < SIGNATURE.len() + 8 {
                return Ok(());
            }
            if &self.buffer[..SIGNATURE.len()] != SIGNATURE {
                return Err(self.bad("COPY file signature not recognized"));
            }
            let extension = i32::from_be_bytes(self.buffer[SIGNATURE.len() + 4..SIGNATURE.len() + 8].try_into().expect("4 bytes"));
            if !(0..=MAX_FIELD).contains(&extension) {
                return Err(self.bad("invalid COPY file header (bad header extension length)"));
            }
            let extension = extension as usize;
            if self.buffer.len() < SIGNATURE.len() + 8 + extension {
                return Ok(());
            }
            at = SIGNATURE.len() + 8 + extension;
            self.header_read = true;
        }
        while let Some((record, used)) = self.tuple(at)? {
            at += used;
            match record {
                Some(record) => out.push(record),
                None => {
                    self.ended = true;
                    self.buffer.clear();
                    return Ok(());
                }
            }
        }
        self.buffer.drain(..at);
        Ok(())
    }

    pub fn finish(&mut self, _out: &mut Vec<Record>) -> Result<(), BadRecord> {
        if self.ended || (self.header_read && self.buffer.is_empty()) {
            return Ok(());
        }
        Err(self.bad("unexpected EOF in COPY data"))
    }

    /// The tuple starting at `at` if it has fully arrived, with the bytes it took; `Some(None, _)`
    /// for the trailer.
    fn tuple(&mut self, at: usize) -> Result<Option<(Option<Record>, usize)>, BadRecord> {
        let data = &self.buffer[at..];
        if data.len() < 2 {
            return Ok(None);
        }
        let count = i16::from_be_bytes([data[0], data[1]]);
        if count == -1 {
            return Ok(Some((None, 2)));
        }
        let line = self.tuples + 1;
        if count < 0 || count as usize != self.types.len() {
            return Err(BadRecord { line, code: "22P04", message: format!("row field count is {count}, expected {}", self.types.len()) });
        }
        let mut offset = 2;
        let mut fields = Vec::with_capacity(self.types.len());
        for data_type in &self.types {
            if data.len() < offset + 4 {
                return Ok(None);
            }
            let length = i32::from_be_bytes(data[offset..offset + 4].try_into().expect("4 bytes"));
            offset += 4;
            if length == -1 {
                fields.push(None);
                continue;
            }
            if !(0..=MAX_FIELD).contains(&length) {
                return Err(BadRecord { line, code: "22P04", message: format!("invalid field size {length}") });
            }
            let length = length as usize;
            if data.len() < offset + length {
                return Ok(None);
            }
            let value = &data[offset..offset + length];
            offset += length;
            fields.push(Some(text_of(value, data_type).map_err(|message| BadRecord { line, code: "22P03", message })?));
        }
        self.tuples += 1;
        Ok(Some((Some(Record { line, fields }), offset)))
    }

    fn bad(&self, message: &str) -> BadRecord {
        BadRecord { line: self.tuples + 1, code: "22P04", message: message.into() }
    }
}

/// A value in binary send format, written as PostgreSQL writes it in text.
fn text_of(value: &[u8], data_type: &DataType) -> Result<String, String> {
    let int = |n: usize| -> Result<i64, String> {
        match (n, value.len()) {
            (_, 2) => Ok(i16::from_be_bytes(value.try_into().expect("2")) as i64),
            (_, 4) => Ok(i32::from_be_bytes(value.try_into().expect("4")) as i64),
            (_, 8) => Ok(i64::from_be_bytes(value.try_into().expect("8"))),
            _ => Err(format!("incorrect binary data format: {} bytes for a {n}-byte integer", value.len())),
        }
    };
    Ok(match data_type {
        DataType::Int16 => int(2)?.to_string(),
        DataType::Int32 => int(4)?.to_string(),
        DataType::Int64 => int(8)?.to_string(),
        DataType::Float32 | DataType::Float64 => match value.len() {
            4 => f32::from_be_bytes(value.try_into().expect("4")).to_string(),
            8 => f64::from_be_bytes(value.try_into().expect("8")).to_string(),
            n => return Err(format!("incorrect binary data format: {n} bytes for a float")),
        },
        DataType::Boolean => match value {
            [0] => "f".into(),
            [1] => "t".into(),
            _ => return Err("incorrect binary data format for a boolean".into()),
        },
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            String::from_utf8(value.to_vec()).map_err(|_| "invalid byte sequence for encoding \"UTF8\"".to_string())?
        }
        DataType::Binary | DataType::LargeBinary => {
            let mut hex = String::with_capacity(2 + value.len() * 2);
            hex.push_str("\\x");
            for b in value {
                hex.push_str(&format!("{b:02x}"));
            }
            hex
        }
        DataType::Date32 | DataType::Date64 => {
            let days = int(4)? + EPOCH_DAYS;
            chrono::DateTime::from_timestamp(days * 86_400, 0).ok_or("date out of range")?.format("%Y-%m-%d").to_string()
        }
        DataType::Timestamp(_, zone) => {
            let micros = int(8)? + EPOCH_MICROS;
            let at = chrono::DateTime::from_timestamp_micros(micros).ok_or("timestamp out of range")?;
            let text = at.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
            if zone.is_some() { format!("{text}+00:00") } else { text }
        }
        DataType::Time64(TimeUnit::Microsecond | TimeUnit::Nanosecond) => {
            let micros = int(8)?;
            let time = chrono::NaiveTime::from_num_seconds_from_midnight_opt((micros / 1_000_000) as u32, ((micros % 1_000_000) * 1000) as u32).ok_or("time out of range")?;
            time.format("%H:%M:%S%.6f").to_string()
        }
        DataType::Decimal128(..) | DataType::Decimal256(..) => numeric_text(value)?,
        other => return Err(format!("binary COPY into a column of type {other} is not supported; use text or csv")),
    })
}

/// PostgreSQL's binary numeric: ndigits, weight, sign, dscale, then base-10000 digits.
fn numeric_text(value: &[u8]) -> Result<String, String> {
    let word = |i: usize| -> Result<i16, String> {
        value.get(i * 2..i * 2 + 2).map(|b| i16::from_be_bytes([b[0], b[1]])).ok_or_else(|| "incorrect binary data format for a numeric".to_string())
    };
    let (ndigits, weight, sign, dscale) = (word(0)? as usize, word(1)? as i32, word(2)? as u16, word(3)? as usize);
    if sign == 0xC000 {
        return Ok("NaN".into());
    }
    let digits: Vec<i16> = (0..ndigits).map(|i| word(4 + i)).collect::<Result<_, _>>()?;
    // Integer part: digit groups at weights weight..=0; fraction: groups at -1, -2, ...
    let mut integer = String::new();
    for w in (0..=weight.max(0)).rev() {
        let index = weight - w;
        let group = if index >= 0 && (index as usize) < digits.len() && w <= weight { digits[index as usize] } else { 0 };
        if integer.is_empty() {
            if group != 0 || w == 0 {
                integer = group.to_string();
            }
        } else {
            integer.push_str(&format!("{group:04}"));
        }
    }
    if integer.is_empty() {
        integer.push('0');
    }
    let mut fraction = String::new();
    let mut index = weight + 1;
    while fraction.len() < dscale {
        let group = if index >= 0 && (index as usize) < digits.len() { digits[index as usize] } else { 0 };
        fraction.push_str(&format!("{group:04}"));
        index += 1;
    }
    fraction.truncate(dscale);
    let sign = if sign == 0x4000 { "-" } else { "" };
    Ok(if dscale > 0 { format!("{sign}{integer}.{fraction}") } else { format!("{sign}{integer}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy_data(tuples: &[Vec<Option<Vec<u8>>>]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend_from_slice(&0i32.to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes());
        for tuple in tuples {
            out.extend_from_slice(&(tuple.len() as i16).to_be_bytes());
            for field in tuple {
                match field {
                    Some(v) => {
                        out.extend_from_slice(&(v.len() as i32).to_be_bytes());
                        out.extend_from_slice(v);
                    }
                    None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                }
            }
        }
        out.extend_from_slice(&(-1i16).to_be_bytes());
        out
    }

    #[test]
    fn tuples_in_any_chunking() {
        let types = vec![DataType::Int64, DataType::Utf8, DataType::Date32, DataType::Timestamp(TimeUnit::Microsecond, None), DataType::Boolean];
        let tuple = |id: i64, name: Option<&str>| {
            vec![
                Some(id.to_be_bytes().to_vec()),
                name.map(|n| n.as_bytes().to_vec()),
                Some(9_132i32.to_be_bytes().to_vec()), // 2025-01-01
                Some((86_400_000_000i64 + 1).to_be_bytes().to_vec()),
                Some(vec![1]),
            ]
        };
        let data = copy_data(&[tuple(1, Some("one")), tuple(2, None)]);
        for piece in [1, 3, 1000] {
            let mut decoder = BinaryDecoder::new(types.clone());
            let mut out = Vec::new();
            for chunk in data.chunks(piece) {
                decoder.push(chunk, &mut out).unwrap();
            }
            decoder.finish(&mut out).unwrap();
            let fields: Vec<Vec<Option<&str>>> = out.iter().map(|r| r.fields.iter().map(|f| f.as_deref()).collect()).collect();
            assert_eq!(
                fields,
                vec![
                    vec![Some("1"), Some("one"), Some("2025-01-01"), Some("2000-01-02 00:00:00.000001"), Some("t")],
                    vec![Some("2"), None, Some("2025-01-01"), Some("2000-01-02 00:00:00.000001"), Some("t")],
                ],
                "chunks of {piece}"
            );
            assert_eq!(out.iter().map(|r| r.line).collect::<Vec<_>>(), vec![1, 2]);
        }
    }

    #[test]
    fn numerics_as_postgresql_writes_them() {
        let numeric = |words: &[i16]| words.iter().flat_map(|w| w.to_be_bytes()).collect::<Vec<u8>>();
        // 1234.5600 (ndigits 2: 1234 | 5600, weight 0, dscale 4)
        assert_eq!(numeric_text(&numeric(&[2, 0, 0, 4, 1234, 5600])).unwrap(), "1234.5600");
        // -12345678.9 (0012 | 3456 | 7890... weight 1)
        assert_eq!(numeric_text(&numeric(&[3, 1, 0x4000u16 as i16, 1, 1234, 5678, 9000])).unwrap(), "-12345678.9");
        // 0.0001 (weight -1, digit 1)
        assert_eq!(numeric_text(&numeric(&[1, -1, 0, 4, 1])).unwrap(), "0.0001");
        // 10000 (weight 1, digits 1, 0 trimmed)
        assert_eq!(numeric_text(&numeric(&[1, 1, 0, 0, 1])).unwrap(), "10000");
    }

    #[test]
    fn bad_data_is_an_error_with_its_tuple() {
        let mut decoder = BinaryDecoder::new(vec![DataType::Int64]);
        let mut out = Vec::new();
        assert!(decoder.push(b"not a copy file at all", &mut out).is_err());
        let mut decoder = BinaryDecoder::new(vec![DataType::Int64, DataType::Int64]);
        let data = copy_data(&[vec![Some(1i64.to_be_bytes().to_vec())]]);
        let err = decoder.push(&data, &mut out).unwrap_err();
        assert_eq!((err.line, err.code), (1, "22P04"));
    }

    #[test]
    fn a_negative_or_oversized_field_length_is_a_bad_file_not_a_wait() {
        for length in [-2i32, i32::MIN, MAX_FIELD + 1, i32::MAX] {
            let mut data = copy_data(&[vec![Some(1i64.to_be_bytes().to_vec())]]);
            // The second tuple: one field whose length is `length`, followed by a few bytes.
            let trailer = data.split_off(data.len() - 2);
            data.extend_from_slice(&1i16.to_be_bytes());
            data.extend_from_slice(&length.to_be_bytes());
            data.extend_from_slice(&[0; 8]);
            data.extend_from_slice(&trailer);
            let mut decoder = BinaryDecoder::new(vec![DataType::Int64]);
            let err = decoder.push(&data, &mut Vec::new()).unwrap_err();
            assert_eq!((err.line, err.code), (2, "22P04"), "{length}: {}", err.message);
            assert_eq!(err.message, format!("invalid field size {length}"));
        }
    }
}
