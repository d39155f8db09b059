//! Shard threads: one OS thread per shard, pinned to its core, running its own monoio runtime
//! on io_uring. Start fails loudly when io_uring cannot be set up, unless the legacy (epoll)
//! driver is explicitly allowed.

use std::future::Future;
use std::io;
use std::sync::mpsc;
use std::thread::JoinHandle;

use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};

/// Where and how one shard runs.
#[derive(Debug, Clone)]
pub struct ShardPlacement {
    pub index: usize,
    /// The core to pin the thread to; `None` leaves it to the scheduler.
    pub core: Option<usize>,
    /// io_uring submission queue size.
    pub ring_entries: u32,
    /// Fall back to epoll when io_uring is unavailable (slower; logged as an error).
    pub allow_legacy_driver: bool,
    /// Where `monoio::spawn_blocking` runs CPU-heavy work (password hashing) off the shard;
    /// without one it runs on the shard itself.
    pub blocking: Option<BlockingPool>,
}

/// Threads shared by every shard for work that must not stall a shard's ring.
#[derive(Clone)]
pub struct BlockingPool(threadpool::ThreadPool);

impl BlockingPool {
    /// `threads` threads named `{name}-N`.
    pub fn new(name: &str, threads: usize) -> BlockingPool {
        BlockingPool(threadpool::Builder::new().num_threads(threads.max(1)).thread_name(name.to_string()).build())
    }
}

impl std::fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingPool").field("threads", &self.0.max_count()).finish()
    }
}

impl monoio::blocking::ThreadPool for BlockingPool {
    fn schedule_task(&self, task: monoio::blocking::BlockingTask) {
        self.0.execute(move || task.run());
    }
}

/// Hands `spawn_blocking` to the pool, or runs it in place when there is none.
fn with_blocking<D>(builder: RuntimeBuilder<D>, pool: Option<BlockingPool>) -> RuntimeBuilder<D> {
    match pool {
        Some(pool) => builder.attach_thread_pool(Box::new(pool)),
        None => builder.with_blocking_strategy(monoio::blocking::BlockingStrategy::ExecuteLocal),
    }
}

/// Which driver a shard ended up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    IoUring,
    Legacy,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "shard {index}: io_uring is unavailable ({source}); check kernel.io_uring_disabled, \
         RLIMIT_MEMLOCK and seccomp, or allow the legacy driver explicitly"
    )]
    NoIoUring { index: usize, source: io::Error },
    #[error("shard {index}: could not start a runtime: {source}")]
    Runtime { index: usize, source: io::Error },
    #[error("shard {index}: could not pin to core {core}")]
    Pin { index: usize, core: usize },
    #[error("shard {index}: thread failed to start: {source}")]
    Thread { index: usize, source: io::Error },
}

/// Starts shard `placement.index` on its own thread `whippet-shard-{index}` and runs
/// `body()` there to completion. Returns once the runtime is up (or failed to come up).
pub fn spawn_shard<F, Fut>(placement: ShardPlacement, body: F) -> Result<(JoinHandle<()>, Driver), StartError>
where
    F: FnOnce(Driver) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let index = placement.index;
    let (started, outcome) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(format!("whippet-shard-{index}"))
        .spawn(move || run_shard(placement, started, body))
        .map_err(|source| StartError::Thread { index, source })?;
    match outcome.recv() {
        Ok(Ok(driver)) => Ok((thread, driver)),
        Ok(Err(error)) => {
            let _ = thread.join();
            Err(error)
        }
        Err(_) => Err(StartError::Thread { index, source: io::Error::other("shard thread exited during start") }),
    }
}

fn run_shard<F, Fut>(placement: ShardPlacement, started: mpsc::Sender<Result<Driver, StartError>>, body: F)
where
    F: FnOnce(Driver) -> Fut,
    Fut: Future<Output = ()>,
{
    let index = placement.index;
    if let Some(core) = placement.core
        && !core_affinity::set_for_current(core_affinity::CoreId { id: core })
    {
        let _ = started.send(Err(StartError::Pin { index, core }));
        return;
    }
    let uring = with_blocking(RuntimeBuilder::<IoUringDriver>::new(), placement.blocking.clone())
        .enable_timer()
        .with_entries(placement.ring_entries)
        .build();
    match uring {
        Ok(mut runtime) => {
            let _ = started.send(Ok(Driver::IoUring));
            runtime.block_on(body(Driver::IoUring));
        }
        Err(source) if placement.allow_legacy_driver => {
            tracing::error!(shard = index, %source, "io_uring unavailable: running on the LEGACY epoll driver, expect higher latency");
            match with_blocking(RuntimeBuilder::<LegacyDriver>::new(), placement.blocking.clone())
                .enable_timer()
                .build()
            {
                Ok(mut runtime) => {
                    let _ = started.send(Ok(Driver::Legacy));
                    runtime.block_on(body(Driver::Legacy));
                }
                Err(source) => {
                    let _ = started.send(Err(StartError::Runtime { index, source }));
                }
            }
        }
        Err(source) => {
            let _ = started.send(Err(StartError::NoIoUring { index, source }));
        }
    }
}

/// Cores this process may run on.
pub fn available_cores() -> Vec<usize> {
    core_affinity::get_core_ids().unwrap_or_default().into_iter().map(|c| c.id).collect()
}

/// Parses a core list: `"0-3"`, `"0,2,4"` or a mix such as `"0-1,4"`.
pub fn parse_cores(spec: &str) -> Result<Vec<usize>, String> {
    let mut cores = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let number = |text: &str| text.trim().parse::<usize>().map_err(|_| format!("`{text}` is not a core number"));
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (number(from)?, number(to)?);
                if from > to {
                    return Err(format!("core range `{part}` runs backwards"));
                }
                cores.extend(from..=to);
            }
            None => cores.push(number(part)?),
        }
    }
    if cores.is_empty() {
        return Err("the core list is empty".to_string());
    }
    let mut seen = cores.clone();
    seen.sort_unstable();
    seen.dedup();
    if seen.len() != cores.len() {
        return Err(format!("core list `{spec}` names a core twice"));
    }
    Ok(cores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_core_lists() {
        assert_eq!(parse_cores("0-3").unwrap(), [0, 1, 2, 3]);
        assert_eq!(parse_cores("0,2,4").unwrap(), [0, 2, 4]);
        assert_eq!(parse_cores("0-1, 4").unwrap(), [0, 1, 4]);
        assert!(parse_cores("3-1").is_err());
        assert!(parse_cores("a").is_err());
        assert!(parse_cores("").is_err());
        assert!(parse_cores("1,1").is_err());
    }
}
