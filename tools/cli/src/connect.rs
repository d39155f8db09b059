//! Where to connect and as whom: flags, then `WHIPPET_*` environment variables, then a profile
//! from the config file, then the defaults (127.0.0.1:8090, iggy/iggy, dialect 0.11). Each
//! setting remembers which of those it came from, so `whippet config` can show it.
//!
//! A personal access token replaces the username and password when it is given at the same
//! level or a higher one than they are (a `--token` flag beats a profile's password, a
//! `--password` flag beats a profile's token).

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::ArgMatches;
use clap::parser::ValueSource;
use serde::{Deserialize, Serialize};
use whippet_client::protocol::vsr::EvictionReason;
use whippet_client::{Client, ClientError, Credentials, Dialect, Tls, TlsSettings};

use crate::exit::CliError;
use crate::parse;

pub const DEFAULT_ADDRESS: &str = "127.0.0.1:8090";
pub const DEFAULT_USERNAME: &str = "iggy";
pub const DEFAULT_PASSWORD: &str = "iggy";
/// The profile used when `--profile` is not given and the file has one by this name.
pub const DEFAULT_PROFILE: &str = "default";

/// Connection flags, accepted before or after the command.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Connection")]
pub struct ConnectionArgs {
    /// Server address, HOST:PORT [default: 127.0.0.1:8090]
    #[arg(
        id = "connection_address",
        long = "address",
        global = true,
        env = "WHIPPET_ADDRESS",
        value_name = "HOST:PORT"
    )]
    pub address: Option<String>,
    /// Wire dialect: 0.11 (VSR framing) or legacy (Iggy <= 0.10 framing) [default: 0.11]
    #[arg(id = "connection_dialect", long = "dialect", value_name = "DIALECT", global = true, env = "WHIPPET_DIALECT", value_parser = parse::dialect)]
    pub dialect: Option<Dialect>,
    /// Username to log in as [default: iggy]
    #[arg(id = "connection_username", long = "username", value_name = "USERNAME", short = 'u', global = true, env = "WHIPPET_USERNAME", value_parser = parse::name)]
    pub username: Option<String>,
    /// Password to log in with [default: iggy]
    #[arg(id = "connection_password", long = "password", value_name = "PASSWORD", short = 'p', global = true, env = "WHIPPET_PASSWORD", hide_env_values = true, value_parser = parse::secret)]
    pub password: Option<String>,
    /// Personal access token to log in with, instead of username and password
    #[arg(id = "connection_token", long = "token", value_name = "TOKEN", global = true, env = "WHIPPET_TOKEN", hide_env_values = true, value_parser = parse::name)]
    pub token: Option<String>,
    /// Profile to read from the config file [default: `default`, when the file has one]
    #[arg(id = "connection_profile", long = "profile", value_name = "NAME", global = true, env = "WHIPPET_PROFILE")]
    pub profile: Option<String>,
    /// Config file with [profiles.NAME] tables [default: $XDG_CONFIG_HOME/whippet/cli.toml or
    /// ~/.config/whippet/cli.toml]
    #[arg(id = "connection_config", long = "config", global = true, env = "WHIPPET_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Longest wait for connecting, logging in and each command (each reply for send, poll, ping)
    #[arg(id = "connection_timeout", long = "timeout", value_name = "DURATION", global = true, default_value = "10s", value_parser = parse::duration)]
    pub timeout: Duration,
    /// Connect over TLS (implied by --tls-ca-file and --tls-domain)
    #[arg(id = "connection_tls", long = "tls", global = true, env = "WHIPPET_TLS", action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    pub tls: bool,
    /// PEM file of the CA certificates to trust over TLS [default: the system's trust store]
    #[arg(
        id = "connection_tls_ca_file",
        long = "tls-ca-file",
        value_name = "FILE",
        global = true,
        env = "WHIPPET_TLS_CA_FILE"
    )]
    pub tls_ca_file: Option<PathBuf>,
    /// Server name the TLS certificate must carry [default: the address's host]
    #[arg(
        id = "connection_tls_domain",
        long = "tls-domain",
        value_name = "NAME",
        global = true,
        env = "WHIPPET_TLS_DOMAIN"
    )]
    pub tls_domain: Option<String>,
}

