//! The harness behind the fuzz targets: turn arbitrary bytes into a decoding case (settings,
//! input, split points), run it whole and split, and check that both give the same result
//! and that the result makes sense.
//!
//! - [`check_decode`] runs the decoding path the way the engine's decoder thread does (the
//!   engine's text reader, header clean-up, inference over every row, typed conversion)
//!   without threads or I/O, so it runs tens of thousands of cases a second. The reader's own
//!   invariants (valid UTF-8 from the transcoder, the decoder's progress) are debug assertions,
//!   on in fuzz builds.
//! - [`check_engine`] runs the real [`anaplan_parquet::convert::convert`] on pieces labelled as
//!   Anaplan chunks, to a local destination, and reads the Parquet back: slower, but it covers
//!   the orchestration (late widening and the second pass, chunk positions, no partial output).
//!
//! Both panic on any finding, which is what libFuzzer reports.

use std::sync::{Arc, OnceLock};

use anaplan_parquet::convert::internals::{
    ColumnStats, clean_header, convert_column, decide_plan, number_column, read_all,
};
use anaplan_parquet::convert::{
    self, CsvOptions, EngineOptions, InferRows, InputEncoding, Layout, ParquetOptions, RunContext,
    SchemaOptions,
};
use anaplan_parquet::error::{DataError, Error, Position};
use anaplan_parquet::sink::Destination;
use anaplan_parquet::source::{Piece, PieceStream, Source};
use arrow::array::{Array, ArrayData, ArrayRef, RecordBatch};
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;

/// One case: settings taken from the first bytes of the fuzz input, then the data.
#[derive(Clone, Debug)]
pub struct Case<'a> {
    /// Declared input encoding.
    pub encoding: InputEncoding,
    /// Field separator.
    pub delimiter: u8,
    /// Rows per decoded batch (small, so batches fill up and flush mid-input).
    pub batch_rows: usize,
    /// Column layout.
    pub layout: Layout,
    /// Inference sample of the engine target (`Rows(n)` makes late widening likely).
    pub infer_rows: InferRows,
    /// Offsets where the data is cut (sorted, inside the data, no empty pieces).
    pub cuts: Vec<usize>,
    /// The CSV bytes.
    pub data: &'a [u8],
}

/// Bytes of settings at the start of a fuzz input.
pub const HEADER_BYTES: usize = 3;

impl<'a> Case<'a> {
    /// Reads a case: byte 0 holds the settings, byte 1 the number of cuts (255: cut after
    /// every byte), byte 2 seeds where the cuts fall.
    pub fn parse(input: &'a [u8]) -> Option<Case<'a>> {
        if input.len() < HEADER_BYTES {
            return None;
        }
        let flags = input[0];
        let data = &input[HEADER_BYTES..];
        let encoding = match flags & 0b11 {
            0 | 1 => InputEncoding::Utf8,
            2 => InputEncoding::Utf16Le,
            _ => {
                if flags & 0b1000_0000 == 0 {
                    InputEncoding::Latin1
                } else {
                    InputEncoding::Windows1252
                }
            }
        };
        let delimiter = [b',', b',', b';', b'\t'][usize::from((flags >> 2) & 0b11)];
        let batch_rows = [1, 2, 3, 1024][usize::from((flags >> 4) & 0b11)];
        let layout = if flags & 0b0100_0000 == 0 {
            Layout::SingleColumn
        } else {
            Layout::Generic
        };
        let infer_rows = match flags >> 7 {
            0 => InferRows::Rows(2),
            _ => InferRows::All,
        };
        let cuts = cuts(data.len(), input[1], input[2]);
        Some(Case {
            encoding,
            delimiter,
            batch_rows,
            layout,
            infer_rows,
            cuts,
            data,
        })
    }

    /// The data cut at [`Case::cuts`].
    pub fn pieces(&self) -> Vec<&'a [u8]> {
        let mut out = Vec::with_capacity(self.cuts.len() + 1);
        let mut prev = 0;
        for &c in self.cuts.iter().chain(std::iter::once(&self.data.len())) {
            if c > prev {
                out.push(&self.data[prev..c]);
            }
            prev = c;
        }
        out
    }
}

