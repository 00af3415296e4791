//! A class's number from its text, as training passes look up every row's target. Hashing the
//! text costs more than comparing it with a few classes in turn, so up to [`COMPARED`] classes
//! are compared; more are hashed.

use std::collections::HashMap;

const COMPARED: usize = 8;

#[derive(Debug, Clone, Default)]
pub struct ClassIndex {
    classes: Vec<String>,
    /// Only for more than [`COMPARED`] classes.
    hashed: HashMap<String, usize>,
}

impl ClassIndex {
    /// The classes, numbered in this order.
    pub fn new(classes: &[String]) -> ClassIndex {
        let hashed = if classes.len() > COMPARED { classes.iter().enumerate().map(|(i, c)| (c.clone(), i)).collect() } else { HashMap::new() };
        ClassIndex { classes: classes.to_vec(), hashed }
    }

    /// The number of the class `text`, if it is one.
    #[inline]
    pub fn of(&self, text: &str) -> Option<usize> {
        if self.classes.len() > COMPARED {
            self.hashed.get(text).copied()
        } else {
            self.classes.iter().position(|c| c == text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_and_many_classes() {
        let few: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let index = ClassIndex::new(&few);
        assert_eq!((index.of("a"), index.of("c"), index.of("d")), (Some(0), Some(2), None));
        let many: Vec<String> = (0..20).map(|i| format!("c{i}")).collect();
        let index = ClassIndex::new(&many);
        assert_eq!((index.of("c0"), index.of("c19"), index.of("c20")), (Some(0), Some(19), None));
    }
}
