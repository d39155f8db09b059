//! The server's configuration: defaults, then a TOML file, then `WHIPPET_*` environment
//! variables, then command-line flags, each overriding the one before. Unknown keys and bad
//! values fail at start with the key's name.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use whippet_storage::Durability;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub sharding: ShardingConfig,
    pub storage: StorageConfig,
    pub auth: AuthConfig,
    pub heartbeat: HeartbeatConfig,
    pub tls: TlsConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HeartbeatConfig {
    /// Drop clients that stay silent too long. Any request counts as a heartbeat; the SDKs
    /// ping every 5 s by default.
    pub enabled: bool,
    /// A client silent for more than 1.2 × this (e.g. `"30s"`, `"500ms"`) is dropped and its
    /// consumer-group memberships are released.
    pub interval: String,
}

/// TLS on the listener. When enabled, every connection on `server.tcp_address` speaks TLS
/// (what the Iggy SDKs expect with `tls=true`); there is no plain port beside it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    pub enabled: bool,
    /// PEM certificate chain, the server's own certificate first.
    pub cert_file: PathBuf,
    /// PEM private key of that certificate (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Where the listener binds.
    pub tcp_address: String,
    /// Where streams, metadata and offsets live.
    pub data_dir: PathBuf,
    /// Listen backlog.
    pub backlog: u32,
    /// Frames longer than this are refused before their body is read.
    pub max_frame_size: u32,
    /// Open client connections at most; the acceptor closes any connection beyond it at once
    /// (and logs it), so a flood of sockets cannot exhaust descriptors or memory.
    pub max_connections: u32,
    /// Bytes of request bodies over 64 KiB that one shard may be receiving at once, across
    /// its connections; a reader waits for its share (TCP holds the client back). Bounds what
    /// clients that declare large frames and send them slowly, or never, can pin. At least
    /// `max_frame_size`.
    pub body_budget_per_shard: u64,
    /// The largest message payload a send may carry (Iggy's own limit, 64,000,000, is the
    /// most); a larger one is refused with TooBigMessagePayload (4022).
    pub max_message_size: u32,
    /// The most partitions one topic may have (Iggy's limit, 1,000, is the most); creating
    /// more is refused with TooManyPartitions (2015).
    pub max_partitions_per_topic: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ShardingConfig {
    /// `"auto"` (one per available core) or a number.
    pub shards: ShardCount,
    /// Cores to pin shards to, as `"0-3"`, `"0,2,4"` or a list; empty = the available cores.
    pub cores: CoreList,
    /// Pin each shard thread to its core.
    pub pin: bool,
    /// io_uring submission queue entries per shard.
    pub ring_entries: u32,
    /// Run on epoll when io_uring cannot be set up, instead of refusing to start.
    pub allow_legacy_driver: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `always`, `interval:MS` or `never`.
    pub durability: String,
    pub segment_size: u64,
    pub cache_size: usize,
    pub verify_checksums: bool,
    pub direct_io: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub root_username: String,
    pub root_password: String,
    /// Failed logins one IP address may make per `login_window` before its further logins
    /// (right or wrong) are refused unchecked until the window ends; 0 = no limit.
    pub max_login_failures: u32,
    /// The window for `max_login_failures`, e.g. `"60s"`.
    pub login_window: String,
    /// Threads that check and hash passwords (argon2 takes tens of ms of CPU), so that logins
    /// never stall a shard's partitions.
    pub password_threads: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ShardCount {
    Count(usize),
    Word(String),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum CoreList {
    List(Vec<usize>),
    Spec(String),
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig {
                tcp_address: "127.0.0.1:8090".to_string(),
                data_dir: PathBuf::from("whippet-data"),
                backlog: 1024,
                max_frame_size: 64 << 20,
                max_connections: 10_000,
                body_budget_per_shard: 256 << 20,
                max_message_size: whippet_protocol::batch::MAX_PAYLOAD_SIZE,
                max_partitions_per_topic: whippet_metadata::PARTITIONS_MAX,
            },
            sharding: ShardingConfig {
                shards: ShardCount::Word("auto".to_string()),
                cores: CoreList::Spec(String::new()),
                pin: true,
                ring_entries: 1024,
                allow_legacy_driver: false,
            },
            storage: StorageConfig {
                durability: "never".to_string(),
                segment_size: 1 << 30,
                cache_size: 8 << 20,
                verify_checksums: true,
                direct_io: false,
            },
            auth: AuthConfig {
                root_username: "iggy".to_string(),
                root_password: "iggy".to_string(),
                max_login_failures: 10,
                login_window: "60s".to_string(),
                password_threads: 1,
            },
            heartbeat: HeartbeatConfig { enabled: true, interval: "30s".to_string() },
            tls: TlsConfig { enabled: false, cert_file: PathBuf::new(), key_file: PathBuf::new() },
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Config::default().server
    }
}
impl Default for ShardingConfig {
    fn default() -> Self {
        Config::default().sharding
    }
}
impl Default for StorageConfig {
    fn default() -> Self {
        Config::default().storage
    }
}
impl Default for HeartbeatConfig {
    fn default() -> Self {
        Config::default().heartbeat
    }
}
impl Default for TlsConfig {
    fn default() -> Self {
        Config::default().tls
    }
}
impl Default for AuthConfig {
    fn default() -> Self {
        Config::default().auth
    }
}

/// Sections a `WHIPPET_<SECTION>_<KEY>` variable may name.
const SECTIONS: [&str; 6] = ["server", "sharding", "storage", "auth", "heartbeat", "tls"];

/// Short variables for the settings people change most.
fn shortcut(name: &str) -> Option<&'static str> {
    Some(match name {
        "root_username" => "auth.root_username",
        "root_password" => "auth.root_password",
        "data_dir" => "server.data_dir",
        "tcp_address" => "server.tcp_address",
        "shards" => "sharding.shards",
        "cores" => "sharding.cores",
        "pin" => "sharding.pin",
        "durability" => "storage.durability",
        _ => return None,
    })
}