/// Cut points: every byte for 255, else up to 15 offsets from a small xorshift.
fn cuts(len: usize, count: u8, seed: u8) -> Vec<usize> {
    if len < 2 {
        return Vec::new();
    }
    if count == u8::MAX {
        return (1..len).collect();
    }
    let mut x = u32::from(seed).wrapping_mul(2_654_435_761) | 1;
    let mut out: Vec<usize> = (0..count % 16)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            1 + (x as usize) % (len - 1)
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

// ---- the decoding path, as the engine's decoder thread runs it ------------------------------

/// What decoding gave: the cleaned header, the plan's columns, and per batch its text and its
/// typed columns.
#[derive(Debug, PartialEq)]
pub struct Decoded {
    /// The header as written in the file.
    pub raw_header: Vec<String>,
    /// (name, type) of every written column.
    pub schema: Vec<(String, String)>,
    /// Text of every batch, for comparison with another decoder.
    pub text: Vec<Vec<Vec<Option<String>>>>,
    /// Typed columns of every batch.
    pub typed: Vec<Vec<ArrayData>>,
}

/// Runs the decoding path over `pieces`.
pub fn decode(case: &Case<'_>, pieces: &[&[u8]]) -> Result<Decoded, DataError> {
    let csv = CsvOptions {
        delimiter: case.delimiter,
        encoding: case.encoding,
    };
    let pieces: Vec<Bytes> = pieces.iter().map(|p| Bytes::copy_from_slice(p)).collect();
    let (raw_header, batches) = read_all(&pieces, &csv, case.batch_rows)?;
    let Some(raw_header) = raw_header else {
        return Err(DataError::new(
            "empty input: there is no header line",
            Position::default(),
        ));
    };
    let header = clean_header(&raw_header);
    let mut stats = vec![ColumnStats::default(); header.len()];
    for b in &batches {
        assert_eq!(b.columns.len(), header.len(), "batch width");
        for (s, c) in stats.iter_mut().zip(&b.columns) {
            s.observe_array(c);
        }
    }
    let options = SchemaOptions {
        layout: case.layout,
        infer_rows: InferRows::All,
        ..SchemaOptions::default()
    };
    let plan = decide_plan(&header, &stats, &options).expect("no overrides, no usage error");
    let schema = plan.arrow_schema();
    let mut text = Vec::new();
    let mut typed = Vec::new();
    for b in &batches {
        let mut columns: Vec<ArrayRef> = Vec::new();
        for (j, planned) in plan.columns.iter().enumerate() {
            let array = convert_column(&b.columns[j], planned.ty).unwrap_or_else(|m| {
                panic!(
                    "inference chose {} for column {:?} but {:?} does not convert",
                    planned.ty,
                    planned.name,
                    b.columns[j].value(m.row)
                )
            });
            columns.push(array);
        }
        if let Some((src, _)) = &plan.value_number {
            columns.push(number_column(&b.columns[*src]));
        }
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns)
            .expect("typed columns fit the schema");
        typed.push(batch.columns().iter().map(|c| c.to_data()).collect());
        text.push(
            (0..b.num_rows())
                .map(|r| {
                    b.columns
                        .iter()
                        .map(|c| c.is_valid(r).then(|| c.value(r).to_owned()))
                        .collect()
                })
                .collect(),
        );
    }
    Ok(Decoded {
        raw_header,
        schema: plan.describe(),
        text,
        typed,
    })
}

/// The decoding target: whole and split give the same result, errors point at bytes that are
/// really wrong, and what decodes agrees with the `csv` crate.
pub fn check_decode(input: &[u8]) {
    let Some(case) = Case::parse(input) else {
        return;
    };
    let whole = decode(&case, &[case.data]);
    let split = decode(&case, &case.pieces());
    assert_eq!(whole, split, "whole and split differ; cuts {:?}", case.cuts);
    let single: Vec<&[u8]> = case.data.chunks(1).collect();
    if case.cuts.len() + 1 != single.len() && case.data.len() <= 256 {
        let bytes = decode(&case, &single);
        assert_eq!(whole, bytes, "whole and byte by byte differ");
    }
    match &whole {
        Err(e) => check_error(&case, e),
        Ok(d) => check_against_csv_crate(&case, d),
    }
}

