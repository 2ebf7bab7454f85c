//! What an export's file looks like: its [`Layout`], its [`Encoding`], and [`FixedContent`],
//! bytes served exactly as given instead of generated rows. Shared by the configuration (which
//! names them) and the content (which produces the bytes).

use bytes::Bytes;

use crate::generate::Blocks;

/// The layout of an export's file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Tabular Single Column: dimensions, `Line Items`, `Value` (the generator's output).
    TabularSingleColumn,
    /// Tabular Multiple Column: dimensions, then one column per line item.
    TabularMultiColumn,
}

impl Layout {
    /// The `layout` value of the API.
    pub fn api_name(self) -> &'static str {
        match self {
            Layout::TabularSingleColumn => "TABULAR_SINGLE_COLUMN",
            Layout::TabularMultiColumn => "TABULAR_MULTI_COLUMN",
        }
    }

    /// The `exportType` value of the API (TSC of all line items is `TABULAR_ALL_LINE_ITEMS`).
    pub fn export_type(self) -> &'static str {
        match self {
            Layout::TabularSingleColumn => "TABULAR_ALL_LINE_ITEMS",
            Layout::TabularMultiColumn => "TABULAR_MULTI_COLUMN",
        }
    }
}

/// The character encoding of an export's file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// UTF-8 (Anaplan's default).
    Utf8,
    /// UTF-16 little endian ("CSV for Excel").
    Utf16Le,
}

impl Encoding {
    /// The `encoding` value of the API.
    pub fn api_name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Utf16Le => "UTF-16LE",
        }
    }
}

/// Bytes served as an export's file exactly as given: no re-encoding, no BOM added, no
/// checks (the point is to serve malformed files too). The export's `encoding` is only what
/// its metadata declares.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FixedContent(Bytes);

/// Size of the blocks fixed content is served in.
pub(super) const FIXED_BLOCK_BYTES: usize = 1 << 20;

/// How much of fixed content is read to find its header.
const FIXED_HEADER_SCAN: usize = 1 << 20;

impl FixedContent {
    /// Content of exactly these bytes.
    pub fn new(bytes: impl Into<Bytes>) -> Self {
        FixedContent(bytes.into())
    }

    /// The bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }

    /// The names of the first record, read leniently (for the export's metadata); empty when
    /// the content holds no record.
    pub fn header(&self, encoding: Encoding) -> Vec<String> {
        let head = &self.0[..self.0.len().min(FIXED_HEADER_SCAN)];
        let text = match encoding {
            Encoding::Utf8 => String::from_utf8_lossy(head).into_owned(),
            Encoding::Utf16Le => encoding_rs::UTF_16LE
                .decode_without_bom_handling(head)
                .0
                .into_owned(),
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes())
            .records()
            .next()
            .and_then(Result::ok)
            .map(|r| r.iter().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// Line feeds in the content: the row count the metadata reports (one more than the data
    /// rows of a well-formed file that ends with a line break).
    pub fn line_feeds(&self) -> u64 {
        memchr::memchr_iter(b'\n', &self.0).count() as u64
    }
}

impl std::fmt::Debug for FixedContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FixedContent({} bytes)", self.0.len())
    }
}

impl Blocks for FixedContent {
    fn block_count(&self) -> u64 {
        self.0.len().div_ceil(FIXED_BLOCK_BYTES).max(1) as u64
    }

    fn write_block(&self, i: u64, out: &mut Vec<u8>) {
        let start = (i as usize)
            .saturating_mul(FIXED_BLOCK_BYTES)
            .min(self.0.len());
        let end = start.saturating_add(FIXED_BLOCK_BYTES).min(self.0.len());
        out.extend_from_slice(&self.0[start..end]);
    }
}
