//! The bytes of export files, produced on the fly from the generator's blocks.
//!
//! An [`ExportContent`] keeps the generator and a [`BlockIndex`] (8 bytes per block of 4,096
//! rows); any byte range (a chunk, the whole file) is produced by generating only the blocks
//! it overlaps, one at a time, so serving a multi-gigabyte export costs a block of memory per
//! response in flight.
//!
//! An export may instead serve [`FixedContent`]: bytes given up front (a bad-input corpus, a
//! recorded export), served exactly as given and cut into chunks like generated content.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::Stream;

use super::config::ExportConfig;
use super::format::{Encoding, FixedContent, Layout};
use crate::generate::{BlockIndex, Blocks, GeneratedRow, Generator, GeneratorConfig, encode_field};

/// What decides an export file's bytes: equal keys give equal bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ContentKey {
    /// Generator settings.
    pub generator: GeneratorConfig,
    /// Layout.
    pub layout: Layout,
    /// Encoding.
    pub encoding: Encoding,
    /// Bytes served instead of generated content.
    pub fixed: Option<FixedContent>,
}

impl ContentKey {
    /// The key of an export's current settings.
    pub(crate) fn of(export: &ExportConfig) -> Self {
        ContentKey {
            generator: export.generator.clone(),
            layout: export.layout,
            encoding: export.encoding,
            fixed: export.fixed_content.clone(),
        }
    }
}

/// An export file: its block source and block index.
pub struct ExportContent {
    key: ContentKey,
    source: Box<dyn Blocks>,
    index: BlockIndex,
    header: Vec<String>,
    /// The last few blocks generated (small chunks, and chunks fetched side by side, share
    /// their blocks); bounded, so memory stays flat.
    recent: std::sync::Mutex<std::collections::VecDeque<(u64, Bytes)>>,
}

/// Blocks kept in [`ExportContent`]'s small cache.
const RECENT_BLOCKS: usize = 8;

impl std::fmt::Debug for ExportContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportContent")
            .field("key", &self.key)
            .field("bytes", &self.index.total_bytes())
            .finish_non_exhaustive()
    }
}

impl ExportContent {
    /// Builds the content and its index (generates the file once: CPU-bound, run it on a
    /// blocking thread for big exports).
    pub(crate) fn build(key: ContentKey) -> Self {
        if let Some(fixed) = &key.fixed {
            let header = fixed.header(key.encoding);
            let source: Box<dyn Blocks> = Box::new(fixed.clone());
            let index = BlockIndex::build(source.as_ref());
            return ExportContent {
                key,
                source,
                index,
                header,
                recent: std::sync::Mutex::new(std::collections::VecDeque::new()),
            };
        }
        let generator = Generator::new(GeneratorConfig {
            // A UTF-16 file gets a UTF-16 BOM instead.
            bom: key.generator.bom && key.encoding == Encoding::Utf8,
            ..key.generator.clone()
        });
        let (header, base): (Vec<String>, Box<dyn Blocks>) = match key.layout {
            Layout::TabularSingleColumn => (generator.header(), Box::new(generator)),
            Layout::TabularMultiColumn => {
                let tmc = MultiColumn::new(generator);
                (tmc.header(), Box::new(tmc))
            }
        };
        let source: Box<dyn Blocks> = match key.encoding {
            Encoding::Utf8 => base,
            Encoding::Utf16Le => Box::new(Utf16Le {
                inner: base,
                bom: key.generator.bom,
            }),
        };
        let index = BlockIndex::build(source.as_ref());
        ExportContent {
            key,
            source,
            index,
            header,
            recent: std::sync::Mutex::new(std::collections::VecDeque::new()),
        }
    }

    /// The file size in bytes.
    pub fn len(&self) -> u64 {
        self.index.total_bytes()
    }

