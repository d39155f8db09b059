//! GET_SNAPSHOT_FILE (11): a ZIP of diagnostics, built in-process (no shell commands run on a
//! shard thread). It can reveal the data layout and the configuration, so it needs the
//! server-info grant that stats need, and the root password in the configuration is redacted.

use std::io::Write;
use std::path::Path;

use whippet_protocol::permissions::Action;
use whippet_protocol::status::ErrorCode;
use whippet_protocol::system::GetSnapshot;
use zip::write::SimpleFileOptions;

use super::{authorize, decoded};
use crate::connection::{Denied, Outcome, Reply, Session};
use crate::shard::Shard;

/// A filesystem overview lists at most this many entries.
const LISTING_MAX: usize = 100_000;

pub fn snapshot(shard: &Shard, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(GetSnapshot::decode(body))?;
    authorize(shard, session, Action::GetStats)?;
    let all = request.types.contains(&100);
    let wants = |code: u8| all || request.types.contains(&code);
    // Stored and Deflated are built in; the other methods fall back to Deflated.
    let method =
        if request.compression == 1 { zip::CompressionMethod::Stored } else { zip::CompressionMethod::Deflated };
    let options = SimpleFileOptions::default().compression_method(method);
    let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut add = |name: &str, text: String| -> Result<(), Denied> {
        archive.start_file(name, options).map_err(|_| ErrorCode::SnapshotFileCompletionFailed)?;
        archive.write_all(text.as_bytes()).map_err(|_| ErrorCode::SnapshotFileCompletionFailed)?;
        Ok(())
    };
    if wants(1) {
        add("filesystem_overview.txt", listing(&shard.shared.data_dir))?;
    }
    if wants(2) {
        add("process_list.txt", processes())?;
    }
    if wants(3) {
        add("resource_usage.txt", resources())?;
    }
    if wants(4) {
        add("test.txt", "test\n".to_string())?;
    }
    if wants(5) {
        add(
            "server_logs.txt",
            "whippet-server writes its logs to stderr (journald under systemd); set RUST_LOG to choose the level.\n"
                .to_string(),
        )?;
    }
    if wants(6) {
        add("server_config.toml", shard.shared.config_toml.clone())?;
    }
    let bytes = archive.finish().map_err(|_| ErrorCode::SnapshotFileCompletionFailed)?.into_inner();
    if bytes.len() + 256 > shard.shared.max_frame_size as usize {
        return Err(ErrorCode::SnapshotFileCompletionFailed.into());
    }
    let mut reply = Reply::default();
    reply.body.extend_from_slice(&bytes);
    Ok(reply)
}

/// Every file under the data directory with its size, like `ls -lR`.
fn listing(root: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![root.to_path_buf()];
    let mut entries = 0;
    while let Some(dir) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else { continue };
        let mut children: Vec<_> = read.flatten().collect();
        children.sort_by_key(|entry| entry.path());
        for entry in children {
            entries += 1;
            if entries > LISTING_MAX {
                out.push_str("... listing truncated\n");
                return out;
            }
            let path = entry.path();
            let metadata = entry.metadata().ok();
            let size = metadata.as_ref().map_or(0, |m| m.len());
            if metadata.is_some_and(|m| m.is_dir()) {
                out.push_str(&format!("{}/\n", path.display()));
                stack.push(path);
            } else {
                out.push_str(&format!("{size:>14} {}\n", path.display()));
            }
        }
    }
    out
}

fn processes() -> String {
    let mut system = sysinfo::System::new();
    system.refresh_processes(sysinfo::ProcessesToUpdate::All, true);
    let mut out = format!("{:>8} {:>12} {:>7} {}\n", "PID", "RSS_BYTES", "CPU%", "NAME");
    let mut processes: Vec<_> = system.processes().values().collect();
    processes.sort_by_key(|p| p.pid());
    for process in processes {
        let name = process.name().to_string_lossy();
        out.push_str(&format!("{:>8} {:>12} {:>7.1} {name}\n", process.pid(), process.memory(), process.cpu_usage()));
    }
    out
}

fn resources() -> String {
    let mut system = sysinfo::System::new_all();
    system.refresh_all();
    let mut out = format!(
        "memory: {} of {} bytes used, {} available\nswap: {} of {} bytes used\ncpus: {}, global usage {:.1}%\n",
        system.used_memory(),
        system.total_memory(),
        system.available_memory(),
        system.used_swap(),
        system.total_swap(),
        system.cpus().len(),
        system.global_cpu_usage(),
    );
    let load = sysinfo::System::load_average();
    out.push_str(&format!("load average: {:.2} {:.2} {:.2}\n", load.one, load.five, load.fifteen));
    if let Ok(pid) = sysinfo::get_current_pid()
        && let Some(process) = system.process(pid)
    {
        out.push_str(&format!(
            "whippet-server: pid {pid}, rss {} bytes, virtual {} bytes, cpu {:.1}%, threads {}\n",
            process.memory(),
            process.virtual_memory(),
            process.cpu_usage(),
            process.tasks().map_or(0, |tasks| tasks.len()),
        ));
    }
    out
}
