//! Benchmark of the `iec104-server` role, on loopback only. Run through
//! `bench/server.sh`, which builds the release binary and this example.
//!
//! It starts its own `valkey-server` (free 127.0.0.1 port, no persistence,
//! a temp dir) and `alp-connex iec104-server` as children, and stops both at
//! the end, on error and on Ctrl-C. Then:
//!
//! 1. General interrogation: `--gi-points` M_ME_NC_1 points of CA 1 are
//!    written into the image (contract JSON, pipelined SETs) before the
//!    server starts. For each `--window K/W` (given to the server and to the
//!    master alike) the project's own master engine (`driver::connect`)
//!    sends C_IC_NA_1 QOI 20 `--gi-runs` times and counts I-frames and
//!    objects until ACT_TERM (every object present, ascending IOA). Against:
//!    - the bound of the window: at most k I-frames are unacknowledged, and
//!      each stays so for at least one round trip, so frames/s <= k / RTT
//!      (Little's law; acknowledging only every w frames lowers it further).
//!      RTT is the median of TESTFR act -> con on a raw loopback socket
//!      to the server (the same path an I-frame and its S-frame take);
//!    - the raw link engine: our own `Listener` replays the very ASDUs the
//!      server sent (captured in the first run) to the same master, without
//!      the server, Valkey or the station layer: the practical limit of the
//!      engine on this machine, measured in the same run.
//! 2. Latency: N masters (`--masters 1,5`) start data transfer without
//!    interrogating; a writer thread XADDs `--rate` entries/s for
//!    `--seconds` to `process:updates` (contract fields casdu, ioa, source,
//!    data; paced in batches of rate/1000 every millisecond, each batch one
//!    pipeline; no image SET), the IOA of each entry its sequence number.
//!    The send instant of an entry is taken just before its pipeline is
//!    written to Valkey; each master takes the instant an I-frame reaches
//!    it through `Connection::recv`. Latency = receipt - send, over every
//!    (master, entry) pair: p50, p99, max, and the entries delivered.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable,
    clippy::indexing_slicing,
    clippy::string_slice,
    reason = "a benchmark tool: a failed setup stops it loudly"
)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alp_connex::contract::iec104::{Reception, points_from_asdu};
use alp_connex::iec104::asdu::Asdu;
use alp_connex::iec104::driver::{Connection, Listener, connect};
use alp_connex::iec104::elements::{Qoi, Quality};
use alp_connex::iec104::link::Event;
use alp_connex::iec104::params::Params;
use alp_connex::iec104::types::{Cause, Cot, Element, TypeId};
use alp_connex::store;
use clap::Parser;
use fred::clients::Client;
use fred::interfaces::{ClientLike, KeysInterface, StreamsInterface};
use fred::types::config::{Config, ServerConfig};
use fred::types::{Key, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, Error>;

/// The connector ID of the server under test.
const ID: &str = "bench";
/// The update stream.
const STREAM: &str = "process:updates";
/// Longest wait for any single step (a start, an answer).
const WAIT: Duration = Duration::from_secs(60);

#[derive(Parser, Debug)]
#[command(about = "Benchmark of alp-connex iec104-server (loopback only)")]
struct Args {
    /// The alp-connex binary.
    #[arg(long, default_value = "target/release/alp-connex")]
    bin: PathBuf,
    /// Points in the general interrogation.
    #[arg(long, default_value_t = 100_000)]
    gi_points: u32,
    /// Interrogations per window setting (the median is reported).
    #[arg(long, default_value_t = 10)]
    gi_runs: usize,
    /// k/w settings of the interrogation part, given to server and master.
    #[arg(long, value_delimiter = ',', default_value = "12/8,128/96")]
    window: Vec<String>,
    /// Round trips measured for the RTT median.
    #[arg(long, default_value_t = 200)]
    rtt_samples: usize,
    /// Stream entries per second of the latency part.
    #[arg(long, default_value_t = 10_000)]
    rate: u32,
    /// Seconds of the latency part, per master count.
    #[arg(long, default_value_t = 5)]
    seconds: u32,
    /// Master counts of the latency part.
    #[arg(long, value_delimiter = ',', default_value = "1,5")]
    masters: Vec<usize>,
    /// Run only this part.
    #[arg(long, value_parser = ["gi", "latency"])]
    only: Option<String>,
}

fn main() -> Res<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let work = std::env::temp_dir().join(format!("alp-server-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let outcome = rt.block_on(async {
        tokio::select! {
            r = bench(&args, &work) => r,
            r = tokio::signal::ctrl_c() => r.map_err(Error::from).and(Err("interrupted".into())),
        }
    });
    // The children are killed by now (their guards lived in `bench`).
    rt.shutdown_timeout(Duration::from_secs(1));
    match outcome {
        Ok(()) => {
            let _ = std::fs::remove_dir_all(&work);
            Ok(())
        }
        Err(e) => {
            eprintln!("server_bench: logs kept in {}", work.display());
            Err(e)
        }
    }
}