    /// True for an empty file (only fixed content can be empty: generated files have a header).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Header names.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// Data rows of the file (records, not counting the header; for fixed content, line feeds
    /// after the first line).
    pub fn row_count(&self) -> u64 {
        if let Some(fixed) = &self.key.fixed {
            return fixed.line_feeds().saturating_sub(1);
        }
        match self.key.layout {
            Layout::TabularSingleColumn => self.key.generator.rows,
            Layout::TabularMultiColumn => {
                let items = Generator::new(self.key.generator.clone())
                    .line_items()
                    .len() as u64;
                self.key.generator.rows.div_ceil(items)
            }
        }
    }

    /// Number of chunks of `chunk_size` bytes (0 for an empty file).
    pub fn chunk_count(&self, chunk_size: u64) -> u64 {
        self.len().div_ceil(chunk_size)
    }

    /// The byte range of chunk `k`.
    pub fn chunk_range(&self, k: u64, chunk_size: u64) -> Range<u64> {
        let start = k.saturating_mul(chunk_size).min(self.len());
        start..start.saturating_add(chunk_size).min(self.len())
    }

    /// Bytes `range` of the file, in memory (for tests and small files).
    pub fn bytes(&self, range: Range<u64>) -> Vec<u8> {
        let mut out = Vec::new();
        self.index
            .write_range(self.source.as_ref(), range, &mut out);
        out
    }

    /// Block `i`, from the small cache or freshly generated.
    fn block(&self, i: u64) -> Bytes {
        let lock = || {
            self.recent
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some((_, b)) = lock().iter().find(|(k, _)| *k == i) {
            return b.clone();
        }
        let mut buf = Vec::new();
        self.source.write_block(i, &mut buf);
        let block = Bytes::from(buf);
        let mut recent = lock();
        if recent.len() >= RECENT_BLOCKS {
            recent.pop_front();
        }
        recent.push_back((i, block.clone()));
        block
    }

    /// Bytes `range` of the file as a stream of pieces of at most one block each.
    pub fn stream(
        self: &Arc<Self>,
        range: Range<u64>,
    ) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
        let content = Arc::clone(self);
        let end = range.end.min(content.len());
        let start = range.start.min(end);
        let first = content.index.block_at(start);
        futures::stream::unfold(
            (content, start, first),
            move |(content, at, block)| async move {
                if at >= end || block >= content.index.block_count() {
                    return None;
                }
                let r = content.index.block_range(block);
                let bytes = content.block(block);
                let from = (at - r.start) as usize;
                let to = (end.min(r.end) - r.start) as usize;
                let piece = bytes.slice(from..to);
                Some((Ok(piece), (content, r.start + to as u64, block + 1)))
            },
        )
    }
}

/// Tabular Multiple Column: the dimensions, then one column per line item; one row per
/// intersection, built from the generator's rows (line items of one intersection are
/// consecutive rows).
struct MultiColumn {
    generator: Generator,
    items: Vec<String>,
    quote_all: bool,
    eol: &'static [u8],
}

/// Intersections (output rows) per block.
const TMC_BLOCK_ROWS: u64 = 512;

impl MultiColumn {
    fn new(generator: Generator) -> Self {
        let items = generator.line_items().into_iter().map(|(n, _)| n).collect();
        let config = generator.config().clone();
        MultiColumn {
            generator,
            items,
            quote_all: config.quote_all,
            eol: if config.crlf { b"\r\n" } else { b"\n" },
        }
    }

    fn header(&self) -> Vec<String> {
        let mut h = self.generator.header();
        h.truncate(self.generator.dimension_count());
        h.extend(self.items.iter().cloned());
        h
    }

    fn groups(&self) -> u64 {
        self.generator
            .config()
            .rows
            .div_ceil(self.items.len() as u64)
    }

    fn write_row(&self, cells: &[GeneratedRow], out: &mut Vec<u8>) {
        for (k, d) in cells[0].dims.iter().enumerate() {
            if k > 0 {
                out.push(b',');
            }
            encode_field(d, self.quote_all, out);
        }
        for i in 0..self.items.len() {
            if i > 0 || !cells[0].dims.is_empty() {
                out.push(b',');
            }
            // Blanks stay empty and unquoted.
            if let Some(v) = cells.get(i).and_then(|c| c.value.as_deref()) {
                encode_field(v, self.quote_all, out);
            }
        }
        out.extend_from_slice(self.eol);
    }
}

