//! The push CSV decoder: UTF-8 bytes cut anywhere in, columns of text out.
//!
//! [`CsvDecoder::decode`] takes any slice of the input (a record, a quoted field or a line
//! break may be cut anywhere) and returns how many bytes it used; it stops early when a batch
//! is full, and [`CsvDecoder::flush`] then hands the batch over as one [`StringArray`] per
//! column. [`CsvDecoder::finish`] ends the input (a last record without a line break counts).
//! There is no I/O here.
//!
//! The dialect is RFC 4180 with the usual tolerances: a configurable delimiter; fields quoted
//! with `"` where needed or everywhere, `""` inside quotes for a quote; quoted fields may hold
//! delimiters and line breaks; records end with LF, CRLF or a lone CR; blank lines are
//! skipped; a `"` inside an unquoted field is an ordinary character. A character after a
//! closing quote other than a delimiter or a line break is an error, as is an unterminated
//! quote. An empty field, quoted or not, is null.
//!
//! The first record is the header; every later record must have as many fields. The decoder
//! keeps the physical line and byte offset of every record it is in, so every error names the
//! line, the column and the byte.

use std::sync::Arc;

use arrow::array::StringArray;
use arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};

use crate::error::{DataError, Position};

/// Batches are flushed early when one column holds this many bytes of text, so a column
/// of huge fields cannot overflow 32-bit offsets or hold too much memory.
const MAX_BATCH_COLUMN_BYTES: usize = 32 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At the start of a field.
    FieldStart,
    /// Inside an unquoted field.
    Unquoted,
    /// Inside a quoted field.
    Quoted,
    /// Just after a `"` inside a quoted field: an escaped quote or the closing quote.
    QuoteInQuoted,
    /// Just after a CR that ended a record: a following LF belongs to it.
    AfterCr,
}

/// One column being filled.
#[derive(Debug, Default)]
struct ColumnBuilder {
    values: Vec<u8>,
    offsets: Vec<i32>,
    valid: Vec<bool>,
}

impl ColumnBuilder {
    fn with_capacity(rows: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        ColumnBuilder {
            values: Vec::with_capacity(bytes),
            offsets,
            valid: Vec::with_capacity(rows),
        }
    }

    /// Takes the first `rows` values as an array; entries of a record still being read stay.
    fn finish(&mut self, rows: usize) -> StringArray {
        let cut = self.offsets[rows] as usize;
        let mut tail = ColumnBuilder::with_capacity(self.valid.len().max(16), self.values.len());
        tail.values.extend_from_slice(&self.values[cut..]);
        for &o in &self.offsets[rows + 1..] {
            tail.offsets.push(o - cut as i32);
        }
        for &v in &self.valid[rows..] {
            tail.valid.push(v);
        }
        let mut done = std::mem::replace(self, tail);
        done.values.truncate(cut);
        done.offsets.truncate(rows + 1);
        done.valid.truncate(rows);
        let nulls = done
            .valid
            .iter()
            .any(|v| !v)
            .then(|| NullBuffer::from(std::mem::take(&mut done.valid)));
        let offsets = OffsetBuffer::new(ScalarBuffer::from(done.offsets));
        StringArray::try_new(offsets, Buffer::from_vec(done.values), nulls)
            .expect("the decoder only cuts fields at ASCII bytes of valid UTF-8")
    }
}

/// A batch of records as text, one array per column.
#[derive(Debug, Clone)]
pub struct TextBatch {
    /// One array per column, all of the same length.
    pub columns: Vec<Arc<StringArray>>,
    /// 0-based index of the batch's first data row in the whole input.
    pub first_row: u64,
    /// Physical line (1-based) where each row starts.
    pub lines: Vec<u64>,
}

impl TextBatch {
    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.lines.len()
    }
}

