//! Errors of model training and application, carrying their SQLSTATE across process boundaries.
//!
//! A PREDICT that fails on an executor reaches the coordinator as text inside Ballista's job
//! failure, so the SQLSTATE travels in the message itself: `squall error 22023: ...`. The
//! coordinator finds the marker, takes the code and strips it (engine `error::datafusion_errors`).

use datafusion::error::DataFusionError;

/// The marker that opens a squall error message: `squall error XXXXX: message`.
pub const MARKER: &str = "squall error ";

/// An error with its SQLSTATE, as DataFusion carries it.
pub fn coded(code: &'static str, message: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(format!("{MARKER}{code}: {message}"))
}

/// The SQLSTATE and message of a text that holds a squall error, if it does.
pub fn find_coded(text: &str) -> Option<(String, String)> {
    let at = text.find(MARKER)?;
    let rest = &text[at + MARKER.len()..];
    let (code, message) = rest.split_once(": ")?;
    // Carried inside another error's Debug text (Ballista's job failures), the marker is inside
    // a quoted string: the message ends at that string's closing quote, and a quote of its own
    // is escaped there. Otherwise the message runs to the end of the text.
    let message = if unescaped_quotes(&text[..at]) % 2 == 1 {
        let end = unescaped_quote_positions(message).next().unwrap_or(message.len());
        message[..end].replace("\\\"", "\"")
    } else {
        message.to_string()
    };
    (code.len() == 5 && code.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| (code.to_string(), message.trim().to_string()))
}

fn unescaped_quote_positions(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.char_indices().filter(|&(i, c)| c == '"' && !text[..i].ends_with('\\')).map(|(i, _)| i)
}

fn unescaped_quotes(text: &str) -> usize {
    unescaped_quote_positions(text).count()
}

/// 22023: an argument or option has a value squall cannot use.
pub fn invalid(message: impl std::fmt::Display) -> DataFusionError {
    coded("22023", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_survives_being_wrapped_in_other_messages() {
        let e = invalid("model m expects 4 features");
        let wrapped = format!("Job failed: Task failed: {e}");
        let debug = format!("Job failed: {:?}", Some(e.to_string()));
        assert_eq!(find_coded(&debug).map(|(_, m)| m), Some("model m expects 4 features".to_string()));
        assert_eq!(find_coded(&wrapped), Some(("22023".into(), "model m expects 4 features".into())));
        assert_eq!(find_coded("no marker"), None);
        // A message's own quotes, bare or escaped inside a Debug string.
        let quoted = coded("42704", "role \"nobody\" does not exist");
        assert_eq!(find_coded(&quoted.to_string()).map(|(_, m)| m), Some("role \"nobody\" does not exist".to_string()));
        let debug = format!("Job failed: {:?}", Some(quoted.to_string()));
        assert_eq!(find_coded(&debug).map(|(_, m)| m), Some("role \"nobody\" does not exist".to_string()));
    }
}
