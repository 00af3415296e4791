//! `to_char(timestamp | timestamptz | date, template)` with PostgreSQL's template patterns.
//!
//! DataFusion's own `to_char` reads chrono's `%Y-%m-%d`; given PostgreSQL's `YYYY-MM-DD` it
//! returned the template itself, a wrong answer to the most common formatting call analysts and
//! BI tools send. This one follows PostgreSQL ("Template Patterns for Date/Time Formatting"):
//! `YYYY`, `MM`, `DD`, `HH24`, `MI`, `SS`, `MS`, `US`, `Month`/`Mon`/`Day`/`Dy` in the case they
//! are written, `AM`, `Q`, `IW`, ..., the `FM` prefix (no padding) and `TH` suffix (ordinals),
//! `"quoted"` literal text. A template with a `%` in it is a chrono format, as before, so
//! queries written for DataFusion keep working. Values are formatted in the session's zone, UTC.

use std::sync::Arc;

use chrono::{Datelike, NaiveDateTime, Timelike};
use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{exec_err, plan_err, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use super::moments::{answer, microsecond_timestamp, moment_at};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ToChar {
    signature: Signature,
    aliases: Vec<String>,
}

impl ToChar {
    pub fn new() -> Self {
        // DataFusion's to_char is also registered as date_format; taking that name too leaves no
        // trace of it in a session's functions, which sessions copied from another would
        // otherwise register again in any order (and a copy could end up with either).
        Self { signature: Signature::user_defined(Volatility::Immutable), aliases: vec!["date_format".to_string()] }
    }
}

impl Default for ToChar {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for ToChar {
    fn name(&self) -> &str {
        "to_char"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    /// Dates and timestamps of any unit are read as microsecond timestamps (PostgreSQL's
    /// precision), templates as text.
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [value, template] = arg_types else { return plan_err!("to_char takes a value and a template") };
        let Some(value) = microsecond_timestamp(value) else {
            return plan_err!("to_char of {value} is not supported: squall formats dates and timestamps");
        };
        let template = match template {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => DataType::Utf8,
            other => return plan_err!("the template of to_char must be text, not {other}"),
        };
        Ok(vec![value, template])
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let (values, templates) = (&arrays[0], arrays[1].as_string::<i32>());
        let zoned = matches!(values.data_type(), DataType::Timestamp(_, Some(_)));
        let mut out = StringBuilder::with_capacity(values.len(), values.len() * 16);
        for row in 0..values.len() {
            if values.is_null(row) || templates.is_null(row) {
                out.append_null();
                continue;
            }
            out.append_value(format(moment_at(values, row)?, templates.value(row), zoned)?);
        }
        answer(Arc::new(out.finish()), &args.args)
    }
}

/// `moment` written by `template`: PostgreSQL's patterns, or chrono's when it has a `%`.
pub fn format(moment: NaiveDateTime, template: &str, zoned: bool) -> Result<String> {
    if template.contains('%') {
        let items: Vec<_> = chrono::format::StrftimeItems::new(template).collect();
        if items.iter().any(|item| matches!(item, chrono::format::Item::Error)) {
            return exec_err!("invalid format string \"{template}\"");
        }
        return Ok(moment.format_with_items(items.into_iter()).to_string());
    }
    let mut out = String::with_capacity(template.len() + 8);
    for piece in pieces(template) {
        match piece {
            Piece::Literal(text) => out.push_str(&text),
            Piece::Field { pattern, case, fill, ordinal } => {
                let start = out.len();
                write_field(&mut out, moment, pattern, case, fill, zoned);
                if let Some(upper) = ordinal {
                    let number: i64 = out[start..].trim().parse().unwrap_or(0);
                    let suffix = ordinal_suffix(number);
                    out.push_str(&if upper { suffix.to_uppercase() } else { suffix.to_string() });
                }
            }
        }
    }
    Ok(out)
}

/// `template` (PostgreSQL's) as the chrono format that parses the same text, for `to_date` and
/// `to_timestamp`; `None` when it uses a pattern chrono cannot parse (ISO weeks, Julian days,
/// ...). `FM` changes nothing when reading: chrono's numbers take one digit or two.
pub fn chrono_parse_format(template: &str) -> Option<String> {
    let mut out = String::new();
    for piece in pieces(template) {
        match piece {
            Piece::Literal(text) => out.push_str(&text.replace('%', "%%")),
            Piece::Field { pattern, ordinal: None, .. } => out.push_str(match pattern {
                Pattern::Hour24 => "%H",
                Pattern::Hour12 => "%I",
                Pattern::Minute => "%M",
                Pattern::Second => "%S",
                Pattern::Millisecond => "%3f",
                Pattern::Microsecond => "%6f",
                Pattern::Meridiem { dots: false } => "%p",
                Pattern::Year(4) => "%Y",
                Pattern::Year(2) => "%y",
                Pattern::Month => "%m",
                Pattern::MonthName => "%B",
                Pattern::MonthAbbreviation => "%b",
                Pattern::DayOfMonth => "%d",
                Pattern::DayOfYear => "%j",
                Pattern::DayName => "%A",
                Pattern::DayAbbreviation => "%a",
                _ => return None,
            }),
            Piece::Field { .. } => return None,
        }
    }
    Some(out)
}

/// How a name pattern was written, which is how its output is written: `MONTH`, `Month`, `month`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Upper,
    Capitalized,
    Lower,
}

/// PostgreSQL's date/time template patterns squall writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pattern {
    Hour24,
    Hour12,
    Minute,
    Second,
    SecondsOfDay,
    Millisecond,
    Microsecond,
    Fraction(u8),
    Meridiem { dots: bool },
    YearWithComma,
    Year(u8),
    IsoYear(u8),
    Era { dots: bool },
    MonthName,
    MonthAbbreviation,
    Month,
    DayName,
    DayAbbreviation,
    DayOfYear,
    IsoDayOfYear,
    DayOfMonth,
    DayOfWeek,
    IsoDayOfWeek,
    WeekOfMonth,
    WeekOfYear,
    IsoWeek,
    Century,
    JulianDay,
    Quarter,
    RomanMonth,
    ZoneName,
    ZoneOffset,
    ZoneHours,
    ZoneMinutes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Field { pattern: Pattern, case: Case, fill: bool, ordinal: Option<bool> },
}

