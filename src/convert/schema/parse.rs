//! Text to typed values: the strict parsers behind both inference and conversion.
//!
//! Inference ([`classify`]) and conversion
//! ([`convert_column`](super::typed::convert_column)) use the very same parsers, so a
//! value that inference accepted always converts. The parsers are strict on purpose: a value is
//! only typed when the typed form holds exactly what the text said.
//!
//! - Boolean: `true` / `false`, any case.
//! - Int64: `-?(0|[1-9][0-9]*)` within the 64-bit range. A leading zero (`007`) or a `+` makes
//!   it text: codes must keep their digits. `-0` is not an int64 (an integer has no negative
//!   zero, so the sign would be lost); it is a float64, which keeps the sign.
//! - Float64: a decimal (`-12.5`, `.5`, `1e-3`) that a 64-bit float holds exactly, by one rule
//!   ([`parse_f64_exact`]): parsed to the nearest float and written back in its shortest
//!   round-trip form, it must be the same decimal value (same sign, significant digits and
//!   exponent: `1.50` and `1.5e0` are fine). So `0.1` is exact, while `0.1234567890123456789`
//!   (more digits than a float keeps), `1e-400` (underflows to 0), `1.23456789012345e-320` (a
//!   subnormal keeps fewer digits) and `1e400` (overflows) are not. Such values stay text (and
//!   still get a `Value_number`, which is approximate by nature).
//! - Date32: `YYYY-MM-DD`, a real calendar date in years 1 to 9999 (year 0 exists in no
//!   calendar that pyarrow, polars or Python can hold, so `0000-01-01` stays text).
//! - Timestamp: `YYYY-MM-DD HH:MM:SS` or with `T`, optional fraction of up to 6 digits
//!   (microseconds), no time zone, with a date as above.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

use super::types::{ColumnType, Fits};

/// The types a non-empty text value fits.
pub(crate) fn classify(s: &str) -> Fits {
    let b = s.as_bytes();
    let Some(&first) = b.first() else {
        return Fits::ALL;
    };
    let mut fits = Fits::NONE;
    match first {
        b't' | b'T' | b'f' | b'F' if parse_bool(s).is_some() => {
            fits = fits.with(ColumnType::Boolean);
        }
        b'0'..=b'9' | b'-' | b'.' => {
            if parse_i64(s).is_some() {
                fits = fits.with(ColumnType::Int64);
                // An integer is also a float only when the float holds it exactly (up to 15
                // digits always; beyond, only some: 123456789012345672 is not one).
                let digits = b.len() - usize::from(first == b'-');
                if digits <= 15 || parse_f64_exact(s).is_some() {
                    fits = fits.with(ColumnType::Float64);
                }
            } else if parse_f64_exact(s).is_some() {
                fits = fits.with(ColumnType::Float64);
            } else if parse_date(s).is_some() {
                fits = fits.with(ColumnType::Date32);
            } else if parse_timestamp(s).is_some() {
                fits = fits.with(ColumnType::Timestamp);
            }
        }
        _ => {}
    }
    fits
}

/// `true` / `false`, any case.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A strict integer: optional `-`, no leading zeros, within range, not `-0`.
pub(crate) fn parse_i64(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 19 || (digits[0] == b'0' && (digits.len() > 1 || neg)) {
        // `007` keeps its digits as text; `-0` keeps its sign as a float.
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let d = i64::from(d - b'0');
        v = if neg {
            v.checked_mul(10)?.checked_sub(d)?
        } else {
            v.checked_mul(10)?.checked_add(d)?
        };
    }
    Some(v)
}

