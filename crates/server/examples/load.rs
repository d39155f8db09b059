//! Load generator for a running `whippet-server`, driven by the official Iggy SDK 0.11.0.
//!
//! Two modes:
//!
//! * **Throughput** (default): one producer sends `--batches` batches of `--messages-per-batch`
//!   messages of `--message-size` bytes to one partition, awaiting every send (the SDK is
//!   lock-step). It prints MB/s (payload bytes / wall time, MB = 10^6 bytes) and the per-batch
//!   round-trip latency (p50/p90/p99/p99.9/max). The first `--warmup` batches are not recorded.
//! * **`--compare-local-remote`**: small sends (default 1 message of 100 B) alternate, in blocks,
//!   between a partition owned by the connection's shard (local) and one owned by another shard
//!   (remote, one hop through the shard mesh), and the two latency distributions are compared.
//!
//! Which shard serves the connection: the acceptor hands connections out round-robin starting at
//! shard 0, and client ids are handed out in connection order from 1, so the connection's shard is
//! inferred as `(client_id - 1) % shards` from `GET_ME` (exact when connections were opened one at
//! a time; override with `--connection-shard`). Partition `p` of `(stream, topic)` belongs to
//! `whippet_shard::owner(stream, topic, p, shards)`; the stream and topic ids come from the server's
//! create replies. `--shards` must match the server's `--shards`.
//!
//! ```text
//! cargo build --release -p whippet-server --examples --bins
//! target/release/whippet-server --tcp-address 127.0.0.1:8090 --shards 2 --no-pin --durability never --data-dir /tmp/w
//! target/release/examples/load --address 127.0.0.1:8090 --shards 2
//! target/release/examples/load --address 127.0.0.1:8090 --shards 2 --compare-local-remote
//! ```
//!
//! The batches are built once, before the clock starts, and resent (the SDK encodes each send into
//! a fresh frame; message ids repeat across sends, which the server does not deduplicate).
//! No assertions on timing: the figures are printed, nothing more.

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use iggy::prelude::{
    Client, Identifier, IggyClient, IggyMessage, MessageClient, Partitioning, StreamClient, SystemClient, TopicClient,
    TopicCreateOptions,
};

/// Load generator for whippet-server (Iggy binary protocol, SDK 0.11.0).
#[derive(Debug, Parser)]
#[command(name = "load")]
struct Args {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:8090")]
    address: String,
    #[arg(long, default_value = "iggy")]
    username: String,
    #[arg(long, default_value = "iggy")]
    password: String,
    /// Number of shards the server runs (its `--shards`); used to tell local from remote partitions.
    #[arg(long, default_value_t = 1)]
    shards: usize,
    /// The shard serving this connection; by default inferred from the client id (see the header).
    #[arg(long)]
    connection_shard: Option<usize>,
    /// Stream name; a fresh unique one by default, so the example can run again on the same server.
    #[arg(long)]
    stream: Option<String>,
    /// Partitions of the topic created (at least 8 with --compare-local-remote, to find both kinds).
    #[arg(long, default_value_t = 2)]
    partitions: u32,
    /// Partition the producer sends to: a number, `local` or `remote` (relative to the connection's shard).
    #[arg(long, default_value = "0")]
    partition: String,
    /// Batches sent and recorded (after the warmup).
    #[arg(long, default_value_t = 1000)]
    batches: u64,
    /// Batches sent first and not recorded.
    #[arg(long, default_value_t = 50)]
    warmup: u64,
    #[arg(long, default_value_t = 1000)]
    messages_per_batch: u32,
    /// Payload bytes per message.
    #[arg(long, default_value_t = 1000)]
    message_size: usize,
    /// Compare small sends to a local and a remote partition instead of the throughput run.
    #[arg(long)]
    compare_local_remote: bool,
    /// Recorded sends per side in the comparison.
    #[arg(long, default_value_t = 5000)]
    compare_sends: u64,
    /// Sends per block; the comparison alternates local and remote blocks of this size.
    #[arg(long, default_value_t = 250)]
    compare_block: u64,
    /// Unrecorded sends per side before the comparison.
    #[arg(long, default_value_t = 500)]
    compare_warmup: u64,
    #[arg(long, default_value_t = 1)]
    compare_messages_per_batch: u32,
    #[arg(long, default_value_t = 100)]
    compare_message_size: usize,
}