/// Where a setting came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Default,
    Profile,
    Env,
    Flag,
}

/// A setting and its source.
#[derive(Debug, Clone, Serialize)]
pub struct Sourced<T> {
    pub value: T,
    pub source: Source,
}

/// One `[profiles.NAME]` table of the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub address: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    pub dialect: Option<String>,
    pub tls: Option<bool>,
    pub tls_ca_file: Option<PathBuf>,
    pub tls_domain: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// The resolved connection settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub address: Sourced<String>,
    pub dialect: Sourced<Dialect>,
    pub credentials: Credentials,
    /// Where the credentials came from (the token's source, or the username's).
    pub credentials_source: Source,
    pub timeout: Duration,
    pub config_path: Option<PathBuf>,
    pub profile: Option<String>,
    /// `None` = plain TCP.
    pub tls: Option<TlsSettings>,
}

impl Settings {
    /// Resolves the settings from the parsed flags (and `matches`, which tells flags from
    /// environment variables).
    pub fn resolve(args: &ConnectionArgs, matches: &ArgMatches) -> Result<Settings, CliError> {
        let config_path = args.config.clone().or_else(default_config_path);
        let (profile_name, profile) = load_profile(args.profile.as_deref(), config_path.as_ref())?;
        let level = |id: &str| match matches.value_source(id) {
            Some(ValueSource::CommandLine) => Source::Flag,
            Some(ValueSource::EnvVariable) => Source::Env,
            _ => Source::Default,
        };
        let pick = |id: &str, given: &Option<String>, from_profile: &Option<String>| -> Option<Sourced<String>> {
            match (given, from_profile) {
                (Some(value), _) => Some(Sourced { value: value.clone(), source: level(id) }),
                (None, Some(value)) => Some(Sourced { value: value.clone(), source: Source::Profile }),
                (None, None) => None,
            }
        };
        let address = pick("connection_address", &args.address, &profile.address)
            .unwrap_or(Sourced { value: DEFAULT_ADDRESS.into(), source: Source::Default });
        let dialect = match (args.dialect, &profile.dialect) {
            (Some(value), _) => Sourced { value, source: level("connection_dialect") },
            (None, Some(text)) => Sourced {
                value: parse::dialect(text).map_err(|error| CliError::usage(format!("profile dialect: {error}")))?,
                source: Source::Profile,
            },
            (None, None) => Sourced { value: Dialect::V011, source: Source::Default },
        };
        let username = pick("connection_username", &args.username, &profile.username);
        let password = pick("connection_password", &args.password, &profile.password);
        let token = pick("connection_token", &args.token, &profile.token);
        let password_level = username.iter().chain(&password).map(|s| s.source).max().unwrap_or(Source::Default);
        let (credentials, credentials_source) = match token {
            Some(token) if token.source >= password_level => {
                (Credentials::PersonalAccessToken(token.value), token.source)
            }
            _ => (
                Credentials::Password {
                    username: username.map_or(DEFAULT_USERNAME.into(), |s| s.value),
                    password: password.map_or(DEFAULT_PASSWORD.into(), |s| s.value),
                },
                password_level,
            ),
        };
        // Flags and variables were checked by clap; the profile's values are checked here.
        let checked = match &credentials {
            Credentials::Password { username, password } => parse::name(username).and(parse::secret(password)),
            Credentials::PersonalAccessToken(token) => parse::name(token),
        };
        checked.map_err(|error| CliError::usage(format!("the profile's credentials: {error}")))?;
        let tls = tls_settings(args, &profile, &address.value);
        Ok(Settings {
            address,
            dialect,
            credentials,
            credentials_source,
            timeout: args.timeout,
            config_path,
            profile: profile_name,
            tls,
        })
    }

    pub fn username(&self) -> Option<&str> {
        match &self.credentials {
            Credentials::Password { username, .. } => Some(username),
            Credentials::PersonalAccessToken(_) => None,
        }
    }

    /// The first address the configured HOST:PORT resolves to.
    pub fn socket_address(&self) -> Result<SocketAddr, CliError> {
        let text = &self.address.value;
        let unreachable = |reason: String| CliError::Connect { address: text.clone(), reason };
        let mut addresses =
            text.to_socket_addrs().map_err(|error| unreachable(format!("cannot resolve it: {error}")))?;
        addresses.next().ok_or_else(|| unreachable("it resolves to no address".into()))
    }
}

