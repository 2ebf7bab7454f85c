//! What a pass learns about its inferred columns, and the widening decision.
//!
//! While the sample is read, every value of an inferred column is classified. Once the plan is
//! decided, values are only converted (cheaper), and only counted: how many, and how many
//! integers a float cannot hold. When a later value does not fit, those counts seed the
//! statistics again ([`ColumnScan::seed_from_converted`]), the rest of the input is classified
//! ([`ColumnScan::scan`], which also notes, per column, the first value that did not fit and
//! the value that made the final type necessary: with `1`, `0.1`, `abc` the column becomes
//! text because of `abc`, not `0.1`), and [`ColumnScan::widen`] decides the final plan and
//! says which columns widened and why.

use arrow::array::{Array, ArrayRef, StringArray};

use super::schema::{ColumnStats, ColumnType, Fits, Plan, SchemaOptions, classify};
use super::text::TextBatch;
use crate::error::Result;
use crate::summary::{FirstMisfit, Widening};

/// Values quoted in widening reports are cut to this many characters.
const QUOTED_CHARS: usize = 80;

/// Per input column of one pass: the header name, statistics (for inferred columns), and what
/// is needed to resume them after the sample.
#[derive(Debug)]
pub(super) struct ColumnScan {
    /// Cleaned header.
    header: Vec<String>,
    /// Which columns are inferred (the others are dimensions or forced).
    inferred: Vec<bool>,
    stats: Vec<ColumnStats>,
    /// Non-null values converted so far (seeds statistics after a widening).
    non_null: Vec<u64>,
    /// Integers converted that a float cannot hold exactly (an int64 column that holds one
    /// cannot widen to float64; inference counts them as text).
    inexact_ints: Vec<u64>,
    /// Where the type a column calls for changed after the sample: the first change (the
    /// first value that did not fit the plan) and the latest one (the value that made the
    /// final type necessary).
    changes: Vec<Changes>,
}

/// The values at which a column's type had to change during a scan after the sample.
#[derive(Clone, Debug, Default)]
struct Changes {
    first: Option<TypeChange>,
    last: Option<TypeChange>,
}

/// One value that moved a column to a wider type.
#[derive(Clone, Debug)]
struct TypeChange {
    row: u64,
    line: u64,
    value: String,
    to: ColumnType,
}

impl ColumnScan {
    /// Nothing seen yet, for the columns of `header` (cleaned).
    pub(super) fn new(header: Vec<String>, options: &SchemaOptions) -> Self {
        let n = header.len();
        ColumnScan {
            inferred: header
                .iter()
                .enumerate()
                .map(|(i, name)| options.infers(name, i, n))
                .collect(),
            header,
            stats: vec![ColumnStats::default(); n],
            non_null: vec![0; n],
            inexact_ints: vec![0; n],
            changes: vec![Changes::default(); n],
        }
    }

    /// The cleaned header.
    pub(super) fn header(&self) -> &[String] {
        &self.header
    }

    /// Statistics of every column (default for the columns that are not inferred).
    pub(super) fn stats(&self) -> &[ColumnStats] {
        &self.stats
    }

    /// Takes a batch of the inference sample into account.
    pub(super) fn observe_sample(&mut self, batch: &TextBatch) {
        for (j, col) in batch.columns.iter().enumerate() {
            if self.inferred[j] {
                self.stats[j].observe_array(col);
            }
        }
    }

    /// Counts the values of column `j` that converted to `ty` (`converted` is `text` as `ty`).
    pub(super) fn count_converted(
        &mut self,
        j: usize,
        text: &StringArray,
        converted: &ArrayRef,
        ty: ColumnType,
    ) {
        self.non_null[j] += (converted.len() - converted.null_count()) as u64;
        if ty == ColumnType::Int64 {
            // Up to 15 characters, an integer always fits a float.
            self.inexact_ints[j] += (0..text.len())
                .filter(|&r| {
                    text.is_valid(r)
                        && text.value(r).len() > 15
                        && !classify(text.value(r)).contains(ColumnType::Float64)
                })
                .count() as u64;
        }
    }

    /// A value did not fit `plan`: the statistics of inferred columns restart from what the
    /// converted values are known to fit.
    pub(super) fn seed_from_converted(&mut self, plan: &Plan) {
        for (j, planned) in plan.columns.iter().enumerate() {
            if self.inferred[j] {
                self.stats[j] = seeded_stats(planned.ty, self.non_null[j], self.inexact_ints[j]);
            }
        }
    }