/// Maps a `WHIPPET_*` variable (prefix stripped, lowercased) to a config key, or `None` for
/// variables that are not configuration (tests and tools use the prefix too).
fn env_key(name: &str) -> Option<String> {
    if let Some(key) = shortcut(name) {
        return Some(key.to_string());
    }
    let (section, key) = name.split_once('_')?;
    SECTIONS.contains(&section).then(|| format!("{section}.{key}"))
}

/// Loads the configuration: defaults, the file if given, then the environment.
pub fn load(file: Option<&PathBuf>) -> Result<Config, String> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(file) = file {
        if !file.exists() {
            return Err(format!("config file {} does not exist", file.display()));
        }
        figment = figment.merge(Toml::file(file));
    }
    // Only names that are configuration keys: tools and tests share the prefix
    // (WHIPPET_SERVER_BIN, WHIPPET_CRASH_SEED) and must not fail the start.
    let known = Figment::from(Serialized::defaults(Config::default()));
    let env = Env::prefixed("WHIPPET_")
        .filter_map(move |name| {
            let key = env_key(&name.as_str().to_ascii_lowercase())?;
            known.find_value(&key).is_ok().then(|| key.into())
        })
        .lowercase(false);
    figment = figment.merge(env);
    let config: Config = figment.extract().map_err(|e| e.to_string())?;
    config.validate()?;
    Ok(config)
}

