//! User permissions as an operator writes them: a JSON file (the same shape `whippet user get
//! --json` prints under `permissions`, so one can be edited and fed back), or flags for the
//! common cases: `--global read_streams,poll_messages` and `--stream 3=send_messages`.
//!
//! ```json
//! { "global": { "read_streams": true },
//!   "streams": { "3": { "read_stream": true, "topics": { "0": { "poll_messages": true } } } } }
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use whippet_client::protocol::permissions::{GlobalPermissions, Permissions, StreamPermissions, TopicPermissions};

use crate::exit::CliError;

/// The grant names, in wire order.
pub const GLOBAL_NAMES: [&str; 10] = [
    "manage_servers",
    "read_servers",
    "manage_users",
    "read_users",
    "manage_streams",
    "read_streams",
    "manage_topics",
    "read_topics",
    "poll_messages",
    "send_messages",
];
pub const STREAM_NAMES: [&str; 6] =
    ["manage_stream", "read_stream", "manage_topics", "read_topics", "poll_messages", "send_messages"];
pub const TOPIC_NAMES: [&str; 4] = ["manage_topic", "read_topic", "poll_messages", "send_messages"];

/// Where a command takes permissions from.
#[derive(clap::Args, Debug, Default)]
pub struct PermissionArgs {
    /// JSON file with the permissions ({"global": {...}, "streams": {"ID": {...}}}); `-` reads stdin
    #[arg(long, value_name = "FILE.json", conflicts_with_all = ["global", "stream"])]
    pub permissions: Option<PathBuf>,
    /// Server-wide grants, comma-separated (manage_servers, read_servers, manage_users,
    /// read_users, manage_streams, read_streams, manage_topics, read_topics, poll_messages,
    /// send_messages), or `all`
    #[arg(long, value_name = "GRANTS", value_delimiter = ',')]
    pub global: Vec<String>,
    /// Grants on one stream, STREAM_ID=GRANT,GRANT (manage_stream, read_stream,
    /// manage_topics, read_topics, poll_messages, send_messages, or all); repeatable
    #[arg(long, value_name = "ID=GRANTS")]
    pub stream: Vec<String>,
}

impl PermissionArgs {
    /// The permissions given, or `None` when no flag was used.
    pub fn read(&self) -> Result<Option<Permissions>, CliError> {
        if let Some(path) = &self.permissions {
            return read_file(path).map(Some);
        }
        if self.global.is_empty() && self.stream.is_empty() {
            return Ok(None);
        }
        let mut flags = [false; 10];
        set_grants(&mut flags, &GLOBAL_NAMES, self.global.iter().map(String::as_str), "global")?;
        let mut permissions = Permissions { global: global_from(flags), streams: BTreeMap::new() };
        for entry in &self.stream {
            let (id, grants) =
                entry
                    .split_once('=')
                    .and_then(|(id, grants)| Some((id.parse::<u32>().ok()?, grants)))
                    .ok_or_else(|| CliError::usage(format!("--stream `{entry}` is not STREAM_ID=GRANT,GRANT")))?;
            let mut flags = [false; 6];
            set_grants(&mut flags, &STREAM_NAMES, grants.split(','), "stream")?;
            permissions.streams.insert(id, stream_from(flags));
        }
        Ok(Some(permissions))
    }
}

fn set_grants<'a>(
    flags: &mut [bool],
    names: &[&str],
    given: impl Iterator<Item = &'a str>,
    level: &str,
) -> Result<(), CliError> {
    for grant in given.map(str::trim).filter(|grant| !grant.is_empty()) {
        if grant == "all" {
            flags.fill(true);
            continue;
        }
        let index = names.iter().position(|name| *name == grant).ok_or_else(|| {
            CliError::usage(format!("unknown {level} permission `{grant}`; known: {}, all", names.join(", ")))
        })?;
        flags[index] = true;
    }
    Ok(())
}