/// The push decoder.
#[derive(Debug)]
pub(crate) struct CsvDecoder {
    delimiter: u8,
    batch_rows: usize,
    state: State,
    /// Header fields, while the first record is read.
    header: Option<Vec<String>>,
    header_done: bool,
    /// The field being read when it belongs to the header.
    scratch: Vec<u8>,
    columns: Vec<ColumnBuilder>,
    /// Index of the field being read in the current record.
    field: usize,
    /// Bytes of the current field seen so far (0 for an empty field).
    field_len: usize,
    /// Whether any byte of the current record was read (blank lines are skipped).
    in_record: bool,
    /// Physical line of the parse point (1-based).
    line: u64,
    /// Offset of the parse point in the decoded input.
    byte: u64,
    record_line: u64,
    record_byte: u64,
    quote_line: u64,
    quote_byte: u64,
    /// Where the current field starts.
    field_line: u64,
    field_byte: u64,
    lines: Vec<u64>,
    rows_total: u64,
    batch_first_row: u64,
    full: bool,
    failed: bool,
}

impl CsvDecoder {
    /// A decoder for `delimiter`, producing batches of at most `batch_rows` rows.
    pub(crate) fn new(delimiter: u8, batch_rows: usize) -> Self {
        assert!(batch_rows > 0, "batch_rows must be positive");
        CsvDecoder {
            delimiter,
            batch_rows,
            state: State::FieldStart,
            header: Some(Vec::new()),
            header_done: false,
            scratch: Vec::new(),
            columns: Vec::new(),
            field: 0,
            field_len: 0,
            in_record: false,
            line: 1,
            byte: 0,
            record_line: 1,
            record_byte: 0,
            quote_line: 1,
            quote_byte: 0,
            field_line: 1,
            field_byte: 0,
            lines: Vec::with_capacity(batch_rows),
            rows_total: 0,
            batch_first_row: 0,
            full: false,
            failed: false,
        }
    }

    /// The header, once the first record is complete.
    pub(crate) fn header(&self) -> Option<&[String]> {
        if self.header_done {
            self.header.as_deref()
        } else {
            None
        }
    }

    /// Where the parse point is now: line, byte and the field being read.
    pub(crate) fn position(&self) -> Position {
        let column = if self.header_done || self.field > 0 {
            Some(self.field + 1)
        } else {
            None
        };
        Position {
            line: Some(self.line),
            byte: Some(self.byte),
            column,
            column_name: column.and_then(|c| self.column_name(c - 1)),
            ..Position::default()
        }
    }

    fn column_name(&self, idx: usize) -> Option<String> {
        if self.header_done {
            self.header.as_ref().and_then(|h| h.get(idx).cloned())
        } else {
            None
        }
    }

