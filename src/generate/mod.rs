//! Deterministic synthetic Tabular Single Column (TSC) exports.
//!
//! A TSC export puts every dimension of a module in its own column, then a `Line Items` column,
//! then the value: one row per cell. The generator writes such files at several hundred MB/s,
//! byte for byte the same for the same [`GeneratorConfig`], with the content a real export has:
//!
//! - dimensions `Versions` (Actual, Budget, Forecast), `Time` in TSC labels (`2024-01`,
//!   `FY24Q1`, `FY24`), `Region` and `Product` with names that need quoting or are not ASCII
//!   (`Zürich`, `São Paulo`, `Widget "Pro"`, `Gadget, Large`) and aggregate members
//!   (`Total Company`, `Total Products`); more generic dimensions when
//!   [`GeneratorConfig::dimensions`] is above 4, fewer when below;
//! - line items of every format: integers, decimals (negative ones too), booleans, dates, text
//!   (with commas, quotes, line breaks, non-ASCII) and blanks;
//! - quoting only where needed (RFC 4180, `""` escapes) or everywhere, LF or CRLF, optional BOM.
//!
//! # Blocks
//!
//! Rows are written in blocks of [`Generator::block_rows`] rows. Block `i` is a pure function of
//! the configuration and `i` ([`Generator::write_block`]); block 0 starts with the BOM (if any)
//! and the header. This lets the simulator serve any byte range of a multi-gigabyte export by
//! keeping only the byte offset of each block (`BlockIndex`).
//!
//! # Rows
//!
//! Row `r` is decided by a hash of `(seed, r)`. Its line item is `r mod L` (each intersection
//! lists all its line items in a row, as Anaplan does); the intersection of dimension members
//! is a bijective scramble of `r / L` over all intersections, so even a small export touches
//! many members, and no intersection repeats while there are enough of them (the `Product`
//! list grows with `rows` so there always are, when `Product` is one of the dimensions).
//!
//! # Values
//!
//! [`GeneratedRow`] is the ground truth of a row: the exact unescaped text of each field, so a
//! test can compare a Parquet file value by value without parsing the CSV. Numbers are written
//! the way `f64`'s `Display` writes them back (no exponent, no trailing zeros, at most 15
//! significant digits), so they survive a round trip through `f64` unchanged. A decimal line
//! item whose value happens to be whole is written without a fraction (`98000`), as Anaplan
//! does. Blank values are empty, unquoted fields, even with [`GeneratorConfig::quote_all`], so
//! they always read back as null.
//!
//! # Files
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | [`GeneratorConfig`], [`Generator`]: which row gets which intersection and value |
//! | `row.rs` | the row model: line items, their formats and value recipes, [`GeneratedRow`] |
//! | `members.rs` | dimensions and their members |
//! | `fields.rs` | CSV field quoting and number text, written straight into byte buffers |
//! | `blocks.rs` | `Blocks`, `BlockIndex`, writing a whole file (optionally on several threads) |
//! | `rng.rs` | the per-row random numbers and the intersection scramble |

use std::io::{self, Write};

mod blocks;
mod fields;
mod members;
mod rng;
mod row;

pub(crate) use blocks::{BlockIndex, Blocks};
pub(crate) use fields::encode_field;
pub use row::{GeneratedRow, ValueKind};

use fields::{write_decimal, write_int, write_padded};
use members::{Dimension, EXTRA_DIMENSIONS, Field, PRODUCTS, REGIONS, VERSIONS, time_members};
use rng::{Rng, coprime_multiplier};
use row::{LineItem, STATUSES, TEXTS, Value, line_items};

/// The most dimension columns the generator writes.
pub const MAX_DIMENSIONS: usize = 32;

/// Rows per block.
pub const BLOCK_ROWS: u64 = 4096;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GeneratorConfig {
    /// Data rows (the header is not counted).
    pub rows: u64,
    /// Seed: the same seed gives the same bytes.
    pub seed: u64,
    /// Dimension columns before `Line Items` (at most [`MAX_DIMENSIONS`]; more are ignored).
    pub dimensions: usize,
    /// Only numeric line items (integers and decimals, still with some blanks).
    pub numeric_only: bool,
    /// Quote every field (blank values excepted) instead of only where needed.
    pub quote_all: bool,
    /// End lines with CRLF instead of LF (line breaks inside text values stay LF).
    pub crlf: bool,
    /// Start the file with a UTF-8 byte order mark.
    pub bom: bool,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            rows: 1000,
            seed: 0,
            dimensions: 4,
            numeric_only: false,
            quote_all: false,
            crlf: false,
            bom: false,
        }
    }
}

