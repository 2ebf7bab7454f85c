//! CSV text written straight into byte buffers: field quoting (RFC 4180) and the digits of
//! integers, zero-padded numbers and decimals, without going through `format!`.

/// Appends `text` as a CSV field: quoted when `quote_all` or when it holds a comma, a quote or
/// a line break, with quotes doubled (RFC 4180).
pub(crate) fn encode_field(text: &str, quote_all: bool, out: &mut Vec<u8>) {
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
pub(super) fn write_u64(mut n: u64, out: &mut Vec<u8>) {
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
pub(super) fn write_padded(n: u64, width: usize, out: &mut Vec<u8>) {
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

pub(super) fn write_int(i: i64, out: &mut Vec<u8>) {
    if i < 0 {
        out.push(b'-');
    }
    write_u64(i.unsigned_abs(), out);
}

/// Appends `mantissa / 10^scale` without trailing zeros or exponent, like `f64`'s `Display`.
pub(super) fn write_decimal(mantissa: i64, scale: u32, out: &mut Vec<u8>) {
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
