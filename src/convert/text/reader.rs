//! The one text reader: raw pieces in (with the Anaplan chunk each came from), batches of text
//! columns out, every error placed in the raw input.
//!
//! [`TextReader`] drives the [`Transcoder`] and the [`CsvDecoder`] the same way for the engine's
//! decoder thread, the benches and the fuzz targets: [`TextReader::feed`] takes the next raw
//! piece, [`TextReader::finish`] ends the input, and [`TextReader::next_batch`] decodes until a
//! batch is full (or the input is used up). Batches are cut only when full, so they are the
//! same wherever the input was cut.
//!
//! Positions: the decoder counts bytes of UTF-8 text; for UTF-8 input those are raw offsets
//! (plus a skipped byte-order mark), and the chunk is the one holding that raw byte. For other
//! encodings the raw byte is unknown, but the chunk whose text holds the error is not.

use std::collections::VecDeque;

use bytes::{Buf, Bytes};

use super::decode::{CsvDecoder, TextBatch};
use super::transcode::{InputEncoding, TranscodeError, Transcoder};
use crate::error::DataError;

/// CSV dialect.
#[derive(Clone, Debug)]
pub struct CsvOptions {
    /// Field separator (`,` by default).
    pub delimiter: u8,
    /// Input encoding.
    pub encoding: InputEncoding,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: b',',
            encoding: InputEncoding::Utf8,
        }
    }
}

/// Where each labelled piece starts, as offsets in one stream (raw bytes, or decoded text):
/// maps an offset to the chunk that holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ChunkMap {
    /// (start offset, chunk), in increasing offsets.
    starts: Vec<(u64, u64)>,
}

impl ChunkMap {
    /// Records that `chunk` starts at `offset` (offsets must not decrease).
    pub(crate) fn push(&mut self, offset: u64, chunk: u64) {
        debug_assert!(self.starts.last().is_none_or(|&(s, _)| s <= offset));
        self.starts.push((offset, chunk));
    }

    /// The chunk of the last piece starting at or before `offset`; `None` before the first
    /// labelled piece.
    pub(crate) fn chunk_at(&self, offset: u64) -> Option<u64> {
        let idx = self.starts.partition_point(|&(start, _)| start <= offset);
        idx.checked_sub(1).map(|i| self.starts[i].1)
    }
}

/// What waits to be decoded, in input order.
#[derive(Debug)]
enum Queued {
    /// Valid UTF-8 text.
    Text(Bytes),
    /// The input turned bad here (after the text queued before it).
    Error(TranscodeError),
}

/// Raw pieces in, batches of text columns out: transcoding, CSV decoding and error positions.
#[derive(Debug)]
pub struct TextReader {
    transcoder: Transcoder,
    decoder: CsvDecoder,
    queue: VecDeque<Queued>,
    /// Decoded offsets are raw offsets (plus a skipped BOM).
    utf8: bool,
    /// Where each labelled piece starts in the raw input.
    raw_chunks: ChunkMap,
    raw_offset: u64,
    /// Where the text of each labelled piece starts in the decoded text.
    text_chunks: ChunkMap,
    text_offset: u64,
    /// The input turned bad: later pieces are not looked at.
    broken: bool,
    /// [`TextReader::finish`] was called; `done` once the decoder was told too.
    ending: bool,
    done: bool,
}

impl TextReader {
    /// A reader for `csv`, producing batches of at most `batch_rows` rows.
    pub fn new(csv: &CsvOptions, batch_rows: usize) -> Self {
        TextReader {
            transcoder: Transcoder::new(csv.encoding),
            decoder: CsvDecoder::new(csv.delimiter, batch_rows),
            queue: VecDeque::new(),
            utf8: csv.encoding == InputEncoding::Utf8,
            raw_chunks: ChunkMap::default(),
            raw_offset: 0,
            text_chunks: ChunkMap::default(),
            text_offset: 0,
            broken: false,
            ending: false,
            done: false,
        }
    }