fn read_file(path: &PathBuf) -> Result<Permissions, CliError> {
    let text =
        if path.as_os_str() == "-" { std::io::read_to_string(std::io::stdin()) } else { std::fs::read_to_string(path) };
    let text = text.map_err(|error| CliError::usage(format!("cannot read {}: {error}", path.display())))?;
    let json: PermissionsJson = serde_json::from_str(&text)
        .map_err(|error| CliError::usage(format!("{} is not a permissions document: {error}", path.display())))?;
    Ok(json.into())
}

/// Permissions in JSON: every grant a boolean, absent ones false.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionsJson {
    #[serde(default)]
    pub global: GlobalJson,
    #[serde(default)]
    pub streams: BTreeMap<u32, StreamJson>,
}

#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GlobalJson {
    pub manage_servers: bool,
    pub read_servers: bool,
    pub manage_users: bool,
    pub read_users: bool,
    pub manage_streams: bool,
    pub read_streams: bool,
    pub manage_topics: bool,
    pub read_topics: bool,
    pub poll_messages: bool,
    pub send_messages: bool,
}

#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamJson {
    pub manage_stream: bool,
    pub read_stream: bool,
    pub manage_topics: bool,
    pub read_topics: bool,
    pub poll_messages: bool,
    pub send_messages: bool,
    pub topics: BTreeMap<u32, TopicJson>,
}

#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopicJson {
    pub manage_topic: bool,
    pub read_topic: bool,
    pub poll_messages: bool,
    pub send_messages: bool,
}

fn global_from(flags: [bool; 10]) -> GlobalPermissions {
    let [
        manage_servers,
        read_servers,
        manage_users,
        read_users,
        manage_streams,
        read_streams,
        manage_topics,
        read_topics,
        poll_messages,
        send_messages,
    ] = flags;
    GlobalPermissions {
        manage_servers,
        read_servers,
        manage_users,
        read_users,
        manage_streams,
        read_streams,
        manage_topics,
        read_topics,
        poll_messages,
        send_messages,
    }
}

fn stream_from(flags: [bool; 6]) -> StreamPermissions {
    let [manage_stream, read_stream, manage_topics, read_topics, poll_messages, send_messages] = flags;
    StreamPermissions {
        manage_stream,
        read_stream,
        manage_topics,
        read_topics,
        poll_messages,
        send_messages,
        topics: BTreeMap::new(),
    }
}

fn global_flags(global: &GlobalPermissions) -> [bool; 10] {
    [
        global.manage_servers,
        global.read_servers,
        global.manage_users,
        global.read_users,
        global.manage_streams,
        global.read_streams,
        global.manage_topics,
        global.read_topics,
        global.poll_messages,
        global.send_messages,
    ]
}

fn stream_flags(stream: &StreamPermissions) -> [bool; 6] {
    [
        stream.manage_stream,
        stream.read_stream,
        stream.manage_topics,
        stream.read_topics,
        stream.poll_messages,
        stream.send_messages,
    ]
}

fn topic_flags(topic: &TopicPermissions) -> [bool; 4] {
    [topic.manage_topic, topic.read_topic, topic.poll_messages, topic.send_messages]
}

impl From<PermissionsJson> for Permissions {
    fn from(json: PermissionsJson) -> Permissions {
        let g = json.global;
        let global = global_from([
            g.manage_servers,
            g.read_servers,
            g.manage_users,
            g.read_users,
            g.manage_streams,
            g.read_streams,
            g.manage_topics,
            g.read_topics,
            g.poll_messages,
            g.send_messages,
        ]);
        let streams = json
            .streams
            .into_iter()
            .map(|(id, s)| {
                let mut stream = stream_from([
                    s.manage_stream,
                    s.read_stream,
                    s.manage_topics,
                    s.read_topics,
                    s.poll_messages,
                    s.send_messages,
                ]);
                stream.topics = s
                    .topics
                    .into_iter()
                    .map(|(id, t)| {
                        let topic = TopicPermissions {
                            manage_topic: t.manage_topic,
                            read_topic: t.read_topic,
                            poll_messages: t.poll_messages,
                            send_messages: t.send_messages,
                        };
                        (id, topic)
                    })
                    .collect();
                (id, stream)
            })
            .collect();
        Permissions { global, streams }
    }
}