/// The common case in one pass: `-?digits[.digits]` with at most 15 digits in all. The digits
/// form an integer below 2^53 and the scale a power of ten below 10^22, both exact as floats,
/// so one correctly rounded division gives exactly what a full parse would (Clinger's fast
/// path). Anything else returns `None` and takes the general route.
#[inline]
fn fast_decimal(s: &str) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let b = s.as_bytes();
    let neg = b.first() == Some(&b'-');
    let b = &b[usize::from(neg)..];
    if b.is_empty() || b.len() > 16 {
        return None;
    }
    let mut mantissa: u64 = 0;
    let mut int_digits = 0usize;
    let mut frac_digits = 0usize;
    let mut seen_point = false;
    for &c in b {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                if seen_point {
                    frac_digits += 1;
                } else {
                    int_digits += 1;
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => return None,
        }
    }
    let digits = int_digits + frac_digits;
    if digits == 0 || digits > 15 || (seen_point && frac_digits == 0) {
        return None;
    }
    // A leading zero is only allowed alone before the point: `0`, `0.5`, not `007`.
    if int_digits > 1 && b[0] == b'0' {
        return None;
    }
    let v = mantissa as f64 / POW10[frac_digits];
    Some(if neg { -v } else { v })
}

/// Checks the decimal grammar; returns the number of significant digits when it matches.
fn decimal_digits(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = &b[int_start..i];
    if int_digits.len() > 1 && int_digits[0] == b'0' {
        return None;
    }
    let mut frac_digits: &[u8] = &[];
    if i < b.len() && b[i] == b'.' {
        let f = i + 1;
        i = f;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = &b[f..i];
        if frac_digits.is_empty() {
            return None;
        }
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let e = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e || i - e > 4 {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    // Significant digits: all mantissa digits without leading and trailing zeros.
    let mut first = None;
    let mut last = 0;
    for (k, &d) in int_digits.iter().chain(frac_digits).enumerate() {
        if d != b'0' {
            first.get_or_insert(k);
            last = k;
        }
    }
    Some(first.map_or(0, |f| last - f + 1))
}

/// A decimal that a 64-bit float holds exactly: the one exactness rule (see the module docs)
/// behind inference, conversion and widening alike.
///
/// The rule is "the shortest round-trip form of the parsed float is the same decimal value";
/// the cheap cases are decided without formatting: with at most 15 significant digits, a value
/// in the normal range always round-trips (IEEE 754's 15-digit guarantee, which is why the
/// fast path needs no check), and a zero text always parses to a zero of its own sign. A
/// nonzero text that underflows to zero or lands among the subnormals (which keep fewer
/// digits) and a text with more digits are compared with the shortest form.
#[inline]
pub(crate) fn parse_f64_exact(s: &str) -> Option<f64> {
    if let Some(v) = fast_decimal(s) {
        return Some(v);
    }
    general_f64_exact(s)
}

/// [`parse_f64_exact`] past the fast path (exponents, more than 15 digits, text), kept out of
/// line so the converting loop stays small.
#[inline(never)]
fn general_f64_exact(s: &str) -> Option<f64> {
    let sig = decimal_digits(s)?;
    let v: f64 = s.parse().ok()?;
    if !v.is_finite() {
        return None;
    }
    let exact = if sig == 0 {
        true
    } else if v == 0.0 {
        // Underflow: a nonzero text became zero.
        false
    } else if sig <= 15 && v.abs() >= f64::MIN_POSITIVE {
        true
    } else {
        same_value(s, v)
    };
    exact.then_some(v)
}

/// Any decimal, approximated: what `Value_number` holds.
pub(crate) fn parse_f64_lenient(s: &str) -> Option<f64> {
    if let Some(v) = fast_decimal(s) {
        return Some(v);
    }
    decimal_digits(s)?;
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// True when the shortest round-trip representation of `v` is the same decimal value as the
/// text: same sign, significant digits and exponent (not the same string: `1.50` and `1.5e0`
/// are both `1.5`).
fn same_value(text: &str, v: f64) -> bool {
    normalize(text) == normalize(&format!("{v:e}"))
}

/// A decimal text's value as (negative, significant digits, decimal exponent of the first
/// digit); a zero is `(negative, "", 0)` whatever its exponent, keeping its sign (a float
/// keeps it too).
fn normalize(s: &str) -> (bool, String, i64) {
    let (neg, s) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(p) => (&s[..p], s[p + 1..].parse::<i64>().unwrap_or(0)),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all: String = int.chars().chain(frac.chars()).collect();
    let lead = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_matches('0').to_owned();
    if digits.is_empty() {
        return (neg, digits, 0);
    }
    let point = int.len() as i64 - lead as i64 + exp;
    (neg, digits, point)
}

/// `YYYY-MM-DD` as days since 1970-01-01.
pub(crate) fn parse_date(s: &str) -> Option<i32> {
    let d = parse_naive_date(s)?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from((d - epoch).num_days()).ok()
}

fn parse_naive_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = digits_value(&b[0..4])?;
    let m = digits_value(&b[5..7])?;
    let d = digits_value(&b[8..10])?;
    if y == 0 {
        return None;
    }
    NaiveDate::from_ymd_opt(y as i32, m, d)
}

fn digits_value(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// `YYYY-MM-DD[ T]HH:MM:SS[.ffffff]` as microseconds since the epoch (no time zone).
pub(crate) fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || (b[10] != b' ' && b[10] != b'T') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let date = parse_naive_date(&s[..10])?;
    let h = digits_value(&b[11..13])?;
    let mi = digits_value(&b[14..16])?;
    let sec = digits_value(&b[17..19])?;
    let micros = match &b[19..] {
        [] => 0,
        [b'.', frac @ ..] if !frac.is_empty() && frac.len() <= 6 => {
            digits_value(frac)? * 10u32.pow(6 - frac.len() as u32)
        }
        _ => return None,
    };
    let time = NaiveTime::from_hms_micro_opt(h, mi, sec, micros)?;
    Some(NaiveDateTime::new(date, time).and_utc().timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (fuzz): integers beyond 15 digits were classified as floats whatever their
    /// digits, so a column of them and decimals was typed float64, then failed to convert
    /// (an internal error after a second pass).
    #[test]
    fn big_integers_are_floats_only_when_exact() {
        for (text, float) in [
            ("123456789012345672", false),
            ("-123456789012345672", false),
            ("9007199254740993", false),
            ("9007199254740992", true),
            ("100000000000000000", true),
            ("999999999999999", true),
            ("-999999999999999", true),
        ] {
            let fits = classify(text);
            assert!(fits.contains(ColumnType::Int64), "{text}");
            assert_eq!(fits.contains(ColumnType::Float64), float, "{text}");
        }
    }

    #[test]
    fn column_types_join_by_intersection() {
        let join = |values: &[&str]| {
            values
                .iter()
                .fold(Fits::ALL, |acc, v| acc.and(classify(v)))
                .best()
        };
        assert_eq!(join(&["1", "2"]), ColumnType::Int64);
        assert_eq!(join(&["1", "2.5"]), ColumnType::Float64);
        assert_eq!(join(&["123456789012345672", "1"]), ColumnType::Int64);
        assert_eq!(join(&["123456789012345672", "2.5"]), ColumnType::Utf8);
        assert_eq!(join(&["1", "true"]), ColumnType::Utf8);
        assert_eq!(
            join(&["2024-01-01", "2024-01-01 00:00:00"]),
            ColumnType::Utf8
        );
        assert_eq!(join(&[]), ColumnType::Boolean);
    }

    #[test]
    fn exact_floats_round_trip_their_text() {
        for s in [
            "0.1",
            "98000.5",
            "-3.25",
            "123456789012345",
            "1e-7",
            "0.30000000000000004",
        ] {
            let v = parse_f64_exact(s).unwrap();
            assert_eq!(v, s.parse::<f64>().unwrap());
        }
        assert!(parse_f64_lenient("0.1234567890123456789").is_some());
    }

    #[test]
    fn the_fast_decimal_path_agrees_with_a_full_parse() {
        for s in [
            "0",
            "-0",
            "1",
            "0.5",
            ".5",
            "-.25",
            "98000.5",
            "-3.25",
            "123456789012345",
            "0.00000000000001",
            "99999999.999999",
            "4.35",
            "0.1",
            "0.7",
            "1.15",
        ] {
            let fast = fast_decimal(s).unwrap_or_else(|| panic!("{s} takes the fast path"));
            assert_eq!(fast.to_bits(), s.parse::<f64>().unwrap().to_bits(), "{s}");
        }
        for s in [
            "007",
            "1.",
            ".",
            "-",
            "1e5",
            "1234567890123456",
            "1,5",
            "+1",
            "0.1.2",
            "",
        ] {
            assert_eq!(fast_decimal(s), None, "{s}");
        }
    }

    proptest::proptest! {
        #[test]
        fn fast_decimal_is_exact(int in 0u64..10_000_000, frac in 0u64..10_000_000, scale in 0usize..8, neg in proptest::bool::ANY) {
            let text = format!("{}{int}.{frac:0scale$}", if neg { "-" } else { "" }, scale = scale.max(1));
            if let Some(v) = fast_decimal(&text) {
                proptest::prop_assert_eq!(v.to_bits(), text.parse::<f64>().unwrap().to_bits());
            }
        }
    }

    /// The exactness rule at its boundaries (issue 12): a text is typed float64 only when the
    /// float, written back in its shortest form, is the same decimal value.
    #[test]
    fn float_exactness_boundary_table() {
        let cases: &[(&str, bool)] = &[
            // 15, 16, 17 significant digits.
            ("0.123456789012345", true),
            ("1.23456789012345e10", true),
            ("0.1234567890123456", true),
            ("0.1234567890123457", true),
            ("9007199254740993", false),
            ("0.12345678901234567", false),
            ("0.30000000000000004", true),
            ("0.30000000000000003", false),
            // Trailing zeros and exponents do not change the value.
            ("1.50", true),
            ("1.5e0", true),
            ("15e-1", true),
            ("1.5000000000000000000000", true),
            // Large and small exponents in the normal range.
            ("1e308", true),
            ("1.7976931348623157e308", true),
            ("2.2250738585072014e-308", true),
            ("1e-307", true),
            // Overflow to infinity.
            ("1e309", false),
            ("1.7976931348623159e308", false),
            ("-1e400", false),
            // Subnormals keep fewer digits: exact only when the shortest form says the same.
            ("1.23456789012345e-320", false),
            ("1.2345e-320", false),
            ("1e-320", true),
            ("5e-324", true),
            ("4.9e-324", false),
            ("2.225073858507201e-308", true),
            // Underflow to zero.
            ("1e-400", false),
            ("-1e-400", false),
            ("2e-324", false),
            // Zeros, with their sign.
            ("0", true),
            ("0.0", true),
            ("0e-400", true),
            ("-0", true),
            ("-0.0", true),
            ("-0e5", true),
        ];
        for (text, exact) in cases {
            let parsed = parse_f64_exact(text);
            assert_eq!(parsed.is_some(), *exact, "{text}");
            assert_eq!(
                classify(text).contains(ColumnType::Float64),
                *exact,
                "{text}"
            );
            if let Some(v) = parsed {
                // The value written is the nearest float, sign included.
                assert_eq!(
                    v.to_bits(),
                    text.parse::<f64>().unwrap().to_bits(),
                    "{text}"
                );
            }
        }
        // Inexact but finite numbers are still numbers for `Value_number` (approximately).
        assert_eq!(parse_f64_lenient("1e-400"), Some(0.0));
        assert!(parse_f64_lenient("1.23456789012345e-320").is_some());
        assert_eq!(parse_f64_lenient("1e309"), None);
    }

    /// `-0` is not an int64 (an integer has no sign for zero); `0` is.
    #[test]
    fn negative_zero_is_a_float_not_an_integer() {
        assert_eq!(parse_i64("-0"), None);
        assert_eq!(parse_i64("0"), Some(0));
        assert_eq!(classify("-0").best(), ColumnType::Float64);
        assert_eq!(classify("0").best(), ColumnType::Int64);
        assert!(parse_f64_exact("-0").unwrap().is_sign_negative());
        assert!(parse_f64_exact("-0.0").unwrap().is_sign_negative());
    }

    #[test]
    fn dates_and_timestamps() {
        assert_eq!(parse_date("1970-01-02"), Some(1));
        assert_eq!(parse_date("1969-12-31"), Some(-1));
        assert_eq!(parse_timestamp("1970-01-01 00:00:01.5"), Some(1_500_000));
        assert_eq!(parse_timestamp("1970-01-01T00:00:00"), Some(0));
        // Years 1 to 9999 only: year 0 has no Python or pyarrow date.
        assert_eq!(parse_date("0000-01-01"), None);
        assert_eq!(parse_timestamp("0000-12-31 23:59:59"), None);
        assert!(parse_date("0001-01-01").is_some());
        assert!(parse_date("9999-12-31").is_some());
    }
}
