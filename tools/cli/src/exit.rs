//! Exit codes and the errors behind them: each failure says what went wrong, which thing it
//! was about, and what to do next. The codes are part of the CLI's interface (scripts test
//! them), so they never change meaning.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use whippet_client::protocol::types::Identifier;
use whippet_client::protocol::vsr::EvictionReason;
use whippet_client::{ClientError, status_name};

/// Success, and also a reader that went away (`whippet poll ... | head`).
pub const OK: u8 = 0;
/// The server refused the request (its status code is printed), answered something this CLI
/// cannot read, or a local file could not be written.
pub const SERVER_REFUSED: u8 = 1;
/// Bad arguments, profile or input file (clap's own usage errors exit 2 as well).
pub const USAGE: u8 = 2;
/// The stream, topic, user, ... the command names does not exist.
pub const NOT_FOUND: u8 = 3;
/// No connection: refused, unreachable, closed, or no reply within --timeout.
pub const CONNECTION: u8 = 4;
/// Login refused: wrong username, password or token, or an inactive user.
pub const AUTH: u8 = 5;
/// Logged in, but the user lacks the permission (status 41).
pub const PERMISSION: u8 = 6;

/// The table of exit codes, for `whippet --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  ok
  1  the server refused the request (its status code is printed), or another failure
  2  usage error: bad arguments, profile or input file
  3  not found: the stream, topic, user, group, ... does not exist
  4  connection failed: refused, unreachable, closed, or no reply within --timeout
  5  authentication failed: wrong username, password or token, or an inactive user
  6  permission denied: the user lacks the permission (status 41)";

/// What a command was about, so "not found" can name the missing thing.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub stream: Option<Identifier>,
    pub topic: Option<Identifier>,
    pub partition: Option<u32>,
    pub group: Option<Identifier>,
    pub user: Option<Identifier>,
    pub token: Option<String>,
    pub client: Option<u32>,
    pub consumer: Option<String>,
}

/// The kinds of thing a command can find missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Stream,
    Topic,
    Partition,
    Segment,
    Group,
    GroupMember,
    Offset,
    User,
    Token,
    Client,
    /// Status 20 where the command names neither a user nor a token.
    Resource,
}

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    Usage(String),
    NotFound {
        missing: Missing,
        code: Option<u32>,
    },
    Connect {
        address: String,
        reason: String,
    },
    Timeout {
        address: SocketAddr,
        timeout: Duration,
    },
    /// The connection broke, or the server ended the session.
    Lost(ClientError),
    Login {
        username: Option<String>,
        error: ClientError,
    },
    Permission {
        code: u32,
    },
    Refused {
        code: u32,
    },
    /// A reply that did not decode, or a request the dialect cannot carry.
    Client(ClientError),
    /// A local file could not be read or written.
    File(String),
    /// Our standard output was closed by its reader.
    BrokenPipe,
}

