//! Feature and target columns as a model remembers them, and the conversions every model shares:
//! numbers to `f64`, text and booleans to their category strings, encoded as ordinal codes or
//! one-hot vectors for the algorithms that need numbers only.
//!
//! The same conversions run at training (on the coordinator, over the sampled rows) and at
//! prediction (on the executors), so a value means the same thing on both sides.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use serde::{Deserialize, Serialize};

use super::error::coded;

/// How a column takes part in a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Integers, floats and decimals, used as numbers.
    Numeric,
    /// Text and booleans: a value is a category.
    Categorical,
}

impl Kind {
    /// The kind of a column of `data_type`; `None` for types squall cannot learn from.
    pub fn of(data_type: &DataType) -> Option<Kind> {
        match data_type {
            t if t.is_numeric() => Some(Kind::Numeric),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Boolean => Some(Kind::Categorical),
            DataType::Dictionary(_, value) => Kind::of(value).filter(|k| *k == Kind::Categorical),
            _ => None,
        }
    }

    /// The Arrow type a column of this kind is converted to before training or prediction.
    pub fn arrow_type(self) -> DataType {
        match self {
            Kind::Numeric => DataType::Float64,
            Kind::Categorical => DataType::Utf8,
        }
    }
}

/// How a categorical feature becomes numbers for algorithms that take numbers only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "encoding", rename_all = "snake_case")]
pub enum Encoding {
    /// The value itself.
    Number,
    /// The category's position in `categories`; an unseen category is -1.
    Ordinal { categories: Vec<String> },
    /// One column per category; an unseen category is all zeros.
    OneHot { categories: Vec<String> },
    /// Naive Bayes reads categories directly (its per-class counts live in the model).
    Category,
}

impl Encoding {
    pub fn describe(&self) -> String {
        match self {
            Encoding::Number => "number".into(),
            Encoding::Ordinal { categories } => format!("ordinal ({} categories)", categories.len()),
            Encoding::OneHot { categories } => format!("one-hot ({} categories)", categories.len()),
            Encoding::Category => "category".into(),
        }
    }

    /// How many numeric columns it encodes to.
    pub fn width(&self) -> usize {
        match self {
            Encoding::OneHot { categories } => categories.len(),
            _ => 1,
        }
    }
}

/// A feature column of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    pub name: String,
    /// The column's type in the training query.
    pub data_type: DataType,
    pub kind: Kind,
    pub encoding: Encoding,
}

/// The column a supervised model predicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub name: String,
    /// The column's type in the training query; predictions come back in it.
    pub data_type: DataType,
    /// For classification: the classes, as text, in the order the model numbers them.
    pub classes: Option<Vec<String>>,
}

/// `array` as `Float64` (numbers) or `Utf8` (categories), whatever its original type.
pub fn convert(array: &ArrayRef, kind: Kind) -> Result<ArrayRef> {
    let target = kind.arrow_type();
    if array.data_type() == &target {
        return Ok(Arc::clone(array));
    }
    cast(array, &target).map_err(|e| coded("22023", format!("cannot use a {} value as {kind:?}: {e}", array.data_type())))
}

/// For each row, whether any of `columns` is NULL there.
pub fn null_rows(columns: &[ArrayRef], rows: usize) -> Vec<bool> {
    let mut nulls = vec![false; rows];
    for column in columns {
        if column.null_count() > 0 {
            for (row, null) in nulls.iter_mut().enumerate() {
                *null |= column.is_null(row);
            }
        }
    }
    nulls
}

/// Encodes `columns` (already [`convert`]ed, one per feature) into a row-major matrix for an
/// algorithm that takes numbers; rows with a NULL anywhere are left out and reported as `None`.
pub struct Matrix {
    pub values: Vec<f64>,
    pub width: usize,
    /// For each input row, its row in `values`, or `None` when it had a NULL.
    pub rows: Vec<Option<usize>>,
}