/// A deterministic TSC export generator. Cheap to share (`&self` everywhere).
#[derive(Clone, Debug)]
pub struct Generator {
    config: GeneratorConfig,
    dims: Vec<Dimension>,
    /// Number of member intersections (product of the dimensions' sizes), at least 1.
    intersections: u64,
    /// A multiplier coprime to `intersections`, scrambling intersection order.
    scramble: u64,
    line_items: Vec<LineItem>,
    /// [`TEXTS`] and [`STATUSES`] encoded as CSV fields.
    texts: Vec<Vec<u8>>,
    statuses: Vec<Vec<u8>>,
    header: Vec<u8>,
    eol: &'static [u8],
}

impl Generator {
    /// A generator for `config`. Dimensions above [`MAX_DIMENSIONS`] are ignored.
    pub fn new(config: GeneratorConfig) -> Self {
        let q = config.quote_all;
        let ndims = config.dimensions.min(MAX_DIMENSIONS);
        let fields = |names: &[&str]| names.iter().map(|n| Field::new(n, q)).collect::<Vec<_>>();
        let mut dims = Vec::with_capacity(ndims);
        for d in 0..ndims {
            let (name, members) = match d {
                0 => ("Versions".to_owned(), fields(VERSIONS)),
                1 => {
                    let times = time_members();
                    let refs: Vec<&str> = times.iter().map(String::as_str).collect();
                    ("Time".to_owned(), fields(&refs))
                }
                2 => ("Region".to_owned(), fields(REGIONS)),
                3 => ("Product".to_owned(), fields(PRODUCTS)),
                _ => {
                    if let Some((name, members)) = EXTRA_DIMENSIONS.get(d - 4) {
                        ((*name).to_owned(), fields(members))
                    } else {
                        let name = format!("Dimension {}", d + 1);
                        let members: Vec<String> =
                            (1..=6).map(|j| format!("{name} Member {j:02}")).collect();
                        let refs: Vec<&str> = members.iter().map(String::as_str).collect();
                        (name, fields(&refs))
                    }
                }
            };
            dims.push(Dimension {
                name,
                members,
                generated: 0,
                generated_prefix: "SKU-",
            });
        }
        let line_items = line_items(config.numeric_only, q);
        let groups = config.rows.div_ceil(line_items.len() as u64);
        // Grow the product list so that intersections never repeat.
        if ndims > 3 {
            let others: u64 = dims
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != 3)
                .map(|(_, d)| d.len())
                .fold(1u64, u64::saturating_mul);
            let needed = groups.div_ceil(others.max(1));
            let product = &mut dims[3];
            product.generated = needed.saturating_sub(product.members.len() as u64);
        }
        let intersections = dims
            .iter()
            .map(Dimension::len)
            .fold(1u64, u64::saturating_mul)
            .max(1);
        let scramble = coprime_multiplier(intersections, config.seed);

