//! System commands: stats, cluster metadata, option catalog, clients.

use std::cell::RefCell;
use std::sync::atomic::Ordering;

use whippet_protocol::permissions::Action;
use whippet_protocol::responses::{self, ClientDetails, ClientGroup, ClientInfo};
use whippet_protocol::status::ErrorCode;
use whippet_protocol::system::{
    DescribeOptions, GetClient, Stats, encode_clients, encode_option_descriptors, option_catalog,
};

use super::{SERVER_VERSION, authorize, decoded};
use crate::connection::{Outcome, Reply, Session};
use crate::messages::PartitionKey;
use crate::shard::{ClientRecord, Shard, now_micros};

pub fn cluster_metadata(shard: &Shard) -> Reply {
    let listen = shard.shared.listen;
    let mut reply = Reply::default();
    responses::ClusterMetadata {
        name: "whippet".to_string(),
        nodes: vec![responses::ClusterNode {
            name: "whippet-0".to_string(),
            ip: listen.ip().to_string(),
            tcp_port: listen.port(),
            quic_port: 0,
            http_port: 0,
            websocket_port: 0,
            role: 0,
            status: 0,
        }],
    }
    .encode(&mut reply.body);
    reply
}

pub fn describe_options(body: &[u8]) -> Outcome {
    let request = decoded(DescribeOptions::decode(body))?;
    let mut reply = Reply::default();
    encode_option_descriptors(&option_catalog(request.scope), &mut reply.body);
    Ok(reply)
}

fn client_details(shard: &Shard, client_id: u32, record: &ClientRecord) -> ClientDetails {
    let groups = shard.with_metadata(|m| m.memberships(client_id));
    ClientDetails {
        client: client_info(client_id, record, groups.len() as u32),
        consumer_groups: groups
            .into_iter()
            .map(|(stream_id, topic_id, group_id)| ClientGroup { stream_id, topic_id, group_id })
            .collect(),
    }
}

fn client_info(client_id: u32, record: &ClientRecord, groups: u32) -> ClientInfo {
    ClientInfo {
        client_id,
        user_id: record.user_id.unwrap_or(responses::USER_ID_NONE),
        transport: responses::TRANSPORT_TCP,
        address: record.address.to_string(),
        consumer_groups_count: groups,
    }
}

pub fn me(shard: &Shard, session: &Session) -> Reply {
    let record = ClientRecord { address: session.peer, user_id: session.user_id, dialect: session.dialect };
    let mut reply = Reply::default();
    client_details(shard, session.client_id, &record).encode(&mut reply.body);
    reply
}

pub fn get_client(shard: &Shard, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(GetClient::decode(body))?;
    if request.client_id != session.client_id {
        authorize(shard, session, Action::GetClients)?;
    }
    let mut reply = Reply::default();
    if let Some(record) = shard.shared.clients.get(request.client_id) {
        client_details(shard, request.client_id, &record).encode(&mut reply.body);
    }
    Ok(reply)
}

pub fn get_clients(shard: &Shard, session: &mut Session) -> Outcome {
    authorize(shard, session, Action::GetClients)?;
    let clients: Vec<_> = shard
        .shared
        .clients
        .all()
        .into_iter()
        .map(|(id, record)| {
            let groups = shard.with_metadata(|m| m.memberships(id).len() as u32);
            client_info(id, &record, groups)
        })
        .collect();
    let mut reply = Reply::default();
    encode_clients(&clients, &mut reply.body);
    Ok(reply)
}

thread_local! {
    /// Kept between calls so CPU usage is measured over the time since the last GET_STATS.
    static SYSTEM: RefCell<Option<sysinfo::System>> = const { RefCell::new(None) };
}

pub fn stats(shard: &Shard, session: &mut Session) -> Outcome {
    authorize(shard, session, Action::GetStats)?;
    let mut stats = Stats::default();
    let pid = sysinfo::get_current_pid().map_err(|_| ErrorCode::Error)?;
    SYSTEM.with_borrow_mut(|system| {
        let system = system.get_or_insert_with(sysinfo::System::new);
        system.refresh_memory();
        system.refresh_cpu_usage();
        system.refresh_processes(sysinfo::ProcessesToUpdate::Some(&[pid]), true);
        stats.process_id = pid.as_u32();
        stats.total_cpu_usage = system.global_cpu_usage();
        stats.total_memory = system.total_memory();
        stats.available_memory = system.available_memory();
        if let Some(process) = system.process(pid) {
            stats.cpu_usage = process.cpu_usage();
            stats.memory_usage = process.memory();
            let disk = process.disk_usage();
            stats.read_bytes = disk.total_read_bytes;
            stats.written_bytes = disk.total_written_bytes;
            stats.threads_count = process.tasks().map_or(0, |tasks| tasks.len() as u32);
        }
    });
    stats.start_time = shard.shared.started_at;
    stats.run_time = now_micros().saturating_sub(shard.shared.started_at);
    stats.hostname = sysinfo::System::host_name().unwrap_or_default();
    stats.os_name = sysinfo::System::name().unwrap_or_default();
    stats.os_version = sysinfo::System::os_version().unwrap_or_default();
    stats.kernel_version = sysinfo::System::kernel_version().unwrap_or_default();
    stats.iggy_server_version = SERVER_VERSION.to_string();
    stats.iggy_server_semver = Some(semver(SERVER_VERSION)).filter(|v| *v != 0);
    stats.clients_count = shard.shared.clients.count() as u32;
    shard.with_metadata(|m| {
        let counts = m.counts();
        stats.streams_count = counts.streams;
        stats.topics_count = counts.topics;
        stats.partitions_count = counts.partitions;
        stats.consumer_groups_count = counts.consumer_groups;
        for stream in m.streams().values() {
            for topic in stream.topics.values() {
                for partition in 0..topic.partitions_count {
                    let key = PartitionKey { stream: stream.id, topic: topic.id, partition };
                    let Some(counters) = shard.shared.counters.get(key) else {
                        stats.segments_count += 1;
                        continue;
                    };
                    let next = counters.next_offset.load(Ordering::Relaxed);
                    let first = counters.first_offset.load(Ordering::Relaxed);
                    stats.messages_count += next - first.min(next);
                    stats.messages_size_bytes += counters.size_bytes.load(Ordering::Relaxed);
                    stats.segments_count += counters.segments.load(Ordering::Relaxed) as u32;
                }
            }
        }
    });
    let disks = sysinfo::Disks::new_with_refreshed_list();
    let data_dir = std::fs::canonicalize(&shard.shared.data_dir).unwrap_or_else(|_| shard.shared.data_dir.clone());
    if let Some(disk) = disks
        .iter()
        .filter(|disk| data_dir.starts_with(disk.mount_point()))
        .max_by_key(|disk| disk.mount_point().as_os_str().len())
    {
        stats.free_disk_space = disk.available_space();
        stats.total_disk_space = disk.total_space();
    }
    let mut reply = Reply::default();
    stats.encode(&mut reply.body);
    Ok(reply)
}

/// `major*1_000_000 + minor*1_000 + patch` (protocol.md §2.10); 0 when it does not parse.
fn semver(version: &str) -> u32 {
    let mut parts = version.split(['.', '-']).map(|part| part.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor), Some(patch)) => major * 1_000_000 + minor * 1_000 + patch,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn semver_packs() {
        assert_eq!(super::semver("0.1.0"), 1_000);
        assert_eq!(super::semver("1.2.3-rc1"), 1_002_003);
        assert_eq!(super::semver("x"), 0);
    }
}