/// Every pattern with its spelling; the longest spelling that matches wins, ignoring case.
const PATTERNS: &[(&str, Pattern)] = &[
    ("HH24", Pattern::Hour24),
    ("HH12", Pattern::Hour12),
    ("HH", Pattern::Hour12),
    ("MI", Pattern::Minute),
    ("SSSSS", Pattern::SecondsOfDay),
    ("SSSS", Pattern::SecondsOfDay),
    ("SS", Pattern::Second),
    ("MS", Pattern::Millisecond),
    ("US", Pattern::Microsecond),
    ("FF1", Pattern::Fraction(1)),
    ("FF2", Pattern::Fraction(2)),
    ("FF3", Pattern::Fraction(3)),
    ("FF4", Pattern::Fraction(4)),
    ("FF5", Pattern::Fraction(5)),
    ("FF6", Pattern::Fraction(6)),
    ("A.M.", Pattern::Meridiem { dots: true }),
    ("P.M.", Pattern::Meridiem { dots: true }),
    ("AM", Pattern::Meridiem { dots: false }),
    ("PM", Pattern::Meridiem { dots: false }),
    ("Y,YYY", Pattern::YearWithComma),
    ("YYYY", Pattern::Year(4)),
    ("YYY", Pattern::Year(3)),
    ("YY", Pattern::Year(2)),
    ("Y", Pattern::Year(1)),
    ("IYYY", Pattern::IsoYear(4)),
    ("IYY", Pattern::IsoYear(3)),
    ("IY", Pattern::IsoYear(2)),
    ("IDDD", Pattern::IsoDayOfYear),
    ("ID", Pattern::IsoDayOfWeek),
    ("IW", Pattern::IsoWeek),
    ("I", Pattern::IsoYear(1)),
    ("B.C.", Pattern::Era { dots: true }),
    ("A.D.", Pattern::Era { dots: true }),
    ("BC", Pattern::Era { dots: false }),
    ("AD", Pattern::Era { dots: false }),
    ("MONTH", Pattern::MonthName),
    ("MON", Pattern::MonthAbbreviation),
    ("MM", Pattern::Month),
    ("DAY", Pattern::DayName),
    ("DY", Pattern::DayAbbreviation),
    ("DDD", Pattern::DayOfYear),
    ("DD", Pattern::DayOfMonth),
    ("D", Pattern::DayOfWeek),
    ("WW", Pattern::WeekOfYear),
    ("W", Pattern::WeekOfMonth),
    ("CC", Pattern::Century),
    ("J", Pattern::JulianDay),
    ("Q", Pattern::Quarter),
    ("RM", Pattern::RomanMonth),
    ("TZH", Pattern::ZoneHours),
    ("TZM", Pattern::ZoneMinutes),
    ("TZ", Pattern::ZoneName),
    ("OF", Pattern::ZoneOffset),
];