        let eol: &'static [u8] = if config.crlf { b"\r\n" } else { b"\n" };
        let mut header = Vec::new();
        if config.bom {
            header.extend_from_slice(b"\xEF\xBB\xBF");
        }
        let names: Vec<&str> = dims
            .iter()
            .map(|d| d.name.as_str())
            .chain(["Line Items", "Value"])
            .collect();
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                header.push(b',');
            }
            encode_field(name, q, &mut header);
        }
        header.extend_from_slice(eol);

        let encode = |list: &[&str]| {
            list.iter()
                .map(|t| {
                    let mut v = Vec::new();
                    encode_field(t, q, &mut v);
                    v
                })
                .collect()
        };
        Generator {
            texts: encode(TEXTS),
            statuses: encode(STATUSES),
            config,
            dims,
            intersections,
            scramble,
            line_items,
            header,
            eol,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// The header names: the dimensions, `Line Items`, `Value`.
    pub fn header(&self) -> Vec<String> {
        self.dims
            .iter()
            .map(|d| d.name.clone())
            .chain(["Line Items".to_owned(), "Value".to_owned()])
            .collect()
    }

    /// The number of dimension columns (before `Line Items`).
    pub fn dimension_count(&self) -> usize {
        self.dims.len()
    }

    /// The line items and their formats, in the order rows cycle through them.
    pub fn line_items(&self) -> Vec<(String, ValueKind)> {
        self.line_items
            .iter()
            .map(|l| (l.name.text.clone(), l.kind))
            .collect()
    }

    /// Rows per block.
    pub fn block_rows(&self) -> u64 {
        BLOCK_ROWS
    }

    /// Number of blocks: at least 1 (block 0 holds the header even with no rows).
    pub fn block_count(&self) -> u64 {
        self.config.rows.div_ceil(BLOCK_ROWS).max(1)
    }

    /// The rows of block `i`, as a range of row numbers.
    pub fn block_row_range(&self, i: u64) -> std::ops::Range<u64> {
        let start = (i * BLOCK_ROWS).min(self.config.rows);
        let end = ((i + 1) * BLOCK_ROWS).min(self.config.rows);
        start..end
    }

    /// Appends block `i` to `out`: the BOM and header first for block 0, then its rows.
    /// The bytes depend only on the configuration and `i`.
    pub fn write_block(&self, i: u64, out: &mut Vec<u8>) {
        if i == 0 {
            out.extend_from_slice(&self.header);
        }
        // Consecutive rows share their intersection: encode its fields once per group.
        let l = self.line_items.len() as u64;
        let mut prefix = Vec::with_capacity(128);
        let mut prefix_group = u64::MAX;
        for r in self.block_row_range(i) {
            let group = r / l;
            if group != prefix_group {
                prefix.clear();
                self.write_dims(group, &mut prefix);
                prefix_group = group;
            }
            out.extend_from_slice(&prefix);
            self.write_row_rest(r, out);
        }
    }

    /// Writes the whole file to `w`, returning the number of bytes written.
    pub fn write_all(&self, w: &mut impl Write) -> io::Result<u64> {
        blocks::write_all(self, w)
    }

    /// Writes the whole file to `w` using `threads` generating threads (blocks are still written
    /// in order). The fast path of `generate --output`: with 2 threads, generation overlaps the
    /// writes. `threads` of 0 or 1 is [`Generator::write_all`].
    pub fn write_all_parallel(
        &self,
        w: &mut (impl Write + Send),
        threads: usize,
    ) -> io::Result<u64> {
        blocks::write_all_parallel(self, w, threads)
    }

    /// The file's total size in bytes (generates everything, writing nothing).
    pub fn total_bytes(&self) -> u64 {
        BlockIndex::build(self).total_bytes()
    }

    /// The ground truth of every row, in file order.
    pub fn rows(&self) -> impl Iterator<Item = GeneratedRow> + '_ {
        (0..self.config.rows).map(move |r| self.row(r))
    }

    /// The ground truth of the rows of block `i`.
    pub fn rows_in_block(&self, i: u64) -> impl Iterator<Item = GeneratedRow> + '_ {
        self.block_row_range(i).map(move |r| self.row(r))
    }

    /// The ground truth of row `r` (0-based, header not counted).
    pub fn row(&self, r: u64) -> GeneratedRow {
        let (combo, li, value) = self.plan(r);
        let mut digits = [0u64; MAX_DIMENSIONS];
        self.decompose(combo, &mut digits);
        let dims = self
            .dims
            .iter()
            .zip(digits.iter())
            .map(|(d, &i)| d.text(i))
            .collect();
        let item = &self.line_items[li];
        let (value_text, kind) = match value {
            Value::Blank => (None, ValueKind::Blank),
            v => {
                let mut buf = Vec::new();
                self.write_value_raw(v, &mut buf);
                (
                    Some(String::from_utf8(buf).expect("generated text is UTF-8")),
                    item.kind,
                )
            }
        };
        GeneratedRow {
            dims,
            line_item: item.name.text.clone(),
            value: value_text,
            kind,
        }
    }

    /// Decides row `r`: (intersection number, line item, value).
    fn plan(&self, r: u64) -> (u64, usize, Value) {
        let l = self.line_items.len() as u64;
        let (li, value) = self.decide(r);
        (self.combo(r / l), li, value)
    }

    /// The intersection of a group of rows (the rows of one intersection's line items).
    fn combo(&self, group: u64) -> u64 {
        ((u128::from(group) * u128::from(self.scramble)) % u128::from(self.intersections)) as u64
    }

    /// Row `r`'s line item and value.
    fn decide(&self, r: u64) -> (usize, Value) {
        let li = (r % self.line_items.len() as u64) as usize;
        let value = self.line_items[li].decide(&mut Rng::new(self.config.seed, r));
        (li, value)
    }

    /// Splits an intersection number into one member index per dimension (first dimension most
    /// significant).
    fn decompose(&self, mut combo: u64, digits: &mut [u64; MAX_DIMENSIONS]) {
        for (d, dim) in self.dims.iter().enumerate().rev() {
            let n = dim.len();
            digits[d] = combo % n;
            combo /= n;
        }
    }

    /// Appends the dimension fields of a group's intersection, each followed by a comma.
    fn write_dims(&self, group: u64, out: &mut Vec<u8>) {
        let mut digits = [0u64; MAX_DIMENSIONS];
        self.decompose(self.combo(group), &mut digits);
        for (dim, &i) in self.dims.iter().zip(digits.iter()) {
            dim.write(i, self.config.quote_all, out);
            out.push(b',');
        }
    }

    /// Appends row `r` after its dimension fields: line item, value, end of line.
    fn write_row_rest(&self, r: u64, out: &mut Vec<u8>) {
        let (li, value) = self.decide(r);
        let q = self.config.quote_all;
        out.extend_from_slice(&self.line_items[li].name.csv);
        out.push(b',');
        match value {
            Value::Blank => {}
            Value::Text(i) => out.extend_from_slice(&self.texts[i]),
            Value::Status(i) => out.extend_from_slice(&self.statuses[i]),
            v => {
                if q {
                    out.push(b'"');
                }
                self.write_value_raw(v, out);
                if q {
                    out.push(b'"');
                }
            }
        }
        out.extend_from_slice(self.eol);
    }

    /// Writes a value's unescaped text.
    #[allow(clippy::unused_self)]
    fn write_value_raw(&self, v: Value, out: &mut Vec<u8>) {
        match v {
            Value::Blank => {}
            Value::Int(i) => write_int(i, out),
            Value::Dec { mantissa, scale } => write_decimal(mantissa, scale, out),
            Value::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
            Value::Date { year, month, day } => {
                write_padded(u64::from(year), 4, out);
                out.push(b'-');
                write_padded(u64::from(month), 2, out);
                out.push(b'-');
                write_padded(u64::from(day), 2, out);
            }
            Value::Text(i) => out.extend_from_slice(TEXTS[i].as_bytes()),
            Value::Status(i) => out.extend_from_slice(STATUSES[i].as_bytes()),
        }
    }
}