/// TLS when a flag or the profile asks for it (a CA file or a server name implies it); flags
/// win over the profile. The server name defaults to the address's host.
fn tls_settings(args: &ConnectionArgs, profile: &Profile, address: &str) -> Option<TlsSettings> {
    let ca_file = args.tls_ca_file.clone().or_else(|| profile.tls_ca_file.clone());
    let domain = args.tls_domain.clone().or_else(|| profile.tls_domain.clone());
    let flagged = args.tls || args.tls_ca_file.is_some() || args.tls_domain.is_some();
    let profiled = profile.tls.unwrap_or(profile.tls_ca_file.is_some() || profile.tls_domain.is_some());
    if !flagged && !profiled {
        return None;
    }
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some(TlsSettings { domain: domain.unwrap_or_else(|| host.to_owned()), ca_file })
}

/// `$XDG_CONFIG_HOME/whippet/cli.toml`, else `~/.config/whippet/cli.toml`.
fn default_config_path() -> Option<PathBuf> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty()).map(PathBuf::from);
    let base = non_empty("XDG_CONFIG_HOME").or_else(|| non_empty("HOME").map(|home| home.join(".config")))?;
    Some(base.join("whippet").join("cli.toml"))
}

/// The named profile (which must exist), else the `default` one when the file has it.
fn load_profile(name: Option<&str>, path: Option<&PathBuf>) -> Result<(Option<String>, Profile), CliError> {
    let file = match path {
        Some(path) => read_config(path)?,
        None => None,
    };
    let shown = path.map_or("(no config file path: set WHIPPET_CONFIG or HOME)".into(), |p| p.display().to_string());
    match (name, file) {
        (Some(name), None) => {
            Err(CliError::usage(format!("profile {name:?} not found: the config file {shown} does not exist")))
        }
        (Some(name), Some(mut file)) => match file.profiles.remove(name) {
            Some(profile) => Ok((Some(name.to_owned()), profile)),
            None => {
                let known: Vec<&str> = file.profiles.keys().map(String::as_str).collect();
                Err(CliError::usage(format!(
                    "profile {name:?} not found in {shown}; it has: {}",
                    if known.is_empty() { "no profiles".into() } else { known.join(", ") }
                )))
            }
        },
        (None, Some(mut file)) => match file.profiles.remove(DEFAULT_PROFILE) {
            Some(profile) => Ok((Some(DEFAULT_PROFILE.to_owned()), profile)),
            None => Ok((None, Profile::default())),
        },
        (None, None) => Ok((None, Profile::default())),
    }
}

/// The parsed file, or `None` when it does not exist.
fn read_config(path: &PathBuf) -> Result<Option<ConfigFile>, CliError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(CliError::usage(format!("cannot read the config file {}: {error}", path.display()))),
    };
    toml::from_str(&text)
        .map(Some)
        .map_err(|error| CliError::usage(format!("the config file {} is not valid: {error}", path.display())))
}

/// Connects without logging in (enough for PING).
pub async fn connect(settings: &Settings) -> Result<Client, CliError> {
    let address = settings.socket_address()?;
    let tls = match &settings.tls {
        Some(tls) => Some(Tls::new(tls).map_err(|error| CliError::usage(error.to_string()))?),
        None => None,
    };
    let connecting = Client::connect_with(address, settings.dialect.value, tls.as_ref());
    match monoio::time::timeout(settings.timeout, connecting).await {
        Err(_) => Err(CliError::Timeout { address, timeout: settings.timeout }),
        Ok(Err(ClientError::Io(error))) => {
            Err(CliError::Connect { address: settings.address.value.clone(), reason: error.to_string() })
        }
        Ok(Err(error @ ClientError::Tls(_))) => {
            Err(CliError::Connect { address: settings.address.value.clone(), reason: error.to_string() })
        }
        Ok(Err(error)) => Err(CliError::from_call(error)),
        Ok(Ok(client)) => Ok(client),
    }
}