    /// Takes the next raw piece; `chunk` labels its bytes for error positions.
    pub fn feed(&mut self, data: &Bytes, chunk: Option<u64>) {
        if self.broken || self.ending {
            return;
        }
        if let Some(c) = chunk {
            self.raw_chunks.push(self.raw_offset, c);
            self.text_chunks.push(self.text_offset, c);
        }
        self.raw_offset += data.len() as u64;
        let out = self.transcoder.feed(data);
        self.queue_text(out.parts, out.error);
    }

    /// Ends the input: call [`TextReader::next_batch`] until it returns `None` for the rest.
    pub fn finish(&mut self) {
        if self.ending {
            return;
        }
        if !self.broken {
            let out = self.transcoder.finish();
            self.queue_text(out.parts, out.error);
        }
        self.ending = true;
    }

    fn queue_text(&mut self, parts: Vec<Bytes>, error: Option<TranscodeError>) {
        for part in parts {
            debug_assert!(
                std::str::from_utf8(&part).is_ok(),
                "the transcoder gave bad UTF-8"
            );
            self.text_offset += part.len() as u64;
            self.queue.push_back(Queued::Text(part));
        }
        if let Some(e) = error {
            self.broken = true;
            self.queue.push_back(Queued::Error(e));
        }
    }

    /// The header as written in the input, once its record is complete.
    pub fn header(&self) -> Option<&[String]> {
        self.decoder.header()
    }

    /// The next full batch; after [`TextReader::finish`], the last rows too. `None` when the
    /// input given so far is used up: feed more, or, after `finish`, the input is done.
    pub fn next_batch(&mut self) -> Result<Option<TextBatch>, DataError> {
        while let Some(front) = self.queue.front_mut() {
            let text = match front {
                Queued::Text(text) => text,
                Queued::Error(_) => {
                    let Some(Queued::Error(e)) = self.queue.pop_front() else {
                        unreachable!("the front is an error");
                    };
                    return Err(self.transcode_error(e));
                }
            };
            let given = text.len();
            let used = match self.decoder.decode(text) {
                Ok(used) => used,
                Err(e) => return Err(self.locate(e)),
            };
            debug_assert!(used <= given, "decode used more than it was given");
            if used == given {
                self.queue.pop_front();
            } else {
                // The batch is full: hand it over, and go on from here next time.
                text.advance(used);
                let batch = self.decoder.flush();
                debug_assert!(
                    batch.is_some() || used > 0,
                    "the decoder stopped without a batch to flush"
                );
                if batch.is_some() {
                    return Ok(batch);
                }
            }
        }
        if self.ending && !self.done && !self.broken {
            self.done = true;
            self.decoder.finish().map_err(|e| self.locate(e))?;
            return Ok(self.decoder.flush());
        }
        Ok(None)
    }

    /// A transcoding error, at the line and column the decoder reached with the text before it.
    fn transcode_error(&self, e: TranscodeError) -> DataError {
        let mut position = self.decoder.position();
        position.byte = Some(e.byte);
        position.chunk = self.raw_chunks.chunk_at(e.byte);
        DataError::new(e.message, position)
    }

    /// Moves a decoder error's position from decoded text to the raw input (byte, chunk).
    fn locate(&self, mut e: DataError) -> DataError {
        let decoded = e.position.byte;
        if self.utf8 {
            e.position.byte = decoded.map(|b| b + self.transcoder.skipped());
            e.position.chunk = e.position.byte.and_then(|b| self.raw_chunks.chunk_at(b));
        } else {
            e.position.byte = None;
            e.position.chunk = decoded.and_then(|b| self.text_chunks.chunk_at(b));
        }
        e
    }
}