impl Blocks for Generator {
    fn block_count(&self) -> u64 {
        Generator::block_count(self)
    }

    fn write_block(&self, i: u64, out: &mut Vec<u8>) {
        Generator::write_block(self, i, out);
    }
}

#[cfg(test)]
mod tests {
    use super::rng::gcd;
    use super::*;

    fn bytes(config: &GeneratorConfig) -> Vec<u8> {
        let mut out = Vec::new();
        Generator::new(config.clone()).write_all(&mut out).unwrap();
        out
    }

    fn parse(data: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
        let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
        let mut reader = csv::ReaderBuilder::new().from_reader(data);
        let header = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        let rows = reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect();
        (header, rows)
    }

    fn truth_fields(row: &GeneratedRow) -> Vec<String> {
        let mut f = row.dims.clone();
        f.push(row.line_item.clone());
        f.push(row.value.clone().unwrap_or_default());
        f
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let a = GeneratorConfig {
            rows: 5000,
            seed: 7,
            ..GeneratorConfig::default()
        };
        assert_eq!(bytes(&a), bytes(&a));
        let b = GeneratorConfig {
            seed: 8,
            ..a.clone()
        };
        assert_ne!(bytes(&a), bytes(&b));
    }

    #[test]
    fn blocks_concatenate_to_the_whole_file() {
        for config in [
            GeneratorConfig {
                rows: BLOCK_ROWS * 2 + 17,
                seed: 3,
                ..GeneratorConfig::default()
            },
            GeneratorConfig {
                rows: BLOCK_ROWS,
                bom: true,
                crlf: true,
                ..GeneratorConfig::default()
            },
            GeneratorConfig {
                rows: 0,
                ..GeneratorConfig::default()
            },
        ] {
            let g = Generator::new(config.clone());
            let mut blocks = Vec::new();
            // Out of order on purpose: each block stands alone.
            let mut parts: Vec<(u64, Vec<u8>)> = (0..g.block_count())
                .rev()
                .map(|i| {
                    let mut b = Vec::new();
                    g.write_block(i, &mut b);
                    (i, b)
                })
                .collect();
            parts.sort_by_key(|(i, _)| *i);
            for (_, b) in parts {
                blocks.extend_from_slice(&b);
            }
            assert_eq!(blocks, bytes(&config), "{config:?}");
            let mut parallel = Vec::new();
            let n = g.write_all_parallel(&mut parallel, 2).unwrap();
            assert_eq!(n as usize, parallel.len());
            assert_eq!(parallel, blocks);
        }
    }