/// `template` read into literal text and patterns.
fn pieces(template: &str) -> Vec<Piece> {
    let chars: Vec<char> = template.chars().collect();
    let mut out = Vec::new();
    let mut literal = String::new();
    let mut i = 0;
    while i < chars.len() {
        // "quoted text" is copied as it is; \" inside it is a quote.
        if chars[i] == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                }
                literal.push(chars[i]);
                i += 1;
            }
            i += 1;
            continue;
        }
        if chars[i] == '\\' && i + 1 < chars.len() {
            literal.push(chars[i + 1]);
            i += 2;
            continue;
        }
        let rest: String = chars[i..].iter().collect();
        let (fill, after_prefix) = if starts_with_ignoring_case(&rest, "FM") { (false, 2) } else { (true, 0) };
        let candidate = &rest[after_prefix..];
        let matched = PATTERNS
            .iter()
            .filter(|(spelling, _)| starts_with_ignoring_case(candidate, spelling))
            .max_by_key(|(spelling, _)| spelling.len());
        match matched {
            Some((spelling, pattern)) => {
                if !literal.is_empty() {
                    out.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                let written = &candidate[..spelling.len()];
                let case = if written.chars().all(|c| !c.is_lowercase()) {
                    Case::Upper
                } else if written.chars().next().is_some_and(char::is_uppercase) {
                    Case::Capitalized
                } else {
                    Case::Lower
                };
                let after = &candidate[spelling.len()..];
                let ordinal = if after.starts_with("TH") {
                    Some(true)
                } else if after.starts_with("th") {
                    Some(false)
                } else {
                    None
                };
                out.push(Piece::Field { pattern: *pattern, case, fill, ordinal });
                i += after_prefix + spelling.chars().count() + if ordinal.is_some() { 2 } else { 0 };
            }
            None => {
                // A lone FM before no pattern, or any other character, is text.
                literal.push(chars[i]);
                i += 1;
            }
        }
    }
    if !literal.is_empty() {
        out.push(Piece::Literal(literal));
    }
    out
}

fn starts_with_ignoring_case(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len() && text.is_char_boundary(prefix.len()) && text[..prefix.len()].eq_ignore_ascii_case(prefix)
}

const MONTHS: [&str; 12] = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const ROMAN: [&str; 12] = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII"];