/// A child process, killed when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Res<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn start_valkey(work: &Path) -> Res<(Guard, u16)> {
    let port = free_port()?;
    let log = std::fs::File::create(work.join("valkey.log"))?;
    let child = Command::new("valkey-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--dir"])
        .arg(work)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("valkey-server: {e} (bench/server.sh installs it)"))?;
    Ok((Guard(child), port))
}

/// A client of the bench's own, writing as the connectors would and
/// reading the server's status.
async fn valkey_client(port: u16) -> Res<Client> {
    let deadline = Instant::now() + WAIT;
    loop {
        let client = Client::new(
            Config {
                server: ServerConfig::new_centralized("127.0.0.1", port),
                ..Config::default()
            },
            None,
            None,
            None,
        );
        match client.init().await {
            Ok(_) => return Ok(client),
            Err(e) if Instant::now() > deadline => return Err(format!("valkey: {e}").into()),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// The contract JSON of an M_ME_NC_1 point.
fn point_json(source: &Arc<str>, ca: u16, ioa: u32, value: f32, cause: Cause) -> Res<String> {
    let a = Asdu::single(
        Cot::new(cause),
        ca,
        ioa,
        Element::M_ME_NC_1 {
            value,
            quality: Quality::GOOD,
        },
    );
    let received = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    let rx = Reception {
        source,
        received: i64::try_from(received)?,
        zone: &alp_connex::iec104::time::UTC,
    };
    let p = points_from_asdu(&a, rx)
        .pop()
        .ok_or("no data point from an M_ME_NC_1 ASDU")?;
    Ok(p.to_json())
}

/// SETs `n` points of CA 1, IOA 1..=n, into the image, 1000 per pipeline.
async fn write_image(fred: &Client, n: u32) -> Res<()> {
    let source: Arc<str> = "bench".into();
    let mut ioa = 1;
    while ioa <= n {
        let pipe = fred.pipeline();
        for i in ioa..=n.min(ioa + 999) {
            let json = point_json(&source, 1, i, i as f32, Cause::SPONTANEOUS)?;
            pipe.set::<(), _, _>(
                alp_connex::contract::image_key(1, i),
                json,
                None,
                None,
                false,
            )
            .await?;
        }
        let _: Value = pipe.all().await?;
        ioa += 1000;
    }
    Ok(())
}

struct Server {
    _guard: Guard,
    port: u16,
}

async fn start_server(
    args: &Args,
    work: &Path,
    valkey: &Client,
    valkey_port: u16,
    (k, w): (u16, u16),
    image_points: u64,
) -> Res<Server> {
    let port = free_port()?;
    let fred = valkey;
    let key = store::status_key(ID);
    let _: i64 = fred.del(&key).await?;
    let log = std::fs::File::create(work.join(format!("server-k{k}-w{w}.log")))?;
    let child = Command::new(&args.bin)
        .args([
            "iec104-server",
            "--id",
            ID,
            "--log-level",
            "warning",
            "server",
        ])
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["-k", &k.to_string(), "-w", &w.to_string()])
        .args(["--max-connections", "20"])
        .args(["redis", "--host", &format!("127.0.0.1:{valkey_port}")])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .map_err(|e| {
            format!(
                "{}: {e} (build it: cargo build --release)",
                args.bin.display()
            )
        })?;
    let guard = Guard(child);
    // The status is written once the image is loaded and the listener bound.
    let deadline = Instant::now() + WAIT;
    loop {
        let status: Option<String> = fred.get(&key).await?;
        let v: serde_json::Value = status
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        if v["listen"] == format!("127.0.0.1:{port}") && v["image_points"] == image_points {
            return Ok(Server {
                _guard: guard,
                port,
            });
        }
        if Instant::now() > deadline {
            return Err(format!("the server did not start; its status: {v}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn server_status(valkey: &Client) -> Res<serde_json::Value> {
    let s: Option<String> = valkey.get(store::status_key(ID)).await?;
    Ok(s.and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default())
}

/// A master in data transfer.
async fn started(addr: SocketAddr, params: Params) -> Res<Connection> {
    let mut conn = connect(addr, params).await?;
    loop {
        match tokio::time::timeout(WAIT, conn.recv()).await? {
            Some(Event::DataTransferStarted) => return Ok(conn),
            Some(Event::Closed(r)) => {
                return Err(format!("closed before STARTDT con: {r:?}").into());
            }
            None => return Err("closed before STARTDT con".into()),
            Some(_) => {}
        }
    }
}

fn params(k: u16, w: u16) -> Params {
    Params {
        k,
        w,
        ..Params::default()
    }
}

struct GiRun {
    elapsed: Duration,
    frames: usize,
    objects: usize,
}

impl GiRun {
    fn frames_per_s(&self) -> f64 {
        self.frames as f64 / self.elapsed.as_secs_f64()
    }
    fn objects_per_s(&self) -> f64 {
        self.objects as f64 / self.elapsed.as_secs_f64()
    }
}

/// One station interrogation of CA 1: time from sending C_IC_NA_1 to
/// receiving its ACT_TERM; every frame is kept in `capture` when given.
async fn interrogate(
    conn: &mut Connection,
    expect: u32,
    mut capture: Option<&mut Vec<Vec<u8>>>,
) -> Res<GiRun> {
    let gi = Asdu::single(
        Cot::new(Cause::ACTIVATION),
        1,
        0,
        Element::C_IC_NA_1 {
            qualifier: Qoi::STATION,
        },
    )
    .to_bytes()?;
    let start = Instant::now();
    conn.send(gi).await?;
    let (mut frames, mut objects, mut next_ioa) = (0usize, 0usize, 1u32);
    loop {
        let raw = match tokio::time::timeout(WAIT, conn.recv()).await? {
            Some(Event::Asdu(raw)) => raw,
            other => return Err(format!("during the interrogation: {other:?}").into()),
        };
        frames += 1;
        let a = Asdu::decode(&raw)?;
        if let Some(c) = capture.as_deref_mut() {
            c.push(raw);
        }
        if a.type_id == TypeId::C_IC_NA_1 {
            if a.cot.negative {
                return Err(format!("interrogation refused: {:?}", a.cot).into());
            }
            if a.cot.cause == Cause::ACTIVATION_TERMINATION {
                break;
            }
            continue;
        }
        if a.cot.cause != Cause::INTERROGATED {
            return Err(format!("cause {:?} in the interrogation answer", a.cot.cause).into());
        }
        for o in &a.objects {
            if o.ioa != next_ioa {
                return Err(format!("IOA {} where {next_ioa} was due", o.ioa).into());
            }
            next_ioa += 1;
        }
        objects += a.objects.len();
    }
    let elapsed = start.elapsed();
    if objects != expect as usize {
        return Err(format!("{objects} objects interrogated, {expect} expected").into());
    }
    Ok(GiRun {
        elapsed,
        frames,
        objects,
    })
}

/// The median of `d` (sorted in place).
fn median(d: &mut [Duration]) -> Duration {
    d.sort();
    d.get(d.len() / 2).copied().unwrap_or_default()
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Median round trip of TESTFR act -> con on a raw socket to `port` (no
/// STARTDT: the link answers TESTFR in every state).
async fn testfr_rtt(port: u16, samples: usize) -> Res<Duration> {
    const ACT: [u8; 6] = [0x68, 4, 0x43, 0, 0, 0];
    const CON: [u8; 6] = [0x68, 4, 0x83, 0, 0, 0];
    let mut s = tokio::net::TcpStream::connect(loopback(port)).await?;
    s.set_nodelay(true)?;
    let mut got = [0u8; 6];
    let mut rtts = Vec::with_capacity(samples);
    for i in 0..samples + 20 {
        let t = Instant::now();
        s.write_all(&ACT).await?;
        tokio::time::timeout(WAIT, s.read_exact(&mut got)).await??;
        // The first 20 warm up.
        if i >= 20 {
            rtts.push(t.elapsed());
        }
        if got != CON {
            return Err(format!("TESTFR act answered with {got:02x?}").into());
        }
    }
    Ok(median(&mut rtts))
}

/// Median round trip of C_RD_NA_1 (IOA 1 of CA 1) -> its answer, through
/// the engine and the server's station layer.
async fn read_rtt(conn: &mut Connection, samples: usize) -> Res<Duration> {
    let read = Asdu::single(Cot::new(Cause::REQUEST), 1, 1, Element::C_RD_NA_1 {}).to_bytes()?;
    let mut rtts = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        conn.send(read.clone()).await?;
        match tokio::time::timeout(WAIT, conn.recv()).await? {
            Some(Event::Asdu(raw)) => {
                let a = Asdu::decode(&raw)?;
                if a.cot.cause != Cause::REQUEST || a.cot.negative {
                    return Err(format!("read answered with {:?}", a.cot).into());
                }
            }
            other => return Err(format!("during a read: {other:?}").into()),
        }
        rtts.push(t.elapsed());
    }
    Ok(median(&mut rtts))
}

/// The raw engine: our own `Listener` answers every C_IC_NA_1 with the
/// captured frames, as fast as the k window allows.
async fn raw_engine(params: Params, frames: Arc<Vec<Vec<u8>>>) -> Res<(SocketAddr, Guarded)> {
    let listener = Listener::bind(loopback(0), params).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let Ok(mut conn) = listener.accept().await else {
            return;
        };
        while let Some(event) = conn.recv().await {
            if let Event::Asdu(raw) = event
                && raw.first() == Some(&(TypeId::C_IC_NA_1 as u8))
            {
                for f in frames.iter() {
                    if conn.send(f.clone()).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    Ok((addr, Guarded(task)))
}

/// A task aborted when dropped.
struct Guarded(tokio::task::JoinHandle<()>);

impl Drop for Guarded {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn parse_window(s: &str) -> Res<(u16, u16)> {
    let (k, w) = s
        .split_once('/')
        .ok_or_else(|| format!("--window {s}: expected K/W, e.g. 12/8"))?;
    Ok((k.trim().parse()?, w.trim().parse()?))
}

/// Figures of one window setting.
struct GiFigures {
    k: u16,
    w: u16,
    server: GiRun,
    raw: GiRun,
    link_rtt: Duration,
    bound: f64,
}

async fn gi_part(
    args: &Args,
    work: &Path,
    valkey: &Client,
    valkey_port: u16,
) -> Res<Vec<GiFigures>> {
    let n = args.gi_points;
    let runs = args.gi_runs.max(1);
    println!(
        "\n== general interrogation of {} points (M_ME_NC_1, CA 1) to our own master engine, {runs} runs per setting",
        th(f64::from(n))
    );
    let t = Instant::now();
    write_image(valkey, n).await?;
    println!(
        "image written: {} SETs in {:.2} s",
        th(f64::from(n)),
        t.elapsed().as_secs_f64()
    );
    let mut out = Vec::new();
    for window in &args.window {
        let (k, w) = parse_window(window)?;
        let p = params(k, w);
        let t = Instant::now();
        let server = start_server(args, work, valkey, valkey_port, (k, w), n.into()).await?;
        println!(
            "\n-- k={k} w={w}: server started, image of {n} points loaded in {:.2} s",
            t.elapsed().as_secs_f64()
        );
        let link_rtt = testfr_rtt(server.port, args.rtt_samples).await?;
        let mut conn = started(loopback(server.port), p).await?;
        let app_rtt = read_rtt(&mut conn, args.rtt_samples).await?;
        let mut captured = Vec::new();
        let mut server_runs = Vec::new();
        for i in 0..runs {
            let r = interrogate(&mut conn, n, (i == 0).then_some(&mut captured)).await?;
            server_runs.push(r);
        }
        conn.close().await;
        drop(server);
        let frames = Arc::new(captured);
        let (raw_addr, _raw_task) = raw_engine(p, Arc::clone(&frames)).await?;
        let mut conn = started(raw_addr, p).await?;
        let mut raw_runs = Vec::new();
        for _ in 0..runs {
            raw_runs.push(interrogate(&mut conn, n, None).await?);
        }
        conn.close().await;
        let show = |name: &str, rs: &[GiRun]| {
            let times: Vec<String> = rs
                .iter()
                .map(|r| format!("{:.1}", r.elapsed.as_secs_f64() * 1e3))
                .collect();
            println!("{name} runs (ms): {}", times.join(", "));
        };
        show("server    ", &server_runs);
        show("raw engine", &raw_runs);
        let med = |mut rs: Vec<GiRun>| -> Res<GiRun> {
            rs.sort_by_key(|r| r.elapsed);
            let i = rs.len() / 2;
            Ok(rs.swap_remove(i))
        };
        let server = med(server_runs)?;
        let raw = med(raw_runs)?;
        let bound = f64::from(k) / link_rtt.as_secs_f64();
        println!(
            "link round trip (TESTFR act -> con, median of {}): {:.1} µs; application round trip (C_RD_NA_1 -> answer through the server, median): {:.1} µs",
            args.rtt_samples,
            link_rtt.as_secs_f64() * 1e6,
            app_rtt.as_secs_f64() * 1e6
        );
        println!(
            "bound of the k window: k / RTT = {k} / {:.1} µs = {} frames/s",
            link_rtt.as_secs_f64() * 1e6,
            th(bound)
        );
        println!(
            "server (median):     {} frames, {} objects in {:.1} ms -> {} frames/s, {} objects/s",
            server.frames,
            th(server.objects as f64),
            server.elapsed.as_secs_f64() * 1e3,
            th(server.frames_per_s()),
            th(server.objects_per_s())
        );
        println!(
            "raw engine (median): {} frames, {} objects in {:.1} ms -> {} frames/s, {} objects/s (same frames, our own Listener, no server)",
            raw.frames,
            th(raw.objects as f64),
            raw.elapsed.as_secs_f64() * 1e3,
            th(raw.frames_per_s()),
            th(raw.objects_per_s())
        );
        println!(
            "ratio server / raw engine {:.2}; server / k-window bound {:.2}",
            server.frames_per_s() / raw.frames_per_s(),
            server.frames_per_s() / bound
        );
        out.push(GiFigures {
            k,
            w,
            server,
            raw,
            link_rtt,
            bound,
        });
    }
    Ok(out)
}

/// Figures of one master count.
struct LatencyFigures {
    masters: usize,
    sent: usize,
    rate: f64,
    delivered: Vec<usize>,
    p50: Duration,
    p99: Duration,
    max: Duration,
    lagged: u64,
    /// p50 and p99 of the XADD pipelines' round trip to Valkey.
    xadd: (Duration, Duration),
}

/// XADDs `total` entries of CA `ca`, IOA 1..=total, paced at `rate`/s in
/// batches of rate/1000 per millisecond, on a thread and runtime of its
/// own; gives each entry's send instant and the pipelines' round trips.
fn write_stream(valkey_port: u16, ca: u16, total: usize, rate: u32) -> Res<Written> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let fred = valkey_client(valkey_port).await?;
        let source: Arc<str> = "bench".into();
        let mut entries = Vec::with_capacity(total);
        for seq in 0..total {
            let ioa = u32::try_from(seq + 1)?;
            let json = point_json(&source, ca, ioa, seq as f32, Cause::SPONTANEOUS)?;
            entries.push(vec![
                (Key::from_static_str("casdu"), Value::from(i64::from(ca))),
                (Key::from_static_str("ioa"), Value::from(i64::from(ioa))),
                (Key::from_static_str("source"), Value::from("bench")),
                (Key::from_static_str("data"), Value::from(json)),
            ]);
        }
        let batch = usize::try_from((rate / 1000).max(1))?;
        let period = Duration::from_secs_f64(batch as f64 / f64::from(rate));
        let mut sent = Vec::with_capacity(total);
        let mut acks = Vec::with_capacity(total / batch + 1);
        let start = tokio::time::Instant::now();
        for (b, chunk) in entries.chunks(batch).enumerate() {
            tokio::time::sleep_until(start + period.mul_f64(b as f64)).await;
            let pipe = fred.pipeline();
            for fields in chunk {
                pipe.xadd::<(), _, _, _, _>(STREAM, false, None::<()>, "*", fields.clone())
                    .await?;
            }
            let at = Instant::now();
            let _: Value = pipe.all().await?;
            acks.push(at.elapsed());
            sent.extend(std::iter::repeat_n(at, chunk.len()));
        }
        let _ = fred.quit().await;
        acks.sort();
        Ok(Written { sent, acks })
    })
}

/// What the stream writer did.
struct Written {
    /// Send instant per entry.
    sent: Vec<Instant>,
    /// Round trip of each pipeline (send -> Valkey's replies), sorted.
    acks: Vec<Duration>,
}

/// A master's receipt instant per entry (index = IOA - 1) of CA `ca`.
async fn receive(
    mut conn: Connection,
    ca: u16,
    total: usize,
    until: Instant,
) -> Vec<Option<Instant>> {
    let mut got = vec![None; total];
    let mut count = 0;
    while count < total {
        let event = match tokio::time::timeout_at(until.into(), conn.recv()).await {
            Ok(Some(e)) => e,
            Ok(None) | Err(_) => break,
        };
        let at = Instant::now();
        let Event::Asdu(raw) = event else { continue };
        let Ok(a) = Asdu::decode(&raw) else { continue };
        if a.common_address != ca {
            continue;
        }
        for o in &a.objects {
            let slot = usize::try_from(o.ioa)
                .ok()
                .and_then(|i| i.checked_sub(1))
                .and_then(|i| got.get_mut(i));
            if let Some(slot @ None) = slot {
                *slot = Some(at);
                count += 1;
            }
        }
    }
    conn.close().await;
    got
}

async fn latency_part(
    args: &Args,
    work: &Path,
    valkey: &Client,
    valkey_port: u16,
) -> Res<Vec<LatencyFigures>> {
    let total = usize::try_from(args.rate)? * usize::try_from(args.seconds)?;
    println!(
        "\n== latency: XADD -> I-frame at each master, {} entries/s for {} s, k=12 w=8",
        args.rate, args.seconds
    );
    let image: u64 = if args.only.is_none() {
        args.gi_points.into()
    } else {
        0
    };
    let server = start_server(args, work, valkey, valkey_port, (12, 8), image).await?;
    let mut out = Vec::new();
    for (run, &n) in args.masters.iter().enumerate() {
        // A common address of its own per run: nothing from an earlier run counts.
        let ca = u16::try_from(10 + run)?;
        let mut conns = Vec::new();
        for _ in 0..n {
            conns.push(started(loopback(server.port), Params::default()).await?);
        }
        // Each master's station is subscribed once data transfer started.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let until = Instant::now() + Duration::from_secs(u64::from(args.seconds)) + WAIT;
        let receivers: Vec<_> = conns
            .into_iter()
            .map(|c| tokio::spawn(receive(c, ca, total, until)))
            .collect();
        let rate = args.rate;
        let Written { sent, acks } =
            tokio::task::spawn_blocking(move || write_stream(valkey_port, ca, total, rate))
                .await??;
        let span = sent
            .last()
            .zip(sent.first())
            .map_or(Duration::ZERO, |(l, f)| l.duration_since(*f));
        let achieved = total as f64 / span.as_secs_f64().max(1e-9);
        let mut lat = Vec::with_capacity(total * n);
        let mut delivered = Vec::new();
        for r in receivers {
            let got = r.await?;
            delivered.push(got.iter().filter(|g| g.is_some()).count());
            lat.extend(
                got.iter()
                    .zip(&sent)
                    .filter_map(|(g, s)| g.map(|g| g.saturating_duration_since(*s))),
            );
        }
        lat.sort();
        // The status is refreshed every second.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let lagged = server_status(valkey).await?["lagged_updates"]
            .as_u64()
            .unwrap_or(0);
        let f = LatencyFigures {
            masters: n,
            sent: total,
            rate: achieved,
            delivered,
            p50: percentile(&lat, 0.50),
            p99: percentile(&lat, 0.99),
            max: lat.last().copied().unwrap_or_default(),
            lagged,
            xadd: (percentile(&acks, 0.50), percentile(&acks, 0.99)),
        };
        println!(
            "{n} master(s): sent {} at {}/s; delivered {}; p50 {} p99 {} max {}; lagged updates (server, cumulative) {}; XADD pipeline round trip p50 {} p99 {}",
            th(f.sent as f64),
            th(f.rate),
            f.delivered
                .iter()
                .map(|&d| th(d as f64))
                .collect::<Vec<_>>()
                .join("/"),
            ms(f.p50),
            ms(f.p99),
            ms(f.max),
            f.lagged,
            ms(f.xadd.0),
            ms(f.xadd.1)
        );
        out.push(f);
    }
    Ok(out)
}

/// `x` rounded, with thousands separators.
fn th(x: f64) -> String {
    let digits = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if x < -0.5 { format!("-{out}") } else { out }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

async fn bench(args: &Args, work: &Path) -> Res<()> {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "alp-connex iec104-server benchmark: {cores} cores, loopback only, work dir {}",
        work.display()
    );
    let (_valkey, valkey_port) = start_valkey(work)?;
    let valkey = valkey_client(valkey_port).await?;
    let gi = if args.only.as_deref() != Some("latency") {
        gi_part(args, work, &valkey, valkey_port).await?
    } else {
        Vec::new()
    };
    let lat = if args.only.as_deref() != Some("gi") {
        latency_part(args, work, &valkey, valkey_port).await?
    } else {
        Vec::new()
    };
    let _ = valkey.quit().await;

    println!("\n== summary ({cores} cores)");
    for g in &gi {
        println!(
            "GI {} points  k={:<3} w={:<3} {:>6.1} ms {:>8} frames/s {:>10} objects/s | raw engine {:>8} frames/s (ratio {:.2}) | k/RTT bound {:>10} frames/s, RTT {:.1} µs (ratio {:.2})",
            th(g.server.objects as f64),
            g.k,
            g.w,
            g.server.elapsed.as_secs_f64() * 1e3,
            th(g.server.frames_per_s()),
            th(g.server.objects_per_s()),
            th(g.raw.frames_per_s()),
            g.server.frames_per_s() / g.raw.frames_per_s(),
            th(g.bound),
            g.link_rtt.as_secs_f64() * 1e6,
            g.server.frames_per_s() / g.bound,
        );
    }
    for l in &lat {
        let all = l.delivered.iter().all(|&d| d == l.sent);
        println!(
            "latency {}/s  {} master(s)  p50 {:>9}  p99 {:>9}  max {:>9}  delivered {}/{} per master{}",
            th(l.rate),
            l.masters,
            ms(l.p50),
            ms(l.p99),
            ms(l.max),
            th(l.delivered.iter().min().copied().unwrap_or(0) as f64),
            th(l.sent as f64),
            if all { "" } else { "  NOT ALL DELIVERED" }
        );
    }
    let lost: Vec<_> = lat
        .iter()
        .filter(|l| l.delivered.iter().any(|&d| d != l.sent))
        .map(|l| l.masters)
        .collect();
    if !lost.is_empty() {
        return Err(format!("entries not delivered with {lost:?} master(s)").into());
    }
    Ok(())
}