    #[test]
    fn output_parses_to_the_ground_truth() {
        for config in [
            GeneratorConfig {
                rows: 3000,
                seed: 11,
                ..GeneratorConfig::default()
            },
            GeneratorConfig {
                rows: 700,
                seed: 12,
                quote_all: true,
                crlf: true,
                bom: true,
                ..GeneratorConfig::default()
            },
            GeneratorConfig {
                rows: 500,
                seed: 13,
                dimensions: 9,
                ..GeneratorConfig::default()
            },
            GeneratorConfig {
                rows: 100,
                seed: 14,
                dimensions: 2,
                numeric_only: true,
                ..GeneratorConfig::default()
            },
        ] {
            let g = Generator::new(config.clone());
            let (header, rows) = parse(&bytes(&config));
            assert_eq!(header, g.header());
            assert_eq!(header.len(), config.dimensions + 2);
            let truth: Vec<Vec<String>> = g.rows().map(|r| truth_fields(&r)).collect();
            assert_eq!(rows.len() as u64, config.rows);
            assert_eq!(rows, truth, "{config:?}");
        }
    }

    #[test]
    fn header_bom_crlf_and_quoting_variants() {
        let plain = bytes(&GeneratorConfig {
            rows: 2,
            ..GeneratorConfig::default()
        });
        assert!(plain.starts_with(b"Versions,Time,Region,Product,Line Items,Value\n"));
        assert!(!plain.contains(&b'\r'));

        let fancy = bytes(&GeneratorConfig {
            rows: 2,
            bom: true,
            crlf: true,
            quote_all: true,
            ..GeneratorConfig::default()
        });
        assert!(fancy.starts_with(
            b"\xEF\xBB\xBF\"Versions\",\"Time\",\"Region\",\"Product\",\"Line Items\",\"Value\"\r\n"
        ));
        let text = String::from_utf8(fancy).unwrap();
        for line in text.trim_start_matches('\u{feff}').split("\r\n").skip(1) {
            if line.is_empty() {
                continue;
            }
            assert!(line.starts_with('"'), "{line}");
        }

        let wide = Generator::new(GeneratorConfig {
            dimensions: 7,
            ..GeneratorConfig::default()
        });
        assert_eq!(
            wide.header(),
            [
                "Versions",
                "Time",
                "Region",
                "Product",
                "Channel",
                "Currency",
                "Cost Center",
                "Line Items",
                "Value"
            ]
        );
    }