fn write_field(out: &mut String, moment: NaiveDateTime, pattern: Pattern, case: Case, fill: bool, zoned: bool) {
    let number = |out: &mut String, value: i64, width: usize| {
        if fill {
            out.push_str(&format!("{value:0width$}"));
        } else {
            out.push_str(&value.to_string());
        }
    };
    let name = |out: &mut String, text: &str, width: usize| {
        let text = match case {
            Case::Upper => text.to_uppercase(),
            Case::Capitalized => text.to_string(),
            Case::Lower => text.to_lowercase(),
        };
        if fill {
            out.push_str(&format!("{text:<width$}"));
        } else {
            out.push_str(&text);
        }
    };
    let date = moment.date();
    let year = i64::from(date.year());
    let iso = date.iso_week();
    let micros = i64::from(moment.nanosecond() / 1_000);
    match pattern {
        Pattern::Hour24 => number(out, i64::from(moment.hour()), 2),
        Pattern::Hour12 => number(out, i64::from(moment.hour12().1), 2),
        Pattern::Minute => number(out, i64::from(moment.minute()), 2),
        Pattern::Second => number(out, i64::from(moment.second()), 2),
        Pattern::SecondsOfDay => out.push_str(&moment.num_seconds_from_midnight().to_string()),
        Pattern::Millisecond => number(out, micros / 1_000, 3),
        Pattern::Microsecond => number(out, micros, 6),
        Pattern::Fraction(digits) => {
            let digits = usize::from(digits);
            out.push_str(&format!("{micros:06}")[..digits]);
        }
        Pattern::Meridiem { dots } => {
            let text = match (moment.hour12().0, dots) {
                (false, false) => "AM",
                (true, false) => "PM",
                (false, true) => "A.M.",
                (true, true) => "P.M.",
            };
            out.push_str(&if case == Case::Upper { text.to_string() } else { text.to_lowercase() });
        }
        Pattern::YearWithComma => out.push_str(&format!("{},{:03}", year / 1000, year % 1000)),
        Pattern::Year(4) => number(out, year, 4),
        Pattern::Year(width) => number(out, year % 10_i64.pow(u32::from(width)), usize::from(width)),
        Pattern::IsoYear(4) => number(out, i64::from(iso.year()), 4),
        Pattern::IsoYear(width) => number(out, i64::from(iso.year()) % 10_i64.pow(u32::from(width)), usize::from(width)),
        Pattern::Era { dots } => {
            let text = match (year > 0, dots) {
                (true, false) => "AD",
                (false, false) => "BC",
                (true, true) => "A.D.",
                (false, true) => "B.C.",
            };
            out.push_str(&if case == Case::Upper { text.to_string() } else { text.to_lowercase() });
        }
        Pattern::MonthName => name(out, MONTHS[date.month0() as usize], 9),
        Pattern::MonthAbbreviation => name(out, &MONTHS[date.month0() as usize][..3], 3),
        Pattern::Month => number(out, i64::from(date.month()), 2),
        Pattern::DayName => name(out, DAYS[date.weekday().num_days_from_sunday() as usize], 9),
        Pattern::DayAbbreviation => name(out, &DAYS[date.weekday().num_days_from_sunday() as usize][..3], 3),
        Pattern::DayOfYear => number(out, i64::from(date.ordinal()), 3),
        Pattern::IsoDayOfYear => number(out, i64::from((iso.week() - 1) * 7 + date.weekday().number_from_monday()), 3),
        Pattern::DayOfMonth => number(out, i64::from(date.day()), 2),
        Pattern::DayOfWeek => number(out, i64::from(date.weekday().number_from_sunday()), 1),
        Pattern::IsoDayOfWeek => number(out, i64::from(date.weekday().number_from_monday()), 1),
        Pattern::WeekOfMonth => number(out, i64::from((date.day() - 1) / 7 + 1), 1),
        Pattern::WeekOfYear => number(out, i64::from((date.ordinal() - 1) / 7 + 1), 2),
        Pattern::IsoWeek => number(out, i64::from(iso.week()), 2),
        Pattern::Century => number(out, if year > 0 { (year + 99) / 100 } else { (year - 99) / 100 }, 2),
        // Julian day 1,721,426 is 0001-01-01.
        Pattern::JulianDay => out.push_str(&(i64::from(date.num_days_from_ce()) + 1_721_425).to_string()),
        Pattern::Quarter => number(out, i64::from(date.month0() / 3 + 1), 1),
        Pattern::RomanMonth => {
            let roman = ROMAN[date.month0() as usize];
            let roman = if case == Case::Lower { roman.to_lowercase() } else { roman.to_string() };
            out.push_str(&if fill { format!("{roman:<4}") } else { roman });
        }
        // The session's zone is UTC; a timestamp without zone has none to show.
        Pattern::ZoneName if zoned => out.push_str(if case == Case::Lower { "utc" } else { "UTC" }),
        Pattern::ZoneOffset | Pattern::ZoneHours if zoned => out.push_str("+00"),
        Pattern::ZoneMinutes if zoned => out.push_str("00"),
        Pattern::ZoneName | Pattern::ZoneOffset | Pattern::ZoneHours | Pattern::ZoneMinutes => {}
    }
}