    /// Decodes as much of `input` as fits in the current batch. Returns the bytes used; fewer
    /// than `input.len()` means the batch is full and must be flushed.
    pub(crate) fn decode(&mut self, input: &[u8]) -> Result<usize, DataError> {
        if self.failed {
            return Err(DataError::new(
                "decoder used after an error",
                Position::default(),
            ));
        }
        let r = self.decode_inner(input);
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    fn decode_inner(&mut self, input: &[u8]) -> Result<usize, DataError> {
        let d = self.delimiter;
        let n = input.len();
        let mut i = 0;
        let start_byte = self.byte;
        while i < n {
            if self.full {
                break;
            }
            match self.state {
                State::FieldStart => {
                    let b = input[i];
                    self.field_line = self.line;
                    self.field_byte = start_byte + i as u64;
                    if b == b'"' {
                        self.in_record = true;
                        self.quote_line = self.line;
                        self.quote_byte = start_byte + i as u64;
                        self.state = State::Quoted;
                        i += 1;
                    } else if b == d {
                        self.in_record = true;
                        self.byte = start_byte + i as u64;
                        self.end_field()?;
                        i += 1;
                    } else if b == b'\n' || b == b'\r' {
                        self.byte = start_byte + i as u64;
                        if self.in_record {
                            self.end_field()?;
                            self.end_record()?;
                        }
                        self.line += 1;
                        self.state = if b == b'\r' {
                            State::AfterCr
                        } else {
                            State::FieldStart
                        };
                        i += 1;
                        self.mark_record_start(start_byte + i as u64);
                    } else {
                        self.in_record = true;
                        self.state = State::Unquoted;
                    }
                }
                State::Unquoted => {
                    let rest = &input[i..];
                    let end = memchr::memchr3(d, b'\n', b'\r', rest).unwrap_or(rest.len());
                    self.push_bytes(&rest[..end]);
                    i += end;
                    if i < n {
                        // The terminator is handled as at the start of a field.
                        self.state = State::FieldStart;
                        let b = input[i];
                        self.byte = start_byte + i as u64;
                        self.end_field()?;
                        i += 1;
                        if b != d {
                            self.end_record()?;
                            self.line += 1;
                            self.state = if b == b'\r' {
                                State::AfterCr
                            } else {
                                State::FieldStart
                            };
                            self.mark_record_start(start_byte + i as u64);
                        }
                    }
                }
                State::Quoted => {
                    let rest = &input[i..];
                    let end = memchr::memchr(b'"', rest).unwrap_or(rest.len());
                    let run = &rest[..end];
                    self.line += memchr::memchr_iter(b'\n', run).count() as u64;
                    self.push_bytes(run);
                    i += end;
                    if i < n {
                        self.state = State::QuoteInQuoted;
                        i += 1;
                    }
                }
                State::QuoteInQuoted => {
                    let b = input[i];
                    if b == b'"' {
                        self.push_bytes(b"\"");
                        self.state = State::Quoted;
                        i += 1;
                    } else if b == d || b == b'\n' || b == b'\r' {
                        self.state = State::Unquoted;
                        // Let the unquoted branch end the field at this terminator.
                    } else {
                        self.byte = start_byte + i as u64;
                        return Err(self.error(format!(
                            "unexpected character {:?} after a closing quote (a quote inside a quoted field must be doubled)",
                            char_at(input, i)
                        )));
                    }
                }
                State::AfterCr => {
                    if input[i] == b'\n' {
                        i += 1;
                        self.mark_record_start(start_byte + i as u64);
                    }
                    self.state = State::FieldStart;
                }
            }
        }
        self.byte = start_byte + i as u64;
        Ok(i)
    }

    fn mark_record_start(&mut self, byte: u64) {
        self.record_line = self.line;
        self.record_byte = byte;
    }

    #[inline]
    fn push_bytes(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.field_len += bytes.len();
        if self.header_done {
            if let Some(col) = self.columns.get_mut(self.field) {
                col.values.extend_from_slice(bytes);
            }
        } else {
            self.scratch.extend_from_slice(bytes);
        }
    }

    fn end_field(&mut self) -> Result<(), DataError> {
        if self.header_done {
            let ncols = self.columns.len();
            if self.field >= ncols {
                let pos = Position {
                    line: Some(self.field_line),
                    byte: Some(self.field_byte),
                    column: Some(self.field + 1),
                    ..Position::default()
                };
                return Err(DataError::new(
                    format!("too many fields: the header has {ncols} columns, this row has more"),
                    pos,
                ));
            }
            let col = &mut self.columns[self.field];
            col.valid.push(self.field_len > 0);
            let end = i32::try_from(col.values.len()).map_err(|_| {
                DataError::new("a batch of text is larger than 2 GiB", Position::default())
            })?;
            col.offsets.push(end);
        } else {
            let name = String::from_utf8(std::mem::take(&mut self.scratch))
                .map_err(|_| DataError::new("header is not valid UTF-8", Position::default()))?;
            self.header.get_or_insert_with(Vec::new).push(name);
        }
        self.field += 1;
        self.field_len = 0;
        Ok(())
    }

    fn end_record(&mut self) -> Result<(), DataError> {
        if !self.header_done {
            let ncols = self.header.as_ref().map_or(0, Vec::len);
            self.columns = (0..ncols)
                .map(|_| ColumnBuilder::with_capacity(self.batch_rows, self.batch_rows * 8))
                .collect();
            self.header_done = true;
        } else {
            let ncols = self.columns.len();
            if self.field != ncols {
                let found = self.field;
                let pos = Position {
                    line: Some(self.line),
                    byte: Some(self.byte),
                    column: Some(found + 1),
                    column_name: self.column_name(found),
                    ..Position::default()
                };
                return Err(DataError::new(
                    format!("too few fields: the header has {ncols} columns, this row has {found}"),
                    pos,
                ));
            }
            self.lines.push(self.record_line);
            self.rows_total += 1;
            if self.lines.len() >= self.batch_rows
                || self
                    .columns
                    .iter()
                    .any(|c| c.values.len() >= MAX_BATCH_COLUMN_BYTES)
            {
                self.full = true;
            }
        }
        self.field = 0;
        self.field_len = 0;
        self.in_record = false;
        Ok(())
    }

    fn error(&self, message: String) -> DataError {
        DataError::new(message, self.position())
    }

    /// Hands over the rows decoded since the last flush, if any.
    pub(crate) fn flush(&mut self) -> Option<TextBatch> {
        self.full = false;
        if self.lines.is_empty() {
            return None;
        }
        let rows = self.lines.len();
        let columns = self
            .columns
            .iter_mut()
            .map(|c| Arc::new(c.finish(rows)))
            .collect();
        let lines = std::mem::replace(&mut self.lines, Vec::with_capacity(self.batch_rows));
        let first_row = self.batch_first_row;
        self.batch_first_row = self.rows_total;
        Some(TextBatch {
            columns,
            first_row,
            lines,
        })
    }

    /// Ends the input. A last record without a line break is completed; an open quote is an
    /// error. Call [`CsvDecoder::flush`] afterwards for the last rows.
    pub(crate) fn finish(&mut self) -> Result<(), DataError> {
        if self.failed {
            return Err(DataError::new(
                "decoder used after an error",
                Position::default(),
            ));
        }
        match self.state {
            State::Quoted => {
                self.failed = true;
                let pos = Position {
                    line: Some(self.quote_line),
                    byte: Some(self.quote_byte),
                    column: Some(self.field + 1),
                    column_name: self.column_name(self.field),
                    ..Position::default()
                };
                return Err(DataError::new(
                    "unterminated quoted field: the input ends inside quotes opened here",
                    pos,
                ));
            }
            State::Unquoted | State::QuoteInQuoted => {
                self.end_field().inspect_err(|_| self.failed = true)?;
                self.end_record().inspect_err(|_| self.failed = true)?;
            }
            State::FieldStart if self.in_record => {
                // A record ending in a delimiter: its last field is empty.
                self.end_field().inspect_err(|_| self.failed = true)?;
                self.end_record().inspect_err(|_| self.failed = true)?;
            }
            State::FieldStart | State::AfterCr => {}
        }
        self.state = State::FieldStart;
        self.full = false;
        Ok(())
    }
}

fn char_at(input: &[u8], i: usize) -> char {
    let end = (i + 4).min(input.len());
    (i + 1..=end)
        .find_map(|e| std::str::from_utf8(&input[i..e]).ok())
        .and_then(|s| s.chars().next())
        .unwrap_or(char::REPLACEMENT_CHARACTER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::text::reader::{CsvOptions, read_all};
    use arrow::array::Array;
    use bytes::Bytes;
    use proptest::prelude::*;

    type Rows = Vec<Vec<Option<String>>>;

    fn s(v: &str) -> Option<String> {
        (!v.is_empty()).then(|| v.to_owned())
    }

    /// Decodes `input` cut at `cuts` (offsets, in order) through the reader: the header and
    /// every row.
    fn decode_all(
        input: &[u8],
        delimiter: u8,
        batch_rows: usize,
        cuts: &[usize],
    ) -> Result<(Vec<String>, Rows), DataError> {
        let mut pieces = Vec::new();
        let mut prev = 0;
        for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
            pieces.push(Bytes::copy_from_slice(&input[prev..cut.max(prev)]));
            prev = cut.max(prev);
        }
        let csv = CsvOptions {
            delimiter,
            ..CsvOptions::default()
        };
        let (header, batches) = read_all(&pieces, &csv, batch_rows)?;
        let rows = batches
            .iter()
            .flat_map(|b| {
                (0..b.num_rows()).map(|r| {
                    b.columns
                        .iter()
                        .map(|c| c.is_valid(r).then(|| c.value(r).to_owned()))
                        .collect()
                })
            })
            .collect();
        Ok((header.unwrap_or_default(), rows))
    }

    fn decode(input: &str) -> Result<(Vec<String>, Rows), DataError> {
        decode_all(input.as_bytes(), b',', 3, &[])
    }

    #[test]
    fn dialect_table() {
        let cases: &[(&str, &[&[&str]])] = &[
            ("a,b\n1,2\n", &[&["1", "2"]]),
            ("a,b\r\n1,2\r\n", &[&["1", "2"]]),
            ("a,b\r1,2\r3,4", &[&["1", "2"], &["3", "4"]]),
            ("a,b\n1,2", &[&["1", "2"]]),
            ("a,b\n\"1\",\"2\"\n", &[&["1", "2"]]),
            (
                "a,b\n\"x,y\",\"he said \"\"hi\"\"\"\n",
                &[&["x,y", "he said \"hi\""]],
            ),
            ("a,b\n\"line1\nline2\",z\n", &[&["line1\nline2", "z"]]),
            ("a,b\n\"crlf\r\ninside\",z\r\n", &[&["crlf\r\ninside", "z"]]),
            ("a,b\n,\n", &[&["", ""]]),
            ("a,b\n\"\",x\n", &[&["", "x"]]),
            ("a,b\n1,\n", &[&["1", ""]]),
            ("a,b\n1,", &[&["1", ""]]),
            ("a,b\n\n1,2\n\n\n3,4\n", &[&["1", "2"], &["3", "4"]]),
            ("a,b\n5\" tall,x\n", &[&["5\" tall", "x"]]),
            ("a,b\nZürich,São Paulo\n", &[&["Zürich", "São Paulo"]]),
            ("a,b\n 1 , 2 \n", &[&[" 1 ", " 2 "]]),
            ("a,b\n", &[]),
            ("a,b", &[]),
        ];
        for (input, expected) in cases {
            let (header, rows) = decode(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(header, vec!["a", "b"], "{input:?}");
            let expected: Rows = expected
                .iter()
                .map(|r| r.iter().map(|v| s(v)).collect())
                .collect();
            assert_eq!(rows, expected, "{input:?}");
        }
    }

    #[test]
    fn header_names_are_kept_as_they_are() {
        let (header, _) = decode("\"Line Items\",Zürich,\"a,b\",,Value\n").unwrap();
        assert_eq!(header, vec!["Line Items", "Zürich", "a,b", "", "Value"]);
    }

    #[test]
    fn tab_delimiter() {
        let (h, rows) = decode_all(b"a\tb\n1,5\t2\n", b'\t', 8, &[]).unwrap();
        assert_eq!(h, vec!["a", "b"]);
        assert_eq!(rows, vec![vec![s("1,5"), s("2")]]);
    }

    #[test]
    fn errors_name_line_column_and_byte() {
        let cases: &[(&str, &str, u64, usize, u64)] = &[
            // input, message fragment, line, column, byte
            ("a,b\n1,2\n3,4,5\n", "too many fields", 3, 3, 12),
            ("a,b\n1,2\n3\n", "too few fields", 3, 2, 9),
            ("a,b\n1,\"2\nmore\n", "unterminated quoted field", 2, 2, 6),
            ("a,b\n1,\"2\"x\n", "after a closing quote", 2, 2, 9),
            ("a,b\n\"multi\nline\",2,3\n", "too many fields", 3, 3, 19),
        ];
        for (input, fragment, line, column, byte) in cases {
            let err = decode(input).unwrap_err();
            assert!(err.message.contains(fragment), "{input:?}: {err}");
            assert_eq!(err.position.line, Some(*line), "{input:?}: {err}");
            assert_eq!(err.position.column, Some(*column), "{input:?}: {err}");
            assert_eq!(err.position.byte, Some(*byte), "{input:?}: {err}");
            // The same error wherever the input is cut.
            for cut in 0..=input.len() {
                let e2 = decode_all(input.as_bytes(), b',', 2, &[cut]).unwrap_err();
                assert_eq!(e2, err, "{input:?} cut at {cut}");
            }
        }
    }

    #[test]
    fn column_names_appear_in_errors() {
        let err = decode("Time,Value\n2024-01,1,2\n").unwrap_err();
        assert_eq!(err.position.column, Some(3));
        let err = decode("Time,Value\n2024-01\n").unwrap_err();
        assert_eq!(err.position.column_name.as_deref(), Some("Value"));
    }

    #[test]
    fn empty_input_has_no_header() {
        let (h, rows) = decode("").unwrap();
        assert!(h.is_empty());
        assert!(rows.is_empty());
        let (h, _) = decode("\n\n").unwrap();
        assert!(h.is_empty());
    }

    #[test]
    fn batches_record_lines_and_first_rows() {
        let input = Bytes::from_static(b"a\n1\n\"2\n2\"\n3\n4\n");
        let (_, batches) = read_all(&[input], &CsvOptions::default(), 2).unwrap();
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].lines, vec![2, 3]);
        assert_eq!(batches[1].lines, vec![5, 6]);
        assert_eq!(batches[1].first_row, 2);
    }