    #[test]
    fn content_has_the_tricky_cases() {
        let g = Generator::new(GeneratorConfig {
            rows: 20_000,
            seed: 1,
            ..GeneratorConfig::default()
        });
        let data = String::from_utf8(bytes(g.config())).unwrap();
        for needle in [
            "\"Widget \"\"Pro\"\"\"",
            "Zürich",
            "São Paulo",
            "\"Köln, Germany\"",
            "Total Company",
            "Total Products",
            "FY24Q1",
            "2024-01",
            ",FY24,",
            "\"Promo, Q1 launch\"",
            "\"Line one\nLine two\"",
            ",true\n",
            ",false\n",
        ] {
            assert!(data.contains(needle), "missing {needle:?}");
        }
        let rows: Vec<GeneratedRow> = g.rows().collect();
        for kind in [
            ValueKind::Integer,
            ValueKind::Decimal,
            ValueKind::Boolean,
            ValueKind::Date,
            ValueKind::Text,
            ValueKind::Blank,
        ] {
            assert!(rows.iter().any(|r| r.kind == kind), "no {kind:?}");
        }
        assert!(
            rows.iter()
                .any(|r| r.value.as_deref().is_some_and(|v| v.starts_with('-')))
        );
        // Every value of a kind looks like that kind.
        for r in &rows {
            let v = r.value.as_deref();
            match r.kind {
                ValueKind::Integer => assert!(v.unwrap().parse::<i64>().is_ok()),
                ValueKind::Decimal => assert!(v.unwrap().parse::<f64>().is_ok()),
                ValueKind::Boolean => assert!(matches!(v, Some("true" | "false"))),
                ValueKind::Date => assert_eq!(v.unwrap().len(), 10),
                ValueKind::Text => assert!(!v.unwrap().is_empty()),
                ValueKind::Blank => assert!(v.is_none()),
            }
        }
        // Intersections do not repeat.
        let mut keys: Vec<(Vec<String>, String)> = rows
            .iter()
            .map(|r| (r.dims.clone(), r.line_item.clone()))
            .collect();
        keys.sort();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n);
    }

    #[test]
    fn numeric_only_has_only_numbers_and_blanks() {
        let g = Generator::new(GeneratorConfig {
            rows: 5000,
            numeric_only: true,
            ..GeneratorConfig::default()
        });
        assert!(
            g.rows()
                .all(|r| r.kind.is_numeric() || r.kind == ValueKind::Blank)
        );
        assert!(g.rows().any(|r| r.kind == ValueKind::Decimal));
    }

    #[test]
    fn intersections_stay_unique_for_many_rows() {
        let g = Generator::new(GeneratorConfig {
            rows: 10_000_000,
            ..GeneratorConfig::default()
        });
        let groups = 10_000_000u64.div_ceil(g.line_items.len() as u64);
        assert!(g.intersections >= groups);
        assert_eq!(gcd(g.scramble, g.intersections), 1);
        // A generated product member shows up.
        let row = g.row(9_999_999);
        assert_eq!(row.dims.len(), 4);
    }

    #[test]
    fn decimals_round_trip_through_f64() {
        let cases: &[(i64, u32, &str)] = &[
            (9_800_050, 2, "98000.5"),
            (-325, 2, "-3.25"),
            (15_000_000, 2, "150000"),
            (5, 4, "0.0005"),
            (-1, 6, "-0.000001"),
            (0, 2, "0"),
            (123_456_789_012_345, 4, "12345678901.2345"),
        ];
        for &(m, s, want) in cases {
            let mut out = Vec::new();
            write_decimal(m, s, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
        let g = Generator::new(GeneratorConfig {
            rows: 20_000,
            seed: 5,
            ..GeneratorConfig::default()
        });
        for r in g.rows().filter(|r| r.kind == ValueKind::Decimal) {
            let text = r.value.unwrap();
            assert_eq!(text.parse::<f64>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn block_index_serves_any_range() {
        let g = Generator::new(GeneratorConfig {
            rows: BLOCK_ROWS * 3 + 5,
            seed: 2,
            ..GeneratorConfig::default()
        });
        let whole = bytes(g.config());
        let index = BlockIndex::build(&g);
        assert_eq!(index.total_bytes(), whole.len() as u64);
        assert_eq!(g.total_bytes(), whole.len() as u64);
        let n = whole.len() as u64;
        for (a, b) in [
            (0, 10),
            (0, n),
            (5, n - 3),
            (n / 3, n / 3 + 1),
            (n - 1, n + 100),
            (n, n + 5),
        ] {
            let mut out = Vec::new();
            index.write_range(&g, a..b, &mut out);
            assert_eq!(out, whole[a as usize..(b.min(n)) as usize], "{a}..{b}");
        }
        // Block boundaries themselves.
        for i in 0..index.block_count() {
            let r = index.block_range(i);
            assert_eq!(index.block_at(r.start), i);
            let mut out = Vec::new();
            index.write_range(&g, r.clone(), &mut out);
            let mut block = Vec::new();
            g.write_block(i, &mut block);
            assert_eq!(out, block);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

        /// Any configuration parses back to its ground truth, block by block.
        #[test]
        fn any_config_parses_to_its_ground_truth(
            rows in 0u64..600,
            seed in proptest::prelude::any::<u64>(),
            dimensions in 0usize..12,
            numeric_only in proptest::prelude::any::<bool>(),
            quote_all in proptest::prelude::any::<bool>(),
            crlf in proptest::prelude::any::<bool>(),
            bom in proptest::prelude::any::<bool>(),
        ) {
            let config = GeneratorConfig { rows, seed, dimensions, numeric_only, quote_all, crlf, bom };
            let g = Generator::new(config.clone());
            let (header, parsed) = parse(&bytes(&config));
            proptest::prop_assert_eq!(header, g.header());
            let truth: Vec<Vec<String>> = (0..g.block_count())
                .flat_map(|i| g.rows_in_block(i).collect::<Vec<_>>())
                .map(|r| truth_fields(&r))
                .collect();
            proptest::prop_assert_eq!(parsed, truth);
        }
    }

    #[test]
    fn zero_rows_is_a_header_only_file() {
        let out = bytes(&GeneratorConfig {
            rows: 0,
            ..GeneratorConfig::default()
        });
        assert_eq!(out, b"Versions,Time,Region,Product,Line Items,Value\n");
    }
}