/// What the error says about the bytes must be true of them.
fn check_error(case: &Case<'_>, e: &DataError) {
    let data = case.data;
    assert!(!e.message.contains('\n'), "multi-line message: {e}");
    if let Some(line) = e.position.line {
        assert!(line >= 1, "{e}");
    }
    if let Some(c) = e.position.column {
        assert!(c >= 1, "{e}");
    }
    let Some(byte) = e.position.byte.map(|b| b as usize) else {
        return;
    };
    assert!(
        byte <= data.len(),
        "byte {byte} past the end ({}): {e}",
        data.len()
    );
    if e.message.starts_with("NUL byte") && case.encoding == InputEncoding::Utf8 {
        assert_eq!(data[byte], 0, "{e}");
    }
    if e.message.starts_with("invalid UTF-8") {
        assert!(
            std::str::from_utf8(&data[..byte]).is_ok(),
            "the bytes before the error are not valid: {e}"
        );
        assert!(
            std::str::from_utf8(&data[byte..]).is_err(),
            "the bytes from the error on are valid: {e}"
        );
    }
    if e.message.starts_with("bytes invalid in UTF-16LE") {
        assert_eq!(byte % 2, 0, "not at a code unit: {e}");
        assert!(
            encoding_rs::UTF_16LE
                .decode_without_bom_handling_and_without_replacement(&data[..byte])
                .is_some(),
            "the bytes before the error are not valid: {e}"
        );
    }
    if case.encoding == InputEncoding::Utf8
        && (e.message.starts_with("too many fields") || e.message.starts_with("unterminated"))
    {
        // Both point at the start of a field.
        assert!(byte < data.len(), "{e}");
        assert!(
            byte == 0
                || [case.delimiter, b'\n', b'\r'].contains(&data[byte - 1])
                || data[..byte].ends_with(b"\xEF\xBB\xBF"),
            "byte {byte} is not the start of a field: {e}"
        );
        if e.message.starts_with("unterminated") {
            assert_eq!(data[byte], b'"', "{e}");
        }
    }
}

/// Text decoded without error equals what the `csv` crate reads from the same UTF-8 (the
/// crate is more lenient, so only successes are compared).
fn check_against_csv_crate(case: &Case<'_>, d: &Decoded) {
    if case.encoding != InputEncoding::Utf8 {
        return;
    }
    // The crate strips one leading BOM, as the transcoder does.
    let text = case.data;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(case.delimiter)
        .has_headers(true)
        .from_reader(text);
    let header: Vec<String> = reader
        .byte_headers()
        .expect("the csv crate reads the header")
        .iter()
        .map(|f| String::from_utf8(f.to_vec()).expect("utf-8"))
        .collect();
    assert_eq!(header, d.raw_header, "header differs from the csv crate");
    let ours: Vec<&Vec<Option<String>>> = d.text.iter().flatten().collect();
    let mut n = 0;
    for record in reader.byte_records() {
        let record = record.unwrap_or_else(|e| panic!("the csv crate fails: {e}"));
        let theirs: Vec<Option<String>> = record
            .iter()
            .map(|f| (!f.is_empty()).then(|| String::from_utf8(f.to_vec()).expect("utf-8")))
            .collect();
        assert_eq!(
            Some(&&theirs),
            ours.get(n),
            "row {n} differs from the csv crate"
        );
        n += 1;
    }
    assert_eq!(n, ours.len(), "row count differs from the csv crate");
}

// ---- the real engine --------------------------------------------------------------------------

/// Pieces labelled as Anaplan chunks 0, 1, 2, ...
struct Chunks(Vec<Bytes>);

impl Source for Chunks {
    fn describe(&self) -> String {
        "fuzz input".to_owned()
    }

    fn open(&self) -> BoxFuture<'_, anaplan_parquet::Result<PieceStream>> {
        let pieces: Vec<_> = self
            .0
            .iter()
            .enumerate()
            .map(|(i, data)| {
                Ok(Piece {
                    data: data.clone(),
                    chunk: Some(i as u64),
                })
            })
            .collect();
        Box::pin(async move { Ok(futures::stream::iter(pieces).boxed()) })
    }

    fn replayable(&self) -> bool {
        true
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    })
}

