//! What the run ran on, from /proc (Linux): enough to tell two result files' machines apart.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Machine {
    pub hostname: String,
    pub kernel: String,
    pub cpu_model: String,
    /// CPUs this process may run on.
    pub cores: usize,
    pub memory_bytes: u64,
}

const UNKNOWN: &str = "unknown";

pub fn collect() -> Machine {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let first_line = |path: &str| read(path).map(|text| text.trim().to_owned()).filter(|text| !text.is_empty());
    Machine {
        hostname: first_line("/proc/sys/kernel/hostname").unwrap_or_else(|| UNKNOWN.into()),
        kernel: first_line("/proc/sys/kernel/osrelease").unwrap_or_else(|| UNKNOWN.into()),
        cpu_model: read("/proc/cpuinfo").and_then(|text| cpu_model(&text)).unwrap_or_else(|| UNKNOWN.into()),
        cores: std::thread::available_parallelism().map_or(0, usize::from),
        memory_bytes: read("/proc/meminfo").and_then(|text| memory_bytes(&text)).unwrap_or(0),
    }
}

/// The CPU model: `model name` (x86), else `Model`, `cpu model` or `Hardware` (Arm, others).
fn cpu_model(cpuinfo: &str) -> Option<String> {
    ["model name", "Model", "cpu model", "Hardware"].iter().find_map(|key| {
        cpuinfo.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            (name.trim() == *key && !value.trim().is_empty()).then(|| value.trim().to_owned())
        })
    })
}

fn memory_bytes(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kibibytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kibibytes * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n";
        assert_eq!(cpu_model(cpuinfo).as_deref(), Some("Intel(R) Xeon(R) CPU @ 2.20GHz"));
        assert_eq!(memory_bytes("MemTotal:        4028440 kB\nMemFree: 1 kB\n"), Some(4028440 * 1024));
        assert_eq!(cpu_model("processor: 0\n"), None);
    }

    #[test]
    fn collects_something_here() {
        let machine = collect();
        assert!(machine.cores >= 1);
    }
}