    /// Classifies every value of the inferred columns of `batch`; with a `plan`, notes the
    /// first value of each column that does not fit its planned type.
    pub(super) fn scan(&mut self, batch: &TextBatch, plan: Option<&Plan>) {
        let planned: Vec<Option<ColumnType>> = match plan {
            Some(p) => p.columns.iter().map(|c| Some(c.ty)).collect(),
            None => vec![None; batch.columns.len()],
        };
        for (j, col) in batch.columns.iter().enumerate() {
            if !self.inferred[j] {
                continue;
            }
            for r in 0..col.len() {
                if col.is_null(r) {
                    continue;
                }
                let v = col.value(r);
                let fits = classify(v);
                let before = self.stats[j].fits;
                self.stats[j].observe_classified(v, fits);
                let after = self.stats[j].fits;
                if planned[j].is_some() && after != before && after.best() != before.best() {
                    let change = TypeChange {
                        row: batch.first_row + r as u64 + 1,
                        line: batch.lines[r],
                        value: crate::units::shorten(v, QUOTED_CHARS),
                        to: after.best(),
                    };
                    let changes = &mut self.changes[j];
                    if changes.first.is_none() {
                        changes.first = Some(change);
                    } else {
                        changes.last = Some(change);
                    }
                }
            }
        }
    }

    /// The plan for the whole input, replacing `old`, and the columns that widened (each with
    /// the value that made its final type necessary, and the first value that did not fit
    /// when that was another one).
    pub(super) fn widen(
        &mut self,
        old: &Plan,
        options: &SchemaOptions,
    ) -> Result<(Plan, Vec<Widening>)> {
        let mut new = Plan::decide(&self.header, &self.stats, options)?;
        if old.value_number.is_some() {
            new.value_number.clone_from(&old.value_number);
        }
        let mut widenings = Vec::new();
        for (j, (o, n)) in old.columns.iter().zip(&new.columns).enumerate() {
            let changes = std::mem::take(&mut self.changes[j]);
            if o.ty != n.ty
                && let Some(first) = changes.first
            {
                let (cause, first_misfit) = match changes.last {
                    Some(last) => (last, Some(first)),
                    None => (first, None),
                };
                widenings.push(Widening {
                    column: self.header[j].clone(),
                    from: o.ty.name().to_owned(),
                    to: n.ty.name().to_owned(),
                    row: cause.row,
                    line: cause.line,
                    value: cause.value,
                    first_misfit: first_misfit.map(|m| FirstMisfit {
                        row: m.row,
                        line: m.line,
                        value: m.value,
                        to: m.to.name().to_owned(),
                    }),
                });
            }
        }
        Ok((new, widenings))
    }
}

