//! The chart's shapes rasterised into an RGB image and written as a PNG (zlib through flate2,
//! which Parquet's gzip codec already brings; CRC-32 computed here).

use std::io::Write as _;

use super::font::glyph;
use super::shapes::{Anchor, Rgb, Shape};

/// An RGB image.
struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: u32, height: u32) -> Self {
        Canvas {
            width,
            height,
            pixels: vec![0xff; (width * height * 3) as usize],
        }
    }

    fn set(&mut self, x: i64, y: i64, c: Rgb) {
        if x < 0 || y < 0 || x >= i64::from(self.width) || y >= i64::from(self.height) {
            return;
        }
        let i = ((y as u32 * self.width + x as u32) * 3) as usize;
        self.pixels[i..i + 3].copy_from_slice(&c);
    }

    fn fill(&mut self, x: f64, y: f64, w: f64, h: f64, c: Rgb) {
        let (x0, y0) = (x.round() as i64, y.round() as i64);
        let (x1, y1) = ((x + w).round() as i64, (y + h).round() as i64);
        for py in y0..y1 {
            for px in x0..x1 {
                self.set(px, py, c);
            }
        }
    }

    fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, c: Rgb) {
        let steps = (x2 - x1).abs().max((y2 - y1).abs()).ceil().max(1.0) as i64;
        for i in 0..=steps {
            let t = i as f64 / steps as f64;
            let x = x1 + (x2 - x1) * t;
            let y = y1 + (y2 - y1) * t;
            self.set(x.round() as i64, y.round() as i64, c);
        }
    }

    fn text(&mut self, x: f64, y: f64, text: &str, size: f64, anchor: Anchor, c: Rgb) {
        let scale = (size / 7.0).round().max(1.0) as i64;
        let advance = 6 * scale;
        let width = advance * text.chars().count() as i64;
        let mut px = match anchor {
            Anchor::Start => x.round() as i64,
            Anchor::Middle => x.round() as i64 - width / 2,
            Anchor::End => x.round() as i64 - width,
        };
        let top = y.round() as i64 - 7 * scale;
        for ch in text.chars() {
            for (row, bits) in glyph(ch).iter().enumerate() {
                for col in 0..5 {
                    if bits & (0b10000 >> col) != 0 {
                        for dy in 0..scale {
                            for dx in 0..scale {
                                self.set(px + col * scale + dx, top + row as i64 * scale + dy, c);
                            }
                        }
                    }
                }
            }
            px += advance;
        }
    }
}

/// Draws `shapes` on a white `width` × `height` canvas and encodes it as a PNG.
pub(super) fn render(shapes: &[Shape], width: u32, height: u32) -> Vec<u8> {
    let mut canvas = Canvas::new(width, height);
    for shape in shapes {
        match shape {
            Shape::Rect {
                x,
                y,
                w,
                h,
                fill,
                stroke,
            } => {
                if let Some(c) = fill {
                    canvas.fill(*x, *y, *w, *h, *c);
                }
                if let Some(c) = stroke {
                    canvas.line(*x, *y, x + w, *y, *c);
                    canvas.line(x + w, *y, x + w, y + h, *c);
                    canvas.line(x + w, y + h, *x, y + h, *c);
                    canvas.line(*x, y + h, *x, *y, *c);
                }
            }
            Shape::Line {
                x1,
                y1,
                x2,
                y2,
                color,
            } => canvas.line(*x1, *y1, *x2, *y2, *color),
            Shape::Text {
                x,
                y,
                text,
                size,
                anchor,
                color,
            } => canvas.text(*x, *y, text, *size, *anchor, *color),
        }
    }
    encode(&canvas)
}

/// The PNG file of `canvas`: 8-bit RGB, no filtering, one zlib stream.
fn encode(canvas: &Canvas) -> Vec<u8> {
    let row = (canvas.width * 3) as usize;
    let mut raw = Vec::with_capacity((row + 1) * canvas.height as usize);
    for line in canvas.pixels.chunks(row) {
        raw.push(0); // filter: none
        raw.extend_from_slice(line);
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&raw).expect("writing to memory");
    let compressed = z.finish().expect("writing to memory");

    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::with_capacity(13);
    header.extend_from_slice(&canvas.width.to_be_bytes());
    header.extend_from_slice(&canvas.height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]); // 8 bits, RGB, deflate, no filter, no interlace
    chunk(&mut out, *b"IHDR", &header);
    chunk(&mut out, *b"IDAT", &compressed);
    chunk(&mut out, *b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: [u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(&kind);
    out.extend_from_slice(data);
    let mut crc = Crc32::new();
    crc.update(&kind);
    crc.update(data);
    out.extend_from_slice(&crc.finish().to_be_bytes());
}

/// CRC-32 (ISO 3309, as PNG uses), bit by bit: a chart has four chunks.
struct Crc32(u32);

impl Crc32 {
    fn new() -> Self {
        Crc32(0xffff_ffff)
    }

    fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.0 ^= u32::from(b);
            for _ in 0..8 {
                self.0 = if self.0 & 1 != 0 {
                    (self.0 >> 1) ^ 0xedb8_8320
                } else {
                    self.0 >> 1
                };
            }
        }
    }

    fn finish(&self) -> u32 {
        !self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_of_a_known_string() {
        let mut c = Crc32::new();
        c.update(b"123456789");
        assert_eq!(c.finish(), 0xcbf4_3926);
        let mut c = Crc32::new();
        c.update(b"IEND");
        assert_eq!(c.finish(), 0xae42_6082);
    }

    #[test]
    fn an_image_round_trips_through_zlib() {
        let mut canvas = Canvas::new(4, 2);
        canvas.set(1, 1, [1, 2, 3]);
        let png = encode(&canvas);
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(&png[16..20], &4u32.to_be_bytes());
        let len = u32::from_be_bytes(png[33..37].try_into().unwrap()) as usize;
        assert_eq!(&png[37..41], b"IDAT");
        let mut raw = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::ZlibDecoder::new(&png[41..41 + len]),
            &mut raw,
        )
        .unwrap();
        assert_eq!(raw.len(), 2 * (1 + 4 * 3));
        assert_eq!(&raw[13 + 1 + 3..13 + 1 + 6], &[1, 2, 3]);
    }
}