/// Reads a whole input given as pieces: the header as written (`None` for an input without
/// one) and every batch. For tests, the benches and the fuzz targets; the engine reads pieces
/// as they arrive.
pub fn read_all(
    pieces: &[Bytes],
    csv: &CsvOptions,
    batch_rows: usize,
) -> Result<(Option<Vec<String>>, Vec<TextBatch>), DataError> {
    let mut reader = TextReader::new(csv, batch_rows);
    let mut batches = Vec::new();
    for piece in pieces {
        reader.feed(piece, None);
        while let Some(batch) = reader.next_batch()? {
            batches.push(batch);
        }
    }
    reader.finish();
    while let Some(batch) = reader.next_batch()? {
        batches.push(batch);
    }
    Ok((reader.header().map(<[String]>::to_vec), batches))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_map_finds_the_piece_holding_an_offset() {
        let mut map = ChunkMap::default();
        assert_eq!(map.chunk_at(0), None);
        map.push(10, 0);
        map.push(20, 1);
        map.push(20, 2); // an empty piece: the later label wins
        map.push(35, 3);
        let cases = [
            (0, None),
            (9, None),
            (10, Some(0)),
            (19, Some(0)),
            (20, Some(2)),
            (34, Some(2)),
            (35, Some(3)),
            (u64::MAX, Some(3)),
        ];
        for (offset, chunk) in cases {
            assert_eq!(map.chunk_at(offset), chunk, "offset {offset}");
        }
    }

    fn chunks(pieces: &[&[u8]]) -> Vec<Bytes> {
        pieces.iter().map(|p| Bytes::copy_from_slice(p)).collect()
    }

    /// Feeds `pieces` as chunks 0, 1, ... and returns the first error.
    fn error_of(pieces: &[&[u8]], encoding: InputEncoding) -> DataError {
        let csv = CsvOptions {
            encoding,
            ..CsvOptions::default()
        };
        let mut reader = TextReader::new(&csv, 2);
        for (i, piece) in chunks(pieces).iter().enumerate() {
            reader.feed(piece, Some(i as u64));
            loop {
                match reader.next_batch() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) => return e,
                }
            }
        }
        reader.finish();
        loop {
            match reader.next_batch() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("no error"),
                Err(e) => return e,
            }
        }
    }

    #[test]
    fn errors_name_the_chunk_and_the_raw_byte() {
        // A decoder error in chunk 1, after a BOM: the byte counts the BOM.
        let e = error_of(
            &[b"\xEF\xBB\xBFa,b\n1,2\n", b"3,4,5\n"],
            InputEncoding::Utf8,
        );
        assert!(e.message.contains("too many fields"), "{e}");
        assert_eq!((e.position.chunk, e.position.byte), (Some(1), Some(15)));
        assert_eq!(e.position.line, Some(3));
        // A transcoding error: the line and column come from the text before it.
        let e = error_of(&[b"a,b\n1,", b"\xFF\n"], InputEncoding::Utf8);
        assert_eq!((e.position.chunk, e.position.byte), (Some(1), Some(6)));
        assert_eq!((e.position.line, e.position.column), (Some(2), Some(2)));
        // Another encoding: no raw byte, but the chunk of the text.
        let e = error_of(&[b"a,b\n1,2\n", b"3\n"], InputEncoding::Latin1);
        assert!(e.message.contains("too few fields"), "{e}");
        assert_eq!((e.position.chunk, e.position.byte), (Some(1), None));
    }

    #[test]
    fn batches_are_cut_only_when_full() {
        let text = b"h\n1\n2\n3\n4\n5\n";
        let whole = read_all(&chunks(&[text]), &CsvOptions::default(), 2).unwrap();
        let bytewise: Vec<&[u8]> = text.chunks(1).collect();
        let split = read_all(&chunks(&bytewise), &CsvOptions::default(), 2).unwrap();
        let sizes = |b: &[TextBatch]| b.iter().map(TextBatch::num_rows).collect::<Vec<_>>();
        assert_eq!(sizes(&whole.1), [2, 2, 1]);
        assert_eq!(sizes(&split.1), [2, 2, 1]);
        assert_eq!(whole.0, Some(vec!["h".to_owned()]));
    }

    #[test]
    fn an_input_without_a_header_has_none() {
        let (header, batches) = read_all(&[], &CsvOptions::default(), 2).unwrap();
        assert_eq!(header, None);
        assert!(batches.is_empty());
        let (header, _) = read_all(&chunks(&[b"a,b"]), &CsvOptions::default(), 2).unwrap();
        assert_eq!(header, Some(vec!["a".to_owned(), "b".to_owned()]));
    }
}