impl Matrix {
    pub fn encode(features: &[Feature], columns: &[ArrayRef]) -> Matrix {
        let count = columns.first().map(|c| c.len()).unwrap_or(0);
        let nulls = null_rows(columns, count);
        let width: usize = features.iter().map(|f| f.encoding.width()).sum();
        let lookups: Vec<Option<HashMap<&str, usize>>> = features
            .iter()
            .map(|f| match &f.encoding {
                Encoding::Ordinal { categories } | Encoding::OneHot { categories } => {
                    Some(categories.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect())
                }
                _ => None,
            })
            .collect();
        let kept = nulls.iter().filter(|n| !**n).count();
        let mut values = vec![0.0; kept * width];
        let mut rows = Vec::with_capacity(count);
        let mut next = 0;
        for null in &nulls {
            rows.push((!null).then(|| {
                next += 1;
                next - 1
            }));
        }
        let mut offset = 0;
        for ((feature, column), lookup) in features.iter().zip(columns).zip(&lookups) {
            match (&feature.encoding, lookup) {
                (Encoding::Ordinal { .. }, Some(lookup)) | (Encoding::OneHot { .. }, Some(lookup)) => {
                    let text = column.as_string::<i32>();
                    let one_hot = matches!(feature.encoding, Encoding::OneHot { .. });
                    for (row, at) in rows.iter().enumerate() {
                        let Some(at) = at else { continue };
                        let code = lookup.get(text.value(row)).copied();
                        if one_hot {
                            if let Some(code) = code {
                                values[at * width + offset + code] = 1.0;
                            }
                        } else {
                            values[at * width + offset] = code.map(|c| c as f64).unwrap_or(-1.0);
                        }
                    }
                }
                _ => {
                    let numbers: &Float64Array = column.as_primitive();
                    for (row, at) in rows.iter().enumerate() {
                        if let Some(at) = at {
                            values[at * width + offset] = numbers.value(row);
                        }
                    }
                }
            }
            offset += feature.encoding.width();
        }
        Matrix { values, width, rows }
    }

    pub fn height(&self) -> usize {
        if self.width == 0 {
            0
        } else {
            self.values.len() / self.width
        }
    }

    pub fn row(&self, at: usize) -> &[f64] {
        &self.values[at * self.width..(at + 1) * self.width]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, StringArray};

    #[test]
    fn one_hot_ordinal_and_nulls() {
        let features = vec![
            Feature { name: "x".into(), data_type: DataType::Float64, kind: Kind::Numeric, encoding: Encoding::Number },
            Feature {
                name: "c".into(),
                data_type: DataType::Utf8,
                kind: Kind::Categorical,
                encoding: Encoding::OneHot { categories: vec!["a".into(), "b".into()] },
            },
            Feature {
                name: "o".into(),
                data_type: DataType::Utf8,
                kind: Kind::Categorical,
                encoding: Encoding::Ordinal { categories: vec!["a".into(), "b".into()] },
            },
        ];
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Float64Array::from(vec![Some(1.5), None, Some(3.0)])),
            Arc::new(StringArray::from(vec!["b", "a", "zzz"])),
            Arc::new(StringArray::from(vec!["a", "a", "zzz"])),
        ];
        let m = Matrix::encode(&features, &columns);
        assert_eq!(m.width, 4);
        assert_eq!(m.rows, vec![Some(0), None, Some(1)]);
        assert_eq!(m.row(0), &[1.5, 0.0, 1.0, 0.0]);
        assert_eq!(m.row(1), &[3.0, 0.0, 0.0, -1.0]);
    }

    #[test]
    fn kinds() {
        assert_eq!(Kind::of(&DataType::Int32), Some(Kind::Numeric));
        assert_eq!(Kind::of(&DataType::Decimal128(10, 2)), Some(Kind::Numeric));
        assert_eq!(Kind::of(&DataType::Utf8View), Some(Kind::Categorical));
        assert_eq!(Kind::of(&DataType::Boolean), Some(Kind::Categorical));
        assert_eq!(Kind::of(&DataType::Date32), None);
    }
}
