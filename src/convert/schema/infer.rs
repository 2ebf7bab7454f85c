//! What inference learns about a column: which types all its values fit, and the mix of kinds
//! of values (for the decisions shown to the user and the `Value_number` companion).

use arrow::array::{Array, StringArray};

use super::parse::classify;
use super::types::{ColumnType, Fits};

/// What inference learned about one column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnStats {
    /// Types every non-null value so far fits.
    pub(crate) fits: Fits,
    /// Non-null values seen.
    pub(crate) non_null: u64,
    /// Values that are numbers (integers or decimals).
    pub(crate) numeric: u64,
    /// Values that are booleans.
    pub(crate) boolean: u64,
    /// Values that are dates or timestamps.
    pub(crate) temporal: u64,
}

impl Default for ColumnStats {
    fn default() -> Self {
        ColumnStats {
            fits: Fits::ALL,
            non_null: 0,
            numeric: 0,
            boolean: 0,
            temporal: 0,
        }
    }
}

impl ColumnStats {
    /// Takes one more value into account.
    pub(crate) fn observe(&mut self, value: Option<&str>) {
        if let Some(v) = value {
            self.observe_classified(classify(v));
        }
    }

    /// Takes one more non-null value into account, already classified.
    pub(crate) fn observe_classified(&mut self, f: Fits) {
        self.fits = self.fits.and(f);
        self.non_null += 1;
        if f.contains(ColumnType::Float64) {
            self.numeric += 1;
        } else if f.contains(ColumnType::Boolean) {
            self.boolean += 1;
        } else if f.contains(ColumnType::Date32) || f.contains(ColumnType::Timestamp) {
            self.temporal += 1;
        }
    }

    /// Takes a whole text column into account.
    pub fn observe_array(&mut self, arr: &StringArray) {
        for i in 0..arr.len() {
            self.observe(arr.is_valid(i).then(|| arr.value(i)));
        }
    }

    /// The type these values call for: the narrowest type all of them fit; text when there
    /// were no values at all.
    pub(crate) fn inferred(&self) -> ColumnType {
        if self.non_null == 0 {
            ColumnType::Utf8
        } else {
            self.fits.best()
        }
    }

    /// Values that are none of number, boolean, date: free text.
    pub(crate) fn text(&self) -> u64 {
        self.non_null - self.numeric - self.boolean - self.temporal
    }

    /// True when the column is text only because numbers are mixed with other kinds of
    /// values: the case for a `Value_number` companion.
    pub(crate) fn is_mixed_with_numbers(&self) -> bool {
        self.inferred() == ColumnType::Utf8 && self.numeric > 0 && self.numeric < self.non_null
    }

    /// One line describing the mix, e.g. `62% numbers, 20% text, 10% booleans, 8% dates`.
    pub(crate) fn describe_mix(&self) -> String {
        let pct = |n: u64| (n as f64 * 100.0 / self.non_null.max(1) as f64).round();
        let mut parts = Vec::new();
        for (n, what) in [
            (self.numeric, "numbers"),
            (self.text(), "text"),
            (self.boolean, "booleans"),
            (self.temporal, "dates"),
        ] {
            if n > 0 {
                parts.push(format!("{}% {what}", pct(n)));
            }
        }
        if parts.is_empty() {
            "all blank".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

#[cfg(test)]
impl ColumnStats {
    /// The statistics of `values` (`""` is null), for tests.
    pub(crate) fn of(values: &[&str]) -> Self {
        let mut s = ColumnStats::default();
        for v in values {
            s.observe((!v.is_empty()).then_some(*v));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_description() {
        let s = ColumnStats::of(&["1", "2", "x", "true"]);
        assert_eq!(s.describe_mix(), "50% numbers, 25% text, 25% booleans");
    }
}
