//! Incremental transcoding of the input to UTF-8, one piece at a time.
//!
//! Pieces may cut a multi-byte character anywhere (Anaplan chunks are cut at arbitrary byte
//! offsets); the few bytes of an incomplete character are carried to the next piece. UTF-8
//! input is validated and passed through without copying; a leading byte-order mark of the
//! declared encoding is removed (UTF-8 and UTF-16LE; Latin-1 and Windows-1252 have none, so a
//! UTF-8 mark in a file declared as either is text, as the declaration says). A NUL character
//! is refused: CSV text never holds one, and a file full of them is almost always UTF-16 read
//! as UTF-8.
//!
//! On bad input [`Transcoder::feed`] still returns the valid UTF-8 that precedes the error, so
//! the caller can decode it first and learn the line and column where the error sits.

use bytes::Bytes;

/// Text encodings accepted on input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InputEncoding {
    /// UTF-8 (a BOM is stripped).
    #[default]
    Utf8,
    /// UTF-16 little endian (a BOM is stripped).
    Utf16Le,
    /// ISO-8859-1 (Latin-1): every byte is the code point of the same value.
    Latin1,
    /// Windows-1252.
    Windows1252,
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Why the input could not be transcoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TranscodeError {
    /// What is wrong.
    pub(crate) message: String,
    /// Offset of the first offending byte in the raw input.
    pub(crate) byte: u64,
}

/// UTF-8 produced from one piece, plus the error that stopped it, if any.
#[derive(Debug, Default)]
pub(crate) struct Transcoded {
    /// Valid UTF-8, in order. Empty pieces are left out.
    pub(crate) parts: Vec<Bytes>,
    /// Set when the input turned bad after `parts`.
    pub(crate) error: Option<TranscodeError>,
}

/// An incremental transcoder for one input stream.
#[derive(Debug)]
pub(crate) struct Transcoder {
    encoding: InputEncoding,
    /// Raw bytes held back: the start of the input until the BOM question is settled, or an
    /// incomplete UTF-8 character at the end of the previous piece.
    carry: Vec<u8>,
    at_start: bool,
    /// Raw bytes behind the text emitted so far, the skipped BOM excluded. Error offsets are
    /// computed from it (not from what the pieces delivered, which includes bytes a decoder
    /// still holds), so they do not depend on where the input was cut.
    emitted: u64,
    /// The first raw bytes (up to 2), to know whether a UTF-16 BOM was removed.
    head: Vec<u8>,
    decoder: Option<encoding_rs::Decoder>,
    skipped: u64,
}

impl Transcoder {
    /// A transcoder for `encoding`.
    pub(crate) fn new(encoding: InputEncoding) -> Self {
        let decoder = match encoding {
            InputEncoding::Utf8 | InputEncoding::Latin1 => None,
            // `new_decoder_with_bom_removal` strips a BOM of the encoding itself.
            InputEncoding::Utf16Le => Some(encoding_rs::UTF_16LE.new_decoder_with_bom_removal()),
            InputEncoding::Windows1252 => {
                Some(encoding_rs::WINDOWS_1252.new_decoder_with_bom_removal())
            }
        };
        Transcoder {
            encoding,
            carry: Vec::new(),
            at_start: true,
            emitted: 0,
            head: Vec::new(),
            decoder,
            skipped: 0,
        }
    }

    /// Raw bytes dropped before the first decoded byte (a UTF-8 byte-order mark): decoded
    /// offsets plus this are raw offsets, for UTF-8 input.
    pub(crate) fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Offset in the raw input of the first byte not yet emitted as text.
    fn raw_offset(&self) -> u64 {
        let bom = match self.encoding {
            InputEncoding::Utf16Le if self.head == [0xFF, 0xFE] => 2,
            _ => self.skipped,
        };
        bom + self.emitted
    }

    /// How many raw bytes became this (valid UTF-8) text.
    fn raw_len(&self, text: &[u8]) -> u64 {
        let chars = || text.iter().filter(|&&b| b & 0xC0 != 0x80).count() as u64;
        match self.encoding {
            InputEncoding::Utf8 => text.len() as u64,
            // One byte per character.
            InputEncoding::Latin1 | InputEncoding::Windows1252 => chars(),
            // Two bytes per code unit; characters of 4 UTF-8 bytes are surrogate pairs.
            InputEncoding::Utf16Le => {
                2 * (chars() + text.iter().filter(|&&b| b >= 0xF0).count() as u64)
            }
        }
    }

