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
//! keeping only the byte offset of each block ([`BlockIndex`]).
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

use std::io::{self, Write};

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
    header: Vec<u8>,
    eol: &'static [u8],
}

#[derive(Clone, Debug)]
struct Dimension {
    name: String,
    /// Named members, encoded.
    members: Vec<Field>,
    /// Extra generated members `{prefix}{n:06}` after the named ones (the growing `Product`).
    generated: u64,
    generated_prefix: &'static str,
}

impl Dimension {
    fn len(&self) -> u64 {
        self.members.len() as u64 + self.generated
    }

    fn write(&self, i: u64, quote_all: bool, out: &mut Vec<u8>) {
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

    fn text(&self, i: u64) -> String {
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
struct Field {
    text: String,
    csv: Vec<u8>,
}

impl Field {
    fn new(text: &str, quote_all: bool) -> Self {
        let mut csv = Vec::with_capacity(text.len() + 2);
        encode_field(text, quote_all, &mut csv);
        Field {
            text: text.to_owned(),
            csv,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Recipe {
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
struct LineItem {
    name: Field,
    recipe: Recipe,
    kind: ValueKind,
    blank_pct: u64,
}

/// A value decided for a row, before formatting.
#[derive(Clone, Copy, Debug)]
enum Value {
    Blank,
    Int(i64),
    Dec { mantissa: i64, scale: u32 },
    Bool(bool),
    Date { year: u32, month: u32, day: u32 },
    Text(usize),
    Status(usize),
}

const VERSIONS: &[&str] = &["Actual", "Budget", "Forecast"];
const REGIONS: &[&str] = &[
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
const PRODUCTS: &[&str] = &[
    "Widget A",
    "Widget B",
    "Widget \"Pro\"",
    "Gadget, Large",
    "Gizmo Ω",
    "Total Products",
];
const EXTRA_DIMENSIONS: &[(&str, &[&str])] = &[
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
const TEXTS: &[&str] = &[
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
const STATUSES: &[&str] = &["Open", "Closed", "On hold", "Approved – final"];

fn line_items(numeric_only: bool, quote_all: bool) -> Vec<LineItem> {
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

fn time_members() -> Vec<String> {
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

        Generator {
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
        for r in self.block_row_range(i) {
            self.write_row(r, out);
        }
    }

    /// Writes the whole file to `w`, returning the number of bytes written.
    pub fn write_all(&self, w: &mut impl Write) -> io::Result<u64> {
        let mut buf = Vec::with_capacity(1 << 20);
        let mut total = 0u64;
        for i in 0..self.block_count() {
            self.write_block(i, &mut buf);
            if buf.len() >= 1 << 19 {
                w.write_all(&buf)?;
                total += buf.len() as u64;
                buf.clear();
            }
        }
        w.write_all(&buf)?;
        total += buf.len() as u64;
        w.flush()?;
        Ok(total)
    }

    /// Writes the whole file to `w` using `threads` generating threads (blocks are still written
    /// in order). The fast path of `generate --output`: with 2 threads, generation overlaps the
    /// writes. `threads` of 0 or 1 is [`Generator::write_all`].
    pub fn write_all_parallel(
        &self,
        w: &mut (impl Write + Send),
        threads: usize,
    ) -> io::Result<u64> {
        if threads <= 1 {
            return self.write_all(w);
        }
        const BATCH_BLOCKS: u64 = 16;
        let batches = self.block_count().div_ceil(BATCH_BLOCKS);
        let (tx, rx) = std::sync::mpsc::sync_channel::<(u64, Vec<u8>)>(threads * 2);
        // Buffers go round (fresh multi-megabyte allocations would page-fault every time).
        let (pool_tx, pool_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(threads * 4);
        for _ in 0..threads * 4 {
            let _ = pool_tx.send(Vec::with_capacity(BATCH_BLOCKS as usize * 300_000));
        }
        let pool_rx = std::sync::Mutex::new(pool_rx);
        let next = std::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..threads {
                let tx = tx.clone();
                let (next, pool_rx) = (&next, &pool_rx);
                s.spawn(move || {
                    loop {
                        // Take a buffer before a batch number, so the batch the writer waits
                        // for always has a buffer.
                        let buf = pool_rx
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        let Ok(mut buf) = buf else { break };
                        let b = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if b >= batches {
                            break;
                        }
                        buf.clear();
                        let end = ((b + 1) * BATCH_BLOCKS).min(self.block_count());
                        for i in b * BATCH_BLOCKS..end {
                            self.write_block(i, &mut buf);
                        }
                        if tx.send((b, buf)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            let result = write_in_order(&rx, &pool_tx, w);
            // On a write error, stop the workers: dropping the channels fails their calls.
            drop(rx);
            drop(pool_tx);
            result
        })
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
        let li = (r % l) as usize;
        let group = r / l;
        let combo = ((u128::from(group) * u128::from(self.scramble))
            % u128::from(self.intersections)) as u64;
        let mut rng = Rng::new(self.config.seed, r);
        let item = &self.line_items[li];
        let value = if rng.below(100) < item.blank_pct {
            Value::Blank
        } else {
            match item.recipe {
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
        };
        (combo, li, value)
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

    fn write_row(&self, r: u64, out: &mut Vec<u8>) {
        let (combo, li, value) = self.plan(r);
        let mut digits = [0u64; MAX_DIMENSIONS];
        self.decompose(combo, &mut digits);
        let q = self.config.quote_all;
        for (dim, &i) in self.dims.iter().zip(digits.iter()) {
            dim.write(i, q, out);
            out.push(b',');
        }
        out.extend_from_slice(&self.line_items[li].name.csv);
        out.push(b',');
        match value {
            Value::Blank => {}
            Value::Text(i) => encode_field(TEXTS[i], q, out),
            Value::Status(i) => encode_field(STATUSES[i], q, out),
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

/// Writes `(sequence number, bytes)` messages to `w` in sequence order.
fn write_in_order(
    rx: &std::sync::mpsc::Receiver<(u64, Vec<u8>)>,
    pool: &std::sync::mpsc::SyncSender<Vec<u8>>,
    w: &mut impl Write,
) -> io::Result<u64> {
    let mut pending = std::collections::BTreeMap::new();
    let mut want = 0u64;
    let mut total = 0u64;
    for (b, buf) in rx {
        pending.insert(b, buf);
        while let Some(buf) = pending.remove(&want) {
            w.write_all(&buf)?;
            total += buf.len() as u64;
            want += 1;
            let _ = pool.try_send(buf);
        }
    }
    w.flush()?;
    Ok(total)
}

/// Anything whose bytes come in independently generated blocks: the [`Generator`], and the
/// simulator's other export layouts and encodings built on it.
pub trait Blocks: Send + Sync {
    /// Number of blocks (at least 1).
    fn block_count(&self) -> u64;
    /// Appends block `i`; the bytes depend only on the source and `i`.
    fn write_block(&self, i: u64, out: &mut Vec<u8>);
}

impl Blocks for Generator {
    fn block_count(&self) -> u64 {
        Generator::block_count(self)
    }

    fn write_block(&self, i: u64, out: &mut Vec<u8>) {
        Generator::write_block(self, i, out);
    }
}

/// The byte offset of every block of a generated file, so any byte range can be produced by
/// generating only the blocks it overlaps. Building it generates the file once (in memory, a
/// block at a time); it holds 8 bytes per block.
#[derive(Clone, Debug)]
pub struct BlockIndex {
    /// `offsets[i]` is where block `i` starts; the last entry is the file size.
    offsets: Vec<u64>,
}

impl BlockIndex {
    /// Generates every block once to measure it.
    pub fn build(generator: &dyn Blocks) -> Self {
        let n = generator.block_count();
        let mut offsets = Vec::with_capacity(n as usize + 1);
        let mut buf = Vec::with_capacity(1 << 20);
        let mut at = 0u64;
        for i in 0..n {
            offsets.push(at);
            buf.clear();
            generator.write_block(i, &mut buf);
            at += buf.len() as u64;
        }
        offsets.push(at);
        BlockIndex { offsets }
    }

    /// The file size in bytes.
    pub fn total_bytes(&self) -> u64 {
        *self.offsets.last().unwrap_or(&0)
    }

    /// Number of blocks.
    pub fn block_count(&self) -> u64 {
        self.offsets.len() as u64 - 1
    }

    /// The byte range of block `i`.
    pub fn block_range(&self, i: u64) -> std::ops::Range<u64> {
        self.offsets[i as usize]..self.offsets[i as usize + 1]
    }

    /// The block holding byte `offset` (the last block when `offset` is at or past the end).
    pub fn block_at(&self, offset: u64) -> u64 {
        // offsets is sorted; find the last start <= offset.
        let i = self.offsets.partition_point(|&o| o <= offset);
        (i.saturating_sub(1) as u64).min(self.block_count().saturating_sub(1))
    }

    /// Appends bytes `range` of the file to `out`, generating only the blocks it overlaps.
    pub fn write_range(
        &self,
        generator: &dyn Blocks,
        range: std::ops::Range<u64>,
        out: &mut Vec<u8>,
    ) {
        let end = range.end.min(self.total_bytes());
        if range.start >= end {
            return;
        }
        let mut buf = Vec::new();
        let mut i = self.block_at(range.start);
        while i < self.block_count() {
            let block = self.block_range(i);
            if block.start >= end {
                break;
            }
            buf.clear();
            generator.write_block(i, &mut buf);
            let from = range.start.max(block.start) - block.start;
            let to = end.min(block.end) - block.start;
            out.extend_from_slice(&buf[from as usize..to as usize]);
            i += 1;
        }
    }
}

/// Appends `text` as a CSV field: quoted when `quote_all` or when it holds a comma, a quote or
/// a line break, with quotes doubled (RFC 4180).
pub fn encode_field(text: &str, quote_all: bool, out: &mut Vec<u8>) {
    let needs = quote_all
        || text
            .bytes()
            .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
    if !needs {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    out.push(b'"');
    for &b in text.as_bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// Appends the decimal digits of `n`.
fn write_u64(mut n: u64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends `n` zero-padded to at least `width` digits.
fn write_padded(n: u64, width: usize, out: &mut Vec<u8>) {
    let mut digits = 1;
    let mut m = n / 10;
    while m > 0 {
        digits += 1;
        m /= 10;
    }
    for _ in digits..width {
        out.push(b'0');
    }
    write_u64(n, out);
}

fn write_int(i: i64, out: &mut Vec<u8>) {
    if i < 0 {
        out.push(b'-');
    }
    write_u64(i.unsigned_abs(), out);
}

/// Appends `mantissa / 10^scale` without trailing zeros or exponent, like `f64`'s `Display`.
fn write_decimal(mantissa: i64, scale: u32, out: &mut Vec<u8>) {
    let pow = 10u64.pow(scale);
    let abs = mantissa.unsigned_abs();
    let (int, mut frac) = (abs / pow, abs % pow);
    if mantissa < 0 {
        out.push(b'-');
    }
    write_u64(int, out);
    if frac != 0 {
        let mut width = scale as usize;
        while frac % 10 == 0 {
            frac /= 10;
            width -= 1;
        }
        out.push(b'.');
        write_padded(frac, width, out);
    }
}

/// A multiplier coprime to `n` (so `x * m mod n` is a bijection), chosen from the seed.
fn coprime_multiplier(n: u64, seed: u64) -> u64 {
    if n <= 2 {
        return 1;
    }
    let mut m = (mix(seed ^ 0x5851_F42D_4C95_7F2D) % n).max(2) | 1;
    loop {
        if m >= n {
            // 1 is coprime to everything: the loop always ends.
            m = 1;
        }
        if gcd(m, n) == 1 {
            return m;
        }
        m += 2;
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// SplitMix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A tiny per-row generator (SplitMix64), seeded from `(seed, row)`.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, row: u64) -> Self {
        Rng(mix(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ mix(row)))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// A number in `[0, n)` (`n` > 0); the bias is negligible for the small `n` used here.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
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