impl From<ClientError> for CliError {
    fn from(error: ClientError) -> CliError {
        CliError::from_call(error)
    }
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::Usage(message.into())
    }

    /// Maps a failed call made after login.
    pub fn from_call(error: ClientError) -> CliError {
        if let Some(missing) = error.status().and_then(missing_from_status) {
            return CliError::NotFound { missing, code: error.status() };
        }
        match (&error, error.status()) {
            (ClientError::Io(_) | ClientError::Evicted { .. }, _) => CliError::Lost(error),
            (_, Some(40 | 42)) => CliError::Login { username: None, error },
            (_, Some(41)) => CliError::Permission { code: 41 },
            (_, Some(code)) => CliError::Refused { code },
            _ => CliError::Client(error),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::BrokenPipe => OK,
            CliError::Refused { .. } | CliError::Client(_) | CliError::File(_) => SERVER_REFUSED,
            CliError::Usage(_) => USAGE,
            CliError::NotFound { .. } => NOT_FOUND,
            CliError::Connect { .. } | CliError::Timeout { .. } | CliError::Lost(_) => CONNECTION,
            CliError::Login { .. } => AUTH,
            CliError::Permission { .. } => PERMISSION,
        }
    }

    /// The message and hint printed to stderr, naming the thing from `target`.
    pub fn describe(&self, target: &Target) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_description(&mut text, target);
        text
    }

    fn write_description(&self, text: &mut String, target: &Target) -> std::fmt::Result {
        match self {
            CliError::BrokenPipe => Ok(()),
            CliError::Usage(message) => write!(text, "error: {message}"),
            CliError::NotFound { missing, code } => describe_missing(text, *missing, *code, target),
            CliError::Connect { address, reason } if reason.starts_with("TLS:") => write!(
                text,
                "error: cannot connect to {address}: {reason}\n\
                 hint: --tls-ca-file must name the CA that signed the server's certificate, and \
                 --tls-domain a name that certificate carries (default: the address's host)"
            ),
            CliError::Connect { address, reason } => write!(
                text,
                "error: cannot connect to {address}: {reason}\n\
                 hint: is whippet-server running on {address}? start it with \
                 `cargo run --release --bin whippet-server`, or pass --address (or set WHIPPET_ADDRESS)"
            ),
            CliError::Timeout { address, timeout } => write!(
                text,
                "error: no reply from {address} within {}\n\
                 hint: the server may be overloaded or not an Iggy server; raise --timeout or check --address",
                humantime::format_duration(*timeout)
            ),
            CliError::Lost(error) => write!(
                text,
                "error: the connection to the server broke: {error}\n\
                 hint: check the server's log; if it speaks only one dialect, try --dialect 0.11 or --dialect legacy; \
                 if it has TLS on, pass --tls"
            ),
            CliError::Login { username, error } => describe_login(text, username.as_deref(), error),
            CliError::Permission { code } => write!(
                text,
                "error: permission denied: {} ({code})\n\
                 hint: the user lacks the permission for this command; grant it with \
                 `whippet user permissions USER ...` as a user who manages users",
                status_name(*code)
            ),
            CliError::Refused { code } => {
                write!(text, "error: the server refused: {} (status {code})", status_name(*code))?;
                match refusal_hint(*code) {
                    Some(hint) => write!(text, "\nhint: {hint}"),
                    None => Ok(()),
                }
            }
            CliError::Client(error) => write!(text, "error: {error}"),
            CliError::File(message) => write!(text, "error: {message}"),
        }
    }

    pub fn exit(&self, target: &Target) -> ExitCode {
        let text = self.describe(target);
        if !text.is_empty() {
            eprintln!("{text}");
        }
        ExitCode::from(self.exit_code())
    }
}

/// The missing thing a status code names, or `None` for codes that are not "not found".
pub fn missing_from_status(code: u32) -> Option<Missing> {
    let name = status_name(code);
    let missing = match name {
        "StreamIdNotFound" | "StreamNameNotFound" => Missing::Stream,
        "TopicIdNotFound" | "TopicNameNotFound" => Missing::Topic,
        "PartitionNotFound" | "NoPartitions" => Missing::Partition,
        "SegmentNotFound" => Missing::Segment,
        "ConsumerGroupIdNotFound" | "ConsumerGroupNameNotFound" => Missing::Group,
        "ConsumerGroupMemberNotFound" => Missing::GroupMember,
        "ConsumerOffsetNotFound" => Missing::Offset,
        "ClientNotFound" => Missing::Client,
        "ResourceNotFound" => Missing::Resource,
        _ => return None,
    };
    Some(missing)
}

/// What to do about the refusals an operator meets most.
fn refusal_hint(code: u32) -> Option<&'static str> {
    let name = status_name(code);
    if name.ends_with("AlreadyExists") {
        return Some("the name is taken: pick another, or see what exists with the `list` command");
    }
    match name {
        "InvalidPersonalAccessTokenName" => Some("token names are 3 to 30 characters"),
        "InvalidUsername" | "InvalidPassword" => Some("usernames are 3 to 50 characters, passwords 3 to 100"),
        "CannotDeleteUser" | "CannotChangePermissions" => Some("the root user cannot be deleted or restricted"),
        "UnsupportedOptionKey" | "InvalidOptionValue" => {
            Some("topic options: compression_algorithm, message_expiry, max_topic_size, segment_size, durability")
        }
        _ => None,
    }
}