impl Config {
    /// Checks the values that serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        self.tcp_address()?;
        self.durability()?;
        self.shard_count()?;
        self.cores()?;
        if self.server.max_frame_size < 256 {
            return Err("server.max_frame_size must be at least 256 bytes".to_string());
        }
        if self.server.max_connections == 0 {
            return Err("server.max_connections must be at least 1".to_string());
        }
        if self.server.body_budget_per_shard < u64::from(self.server.max_frame_size) {
            return Err(format!(
                "server.body_budget_per_shard ({}) must be at least server.max_frame_size ({}), or a frame that large could never be read",
                self.server.body_budget_per_shard, self.server.max_frame_size
            ));
        }
        let most = whippet_protocol::batch::MAX_PAYLOAD_SIZE;
        if !(1..=most).contains(&self.server.max_message_size) {
            return Err(format!("server.max_message_size must be 1..={most}"));
        }
        let most = whippet_metadata::PARTITIONS_MAX;
        if !(1..=most).contains(&self.server.max_partitions_per_topic) {
            return Err(format!("server.max_partitions_per_topic must be 1..={most}"));
        }
        self.login_window()?;
        if self.auth.password_threads == 0 {
            return Err("auth.password_threads must be at least 1".to_string());
        }
        self.heartbeat_window()?;
        self.tls_acceptor()?;
        if self.storage.segment_size < 4096 {
            return Err("storage.segment_size must be at least 4096 bytes".to_string());
        }
        Ok(())
    }

    /// The configuration as TOML with the root password replaced, for snapshots.
    pub fn redacted_toml(&self) -> String {
        let mut shown = self.clone();
        shown.auth.root_password = "<redacted>".to_string();
        toml::to_string(&shown).unwrap_or_else(|error| format!("# configuration not serialisable: {error}\n"))
    }

    /// The window over which failed logins per address are counted.
    pub fn login_window(&self) -> Result<Duration, String> {
        let window = humantime::parse_duration(&self.auth.login_window)
            .map_err(|e| format!("auth.login_window `{}`: {e}", self.auth.login_window))?;
        if window.is_zero() {
            return Err("auth.login_window must be more than zero".to_string());
        }
        Ok(window)
    }

    /// The listener's TLS acceptor, loaded from the PEM files; `None` when TLS is off. Fails
    /// naming the file that is missing, unreadable or not PEM.
    pub fn tls_acceptor(&self) -> Result<Option<whippet_net::tls::TlsAcceptor>, String> {
        if !self.tls.enabled {
            return Ok(None);
        }
        for (key, path) in [("tls.cert_file", &self.tls.cert_file), ("tls.key_file", &self.tls.key_file)] {
            if path.as_os_str().is_empty() {
                return Err(format!("{key} must be set when tls.enabled is true"));
            }
        }
        whippet_net::tls::acceptor(&self.tls.cert_file, &self.tls.key_file).map(Some).map_err(|e| format!("tls: {e}"))
    }

    /// How long a client may stay silent before it is dropped; `None` when heartbeats are off.
    pub fn heartbeat_window(&self) -> Result<Option<Duration>, String> {
        let interval = humantime::parse_duration(&self.heartbeat.interval)
            .map_err(|e| format!("heartbeat.interval `{}`: {e}", self.heartbeat.interval))?;
        if interval.is_zero() {
            return Err("heartbeat.interval must be more than zero".to_string());
        }
        Ok(self.heartbeat.enabled.then(|| interval.mul_f64(1.2)))
    }

    pub fn tcp_address(&self) -> Result<SocketAddr, String> {
        self.server.tcp_address.parse().map_err(|_| {
            format!("server.tcp_address `{}` is not HOST:PORT with a numeric host", self.server.tcp_address)
        })
    }

    pub fn durability(&self) -> Result<Durability, String> {
        parse_durability(&self.storage.durability)
    }

    /// The cores shards may use, in order.
    pub fn cores(&self) -> Result<Vec<usize>, String> {
        let cores = match &self.sharding.cores {
            CoreList::List(list) if !list.is_empty() => list.clone(),
            CoreList::Spec(spec) if !spec.trim().is_empty() => {
                whippet_shard::parse_cores(spec).map_err(|e| format!("sharding.cores: {e}"))?
            }
            _ => whippet_shard::available_cores(),
        };
        if cores.is_empty() { Ok(vec![0]) } else { Ok(cores) }
    }

    pub fn shard_count(&self) -> Result<usize, String> {
        match &self.sharding.shards {
            ShardCount::Count(0) => Err("sharding.shards must be at least 1".to_string()),
            ShardCount::Count(n) => Ok(*n),
            ShardCount::Word(word) if word == "auto" => Ok(whippet_shard::available_cores().len().max(1)),
            ShardCount::Word(word) => match word.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("sharding.shards must be \"auto\" or a positive number, not `{word}`")),
            },
        }
    }
}