/// Statistics for values that all fitted `ty`: the starting point of a scan after a widening.
/// `inexact_ints`: how many of them are integers a float cannot hold (inexact numbers to
/// inference).
fn seeded_stats(ty: ColumnType, non_null: u64, inexact_ints: u64) -> ColumnStats {
    let fits = match ty {
        ColumnType::Int64 if inexact_ints > 0 => Fits::NONE.with(ColumnType::Int64),
        ColumnType::Int64 => Fits::NONE.with(ColumnType::Int64).with(ColumnType::Float64),
        ColumnType::Utf8 => Fits::NONE,
        other => Fits::NONE.with(other),
    };
    let mut s = ColumnStats {
        fits,
        non_null,
        ..ColumnStats::default()
    };
    match ty {
        ColumnType::Int64 => {
            s.numeric = non_null;
            s.inexact = inexact_ints;
        }
        ColumnType::Float64 => s.numeric = non_null,
        ColumnType::Boolean => s.boolean = non_null,
        ColumnType::Date32 | ColumnType::Timestamp => s.temporal = non_null,
        ColumnType::Utf8 => {}
    }
    s
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::convert::schema::{Layout, convert_column};

    fn batch(first_row: u64, columns: &[&[Option<&str>]]) -> TextBatch {
        let rows = columns[0].len();
        TextBatch {
            columns: columns
                .iter()
                .map(|c| Arc::new(StringArray::from(c.to_vec())))
                .collect(),
            first_row,
            lines: (0..rows as u64).map(|r| first_row + r + 2).collect(),
        }
    }

    fn generic() -> SchemaOptions {
        SchemaOptions {
            layout: Layout::Generic,
            ..SchemaOptions::default()
        }
    }

    /// Samples `sample`, decides, converts `converted` with the plan (all must fit), then
    /// scans `late` after a misfit: the widened plan and the widenings.
    fn widen_after(
        sample: &[Option<&str>],
        converted: &[Option<&str>],
        late: &[Option<&str>],
    ) -> (Plan, Plan, Vec<Widening>) {
        let options = generic();
        let mut scan = ColumnScan::new(vec!["Value".to_owned()], &options);
        scan.observe_sample(&batch(0, &[sample]));
        let plan = Plan::decide(scan.header(), scan.stats(), &options).unwrap();
        let text = batch(sample.len() as u64, &[converted]);
        let ty = plan.columns[0].ty;
        let array = convert_column(&text.columns[0], ty).expect("fits the plan");
        scan.count_converted(0, &text.columns[0], &array, ty);
        scan.seed_from_converted(&plan);
        let late_first = (sample.len() + converted.len()) as u64;
        scan.scan(&batch(late_first, &[late]), Some(&plan));
        let (new, widenings) = scan.widen(&plan, &options).unwrap();
        (plan, new, widenings)
    }

    #[test]
    fn a_late_decimal_widens_integers_to_floats() {
        let (old, new, widenings) = widen_after(
            &[Some("1"), Some("2")],
            &[Some("3"), None],
            &[Some("4"), Some("2.5"), Some("3.5")],
        );
        assert_eq!(old.columns[0].ty, ColumnType::Int64);
        assert_eq!(new.columns[0].ty, ColumnType::Float64);
        assert_eq!(widenings.len(), 1);
        let w = &widenings[0];
        assert_eq!((w.from.as_str(), w.to.as_str()), ("int64", "float64"));
        // The first misfit: data row 6 (1-based), on line 7 (the header is line 1).
        assert_eq!((w.row, w.line, w.value.as_str()), (6, 7, "2.5"));
    }

    /// Regression (issue 12): the widening to text blamed `0.1`, the first value that did not
    /// fit, though float64 holds it; `abc` made the column text.
    #[test]
    fn the_value_that_made_the_final_type_necessary_is_named() {
        let (_, new, widenings) = widen_after(
            &[Some("1"), Some("2")],
            &[Some("3")],
            &[Some("4"), Some("0.1"), Some("5"), Some("abc"), Some("x")],
        );
        assert_eq!(new.columns[0].ty, ColumnType::Utf8);
        let w = &widenings[0];
        assert_eq!((w.from.as_str(), w.to.as_str()), ("int64", "utf8"));
        assert_eq!((w.row, w.line, w.value.as_str()), (7, 8, "abc"));
        assert_eq!(
            w.first_misfit,
            Some(FirstMisfit {
                row: 5,
                line: 6,
                value: "0.1".into(),
                to: "float64".into()
            })
        );
        // One step: the first misfit is the cause, and is named once.
        let (_, _, widenings) = widen_after(&[Some("1")], &[], &[Some("abc"), Some("0.5")]);
        assert_eq!(widenings[0].value, "abc");
        assert_eq!(widenings[0].first_misfit, None);
    }

    /// A value past float64's exactness (underflow) makes an int64 column text, not float64.
    #[test]
    fn an_inexact_float_widens_to_text() {
        let (_, new, widenings) = widen_after(&[Some("1")], &[Some("2")], &[Some("1e-400")]);
        assert_eq!(new.columns[0].ty, ColumnType::Utf8);
        assert_eq!(widenings[0].value, "1e-400");
    }

    #[test]
    fn integers_a_float_cannot_hold_make_a_late_decimal_text() {
        let (_, new, widenings) =
            widen_after(&[Some("1")], &[Some("123456789012345672")], &[Some("2.5")]);
        assert_eq!(new.columns[0].ty, ColumnType::Utf8);
        assert_eq!(widenings[0].to, "utf8");
    }

    #[test]
    fn values_that_fit_widen_nothing() {
        let (old, new, widenings) = widen_after(&[Some("1.5")], &[Some("2")], &[Some("3.25")]);
        assert_eq!(old, new);
        assert!(widenings.is_empty());
    }

    #[test]
    fn long_values_are_quoted_short() {
        let long = "x".repeat(200);
        let (_, _, widenings) = widen_after(&[Some("1")], &[], &[Some(long.as_str())]);
        assert_eq!(widenings[0].value.chars().count(), QUOTED_CHARS + 1);
        assert!(widenings[0].value.ends_with('…'));
    }

    #[test]
    fn seeded_statistics_describe_the_converted_values() {
        let s = seeded_stats(ColumnType::Int64, 10, 2);
        assert_eq!(s.inferred(), ColumnType::Int64);
        assert_eq!((s.numeric, s.inexact, s.non_null), (10, 2, 10));
        assert!(!s.fits.contains(ColumnType::Float64));
        assert!(
            seeded_stats(ColumnType::Int64, 10, 0)
                .fits
                .contains(ColumnType::Float64)
        );
        assert_eq!(seeded_stats(ColumnType::Date32, 3, 0).temporal, 3);
        assert_eq!(
            seeded_stats(ColumnType::Utf8, 3, 0).inferred(),
            ColumnType::Utf8
        );
    }
}