/// Connects and logs in.
pub async fn login(settings: &Settings) -> Result<Client, CliError> {
    let mut client = connect(settings).await?;
    let address = client.address();
    match monoio::time::timeout(settings.timeout, client.login(&settings.credentials)).await {
        Err(_) => Err(CliError::Timeout { address, timeout: settings.timeout }),
        Ok(Err(error)) if is_login_refusal(&error) => {
            Err(CliError::Login { username: settings.username().map(str::to_owned), error })
        }
        Ok(Err(error)) => Err(CliError::from_call(error)),
        Ok(Ok(_)) => Ok(client),
    }
}

/// Whether a failed login means the credentials (or the user) were refused. A legacy server
/// answers with a status; a 0.11 server evicts the session with a reason.
fn is_login_refusal(error: &ClientError) -> bool {
    match error {
        ClientError::Status { .. } => true,
        ClientError::Evicted { reason, .. } => {
            matches!(
                reason,
                EvictionReason::InvalidCredentials | EvictionReason::InvalidToken | EvictionReason::UserInactive
            )
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches, Parser};

    #[derive(Parser)]
    struct Harness {
        #[command(flatten)]
        connection: ConnectionArgs,
    }

    fn resolve(args: &[&str], config: &str) -> Result<Settings, CliError> {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("cli.toml");
        std::fs::write(&path, config).unwrap();
        let mut argv = vec!["test", "--config", path.to_str().unwrap()];
        argv.extend_from_slice(args);
        let matches = Harness::command().try_get_matches_from(argv).unwrap();
        let harness = Harness::from_arg_matches(&matches).unwrap();
        Settings::resolve(&harness.connection, &matches)
    }

    const PROFILES: &str = r#"
        [profiles.default]
        address = "10.0.0.1:8090"
        username = "alice"
        password = "secret"

        [profiles.ci]
        address = "10.0.0.2:8090"
        token = "pat-from-profile"
        dialect = "legacy"
    "#;

    #[test]
    fn flags_beat_the_profile_which_beats_the_defaults() {
        let settings = resolve(&[], PROFILES).unwrap();
        assert_eq!(settings.address.value, "10.0.0.1:8090");
        assert_eq!(settings.address.source, Source::Profile);
        assert_eq!(settings.username(), Some("alice"));
        assert_eq!(settings.dialect.value, Dialect::V011);

        let settings = resolve(&["--profile", "ci", "--address", "127.0.0.1:1"], PROFILES).unwrap();
        assert_eq!(settings.address.value, "127.0.0.1:1");
        assert_eq!(settings.address.source, Source::Flag);
        assert_eq!(settings.dialect.value, Dialect::Legacy);
        assert_eq!(settings.credentials, Credentials::PersonalAccessToken("pat-from-profile".into()));

        let settings = resolve(&["--profile", "ci", "--username", "bob", "--password", "pw"], PROFILES).unwrap();
        assert_eq!(settings.username(), Some("bob"), "a password flag beats a profile's token");
    }

    #[test]
    fn a_missing_profile_is_a_usage_error_that_lists_the_others() {
        let error = resolve(&["--profile", "nope"], PROFILES).unwrap_err();
        let text = error.describe(&crate::exit::Target::default());
        assert!(text.contains("ci, default"), "{text}");
        assert_eq!(error.exit_code(), crate::exit::USAGE);
        assert!(resolve(&[], "[profiles.x]\nadress = 1").is_err(), "unknown keys are refused");
    }

    #[test]
    fn tls_comes_from_flags_or_the_profile_and_defaults_to_the_host() {
        assert_eq!(resolve(&[], PROFILES).unwrap().tls, None);
        let settings = resolve(&["--address", "localhost:8090", "--tls"], "").unwrap();
        assert_eq!(settings.tls, Some(TlsSettings { domain: "localhost".into(), ca_file: None }));
        let profile = "[profiles.default]\naddress = \"[::1]:8090\"\ntls_ca_file = \"/ca.pem\"\n";
        let settings = resolve(&[], profile).unwrap();
        assert_eq!(settings.tls, Some(TlsSettings { domain: "::1".into(), ca_file: Some("/ca.pem".into()) }));
        let settings = resolve(&["--tls-domain", "broker.example"], profile).unwrap();
        assert_eq!(settings.tls.map(|tls| tls.domain).as_deref(), Some("broker.example"));
    }
}
