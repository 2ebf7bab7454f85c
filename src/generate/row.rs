//! The row model: the line items (names, formats, how their values are drawn, how often they
//! are blank), the value decided for a row, and [`GeneratedRow`], a row's ground truth.

use super::members::Field;
use super::rng::Rng;

/// The format of a line item, and so of the values in its rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// A whole number, possibly negative: `1200`, `-12`.
    Integer,
    /// A number with up to 6 decimals, possibly negative: `98000.5`, `-3.25`, or whole.
    Decimal,
    /// `true` or `false`.
    Boolean,
    /// An ISO date: `2024-01-15`.
    Date,
    /// Free text, possibly with commas, quotes, line breaks and non-ASCII characters.
    Text,
    /// No value (an empty field).
    Blank,
}

impl ValueKind {
    /// True for [`ValueKind::Integer`] and [`ValueKind::Decimal`].
    pub fn is_numeric(self) -> bool {
        matches!(self, ValueKind::Integer | ValueKind::Decimal)
    }
}

/// The ground truth of one generated row: the exact text of every field, unescaped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedRow {
    /// The dimension members, one per dimension column, in header order.
    pub dims: Vec<String>,
    /// The line item.
    pub line_item: String,
    /// The value's exact text, `None` when blank.
    pub value: Option<String>,
    /// The format of the value ([`ValueKind::Blank`] when `value` is `None`).
    pub kind: ValueKind,
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Recipe {
    /// Integer in `[lo, hi)`, negated with probability `neg_pct`%.
    Int {
        lo: i64,
        hi: i64,
        neg_pct: u64,
    },
    /// Decimal `m / 10^scale` with `m` in `[lo, hi)`, negated with probability `neg_pct`%.
    Dec {
        lo: i64,
        hi: i64,
        scale: u32,
        neg_pct: u64,
    },
    Bool,
    Date,
    /// One of the [`TEXTS`].
    Text,
    /// One of the [`STATUSES`].
    Status,
}

#[derive(Clone, Debug)]
pub(super) struct LineItem {
    pub(super) name: Field,
    pub(super) recipe: Recipe,
    pub(super) kind: ValueKind,
    pub(super) blank_pct: u64,
}

impl LineItem {
    /// Draws this line item's value for a row from the row's random numbers.
    pub(super) fn decide(&self, rng: &mut Rng) -> Value {
        if rng.below(100) < self.blank_pct {
            Value::Blank
        } else {
            match self.recipe {
                Recipe::Int { lo, hi, neg_pct } => {
                    let v = lo + rng.below((hi - lo) as u64) as i64;
                    Value::Int(if rng.below(100) < neg_pct { -v } else { v })
                }
                Recipe::Dec {
                    lo,
                    hi,
                    scale,
                    neg_pct,
                } => {
                    let m = lo + rng.below((hi - lo) as u64) as i64;
                    Value::Dec {
                        mantissa: if rng.below(100) < neg_pct { -m } else { m },
                        scale,
                    }
                }
                Recipe::Bool => Value::Bool(rng.below(2) == 1),
                Recipe::Date => Value::Date {
                    year: 2020 + rng.below(7) as u32,
                    month: 1 + rng.below(12) as u32,
                    day: 1 + rng.below(28) as u32,
                },
                Recipe::Text => Value::Text(rng.below(TEXTS.len() as u64) as usize),
                Recipe::Status => Value::Status(rng.below(STATUSES.len() as u64) as usize),
            }
        }
    }
}

/// A value decided for a row, before formatting.
#[derive(Clone, Copy, Debug)]
pub(super) enum Value {
    Blank,
    Int(i64),
    Dec { mantissa: i64, scale: u32 },
    Bool(bool),
    Date { year: u32, month: u32, day: u32 },
    Text(usize),
    Status(usize),
}

pub(super) const TEXTS: &[&str] = &[
    "Promo, Q1 launch",
    "On track",
    "Delayed: supplier \"Acme\" late",
    "Line one\nLine two",
    "Prévision révisée à la hausse",
    "Price increase 5%, effective FY24Q2",
    "🚀 launch week",
    "Review with \"Finance\", then sign off\nOwner: São Paulo team",
    "Zürich office; see note",
    "n/a",
];
pub(super) const STATUSES: &[&str] = &["Open", "Closed", "On hold", "Approved – final"];

pub(super) fn line_items(numeric_only: bool, quote_all: bool) -> Vec<LineItem> {
    use Recipe::{Bool, Date, Dec, Int, Status, Text};
    let all: [(&str, Recipe, ValueKind, u64); 11] = [
        (
            "Revenue",
            Dec {
                lo: 0,
                hi: 200_000_000,
                scale: 2,
                neg_pct: 4,
            },
            ValueKind::Decimal,
            2,
        ),
        (
            "Units",
            Int {
                lo: 0,
                hi: 5000,
                neg_pct: 2,
            },
            ValueKind::Integer,
            2,
        ),
        (
            "Unit Price",
            Dec {
                lo: 100,
                hi: 100_000,
                scale: 2,
                neg_pct: 0,
            },
            ValueKind::Decimal,
            1,
        ),
        (
            "Cost",
            Dec {
                lo: 0,
                hi: 150_000_000,
                scale: 2,
                neg_pct: 100,
            },
            ValueKind::Decimal,
            2,
        ),
        (
            "Margin %",
            Dec {
                lo: -5000,
                hi: 8000,
                scale: 4,
                neg_pct: 0,
            },
            ValueKind::Decimal,
            3,
        ),
        (
            "Headcount",
            Int {
                lo: 0,
                hi: 250,
                neg_pct: 0,
            },
            ValueKind::Integer,
            5,
        ),
        (
            "FX Rate",
            Dec {
                lo: 500_000,
                hi: 2_000_000,
                scale: 6,
                neg_pct: 0,
            },
            ValueKind::Decimal,
            0,
        ),
        ("Active", Bool, ValueKind::Boolean, 2),
        ("Launch Date", Date, ValueKind::Date, 10),
        ("Status", Status, ValueKind::Text, 5),
        ("Comment", Text, ValueKind::Text, 50),
    ];
    all.into_iter()
        .filter(|(_, _, kind, _)| !numeric_only || kind.is_numeric())
        .map(|(name, recipe, kind, blank_pct)| LineItem {
            name: Field::new(name, quote_all),
            recipe,
            kind,
            blank_pct,
        })
        .collect()
}