/// Parses `always`, `interval:MS` or `never`.
pub fn parse_durability(text: &str) -> Result<Durability, String> {
    match text {
        "always" => Ok(Durability::Always),
        "never" => Ok(Durability::Never),
        other => match other.strip_prefix("interval:").map(str::parse::<u64>) {
            Some(Ok(ms)) if ms > 0 => Ok(Durability::Interval(Duration::from_millis(ms))),
            _ => Err(format!("durability must be always, interval:MS (MS > 0) or never, not `{other}`")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dotted names of every leaf key of a TOML table.
    fn leaf_keys(table: &toml::Table, prefix: &str, keys: &mut Vec<String>) {
        for (name, value) in table {
            let key = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
            match value {
                toml::Value::Table(inner) => leaf_keys(inner, &key, keys),
                _ => keys.push(key),
            }
        }
    }

    #[test]
    fn the_example_config_names_every_key_at_its_default() {
        let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../whippet.example.toml"));
        let text = std::fs::read_to_string(&path).expect("whippet.example.toml at the repository root");
        let example: toml::Table = text.parse().expect("the example is TOML");
        let defaults = toml::Table::try_from(Config::default()).expect("defaults serialise");
        let (mut named, mut known) = (Vec::new(), Vec::new());
        leaf_keys(&example, "", &mut named);
        leaf_keys(&defaults, "", &mut known);
        named.sort();
        known.sort();
        assert_eq!(named, known, "whippet.example.toml must name every configuration key, and only those");
        let loaded = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(&path))
            .extract::<Config>()
            .expect("the example loads");
        assert_eq!(loaded, Config::default(), "whippet.example.toml must show the built-in defaults");
        loaded.validate().expect("the defaults are valid");
    }

    #[test]
    fn env_names_map_to_keys() {
        assert_eq!(env_key("root_username").as_deref(), Some("auth.root_username"));
        assert_eq!(env_key("server_max_frame_size").as_deref(), Some("server.max_frame_size"));
        assert_eq!(env_key("crash_child_dir"), None);
        assert_eq!(env_key("bench_dir"), None);
    }

    #[test]
    // The closure's error type is figment's own, which is what Jail expects.
    #[allow(clippy::result_large_err)]
    fn environment_overrides_and_ignores_non_keys() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("WHIPPET_STORAGE_SEGMENT_SIZE", "8192");
            jail.set_env("WHIPPET_SHARDS", "3");
            jail.set_env("WHIPPET_SERVER_BIN", "/somewhere/whippet-server");
            jail.set_env("WHIPPET_HEARTBEAT_INTERVAL", "2s");
            let config = load(None).map_err(figment::Error::from)?;
            assert_eq!(config.storage.segment_size, 8192);
            assert_eq!(config.shard_count().ok(), Some(3));
            assert_eq!(config.heartbeat_window().ok().flatten(), Some(Duration::from_millis(2400)));
            jail.set_env("WHIPPET_SHARDS", "abc");
            assert!(load(None).is_err());
            Ok(())
        });
    }

    #[test]
    fn redacted_config_hides_the_root_password() {
        let mut config = Config::default();
        config.auth.root_password = "s3cret-pass".to_string();
        let text = config.redacted_toml();
        assert!(!text.contains("s3cret-pass"));
        assert!(text.contains("<redacted>") && text.contains("tcp_address"));
    }

    #[test]
    fn durability_forms() {
        assert_eq!(parse_durability("always"), Ok(Durability::Always));
        assert_eq!(parse_durability("interval:50"), Ok(Durability::Interval(Duration::from_millis(50))));
        assert!(parse_durability("interval:0").is_err());
        assert!(parse_durability("sometimes").is_err());
    }

    #[test]
    fn defaults_are_valid() {
        let config = Config::default();
        config.validate().unwrap();
        assert_eq!(config.tcp_address().unwrap().to_string(), "127.0.0.1:8090");
    }

    #[test]
    fn tls_needs_readable_pem_files_when_enabled() {
        assert_eq!(env_key("tls_cert_file").as_deref(), Some("tls.cert_file"));
        let mut config = Config::default();
        config.tls.enabled = true;
        let error = config.validate().unwrap_err();
        assert!(error.contains("tls.cert_file must be set"), "{error}");
        config.tls.cert_file = PathBuf::from("/nonexistent/whippet-cert.pem");
        config.tls.key_file = PathBuf::from("/nonexistent/whippet-key.pem");
        let error = config.validate().unwrap_err();
        assert!(error.contains("/nonexistent/whippet-cert.pem"), "{error}");
        config.tls.enabled = false;
        config.validate().unwrap();
    }
}
