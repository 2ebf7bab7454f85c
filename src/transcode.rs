//! Incremental transcoding of the input to UTF-8, one piece at a time.
//!
//! Pieces may cut a multi-byte character anywhere (Anaplan chunks are cut at arbitrary byte
//! offsets); the few bytes of an incomplete character are carried to the next piece. UTF-8
//! input is validated and passed through without copying; a leading byte-order mark is removed
//! in every encoding. A NUL character is refused: CSV text never holds one, and a file full of
//! them is almost always UTF-16 read as UTF-8.
//!
//! On bad input [`Transcoder::feed`] still returns the valid UTF-8 that precedes the error, so
//! the caller can decode it first and learn the line and column where the error sits.

use bytes::Bytes;

use crate::engine::InputEncoding;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Why the input could not be transcoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranscodeError {
    /// What is wrong.
    pub message: String,
    /// Offset of the first offending byte in the raw input.
    pub byte: u64,
}

/// UTF-8 produced from one piece, plus the error that stopped it, if any.
#[derive(Debug, Default)]
pub struct Transcoded {
    /// Valid UTF-8, in order. Empty pieces are left out.
    pub parts: Vec<Bytes>,
    /// Set when the input turned bad after `parts`.
    pub error: Option<TranscodeError>,
}

/// An incremental transcoder for one input stream.
#[derive(Debug)]
pub struct Transcoder {
    encoding: InputEncoding,
    /// Raw bytes held back: the start of the input until the BOM question is settled, or an
    /// incomplete UTF-8 character at the end of the previous piece.
    carry: Vec<u8>,
    at_start: bool,
    /// Offset in the raw input of the first byte not yet consumed (carry included).
    consumed: u64,
    decoder: Option<encoding_rs::Decoder>,
    skipped: u64,
}

impl Transcoder {
    /// A transcoder for `encoding`.
    pub fn new(encoding: InputEncoding) -> Self {
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
            consumed: 0,
            decoder,
            skipped: 0,
        }
    }

    /// Raw bytes dropped before the first decoded byte (a UTF-8 byte-order mark): decoded
    /// offsets plus this are raw offsets, for UTF-8 input.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Transcodes the next piece of raw input.
    pub fn feed(&mut self, piece: &Bytes) -> Transcoded {
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
    pub fn finish(&mut self) -> Transcoded {
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
                self.consumed += UTF8_BOM.len() as u64;
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
        let valid = match std::str::from_utf8(data) {
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
                        byte: self.consumed,
                    });
                    return false;
                }
            },
        };
        let carried = data.len() - valid;
        let ok = self.push_checked(data.slice(..valid), out);
        // The carried bytes stay counted as unconsumed.
        let _ = carried;
        ok
    }

    fn feed_latin1(&mut self, piece: &Bytes, out: &mut Transcoded) {
        if piece.is_ascii() {
            self.push_checked(piece.clone(), out);
            return;
        }
        let mut s = String::with_capacity(piece.len() + piece.len() / 8);
        s.extend(piece.iter().map(|&b| char::from(b)));
        // Offsets in the output differ from the input for non-ASCII bytes; NUL checks report
        // the output offset, which equals the input offset up to the first non-ASCII byte.
        self.push_checked_len(Bytes::from(s), piece.len() as u64, out);
    }

    fn feed_decoder(&mut self, piece: &Bytes, last: bool, out: &mut Transcoded) {
        let Some(mut decoder) = self.decoder.take() else {
            return;
        };
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
            let (raw, done) = match result {
                encoding_rs::DecoderResult::InputEmpty => (read as u64, true),
                encoding_rs::DecoderResult::OutputFull => (read as u64, false),
                encoding_rs::DecoderResult::Malformed(bad, _) => {
                    let raw = (read as u64).saturating_sub(u64::from(bad));
                    if self.push_checked_len(Bytes::from(buf), raw, out) {
                        out.error = Some(TranscodeError {
                            message: format!(
                                "bytes invalid in {} (is the file in another encoding? see --encoding)",
                                encoding_name(self.encoding)
                            ),
                            byte: self.consumed,
                        });
                    }
                    break;
                }
            };
            if !self.push_checked_len(Bytes::from(buf), raw, out) || done {
                break;
            }
        }
        self.decoder = Some(decoder);
    }

    /// Pushes valid UTF-8 whose raw length equals its length.
    fn push_checked(&mut self, data: Bytes, out: &mut Transcoded) -> bool {
        let len = data.len() as u64;
        self.push_checked_len(data, len, out)
    }

    /// Pushes valid UTF-8 that came from `raw_len` raw bytes, refusing a NUL character.
    fn push_checked_len(&mut self, data: Bytes, raw_len: u64, out: &mut Transcoded) -> bool {
        if let Some(nul) = memchr::memchr(0, &data) {
            if nul > 0 {
                out.parts.push(data.slice(..nul));
            }
            let at = if raw_len == data.len() as u64 {
                self.consumed + nul as u64
            } else {
                self.consumed
            };
            out.error = Some(TranscodeError {
                message: "NUL byte in the input: this is not CSV text (a UTF-16 file read as UTF-8? see --encoding)".into(),
                byte: at,
            });
            return false;
        }
        self.consumed += raw_len;
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

    #[test]
    fn invalid_utf16_is_an_error() {
        // An unpaired high surrogate.
        let bytes = [b'a', 0, 0x00, 0xD8, b'b', 0];
        assert!(run(InputEncoding::Utf16Le, &bytes, &[]).is_err());
    }
}
