//! Parsers for argument values: identifiers, names, durations, sizes, timestamps. Each returns
//! a message clap prints as a usage error (exit 2).

use std::time::{Duration, UNIX_EPOCH};

use whippet_client::Dialect;
use whippet_client::protocol::types::Identifier;

/// Longest name (stream, topic, group, user, token) the protocol can carry, in bytes.
const NAME_LENGTH_MAX: usize = 255;

/// A stream, topic, group or user: all digits means a numeric id, anything else a name.
pub fn identifier(text: &str) -> Result<Identifier, String> {
    if !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()) {
        return text.parse().map(Identifier::Numeric).map_err(|_| format!("id {text} does not fit in 32 bits"));
    }
    Identifier::named(text).map_err(|_| format!("a name must be 1 to {NAME_LENGTH_MAX} bytes"))
}

/// A name for something new: 1..=255 bytes.
pub fn name(text: &str) -> Result<String, String> {
    if (1..=NAME_LENGTH_MAX).contains(&text.len()) {
        Ok(text.to_owned())
    } else {
        Err(format!("a name must be 1 to {NAME_LENGTH_MAX} bytes, not {}", text.len()))
    }
}

/// A password or token: at most 255 bytes (the server wants passwords of 3 to 100).
pub fn secret(text: &str) -> Result<String, String> {
    if text.len() <= NAME_LENGTH_MAX {
        Ok(text.to_owned())
    } else {
        Err(format!("at most {NAME_LENGTH_MAX} bytes, not {}", text.len()))
    }
}

pub fn dialect(text: &str) -> Result<Dialect, String> {
    text.parse()
}

/// `200ms`, `1h 30m`, `30d`, or a bare number of seconds.
pub fn duration(text: &str) -> Result<Duration, String> {
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(text)
        .map_err(|error| format!("`{text}` is not a duration like 500ms, 10s or 1h: {error}"))
}

/// An expiry in microseconds, as the wire wants it: `never` = `u64::MAX`, `default` = 0.
pub fn expiry_micros(text: &str) -> Result<u64, String> {
    match text {
        "never" | "none" | "unlimited" => Ok(u64::MAX),
        "default" | "server_default" => Ok(0),
        _ => {
            let micros = duration(text)?.as_micros();
            u64::try_from(micros).ok().filter(|&micros| micros > 0).ok_or(format!("expiry `{text}` is out of range"))
        }
    }
}

/// A size in bytes: `1GiB`, `500 MB`, `4096`; `unlimited` = `u64::MAX`, `default` = 0.
pub fn size_bytes(text: &str) -> Result<u64, String> {
    match text {
        "unlimited" | "none" => return Ok(u64::MAX),
        "default" | "server_default" => return Ok(0),
        _ => {}
    }
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("`{text}` is not a size like 4096, 500MB or 1GiB"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" | "k" => 1 << 10,
        "mb" => 1_000_000,
        "mib" | "m" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" | "g" => 1 << 30,
        "tb" => 1_000_000_000_000,
        "tib" | "t" => 1 << 40,
        other => return Err(format!("unknown size unit `{other}` (use B, KB, KiB, MB, MiB, GB, GiB, TB or TiB)")),
    };
    let bytes = number * multiplier as f64;
    if bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64 {
        Ok(bytes as u64)
    } else {
        Err(format!("size `{text}` is out of range"))
    }
}

/// A point in time in microseconds since the epoch: an integer, or RFC 3339
/// (`2026-01-31T12:00:00Z`).
pub fn timestamp_micros(text: &str) -> Result<u64, String> {
    if let Ok(micros) = text.parse::<u64>() {
        return Ok(micros);
    }
    let time = humantime::parse_rfc3339_weak(text)
        .map_err(|error| format!("`{text}` is neither microseconds since the epoch nor RFC 3339: {error}"))?;
    let since = time.duration_since(UNIX_EPOCH).map_err(|_| format!("`{text}` is before 1970"))?;
    u64::try_from(since.as_micros()).map_err(|_| format!("`{text}` is out of range"))
}

/// `key=value`.
pub fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}

/// A messages key for partitioning: 1..=255 bytes.
pub fn messages_key(text: &str) -> Result<String, String> {
    name(text).map_err(|_| "a messages key must be 1 to 255 bytes".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_ids_and_anything_else_is_a_name() {
        assert_eq!(identifier("42"), Ok(Identifier::Numeric(42)));
        assert_eq!(identifier("orders"), Ok(Identifier::Name("orders".into())));
        assert_eq!(identifier("4a"), Ok(Identifier::Name("4a".into())));
        assert!(identifier("99999999999").is_err());
        assert!(identifier("").is_err());
        assert!(identifier(&"x".repeat(256)).is_err());
    }

    #[test]
    fn sizes_durations_and_expiries() {
        assert_eq!(size_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(size_bytes("500 MB"), Ok(500_000_000));
        assert_eq!(size_bytes("1.5KiB"), Ok(1536));
        assert_eq!(size_bytes("4096"), Ok(4096));
        assert_eq!(size_bytes("unlimited"), Ok(u64::MAX));
        assert!(size_bytes("12 parsecs").is_err());
        assert_eq!(duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(expiry_micros("1h"), Ok(3_600_000_000));
        assert_eq!(expiry_micros("30d"), Ok(30 * 86_400_000_000));
        assert_eq!(expiry_micros("never"), Ok(u64::MAX));
        assert!(expiry_micros("soon").is_err());
    }

    #[test]
    fn timestamps_and_key_values() {
        assert_eq!(timestamp_micros("1000"), Ok(1000));
        assert_eq!(timestamp_micros("1970-01-01T00:00:01Z"), Ok(1_000_000));
        assert_eq!(key_value("durability=never"), Ok(("durability".into(), "never".into())));
        assert!(key_value("=x").is_err());
    }
}