impl Blocks for MultiColumn {
    fn block_count(&self) -> u64 {
        self.groups().div_ceil(TMC_BLOCK_ROWS).max(1)
    }

    fn write_block(&self, i: u64, out: &mut Vec<u8>) {
        if i == 0 {
            if self.generator.config().bom {
                out.extend_from_slice(b"\xEF\xBB\xBF");
            }
            for (k, h) in self.header().iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                encode_field(h, self.quote_all, out);
            }
            out.extend_from_slice(self.eol);
        }
        let rows = self.generator.config().rows;
        let l = self.items.len() as u64;
        let groups = self.groups();
        let mut cells = Vec::with_capacity(self.items.len());
        for g in (i * TMC_BLOCK_ROWS).min(groups)..((i + 1) * TMC_BLOCK_ROWS).min(groups) {
            cells.clear();
            cells.extend((g * l..((g + 1) * l).min(rows)).map(|r| self.generator.row(r)));
            self.write_row(&cells, out);
        }
    }
}

/// UTF-16LE re-encoding of a UTF-8 block source (blocks end on character boundaries).
struct Utf16Le {
    inner: Box<dyn Blocks>,
    bom: bool,
}

impl Blocks for Utf16Le {
    fn block_count(&self) -> u64 {
        self.inner.block_count()
    }