type Failure = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let args = Args::parse();
    // One thread: the SDK is lock-step, and a second runtime thread would only add cross-core
    // wake-ups on a small machine that the server's shards share.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("load: cannot start the tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("load: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Failure> {
    if args.shards == 0 {
        return Err("--shards must be at least 1".into());
    }
    let client = connect(&args).await?;
    let me = client.get_me().await?;
    let connection_shard = args.connection_shard.unwrap_or((me.client_id.max(1) as usize - 1) % args.shards);
    let partitions = if args.compare_local_remote { args.partitions.max(8) } else { args.partitions.max(1) };
    let target = create_topic(&client, &args, partitions).await?;
    let owners: Vec<usize> =
        (0..partitions).map(|p| whippet_shard::owner(target.stream_id, target.topic_id, p, args.shards)).collect();
    println!(
        "server {} ({} shard(s)); client id {} -> connection on shard {}{}",
        args.address,
        args.shards,
        me.client_id,
        connection_shard,
        if args.connection_shard.is_some() { " (given)" } else { " (inferred)" }
    );
    println!(
        "stream '{}' id {}, topic id {}, {} partitions; owners by partition: {:?}",
        target.stream_name, target.stream_id, target.topic_id, partitions, owners
    );
    let result = if args.compare_local_remote {
        compare_local_remote(&client, &args, &target, &owners, connection_shard).await
    } else {
        throughput(&client, &args, &target, &owners, connection_shard).await
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), client.shutdown()).await;
    result
}

async fn connect(args: &Args) -> Result<IggyClient, Failure> {
    let connection_string =
        format!("iggy://{}:{}@{}?reconnection_retries=0&nodelay=true", args.username, args.password, args.address);
    let client = IggyClient::from_connection_string(&connection_string)?;
    client.connect().await?;
    Ok(client)
}

/// The stream and topic the run writes to.
struct Target {
    stream_name: String,
    stream: Identifier,
    topic: Identifier,
    stream_id: u32,
    topic_id: u32,
}

async fn create_topic(client: &IggyClient, args: &Args, partitions: u32) -> Result<Target, Failure> {
    let stream_name = match &args.stream {
        Some(name) => name.clone(),
        None => {
            let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            format!("load-{}-{nanos}", std::process::id())
        }
    };
    let stream = client.create_stream(&stream_name).await?;
    let options = TopicCreateOptions { partitions_count: Some(partitions), ..TopicCreateOptions::default() };
    let topic = client.create_topic(&Identifier::numeric(stream.id)?, "load", &options).await?;
    if topic.partitions_count != partitions {
        return Err(format!("asked for {partitions} partitions, the server made {}", topic.partitions_count).into());
    }
    Ok(Target {
        stream_name,
        stream: Identifier::numeric(stream.id)?,
        topic: Identifier::numeric(topic.id)?,
        stream_id: stream.id,
        topic_id: topic.id,
    })
}

/// `count` messages of `size` bytes each, built once. Ids are non-zero so the SDK leaves them alone.
fn build_batch(count: u32, size: usize, tag: u64) -> Result<Vec<IggyMessage>, Failure> {
    let payload = Bytes::from((0..size).map(|i| b'a' + (i % 26) as u8).collect::<Vec<u8>>());
    (0..count)
        .map(|i| {
            let id = (u128::from(tag) << 64) | u128::from(i + 1);
            IggyMessage::builder().id(id).payload(payload.clone()).build().map_err(Failure::from)
        })
        .collect()
}