    /// Transcodes the next piece of raw input.
    pub(crate) fn feed(&mut self, piece: &Bytes) -> Transcoded {
        let mut out = Transcoded::default();
        match self.encoding {
            InputEncoding::Utf8 => self.feed_utf8(piece, false, &mut out),
            InputEncoding::Latin1 => self.feed_latin1(piece, &mut out),
            InputEncoding::Utf16Le | InputEncoding::Windows1252 => {
                self.feed_decoder(piece, false, &mut out);
            }
        }
        out
    }

    /// Ends the input: anything still held back is either emitted or an error.
    pub(crate) fn finish(&mut self) -> Transcoded {
        let mut out = Transcoded::default();
        match self.encoding {
            InputEncoding::Utf8 => self.feed_utf8(&Bytes::new(), true, &mut out),
            InputEncoding::Latin1 => {}
            InputEncoding::Utf16Le | InputEncoding::Windows1252 => {
                self.feed_decoder(&Bytes::new(), true, &mut out);
            }
        }
        out
    }

    fn feed_utf8(&mut self, piece: &Bytes, last: bool, out: &mut Transcoded) {
        let mut data = piece.clone();
        if self.at_start {
            // Hold the first bytes back until we know whether they are a BOM.
            self.carry.extend_from_slice(&data);
            if self.carry.len() < UTF8_BOM.len() && !last {
                return;
            }
            self.at_start = false;
            let mut head = std::mem::take(&mut self.carry);
            if head.starts_with(UTF8_BOM) {
                head.drain(..UTF8_BOM.len());
                self.skipped = UTF8_BOM.len() as u64;
            }
            data = Bytes::from(head);
        } else if !self.carry.is_empty() {
            // Complete the character cut at the end of the previous piece.
            let width = utf8_width(self.carry[0]).max(self.carry.len());
            let need = width - self.carry.len();
            let take = need.min(data.len());
            self.carry.extend_from_slice(&data[..take]);
            data = data.slice(take..);
            if self.carry.len() < width && !last {
                return;
            }
            let head = Bytes::from(std::mem::take(&mut self.carry));
            if !self.check_utf8(&head, last, out) {
                return;
            }
        }
        self.check_utf8(&data, last, out);
    }

    /// Validates `data`; pushes its valid part. Returns false when an error was recorded.
    fn check_utf8(&mut self, data: &Bytes, last: bool, out: &mut Transcoded) -> bool {
        let valid = match simdutf8::compat::from_utf8(data) {
            Ok(_) => data.len(),
            Err(e) => match e.error_len() {
                None if !last => {
                    // An incomplete character at the end: hold it back for the next piece.
                    self.carry.extend_from_slice(&data[e.valid_up_to()..]);
                    e.valid_up_to()
                }
                _ => {
                    let good = e.valid_up_to();
                    if !self.push_checked(data.slice(..good), out) {
                        return false;
                    }
                    let bad = &data[good..data.len().min(good + e.error_len().unwrap_or(4))];
                    out.error = Some(TranscodeError {
                        message: format!(
                            "invalid UTF-8 byte sequence {} (is the file in another encoding? see --encoding)",
                            hex_bytes(bad)
                        ),
                        byte: self.raw_offset(),
                    });
                    return false;
                }
            },
        };
        self.push_checked(data.slice(..valid), out)
    }

    fn feed_latin1(&mut self, piece: &Bytes, out: &mut Transcoded) {
        if piece.is_ascii() {
            self.push_checked(piece.clone(), out);
            return;
        }
        let mut s = String::with_capacity(piece.len() + piece.len() / 8);
        s.extend(piece.iter().map(|&b| char::from(b)));
        self.push_checked(Bytes::from(s), out);
    }

    fn feed_decoder(&mut self, piece: &Bytes, last: bool, out: &mut Transcoded) {
        let Some(mut decoder) = self.decoder.take() else {
            return;
        };
        if self.head.len() < 2 {
            let take = (2 - self.head.len()).min(piece.len());
            self.head.extend_from_slice(&piece[..take]);
        }
        let mut input: &[u8] = piece;
        loop {
            let cap = decoder
                .max_utf8_buffer_length_without_replacement(input.len())
                .unwrap_or(input.len() * 3 + 16);
            let mut buf = vec![0u8; cap.max(16)];
            let (result, read, written) =
                decoder.decode_to_utf8_without_replacement(input, &mut buf, last);
            buf.truncate(written);
            input = &input[read..];
            let done = match result {
                encoding_rs::DecoderResult::InputEmpty => true,
                encoding_rs::DecoderResult::OutputFull => false,
                encoding_rs::DecoderResult::Malformed(..) => {
                    // The bad sequence starts right after the text decoded before it.
                    if self.push_checked(Bytes::from(buf), out) {
                        out.error = Some(TranscodeError {
                            message: format!(
                                "bytes invalid in {} (is the file in another encoding? see --encoding)",
                                encoding_name(self.encoding)
                            ),
                            byte: self.raw_offset(),
                        });
                    }
                    break;
                }
            };
            if !self.push_checked(Bytes::from(buf), out) || done {
                break;
            }
        }
        self.decoder = Some(decoder);
    }