fn describe_missing(text: &mut String, missing: Missing, code: Option<u32>, target: &Target) -> std::fmt::Result {
    let missing = match (missing, &target.user, &target.token) {
        (Missing::Resource, Some(_), _) => Missing::User,
        (Missing::Resource, None, Some(_)) => Missing::Token,
        (missing, ..) => missing,
    };
    let stream = target.stream.as_ref().map(|s| s.to_string()).unwrap_or_default();
    let topic = target.topic.as_ref().map(|t| t.to_string()).unwrap_or_default();
    let shown = |id: &Option<Identifier>| id.as_ref().map(|id| format!(" {id}")).unwrap_or_default();
    let (what, hint) = match missing {
        Missing::Stream => (format!("stream{}", shown(&target.stream)), "list them with `whippet stream list`".into()),
        Missing::Topic => (
            format!("topic{} in stream {stream}", shown(&target.topic)),
            format!("list them with `whippet topic list {}`", plain(target.stream.as_ref())),
        ),
        Missing::Partition => (
            format!("partition {} of topic {topic}", target.partition.map_or("?".into(), |p| p.to_string())),
            format!(
                "partitions are numbered from 0; see `whippet topic get {} {}`",
                plain(target.stream.as_ref()),
                plain(target.topic.as_ref())
            ),
        ),
        Missing::Segment => (format!("segment of topic {topic}"), "the partition has no such segments".into()),
        Missing::Group => (
            format!("consumer group{} of topic {topic}", shown(&target.group)),
            format!(
                "list them with `whippet group list {} {}`",
                plain(target.stream.as_ref()),
                plain(target.topic.as_ref())
            ),
        ),
        Missing::GroupMember => (
            format!("membership in consumer group{}", shown(&target.group)),
            "a group membership belongs to one connection; each whippet command opens its own".into(),
        ),
        Missing::Offset => (
            format!("stored offset of consumer {}", target.consumer.as_deref().unwrap_or("?")),
            "store one with `whippet offset store`, or poll with --auto-commit".into(),
        ),
        Missing::User => (format!("user{}", shown(&target.user)), "list them with `whippet user list`".into()),
        Missing::Token => (
            format!("personal access token {:?}", target.token.as_deref().unwrap_or("?")),
            "list them with `whippet pat list`".into(),
        ),
        Missing::Client => (
            format!("client {}", target.client.map_or("?".into(), |c| c.to_string())),
            "list them with `whippet client list`".into(),
        ),
        Missing::Resource => ("resource".into(), "check the names and ids given".into()),
    };
    let status = code.map(|code| format!(" ({}, status {code})", status_name(code))).unwrap_or_default();
    write!(text, "error: {what} not found{status}\nhint: {hint}")
}

fn describe_login(text: &mut String, username: Option<&str>, error: &ClientError) -> std::fmt::Result {
    let who = username.map_or("with the personal access token".to_owned(), |name| format!("as {name:?}"));
    let inactive = error.status() == Some(47)
        || matches!(error, ClientError::Evicted { reason: EvictionReason::UserInactive, .. });
    let hint = match (username, inactive) {
        (_, true) => "the user is inactive; activate it with `whippet user update USER --active`",
        (None, false) => "check --token (or WHIPPET_TOKEN): the token may be deleted or expired",
        (Some(_), false) => {
            "check --username/--password (or WHIPPET_USERNAME/WHIPPET_PASSWORD, or the profile's username and \
             password)"
        }
    };
    write!(text, "error: login {who} failed: {error}\nhint: {hint}")
}

/// An identifier as the user would type it again.
fn plain(id: Option<&Identifier>) -> String {
    match id {
        Some(Identifier::Numeric(id)) => id.to_string(),
        Some(Identifier::Name(name)) => name.clone(),
        None => "?".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_codes_name_the_thing() {
        assert_eq!(missing_from_status(1010), Some(Missing::Stream));
        assert_eq!(missing_from_status(2011), Some(Missing::Topic));
        assert_eq!(missing_from_status(5003), Some(Missing::Group));
        assert_eq!(missing_from_status(41), None);
        let target = Target {
            stream: Some(Identifier::Name("orders".into())),
            topic: Some(Identifier::Name("created".into())),
            ..Target::default()
        };
        let error = CliError::NotFound { missing: Missing::Topic, code: Some(2011) };
        let text = error.describe(&target);
        assert!(text.contains(r#"topic "created" in stream "orders" not found"#), "{text}");
        assert!(text.contains("whippet topic list orders"), "{text}");
        assert_eq!(error.exit_code(), NOT_FOUND);
    }

    #[test]
    fn status_codes_map_to_exit_codes() {
        let code = |status| CliError::from_call(ClientError::Status { code: status }).exit_code();
        assert_eq!(code(41), PERMISSION);
        assert_eq!(code(40), AUTH);
        assert_eq!(code(1012), SERVER_REFUSED);
        assert_eq!(code(1009), NOT_FOUND);
        let io = ClientError::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(CliError::from_call(io).exit_code(), CONNECTION);
    }
}
