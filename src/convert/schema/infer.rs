//! What inference learns about a column: which types all its values fit, and the mix of kinds
//! of values (for the decisions shown to the user and the `Value_number` companion).

use arrow::array::{Array, StringArray};

use super::parse::{classify, parse_f64_lenient};
use super::types::{ColumnType, Fits};

/// What inference learned about one column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnStats {
    /// Types every non-null value so far fits.
    pub(crate) fits: Fits,
    /// Non-null values seen.
    pub(crate) non_null: u64,
    /// Values that are numbers (integers or decimals, exact or not).
    pub(crate) numeric: u64,
    /// Numbers among them that no float64 holds exactly (more digits than a float keeps,
    /// underflow, subnormal rounding, overflow): they keep a column text unless every value
    /// is an int64.
    pub(crate) inexact: u64,
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
            inexact: 0,
            boolean: 0,
            temporal: 0,
        }
    }
}

impl ColumnStats {
    /// Takes one more value into account.
    pub(crate) fn observe(&mut self, value: Option<&str>) {
        if let Some(v) = value {
            self.observe_classified(v, classify(v));
        }
    }

    /// Takes one more non-null value into account, already classified (`fits` is
    /// `classify(value)`).
    pub(crate) fn observe_classified(&mut self, value: &str, fits: Fits) {
        self.fits = self.fits.and(fits);
        self.non_null += 1;
        if fits.contains(ColumnType::Float64) {
            self.numeric += 1;
        } else if fits.contains(ColumnType::Int64) {
            // An integer no float holds exactly.
            self.numeric += 1;
            self.inexact += 1;
        } else if fits.contains(ColumnType::Boolean) {
            self.boolean += 1;
        } else if fits.contains(ColumnType::Date32) || fits.contains(ColumnType::Timestamp) {
            self.temporal += 1;
        } else if parse_f64_lenient(value).is_some() {
            // A number, but not an exact float64 (`0.1234567890123456789`, `1e-400`).
            self.numeric += 1;
            self.inexact += 1;
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

    /// True when the column is text although it holds numbers (mixed with other kinds of
    /// values, or numbers no numeric type holds exactly): the case for a `Value_number`
    /// companion, which holds them approximately.
    pub(crate) fn is_mixed_with_numbers(&self) -> bool {
        self.inferred() == ColumnType::Utf8 && self.numeric > 0
    }

    /// One line describing the mix, in counts with their share, e.g. `62 numbers (62%),
    /// 20 text values (20%), 10 booleans (10%), 8 dates (8%)`; when the column is text, the
    /// numbers no float64 holds exactly are named too. A share is never rounded to a lie: a
    /// nonzero count is never `0%` and a count short of the total is never `100%`.
    pub(crate) fn describe_mix(&self) -> String {
        let mut parts = Vec::new();
        for (n, one, many) in [
            (self.numeric, "number", "numbers"),
            (self.text(), "text value", "text values"),
            (self.boolean, "boolean", "booleans"),
            (self.temporal, "date", "dates"),
        ] {
            if n > 0 {
                let what = if n == 1 { one } else { many };
                parts.push(format!("{n} {what} ({})", share(n, self.non_null)));
            }
        }
        if parts.is_empty() {
            return "all blank".to_owned();
        }
        let mut out = parts.join(", ");
        if self.inexact > 0 && self.inferred() == ColumnType::Utf8 {
            out.push_str(&format!(
                "; {} of the numbers not exact as float64",
                self.inexact
            ));
        }
        out
    }
}

/// `n` of `total` as a whole percentage that does not lie: `<1%` for a small nonzero share,
/// `>99%` for a large share that is not everything.
fn share(n: u64, total: u64) -> String {
    if n == total {
        return "100%".to_owned();
    }
    let pct = (n as f64 * 100.0 / total.max(1) as f64).round() as u64;
    match pct {
        0 => "<1%".to_owned(),
        100.. => ">99%".to_owned(),
        p => format!("{p}%"),
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
        assert_eq!(
            s.describe_mix(),
            "2 numbers (50%), 1 text value (25%), 1 boolean (25%)"
        );
        assert_eq!(ColumnStats::of(&[]).describe_mix(), "all blank");
    }

    /// Regression (issue 12): "100% numbers, 0% text" hid a single text row.
    #[test]
    fn shares_are_never_rounded_to_a_lie() {
        let mut values = vec!["1"; 999];
        values.push("x");
        let s = ColumnStats::of(&values);
        assert_eq!(s.describe_mix(), "999 numbers (>99%), 1 text value (<1%)");
        assert_eq!(share(1, 3), "33%");
        assert_eq!(share(3, 3), "100%");
    }

    #[test]
    fn inexact_numbers_are_numbers_that_keep_the_column_text() {
        let s = ColumnStats::of(&[
            "1.5",
            "1e-400",
            "0.1234567890123456789",
            "123456789012345672",
        ]);
        assert_eq!(s.inferred(), ColumnType::Utf8);
        assert_eq!((s.numeric, s.inexact, s.text()), (4, 3, 0));
        assert!(s.is_mixed_with_numbers());
        assert_eq!(
            s.describe_mix(),
            "4 numbers (100%); 3 of the numbers not exact as float64"
        );
        // Big integers alone are exact int64s.
        let ints = ColumnStats::of(&["123456789012345672", "1"]);
        assert_eq!(ints.inferred(), ColumnType::Int64);
        assert!(!ints.describe_mix().contains("not exact"));
    }
}