/// What the engine wrote, read back: schema and every row.
#[derive(Debug, PartialEq)]
pub struct Written {
    /// (name, type) of every column.
    pub schema: Vec<(String, String)>,
    /// Every column, all rows.
    pub columns: Vec<ArrayData>,
}

/// Runs `convert::convert` on the pieces; checks that a failure leaves nothing behind.
pub fn engine_run(case: &Case<'_>, pieces: &[&[u8]]) -> Result<Written, Error> {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm")
    } else {
        tempfile::tempdir()
    }
    .expect("temp dir");
    let out = base.path().join("out.parquet");
    let destination = Destination::parse(out.to_str().expect("utf-8 path")).expect("destination");
    let options = EngineOptions {
        csv: CsvOptions {
            delimiter: case.delimiter,
            encoding: case.encoding,
        },
        schema: SchemaOptions {
            layout: case.layout,
            infer_rows: case.infer_rows,
            ..SchemaOptions::default()
        },
        parquet: ParquetOptions {
            compression: convert::Codec::None,
            ..ParquetOptions::default()
        },
        keep_input: None,
    };
    let source = Chunks(pieces.iter().map(|p| Bytes::copy_from_slice(p)).collect());
    let result = runtime().block_on(convert::convert(
        &source,
        &destination,
        &options,
        &RunContext::default(),
    ));
    let left: Vec<_> = std::fs::read_dir(base.path())
        .expect("read dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    match result {
        Err(e) => {
            assert!(left.is_empty(), "a failed run left {left:?}: {e}");
            Err(e)
        }
        Ok(summary) => {
            assert_eq!(left, ["out.parquet"], "files after a run");
            let file = std::fs::File::open(&out).expect("output");
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                    .expect("a Parquet file");
            let schema: SchemaRef = Arc::clone(reader.schema());
            let batches: Vec<RecordBatch> = reader
                .build()
                .expect("reader")
                .collect::<Result<_, _>>()
                .expect("batches");
            let all = arrow::compute::concat_batches(&schema, &batches).expect("concat");
            assert_eq!(summary.rows, all.num_rows() as u64, "summary rows");
            Ok(Written {
                schema: schema
                    .fields()
                    .iter()
                    .map(|f| (f.name().clone(), f.data_type().to_string()))
                    .collect(),
                columns: all.columns().iter().map(|c| c.to_data()).collect(),
            })
        }
    }
}

/// The engine target: whole and split give the same file or the same error (the chunk named
/// is the piece that holds the byte), the same as the decoding path with inference over every
/// row, and a failure leaves nothing behind.
pub fn check_engine(input: &[u8]) {
    let Some(case) = Case::parse(input) else {
        return;
    };
    let pieces = case.pieces();
    let whole = engine_run(&case, &[case.data]);
    let split = engine_run(&case, &pieces);
    match (&whole, &split) {
        (Ok(w), Ok(s)) => {
            assert_eq!(w, s, "whole and split wrote different files");
            let reference = decode(&case, &[case.data]).expect("the decoding path fails");
            let typed = concat_typed(&reference);
            let types: Vec<String> = w.schema.iter().map(|(_, t)| t.clone()).collect();
            assert_eq!(
                w.columns.len(),
                reference.schema.len(),
                "columns: {:?} vs {:?}",
                w.schema,
                reference.schema
            );
            if let Some(typed) = typed {
                assert_eq!(
                    w.columns, typed,
                    "values differ from the decoding path {types:?}"
                );
            } else {
                assert!(w.columns.iter().all(|c| c.is_empty()), "rows from nowhere");
            }
        }
        (Err(w), Err(s)) => {
            let (Some(wd), Some(sd)) = (w.as_data(), s.as_data()) else {
                assert!(
                    !matches!(w, Error::Internal(_)) && !matches!(s, Error::Internal(_)),
                    "internal error: {w} / {s}"
                );
                assert_eq!(w.to_string(), s.to_string());
                return;
            };
            let strip = |d: &DataError| {
                let mut d = d.clone();
                d.position.chunk = None;
                d
            };
            assert_eq!(strip(wd), strip(sd), "whole and split fail differently");
            let reference = decode(&case, &[case.data]).expect_err("the decoding path succeeds");
            assert_eq!(reference.message, wd.message);
            check_chunk(&case, &pieces, sd);
            check_chunk(&case, &[case.data], wd);
            assert!(!w.to_string().contains('\n'), "one line: {w}");
        }
        _ => panic!("whole: {whole:?}\nsplit: {split:?}"),
    }
}