impl From<&Permissions> for PermissionsJson {
    fn from(permissions: &Permissions) -> PermissionsJson {
        let g = &permissions.global;
        let global = GlobalJson {
            manage_servers: g.manage_servers,
            read_servers: g.read_servers,
            manage_users: g.manage_users,
            read_users: g.read_users,
            manage_streams: g.manage_streams,
            read_streams: g.read_streams,
            manage_topics: g.manage_topics,
            read_topics: g.read_topics,
            poll_messages: g.poll_messages,
            send_messages: g.send_messages,
        };
        let streams = permissions
            .streams
            .iter()
            .map(|(id, s)| {
                let topics = s
                    .topics
                    .iter()
                    .map(|(id, t)| {
                        let topic = TopicJson {
                            manage_topic: t.manage_topic,
                            read_topic: t.read_topic,
                            poll_messages: t.poll_messages,
                            send_messages: t.send_messages,
                        };
                        (*id, topic)
                    })
                    .collect();
                let stream = StreamJson {
                    manage_stream: s.manage_stream,
                    read_stream: s.read_stream,
                    manage_topics: s.manage_topics,
                    read_topics: s.read_topics,
                    poll_messages: s.poll_messages,
                    send_messages: s.send_messages,
                    topics,
                };
                (*id, stream)
            })
            .collect();
        PermissionsJson { global, streams }
    }
}

/// The grants as lines for people: `global: read_streams, poll_messages`, then per stream
/// and topic.
pub fn describe(permissions: Option<&Permissions>) -> String {
    let Some(permissions) = permissions else { return "none".into() };
    let granted = |flags: &[bool], names: &[&str]| {
        let names: Vec<&str> = flags.iter().zip(names).filter(|(on, _)| **on).map(|(_, name)| *name).collect();
        if names.is_empty() { "-".to_owned() } else { names.join(", ") }
    };
    let mut lines = vec![format!("global: {}", granted(&global_flags(&permissions.global), &GLOBAL_NAMES))];
    for (id, stream) in &permissions.streams {
        lines.push(format!("stream {id}: {}", granted(&stream_flags(stream), &STREAM_NAMES)));
        for (topic_id, topic) in &stream.topics {
            lines.push(format!("stream {id} topic {topic_id}: {}", granted(&topic_flags(topic), &TOPIC_NAMES)));
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_build_global_and_stream_grants() {
        let args = PermissionArgs {
            global: vec!["read_streams".into(), "poll_messages".into()],
            stream: vec!["3=send_messages,read_stream".into()],
            ..PermissionArgs::default()
        };
        let permissions = args.read().unwrap().unwrap();
        assert!(permissions.global.read_streams && permissions.global.poll_messages);
        assert!(!permissions.global.manage_users);
        assert!(permissions.streams[&3].send_messages && permissions.streams[&3].read_stream);
        assert_eq!(
            describe(Some(&permissions)),
            "global: read_streams, poll_messages\nstream 3: read_stream, send_messages"
        );
        let all = PermissionArgs { global: vec!["all".into()], ..PermissionArgs::default() };
        assert_eq!(all.read().unwrap(), Some(Permissions::root()));
        let bad = PermissionArgs { global: vec!["fly".into()], ..PermissionArgs::default() };
        assert!(bad.read().is_err());
    }

    #[test]
    fn json_round_trips_through_the_wire_type() {
        let text = r#"{"global":{"read_users":true},"streams":{"7":{"poll_messages":true,"topics":{"1":{"read_topic":true}}}}}"#;
        let json: PermissionsJson = serde_json::from_str(text).unwrap();
        let permissions = Permissions::from(json);
        assert!(permissions.global.read_users);
        assert!(permissions.streams[&7].topics[&1].read_topic);
        let back = serde_json::to_value(PermissionsJson::from(&permissions)).unwrap();
        assert_eq!(back["streams"]["7"]["topics"]["1"]["read_topic"], true);
        assert!(serde_json::from_str::<PermissionsJson>(r#"{"global":{"fly":true}}"#).is_err());
    }
}
