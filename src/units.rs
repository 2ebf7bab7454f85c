//! The one parser for sizes and durations as people write them, and the one way to cut a long
//! text for a message. Flags, the jobs file, the simulator's config and its fault specs all use
//! these, so `64MB` means the same everywhere.

use std::time::Duration;

/// Parses a byte size. Decimal units are powers of 1000 and binary units powers of 1024, as
/// in `ls`, `df` and the SI: `1048576`, `512k` or `512kB` (512,000), `64MB` (64,000,000),
/// `64MiB` (67,108,864), `1.5GiB`, `2g`. Case does not matter; a space before the unit is
/// allowed.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("not a size: {s:?} (try 64MiB or 10MB)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit {other:?} in {s:?} (use B, kB, MB, GB, KiB, MiB or GiB)"
            ));
        }
    };
    let bytes = n * mult as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("size {s:?} is too large"));
    }
    Ok(bytes as u64)
}

/// Parses a duration: `90s`, `2m`, `1h 30m`, `500ms`, `7d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("not a duration: {s:?} ({e}); try 90s, 2m or 1h"))
}

/// `s` cut to at most `max` characters, with an ellipsis when cut (never inside a character).
pub fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((end, _)) => format!("{}…", &s[..end]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_decimal_and_binary() {
        for (s, n) in [
            ("1048576", 1_048_576),
            ("64MiB", 64 << 20),
            ("64MB", 64_000_000),
            ("64 mb", 64_000_000),
            ("1.5GiB", 3 << 29),
            ("512k", 512_000),
            ("10m", 10_000_000),
            ("4KiB", 4096),
            ("0", 0),
        ] {
            assert_eq!(parse_size(s), Ok(n), "{s}");
        }
        for bad in ["ten", "5 parsecs", "", "MB", "1e400GB"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration(" 90s "), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_mins(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        let e = parse_duration("soon").unwrap_err();
        assert!(e.contains("\"soon\"") && e.contains("try"), "{e}");
    }

    #[test]
    fn shorten_cuts_on_characters() {
        assert_eq!(shorten("abcdef", 3), "abc…");
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("éèêë", 2), "éè…");
        assert_eq!(shorten("", 0), "");
    }
}