/// The named chunk holds the named byte; when only the line is known, some chunk is named.
fn check_chunk(case: &Case<'_>, pieces: &[&[u8]], e: &DataError) {
    let Some(byte) = e.position.byte else {
        if e.position.line.is_some() && !case.data.is_empty() {
            assert!(e.position.chunk.is_some(), "no chunk: {e}");
        }
        return;
    };
    let mut start = 0u64;
    let mut expected = None;
    for (i, p) in pieces.iter().enumerate() {
        let end = start + p.len() as u64;
        if byte < end || (byte == end && i == pieces.len() - 1) {
            expected = Some(i as u64);
            break;
        }
        start = end;
    }
    assert_eq!(e.position.chunk, expected, "chunk of byte {byte}: {e}");
}

fn concat_typed(d: &Decoded) -> Option<Vec<ArrayData>> {
    if d.typed.is_empty() {
        return None;
    }
    let columns = d.typed[0].len();
    Some(
        (0..columns)
            .map(|j| {
                let arrays: Vec<ArrayRef> = d
                    .typed
                    .iter()
                    .map(|b| arrow::array::make_array(b[j].clone()))
                    .collect();
                let refs: Vec<&dyn Array> = arrays.iter().map(AsRef::as_ref).collect();
                arrow::compute::concat(&refs).expect("concat").to_data()
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_parse_and_cut() {
        let c = Case::parse(b"\x00\x03\x07a,b\n1,2\n").unwrap();
        assert_eq!(c.encoding, InputEncoding::Utf8);
        assert_eq!(c.delimiter, b',');
        assert_eq!(c.pieces().concat(), b"a,b\n1,2\n");
        assert!(c.pieces().iter().all(|p| !p.is_empty()));
        let every = Case::parse(b"\x02\xff\x00abcd").unwrap();
        assert_eq!(every.encoding, InputEncoding::Utf16Le);
        assert_eq!(every.pieces().len(), 4);
    }

    #[test]
    fn sample_inputs_pass_both_checks() {
        for input in [
            &b"\x00\x03\x07Line Items,Value\nA,1\nB,x\nC,2.5\n"[..],
            b"\x40\x05\x01a,b\n1,2\n3\n",
            b"\x80\xff\x00a,b\n1,\"2\n",
            b"\xc0\x02\x09a,b\n1,\xff\n",
            b"\x02\x04\x03\xff\xfea\x00,\x00b\x00\n\x001\x00,\x00\x00\xd8\n\x00",
        ] {
            check_decode(input);
            check_engine(input);
        }
    }
}

#[cfg(test)]
mod memory {
    use super::*;

    fn rss_kb() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
            .unwrap()
    }

    /// Memory after many conversions in one process, over the fuzz corpus of the engine
    /// target when there is one (`cargo test --release -- --ignored --nocapture`).
    #[test]
    #[ignore = "slow; prints memory use"]
    fn memory_stays_flat_over_many_conversions() {
        let mut inputs: Vec<Vec<u8>> = std::fs::read_dir("corpus/engine")
            .map(|d| {
                d.map(|e| std::fs::read(e.unwrap().path()).unwrap())
                    .collect()
            })
            .unwrap_or_default();
        if inputs.is_empty() {
            inputs.push(b"\x00\x03\x07Line Items,Value\nA,1\nB,x\nC,2.5\n".to_vec());
        }
        let per_round = inputs.len().max(2000);
        let rounds: usize = std::env::var("ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(6);
        for round in 1..=rounds {
            for input in inputs.iter().cycle().take(per_round) {
                if let Some(case) = Case::parse(input) {
                    let _ = engine_run(&case, &case.pieces());
                }
            }
            eprintln!("after {} runs: {} kB", round * per_round, rss_kb());
        }
    }
}