    fn write_block(&self, i: u64, out: &mut Vec<u8>) {
        let mut utf8 = Vec::new();
        self.inner.write_block(i, &mut utf8);
        if i == 0 && self.bom {
            out.extend_from_slice(&[0xFF, 0xFE]);
        }
        let text = String::from_utf8_lossy(&utf8);
        out.reserve(text.len() * 2);
        for unit in text.encode_utf16() {
            out.extend_from_slice(&unit.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::simulator::format::FIXED_BLOCK_BYTES;

    fn key(rows: u64, layout: Layout, encoding: Encoding) -> ContentKey {
        ContentKey {
            generator: GeneratorConfig {
                rows,
                seed: 4,
                bom: true,
                ..GeneratorConfig::default()
            },
            layout,
            encoding,
            fixed: None,
        }
    }

    #[test]
    fn tsc_content_is_the_generator_output() {
        let k = key(10_000, Layout::TabularSingleColumn, Encoding::Utf8);
        let c = ExportContent::build(k.clone());
        let mut want = Vec::new();
        Generator::new(k.generator).write_all(&mut want).unwrap();
        assert_eq!(c.len(), want.len() as u64);
        assert_eq!(c.bytes(0..c.len()), want);
        let chunk = 1000;
        let mut joined = Vec::new();
        for k in 0..c.chunk_count(chunk) {
            joined.extend(c.bytes(c.chunk_range(k, chunk)));
        }
        assert_eq!(joined, want);
    }

    #[tokio::test]
    async fn streams_equal_ranges() {
        let c = Arc::new(ExportContent::build(key(
            9000,
            Layout::TabularSingleColumn,
            Encoding::Utf8,
        )));
        let n = c.len();
        for r in [0..n, 10..n - 10, 5000..5001, n..n] {
            let pieces: Vec<Bytes> = c.stream(r.clone()).map(Result::unwrap).collect().await;
            assert_eq!(pieces.concat(), c.bytes(r.clone()), "{r:?}");
        }
    }

    #[test]
    fn utf16_content_decodes_to_the_utf8_text() {
        let c8 = ExportContent::build(key(3000, Layout::TabularSingleColumn, Encoding::Utf8));
        let c16 = ExportContent::build(key(3000, Layout::TabularSingleColumn, Encoding::Utf16Le));
        let bytes = c16.bytes(0..c16.len());
        assert_eq!(&bytes[..2], &[0xFF, 0xFE]);
        let units: Vec<u16> = bytes[2..]
            .chunks(2)
            .map(|p| u16::from_le_bytes([p[0], p[1]]))
            .collect();
        let text = String::from_utf16(&units).unwrap();
        let utf8 = c8.bytes(0..c8.len());
        assert_eq!(text.as_bytes(), utf8.strip_prefix(b"\xEF\xBB\xBF").unwrap());
    }

    #[tokio::test]
    async fn fixed_content_is_served_exactly_in_chunks() {
        // Bad bytes on purpose: an invalid UTF-8 byte and a UTF-16 BOM that must not be touched.
        let mut bytes = b"Line Items,Value\nRevenue,\xFF1\n".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', 3 * FIXED_BLOCK_BYTES + 17));
        bytes.extend_from_slice(b"\n\xFF\xFE");
        let fixed = FixedContent::new(bytes.clone());
        let mut k = key(5, Layout::TabularSingleColumn, Encoding::Utf16Le);
        k.fixed = Some(fixed);
        let c = Arc::new(ExportContent::build(k));
        assert_eq!(c.len(), bytes.len() as u64);
        assert_eq!(c.bytes(0..c.len()), bytes);
        assert_eq!(c.row_count(), 2);
        for chunk in [1000, 1 << 20, 5 << 20] {
            let mut joined = Vec::new();
            for k in 0..c.chunk_count(chunk) {
                let r = c.chunk_range(k, chunk);
                let pieces: Vec<Bytes> = c.stream(r.clone()).map(Result::unwrap).collect().await;
                let piece = pieces.concat();
                assert_eq!(piece, c.bytes(r), "chunk {k} of {chunk}");
                joined.extend(piece);
            }
            assert_eq!(joined, bytes, "chunks of {chunk}");
        }
        // Tiny chunks cut anywhere, a UTF-8 sequence included.
        let seven: Vec<Bytes> = c
            .stream(c.chunk_range(1, 7))
            .map(Result::unwrap)
            .collect()
            .await;
        assert_eq!(seven.concat(), b"ems,Val");
        assert_eq!(c.bytes(c.chunk_range(3, 7)), b"nue,\xFF1\n");
    }

    #[test]
    fn fixed_content_header_and_empty_content() {
        let cases: &[(&[u8], Encoding, &[&str])] = &[
            (b"a,\"b,c\",d\n1,2,3\n", Encoding::Utf8, &["a", "b,c", "d"]),
            (b"\xEF\xBB\xBFa,b", Encoding::Utf8, &["a", "b"]),
            (b"\n\na,b\n", Encoding::Utf8, &["a", "b"]),
            (b"a,\xFF\n", Encoding::Utf8, &["a", "\u{fffd}"]),
            (b"\xFF\xFEa\0,\0b\0\n\0", Encoding::Utf16Le, &["a", "b"]),
            (b"", Encoding::Utf8, &[]),
        ];
        for (bytes, encoding, header) in cases {
            assert_eq!(
                FixedContent::new(bytes.to_vec()).header(*encoding),
                header.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
                "{bytes:?}"
            );
        }
        let mut k = key(5, Layout::TabularSingleColumn, Encoding::Utf8);
        k.fixed = Some(FixedContent::new(Bytes::new()));
        let c = ExportContent::build(k);
        assert!(c.is_empty());
        assert_eq!(c.chunk_count(10), 0);
        assert!(c.header().is_empty());
        assert_eq!(
            format!("{:?}", FixedContent::new(vec![0u8; 12])),
            "FixedContent(12 bytes)"
        );
    }

    #[test]
    fn tmc_has_one_column_per_line_item() {
        let c = ExportContent::build(ContentKey {
            generator: GeneratorConfig {
                rows: 2000,
                ..GeneratorConfig::default()
            },
            layout: Layout::TabularMultiColumn,
            encoding: Encoding::Utf8,
            fixed: None,
        });
        let bytes = c.bytes(0..c.len());
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(header, c.header());
        assert_eq!(
            &header[..5],
            ["Versions", "Time", "Region", "Product", "Revenue"]
        );
        let records: Vec<_> = reader.records().map(Result::unwrap).collect();
        assert_eq!(records.len() as u64, c.row_count());
        assert!(records.iter().all(|r| r.len() == header.len()));
    }
}