    /// Pushes valid UTF-8 text, refusing a NUL character. Returns false when an error was
    /// recorded.
    fn push_checked(&mut self, data: Bytes, out: &mut Transcoded) -> bool {
        if let Some(nul) = memchr::memchr(0, &data) {
            if nul > 0 {
                out.parts.push(data.slice(..nul));
            }
            out.error = Some(TranscodeError {
                message: "NUL byte in the input: this is not CSV text (a UTF-16 file read as UTF-8? see --encoding)".into(),
                byte: self.raw_offset() + self.raw_len(&data[..nul]),
            });
            return false;
        }
        self.emitted += self.raw_len(&data);
        if !data.is_empty() {
            out.parts.push(data);
        }
        true
    }
}

fn encoding_name(e: InputEncoding) -> &'static str {
    match e {
        InputEncoding::Utf8 => "UTF-8",
        InputEncoding::Utf16Le => "UTF-16LE",
        InputEncoding::Latin1 => "ISO-8859-1",
        InputEncoding::Windows1252 => "Windows-1252",
    }
}

/// Length of a UTF-8 sequence from its first byte (1 for bytes that cannot start one, so the
/// validator reports them).
fn utf8_width(b: u8) -> usize {
    match b {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

fn hex_bytes(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("0x{x:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` cut at `cuts` and returns the UTF-8 text or the error.
    fn run(enc: InputEncoding, input: &[u8], cuts: &[usize]) -> Result<String, TranscodeError> {
        let mut t = Transcoder::new(enc);
        let mut text = Vec::new();
        let mut prev = 0;
        for &c in cuts.iter().chain(std::iter::once(&input.len())) {
            let out = t.feed(&Bytes::copy_from_slice(&input[prev..c]));
            for p in out.parts {
                text.extend_from_slice(&p);
            }
            if let Some(e) = out.error {
                return Err(e);
            }
            prev = c;
        }
        let out = t.finish();
        for p in out.parts {
            text.extend_from_slice(&p);
        }
        if let Some(e) = out.error {
            return Err(e);
        }
        Ok(String::from_utf8(text).expect("valid"))
    }

    fn all_cuts(enc: InputEncoding, input: &[u8], expected: &str) {
        assert_eq!(run(enc, input, &[]).unwrap(), expected);
        for i in 0..=input.len() {
            assert_eq!(run(enc, input, &[i]).unwrap(), expected, "cut at {i}");
            for j in i..=input.len() {
                assert_eq!(run(enc, input, &[i, j]).unwrap(), expected, "cuts {i},{j}");
            }
        }
    }

    #[test]
    fn utf8_split_anywhere_and_bom_stripped() {
        let text = "Region,Value\nZürich,1\nSão Paulo,2\n€,😀\n";
        all_cuts(InputEncoding::Utf8, text.as_bytes(), text);
        let mut with_bom = UTF8_BOM.to_vec();
        with_bom.extend_from_slice(text.as_bytes());
        all_cuts(InputEncoding::Utf8, &with_bom, text);
        // A BOM only at the very start.
        let inner = format!("a\n{}b\n", "\u{feff}");
        all_cuts(InputEncoding::Utf8, inner.as_bytes(), &inner);
    }

    #[test]
    fn tiny_inputs() {
        all_cuts(InputEncoding::Utf8, b"", "");
        all_cuts(InputEncoding::Utf8, b"a", "a");
        all_cuts(InputEncoding::Utf8, UTF8_BOM, "");
        all_cuts(InputEncoding::Utf8, "é".as_bytes(), "é");
    }

    #[test]
    fn utf16le_with_bom_split_anywhere() {
        let text = "Region,Value\nZürich,1\n😀,2\n";
        let mut bytes = vec![0xFF, 0xFE];
        for u in text.encode_utf16() {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        all_cuts(InputEncoding::Utf16Le, &bytes, text);
    }

    #[test]
    fn latin1_and_windows1252() {
        let bytes = b"Z\xFCrich,\x80\n";
        assert_eq!(
            run(InputEncoding::Latin1, bytes, &[3]).unwrap(),
            "Zürich,\u{80}\n"
        );
        assert_eq!(
            run(InputEncoding::Windows1252, bytes, &[3]).unwrap(),
            "Zürich,€\n"
        );
    }

    #[test]
    fn invalid_utf8_reports_the_offset_and_keeps_the_valid_prefix() {
        let input = b"a,b\nok,\xFF\n";
        for cut in 0..=input.len() {
            let mut t = Transcoder::new(InputEncoding::Utf8);
            let mut text = Vec::new();
            let mut err = None;
            for piece in [&input[..cut], &input[cut..]] {
                let out = t.feed(&Bytes::copy_from_slice(piece));
                out.parts.iter().for_each(|p| text.extend_from_slice(p));
                if out.error.is_some() {
                    err = out.error;
                    break;
                }
            }
            let err = err.expect("error");
            assert_eq!(err.byte, 7, "cut {cut}");
            assert!(err.message.contains("0xFF"), "{}", err.message);
            assert_eq!(text, b"a,b\nok,", "cut {cut}");
        }
    }

    #[test]
    fn truncated_character_at_the_end_is_an_error() {
        let err = run(InputEncoding::Utf8, b"a,\xC3", &[]).unwrap_err();
        assert_eq!(err.byte, 2);
    }

    #[test]
    fn nul_is_refused_with_a_hint() {
        let err = run(InputEncoding::Utf8, b"a,b\n1,\x002\n", &[5]).unwrap_err();
        assert_eq!(err.byte, 6);
        assert!(err.message.contains("UTF-16"));
        // UTF-16 text read as UTF-8 trips the same check.
        let utf16: Vec<u8> = "a,b\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert!(run(InputEncoding::Utf8, &utf16, &[]).is_err());
    }

    /// The error of `input`, which must be the same wherever the input is cut (once or twice).
    fn error_at_every_cut(enc: InputEncoding, input: &[u8]) -> TranscodeError {
        let whole = run(enc, input, &[]).expect_err("an error");
        for i in 0..=input.len() {
            for j in i..=input.len() {
                let e = run(enc, input, &[i, j]).expect_err("an error");
                assert_eq!(e, whole, "{enc:?} {input:?} cut at {i}, {j}");
            }
        }
        whole
    }

    fn utf16(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    /// Regression (fuzz, corpus `utf16le_odd_length`): error offsets came from the bytes the
    /// pieces delivered, which include bytes a decoder still held, so they depended on the cuts
    /// and an odd last byte was reported one past the end.
    #[test]
    fn error_offsets_do_not_depend_on_cuts() {
        let with_bom = |b: &[u8]| [&[0xFF, 0xFE][..], b].concat();
        let cases: Vec<(InputEncoding, Vec<u8>, u64)> = vec![
            // An odd last byte.
            (
                InputEncoding::Utf16Le,
                with_bom(&[utf16("a,b\n1,2\n"), vec![b'3']].concat()),
                18,
            ),
            (
                InputEncoding::Utf16Le,
                [utf16("a,b\n"), vec![b'3']].concat(),
                8,
            ),
            // An unpaired high surrogate, then an unpaired low one.
            (
                InputEncoding::Utf16Le,
                with_bom(&[utf16("a,😀\n"), vec![0x00, 0xD8], utf16("x")].concat()),
                12,
            ),
            (
                InputEncoding::Utf16Le,
                [utf16("é"), vec![0x00, 0xDC]].concat(),
                2,
            ),
            // NUL characters after multi-byte characters.
            (InputEncoding::Utf16Le, with_bom(&utf16("€😀,\0")), 10),
            (InputEncoding::Latin1, b"\xFC\xE9,\x00".to_vec(), 3),
            (InputEncoding::Windows1252, b"\x80\xE9,\x00".to_vec(), 3),
            (InputEncoding::Utf8, "é,\0".as_bytes().to_vec(), 3),
            (InputEncoding::Utf8, b"\xEF\xBB\xBFa\xC3".to_vec(), 4),
        ];
        for (enc, input, byte) in cases {
            let e = error_at_every_cut(enc, &input);
            assert_eq!(e.byte, byte, "{enc:?} {input:?}: {}", e.message);
        }
    }

    #[test]
    fn invalid_utf16_is_an_error() {
        // An unpaired high surrogate.
        let bytes = [b'a', 0, 0x00, 0xD8, b'b', 0];
        assert!(run(InputEncoding::Utf16Le, &bytes, &[]).is_err());
    }
}
