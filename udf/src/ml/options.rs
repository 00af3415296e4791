//! TRAIN MODEL options: which exist for which algorithm, and reading their values. Every value
//! problem is a 22023 error that names the option.

use std::collections::BTreeMap;

use datafusion::error::Result;

use super::error::invalid;

/// Options every algorithm takes.
pub const COMMON: &[&str] = &["holdout", "seed", "task", "max_training_rows", "nulls"];

/// The options as given, by lower-case name.
#[derive(Debug, Clone, Default)]
pub struct Options(pub BTreeMap<String, String>);

impl Options {
    pub fn new(given: &[(String, String)], allowed: &[&str], algorithm: &str) -> Result<Options> {
        let mut map = BTreeMap::new();
        for (name, value) in given {
            if !COMMON.contains(&name.as_str()) && !allowed.contains(&name.as_str()) {
                let mut all: Vec<&str> = COMMON.iter().chain(allowed).copied().collect();
                all.sort();
                return Err(invalid(format!(
                    "unknown option \"{name}\" for {algorithm}; it takes: {}",
                    all.join(", ")
                )));
            }
            if map.insert(name.clone(), value.clone()).is_some() {
                return Err(invalid(format!("option \"{name}\" is given twice")));
            }
        }
        Ok(Options(map))
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn float(&self, name: &str, default: f64, range: (f64, f64)) -> Result<f64> {
        match self.0.get(name) {
            None => Ok(default),
            Some(v) => match v.parse::<f64>() {
                Ok(x) if x >= range.0 && x <= range.1 => Ok(x),
                _ => Err(invalid(format!("option \"{name}\" must be a number from {} to {}, not '{v}'", range.0, range.1))),
            },
        }
    }

    pub fn integer(&self, name: &str, default: u64, min: u64, max: u64) -> Result<u64> {
        match self.0.get(name) {
            None => Ok(default),
            Some(v) => match v.parse::<u64>() {
                Ok(x) if x >= min && x <= max => Ok(x),
                _ => Err(invalid(format!("option \"{name}\" must be a whole number from {min} to {max}, not '{v}'"))),
            },
        }
    }

    /// An optional whole number (e.g. `max_depth`, unlimited when absent).
    pub fn optional_integer(&self, name: &str, min: u64, max: u64) -> Result<Option<u64>> {
        match self.0.contains_key(name) {
            true => self.integer(name, min, min, max).map(Some),
            false => Ok(None),
        }
    }

    /// One of `choices`, or `default` when absent.
    pub fn choice<'a>(&'a self, name: &str, default: &'a str, choices: &[&str]) -> Result<&'a str> {
        match self.0.get(name) {
            None => Ok(default),
            Some(v) if choices.contains(&v.as_str()) => Ok(v.as_str()),
            Some(v) => Err(invalid(format!("option \"{name}\" must be one of {}, not '{v}'", choices.join(", ")))),
        }
    }

    pub fn seed(&self) -> Result<u64> {
        match self.0.get("seed") {
            None => Ok(42),
            Some(v) => v
                .parse::<i64>()
                .map(|s| s as u64)
                .map_err(|_| invalid(format!("option \"seed\" must be a whole number, not '{v}'"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn unknown_and_bad_values_are_22023() {
        let e = Options::new(&given(&[("depth", "3")]), &["max_depth"], "decision_tree").unwrap_err();
        assert!(e.to_string().contains("squall error 22023: unknown option \"depth\""), "{e}");
        let o = Options::new(&given(&[("holdout", "1.5")]), &[], "x").unwrap();
        assert!(o.float("holdout", 0.2, (0.0, 0.9)).is_err());
        let o = Options::new(&given(&[("max_depth", "-1")]), &["max_depth"], "x").unwrap();
        assert!(o.optional_integer("max_depth", 1, 100).is_err());
    }
}