fn histogram() -> Histogram<u64> {
    // Microseconds, 1 µs to 10 min, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    histogram.saturating_record((elapsed.as_micros() as u64).max(1));
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn describe(owners: &[usize], partition: u32, connection_shard: usize) -> String {
    let owner = owners[partition as usize];
    let kind = if owner == connection_shard { "local" } else { "remote" };
    format!("partition {partition} (owner shard {owner}, {kind} to the connection's shard {connection_shard})")
}

fn pick(owners: &[usize], connection_shard: usize, local: bool) -> Option<u32> {
    owners.iter().position(|&owner| (owner == connection_shard) == local).map(|p| p as u32)
}

async fn send(
    client: &IggyClient,
    target: &Target,
    partitioning: &Partitioning,
    batch: &mut [IggyMessage],
) -> Result<Duration, Failure> {
    let start = Instant::now();
    client.send_messages(&target.stream, &target.topic, partitioning, batch).await?;
    Ok(start.elapsed())
}

async fn throughput(
    client: &IggyClient,
    args: &Args,
    target: &Target,
    owners: &[usize],
    connection_shard: usize,
) -> Result<(), Failure> {
    let partition = match args.partition.as_str() {
        "local" => pick(owners, connection_shard, true).ok_or("no partition is local to the connection's shard")?,
        "remote" => pick(owners, connection_shard, false).ok_or("no partition is remote to the connection's shard")?,
        number => number.parse::<u32>().map_err(|_| format!("--partition {number}: a number, local or remote"))?,
    };
    if partition as usize >= owners.len() {
        return Err(format!("--partition {partition} but the topic has {} partitions", owners.len()).into());
    }
    let build_start = Instant::now();
    let mut batch = build_batch(args.messages_per_batch, args.message_size, 1)?;
    let build_time = build_start.elapsed();
    let partitioning = Partitioning::partition_id(partition);
    let batch_payload = u64::from(args.messages_per_batch) * args.message_size as u64;
    println!(
        "throughput: 1 producer, {} batches x {} messages x {} B to {} ({} warmup batches; batch built in {:.1} ms)",
        args.batches,
        args.messages_per_batch,
        args.message_size,
        describe(owners, partition, connection_shard),
        args.warmup,
        build_time.as_secs_f64() * 1e3
    );
    for _ in 0..args.warmup {
        send(client, target, &partitioning, &mut batch).await?;
    }
    let mut latencies = histogram();
    let start = Instant::now();
    for _ in 0..args.batches {
        record(&mut latencies, send(client, target, &partitioning, &mut batch).await?);
    }
    let wall = start.elapsed();
    let payload = batch_payload * args.batches;
    let mb_per_s = payload as f64 / 1e6 / wall.as_secs_f64();
    println!(
        "  {:.1} MB/s payload ({:.1} MB in {:.3} s; {:.0} messages/s; {:.0} batches/s)",
        mb_per_s,
        payload as f64 / 1e6,
        wall.as_secs_f64(),
        (u64::from(args.messages_per_batch) * args.batches) as f64 / wall.as_secs_f64(),
        args.batches as f64 / wall.as_secs_f64()
    );
    println!(
        "  per batch, ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  (mean {:.3}, n {})",
        ms(latencies.value_at_quantile(0.50)),
        ms(latencies.value_at_quantile(0.90)),
        ms(latencies.value_at_quantile(0.99)),
        ms(latencies.value_at_quantile(0.999)),
        ms(latencies.max()),
        latencies.mean() / 1000.0,
        latencies.len()
    );
    println!(
        "RESULT throughput mb_per_s={:.1} p50_ms={:.3} p90_ms={:.3} p99_ms={:.3} p999_ms={:.3} max_ms={:.3}",
        mb_per_s,
        ms(latencies.value_at_quantile(0.50)),
        ms(latencies.value_at_quantile(0.90)),
        ms(latencies.value_at_quantile(0.99)),
        ms(latencies.value_at_quantile(0.999)),
        ms(latencies.max())
    );
    Ok(())
}

async fn compare_local_remote(
    client: &IggyClient,
    args: &Args,
    target: &Target,
    owners: &[usize],
    connection_shard: usize,
) -> Result<(), Failure> {
    if args.shards < 2 {
        return Err("--compare-local-remote needs --shards 2 or more (and a server started with as many)".into());
    }
    let local = pick(owners, connection_shard, true).ok_or("no partition is owned by the connection's shard")?;
    let remote = pick(owners, connection_shard, false).ok_or("every partition is owned by the connection's shard")?;
    let block = args.compare_block.max(1);
    println!(
        "local vs remote: {} sends per side of {} message(s) x {} B, alternating blocks of {}, {} warmup sends per side",
        args.compare_sends, args.compare_messages_per_batch, args.compare_message_size, block, args.compare_warmup
    );
    println!("  local:  {}", describe(owners, local, connection_shard));
    println!("  remote: {}", describe(owners, remote, connection_shard));
    let mut local_batch = build_batch(args.compare_messages_per_batch, args.compare_message_size, 2)?;
    let mut remote_batch = build_batch(args.compare_messages_per_batch, args.compare_message_size, 3)?;
    let sides = [Partitioning::partition_id(local), Partitioning::partition_id(remote)];
    for _ in 0..args.compare_warmup {
        send(client, target, &sides[0], &mut local_batch).await?;
        send(client, target, &sides[1], &mut remote_batch).await?;
    }
    let mut histograms = [histogram(), histogram()];
    let mut sent = [0u64; 2];
    let start = Instant::now();
    let mut side = 0;
    while sent[0] < args.compare_sends || sent[1] < args.compare_sends {
        let n = block.min(args.compare_sends - sent[side]);
        let batch = if side == 0 { &mut local_batch } else { &mut remote_batch };
        for _ in 0..n {
            record(&mut histograms[side], send(client, target, &sides[side], batch).await?);
        }
        sent[side] += n;
        side = 1 - side;
    }
    let wall = start.elapsed();
    let [local_h, remote_h] = &histograms;
    for (name, h) in [("local ", local_h), ("remote", remote_h)] {
        println!(
            "  {name} per send, ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  (mean {:.3}, n {})",
            ms(h.value_at_quantile(0.50)),
            ms(h.value_at_quantile(0.90)),
            ms(h.value_at_quantile(0.99)),
            ms(h.value_at_quantile(0.999)),
            ms(h.max()),
            h.mean() / 1000.0,
            h.len()
        );
    }
    let p50_diff = remote_h.value_at_quantile(0.50) as f64 - local_h.value_at_quantile(0.50) as f64;
    let p99_diff = remote_h.value_at_quantile(0.99) as f64 - local_h.value_at_quantile(0.99) as f64;
    println!(
        "  remote - local: p50 {:+.0} µs, p99 {:+.0} µs ({} sends in {:.2} s)",
        p50_diff,
        p99_diff,
        sent[0] + sent[1],
        wall.as_secs_f64()
    );
    println!(
        "RESULT compare local_p50_us={} local_p99_us={} remote_p50_us={} remote_p99_us={} p50_diff_us={:.0} p99_diff_us={:.0}",
        local_h.value_at_quantile(0.50),
        local_h.value_at_quantile(0.99),
        remote_h.value_at_quantile(0.50),
        remote_h.value_at_quantile(0.99),
        p50_diff,
        p99_diff
    );
    Ok(())
}
