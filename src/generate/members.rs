//! The dimensions of a generated export and their members: `Versions`, `Time` in TSC labels,
//! `Region` and `Product` (with names that need quoting or are not ASCII, and aggregates),
//! then generic extra dimensions.

use super::fields::{encode_field, write_padded};

#[derive(Clone, Debug)]
pub(super) struct Dimension {
    pub(super) name: String,
    /// Named members, encoded.
    pub(super) members: Vec<Field>,
    /// Extra generated members `{prefix}{n:06}` after the named ones (the growing `Product`).
    pub(super) generated: u64,
    pub(super) generated_prefix: &'static str,
}

impl Dimension {
    pub(super) fn len(&self) -> u64 {
        self.members.len() as u64 + self.generated
    }

    pub(super) fn write(&self, i: u64, quote_all: bool, out: &mut Vec<u8>) {
        if let Some(m) = self.members.get(i as usize) {
            out.extend_from_slice(&m.csv);
        } else {
            let n = i - self.members.len() as u64 + 1;
            if quote_all {
                out.push(b'"');
            }
            out.extend_from_slice(self.generated_prefix.as_bytes());
            write_padded(n, 6, out);
            if quote_all {
                out.push(b'"');
            }
        }
    }

    pub(super) fn text(&self, i: u64) -> String {
        if let Some(m) = self.members.get(i as usize) {
            m.text.clone()
        } else {
            let mut out = self.generated_prefix.as_bytes().to_vec();
            write_padded(i - self.members.len() as u64 + 1, 6, &mut out);
            String::from_utf8(out).expect("ASCII")
        }
    }
}

/// A text with its CSV encoding for the configured quoting.
#[derive(Clone, Debug)]
pub(super) struct Field {
    pub(super) text: String,
    pub(super) csv: Vec<u8>,
}

impl Field {
    pub(super) fn new(text: &str, quote_all: bool) -> Self {
        let mut csv = Vec::with_capacity(text.len() + 2);
        encode_field(text, quote_all, &mut csv);
        Field {
            text: text.to_owned(),
            csv,
        }
    }
}

pub(super) const VERSIONS: &[&str] = &["Actual", "Budget", "Forecast"];
pub(super) const REGIONS: &[&str] = &[
    "North",
    "South",
    "East",
    "West",
    "Zürich",
    "São Paulo",
    "Köln, Germany",
    "Île-de-France",
    "東京",
    "New York, NY",
    "Total Company",
];
pub(super) const PRODUCTS: &[&str] = &[
    "Widget A",
    "Widget B",
    "Widget \"Pro\"",
    "Gadget, Large",
    "Gizmo Ω",
    "Total Products",
];
pub(super) const EXTRA_DIMENSIONS: &[(&str, &[&str])] = &[
    (
        "Channel",
        &["Online", "Retail", "Partner, Indirect", "Total Channels"],
    ),
    ("Currency", &["EUR", "USD", "GBP", "JPY", "CHF"]),
    (
        "Cost Center",
        &[
            "CC-100 Sales",
            "CC-200 R&D",
            "CC-300 G&A",
            "CC-900 \"Shared\"",
        ],
    ),
    (
        "Entity",
        &["Acme GmbH", "Acme Inc.", "Acme Ltda.", "Acme Group"],
    ),
    ("Segment", &["Enterprise", "Mid-Market", "SMB"]),
];

pub(super) fn time_members() -> Vec<String> {
    let mut out = Vec::new();
    for year in 2023..=2025u32 {
        let yy = year % 100;
        for q in 1..=4u32 {
            for m in (q - 1) * 3 + 1..=q * 3 {
                out.push(format!("{year}-{m:02}"));
            }
            out.push(format!("FY{yy:02}Q{q}"));
        }
        out.push(format!("FY{yy:02}"));
    }
    out
}
