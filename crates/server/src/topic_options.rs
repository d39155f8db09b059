//! Topic options that change how the topic's partitions are stored (protocol.md §2.8):
//! `durability` and `segment_size`. The option block is kept as the client sent it; this is
//! where the storage-relevant keys become a [`PartitionConfig`].
//!
//! `durability` takes the server's own forms (`always`, `never`, `interval:MS`). SDK 0.11
//! sends `replicated` for every topic it creates; that, `default` and `server_default` mean
//! "the server's configured durability".

use whippet_storage::PartitionConfig;

use crate::config::parse_durability;

/// Values of `durability` that keep the server default.
const DEFAULT_DURABILITY: [&str; 3] = ["replicated", "default", "server_default"];
/// Smallest segment a topic may ask for: below this a segment holds too few records to matter.
const SEGMENT_SIZE_MIN: u64 = 4 << 10;

/// The partition config of a topic with `options`, starting from the server's.
/// Options were validated when the topic was created, so bad values cannot reach here; should
/// one (from an older log) not parse, the server default is kept.
pub fn partition_config(base: &PartitionConfig, options: &[(String, String)]) -> PartitionConfig {
    let mut config = base.clone();
    for (key, value) in options {
        match key.as_str() {
            "durability" => {
                if let Ok(Some(durability)) = durability(value) {
                    config.durability = durability;
                }
            }
            "segment_size" => {
                if let Ok(Some(size)) = segment_size(value) {
                    config.segment_size = size;
                }
            }
            _ => {}
        }
    }
    config
}

/// Checks a storage option's value at topic creation.
pub fn validate(key: &str, value: &str) -> Result<(), String> {
    match key {
        "durability" => durability(value).map(drop),
        "segment_size" => segment_size(value).map(drop),
        _ => Ok(()),
    }
}

fn durability(value: &str) -> Result<Option<whippet_storage::Durability>, String> {
    let value = untyped(value).trim();
    if DEFAULT_DURABILITY.contains(&value) {
        return Ok(None);
    }
    parse_durability(value).map(Some)
}

fn segment_size(value: &str) -> Result<Option<u64>, String> {
    let value = untyped(value).trim();
    if matches!(value, "0" | "default" | "server_default") {
        return Ok(None);
    }
    let size = value.parse::<u64>().ok().or_else(|| parse_human_size(value)).ok_or(format!("bad size `{value}`"))?;
    if size < SEGMENT_SIZE_MIN {
        return Err(format!("segment_size {size} is below {SEGMENT_SIZE_MIN} bytes"));
    }
    Ok(Some(size))
}

/// An option value without the kind prefix the server stores typed values under
/// (`u64:`, `u32:`, `bool:`).
pub(crate) fn untyped(text: &str) -> &str {
    ["u64:", "u32:", "bool:"].iter().find_map(|prefix| text.strip_prefix(prefix)).unwrap_or(text)
}

/// "10 MB", "1GiB", "512kb": decimal and binary units.
pub(crate) fn parse_human_size(text: &str) -> Option<u64> {
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.trim().parse().ok()?;
    let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some((number * multiplier) as u64)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use whippet_storage::Durability;

    use super::*;

    fn options(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn durability_option_overrides_the_server_default() {
        let base = PartitionConfig { durability: Durability::Never, ..PartitionConfig::default() };
        let always = partition_config(&base, &options(&[("durability", "always")]));
        assert_eq!(always.durability, Durability::Always);
        let interval = partition_config(&base, &options(&[("durability", "interval:20")]));
        assert_eq!(interval.durability, Durability::Interval(Duration::from_millis(20)));
        let sdk = partition_config(
            &base,
            &options(&[("durability", "replicated"), ("consumer_offset_durability", "replicated")]),
        );
        assert_eq!(sdk.durability, Durability::Never, "the SDK's default keeps the server's");
    }

    #[test]
    fn segment_size_option_sets_the_roll_size() {
        let base = PartitionConfig::default();
        assert_eq!(partition_config(&base, &options(&[("segment_size", "1MiB")])).segment_size, 1 << 20);
        assert_eq!(partition_config(&base, &options(&[("segment_size", "u64:65536")])).segment_size, 65536);
        assert_eq!(partition_config(&base, &options(&[("segment_size", "0")])).segment_size, base.segment_size);
    }

    #[test]
    fn bad_values_are_refused_at_creation() {
        assert!(validate("durability", "sometimes").is_err());
        assert!(validate("durability", "interval:0").is_err());
        assert!(validate("durability", "replicated").is_ok());
        assert!(validate("segment_size", "12").is_err(), "below the minimum");
        assert!(validate("segment_size", "huge").is_err());
        assert!(validate("consumer_offset_durability", "anything").is_ok());
    }
}