fn ordinal_suffix(number: i64) -> &'static str {
    match (number % 100, number % 10) {
        (11..=13, _) => "th",
        (_, 1) => "st",
        (_, 2) => "nd",
        (_, 3) => "rd",
        _ => "th",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").unwrap()
    }

    /// Each as PostgreSQL 15 writes `to_char(TIMESTAMP '2024-03-05 14:07:09.123456', template)`.
    #[test]
    fn templates_are_written_as_postgresql_writes_them() {
        let moment = at("2024-03-05 14:07:09.123456");
        for (template, expected) in [
            ("YYYY-MM-DD HH24:MI:SS", "2024-03-05 14:07:09"),
            ("YYYY-MM-DD\"T\"HH24:MI:SS.MS", "2024-03-05T14:07:09.123"),
            ("HH12:MI AM", "02:07 PM"),
            ("hh12:mi am", "02:07 pm"),
            ("Month DD, YYYY", "March     05, 2024"),
            ("FMMonth FMDD, YYYY", "March 5, 2024"),
            ("Mon dd yyyy", "Mar 05 2024"),
            ("MON", "MAR"),
            ("Day Dy day", "Tuesday   Tue tuesday  "),
            ("FMDay, FMDDth \"of\" FMMonth", "Tuesday, 5th of March"),
            ("DDD D ID W WW IW Q CC", "065 3 2 1 10 10 1 21"),
            ("IYYY-IW", "2024-10"),
            ("US FF2", "123456 12"),
            ("SSSS", "50829"),
            ("J", "2460375"),
            ("RM", "III "),
            ("YY Y,YYY BC", "24 2,024 AD"),
            ("\\\"YYYY\\\"", "\"2024\""),
            ("DDTH ddth", "05TH 05th"),
            ("%Y/%m/%d", "2024/03/05"),
        ] {
            assert_eq!(format(moment, template, false).unwrap(), expected, "{template}");
        }
        assert_eq!(format(at("2024-03-01 00:00:00"), "FMDDth FMDDth", false).unwrap(), "1st 1st");
        assert_eq!(format(at("2024-03-11 00:00:00"), "FMDDth", false).unwrap(), "11th");
        assert_eq!(format(moment, "YYYY-MM-DD HH24:MI:SS TZ OF", true).unwrap(), "2024-03-05 14:07:09 UTC +00");
        assert!(format(moment, "%Q", false).is_err());
    }

    #[test]
    fn templates_become_chrono_parse_formats() {
        assert_eq!(chrono_parse_format("DD/MM/YYYY").as_deref(), Some("%d/%m/%Y"));
        assert_eq!(chrono_parse_format("YYYY-MM-DD HH24:MI:SS.US").as_deref(), Some("%Y-%m-%d %H:%M:%S.%6f"));
        assert_eq!(chrono_parse_format("FMDD Mon YYYY \"at\" HH12 AM").as_deref(), Some("%d %b %Y at %I %p"));
        assert_eq!(chrono_parse_format("100% YYYY").as_deref(), Some("100%% %Y"));
        assert_eq!(chrono_parse_format("IYYY-IW"), None);
        let parsed = chrono::NaiveDate::parse_from_str("05/03/2024", &chrono_parse_format("DD/MM/YYYY").unwrap()).unwrap();
        assert_eq!(parsed, chrono::NaiveDate::from_ymd_opt(2024, 3, 5).unwrap());
    }
}