    /// Builds CSV text from rows, quoting where needed or everywhere.
    fn to_csv(header: &[String], rows: &[Vec<String>], quote_all: bool, crlf: bool) -> String {
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut out = String::new();
        let mut line = |fields: &[String]| {
            let cells: Vec<String> = fields
                .iter()
                .map(|f| {
                    if quote_all || f.contains([',', '"', '\n', '\r']) || f.is_empty() {
                        format!("\"{}\"", f.replace('"', "\"\""))
                    } else {
                        f.clone()
                    }
                })
                .collect();
            out.push_str(&cells.join(","));
            out.push_str(eol);
        };
        line(header);
        for r in rows {
            line(r);
        }
        out
    }

    fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9 ]{0,6}",
            "[a-zé€😀,\"\r\n ]{0,8}",
            Just(String::new()),
            Just("São Paulo".to_owned()),
            Just("a\r\nb".to_owned()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Any split of the input gives the same rows as the csv crate on the whole input.
        #[test]
        fn splits_match_the_csv_crate(
            rows in prop::collection::vec(prop::collection::vec(field(), 3), 0..12),
            quote_all in any::<bool>(),
            crlf in any::<bool>(),
            cuts in prop::collection::vec(0usize..400, 0..6),
            batch in 1usize..5,
        ) {
            let header: Vec<String> = vec!["x".into(), "y z".into(), "Value".into()];
            let text = to_csv(&header, &rows, quote_all, crlf);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(text.len())).collect();
            cuts.sort_unstable();
            let (h, got) = decode_all(text.as_bytes(), b',', batch, &cuts).unwrap();
            prop_assert_eq!(&h, &header);
            let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
            let expected: Rows = reader
                .records()
                .map(|r| r.unwrap().iter().map(s).collect())
                .collect();
            prop_assert_eq!(got, expected);
        }

        /// Arbitrary bytes never panic: they decode or give an error.
        #[test]
        fn arbitrary_input_never_panics(input in prop::collection::vec(any::<u8>(), 0..200), cut in 0usize..200) {
            let input: Vec<u8> = String::from_utf8_lossy(&input).into_owned().into_bytes();
            let cut = cut.min(input.len());
            let _ = decode_all(&input, b',', 2, &[cut]);
        }
    }

    #[test]
    fn every_split_point_of_a_tricky_input() {
        let text = "Versions,\"Line Items\",Value\r\n\"Actual\",\"Comment, long\",\"said \"\"hi\"\"\r\nnext\"\r\nBudget,Zürich 😀,\r\n";
        let whole = decode_all(text.as_bytes(), b',', 1, &[]).unwrap();
        assert_eq!(whole.1.len(), 2);
        for i in 0..=text.len() {
            for j in i..=text.len() {
                let got = decode_all(text.as_bytes(), b',', 1, &[i, j]).unwrap();
                assert_eq!(got, whole, "cuts {i},{j}");
            }
        }
    }
}
