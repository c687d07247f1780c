//! Load generator for the signaling server (issue #6, "Speed, measured").
//!
//! Speaks Engine.IO 3 or 4 + Socket.IO over WebSocket directly, with
//! hand-written framing, so that it costs as little as possible per message:
//! every hot frame is pre-serialized (only `[sender,seq,timestamp]` is
//! spliced in), every connection has one reader and one writer task, writes
//! are batched, and received frames are scanned, not parsed.
//!
//! Modes (`--mode`):
//! - `relay`: W workspaces × K attendees; attendee i sends `negotiation`
//!   (≈3.5 KB SDP) or `icecandidate` (≈600 B) to attendee i+1 of its
//!   workspace, closed loop with D messages in flight per sender.
//! - `relay-open`: the same at a fixed offered rate (`--rate` msgs/s in all),
//!   latency measured from the intended send time.
//! - `auth`: token-checked `mic-toggle` room broadcasts (a delivery per
//!   receiver), then `ring` → `answer` round trips.
//! - `join`: new connections doing create + attend, per second.
//! - `idle`: C sockets (a part of them joined) held for two ping intervals;
//!   server RSS per connection and whether every socket stayed up.
//! - `create`: first `--prefill` workspaces created as fast as possible (not
//!   measured), then C sockets each keeping `--inflight` `create` events
//!   outstanding: creates per second and the create → `created` latency
//!   (`bench/store.sh` compares the memory and the file store with it).
//! - `churn`: pairs of new sockets (one creates a workspace, one attends it)
//!   exchange a `negotiation` each way and a `mic-toggle`, then go — one with
//!   a clean Socket.IO disconnect, the other by dropping its TCP connection —
//!   `--cycles` sockets in all; the server's RSS and open descriptors are
//!   sampled along the way, and after the grace `/metrics` must show no
//!   attendee, workspace or socket left (ghosts).
//!
//! Every loop is bounded in time (and the idle/join ones in count); only
//! loopback targets are accepted. Output: a human summary, then one JSON line.
//!
//! The test suite includes this file as a module (`tests/loadgen_smoke.rs`),
//! so `run` is the entry point and `main` only parses arguments.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::{AbortHandle, JoinSet};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

// ---------------------------------------------------------------- options

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Relay,
    RelayOpen,
    Auth,
    Join,
    Idle,
    Create,
    Churn,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Relay => "relay",
            Mode::RelayOpen => "relay-open",
            Mode::Auth => "auth",
            Mode::Join => "join",
            Mode::Idle => "idle",
            Mode::Create => "create",
            Mode::Churn => "churn",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Msg {
    Negotiation,
    IceCandidate,
}

#[derive(Clone, Debug)]
pub struct Opts {
    /// Server address; must be a loopback address.
    pub addr: SocketAddr,
    pub mode: Mode,
    /// Engine.IO protocol: 3 or 4.
    pub eio: u8,
    pub workspaces: usize,
    pub attendees: usize,
    pub msg: Msg,
    /// Messages in flight per sender (closed loop).
    pub depth: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Offered rate for `relay-open`, msgs/s over all senders; for `churn`,
    /// the most cycles per second (the workers wait for their pair's slot).
    pub rate: f64,
    /// Sockets for `idle` and the measured phase of `create`.
    pub conns: usize,
    /// Fraction of the idle sockets that create/attend a workspace.
    pub joined: f64,
    /// How long `idle` holds its sockets (default: two ping intervals + 2 s).
    pub hold: Option<Duration>,
    /// Server process, for RSS and CPU figures.
    pub server_pid: Option<u32>,
    /// Source addresses 127.0.0.1..=127.0.0.N to spread connections over (0: auto).
    pub src_addrs: usize,
    /// Connections set up concurrently (and join workers).
    pub concurrency: usize,
    /// Upper bound on joins in `join` mode (and on measured creates in `create`).
    pub max_joins: u64,
    /// `create`: workspaces created before measuring.
    pub prefill: u64,
    /// `create`: sockets the prefill is spread over.
    pub prefill_conns: usize,
    /// `create`: bound on the prefill's duration.
    pub prefill_timeout: Duration,
    /// `create`: events outstanding per socket in the measured phase.
    pub inflight: usize,
    /// `create`: a measured socket is replaced by a new one after this many
    /// creates (0: never). The server keeps a list of the workspaces a socket
    /// is bound to; one socket creating thousands makes each create slower.
    pub creates_per_conn: u64,
    /// Free-form label copied into the JSON line (e.g. "ours", "floor").
    pub label: String,
    /// Tokio worker threads (0: as many as the CPU affinity allows).
    pub threads: usize,
    /// `churn`: sockets to connect, join and disconnect in all.
    pub cycles: u64,
    /// `churn`: bound on the cycles' duration (the run stops early past it).
    pub max_secs: Duration,
    /// `churn`: RSS and descriptors are sampled every this many cycles (0: cycles / 20).
    pub sample_every: u64,
    /// `churn`: wait after the last cycle before looking for ghosts — at least
    /// the server's `presence_grace_secs` + `workspace_expiry_secs`.
    pub grace: Duration,
}

impl Default for Opts {
    fn default() -> Opts {
        Opts {
            addr: SocketAddr::from(([127, 0, 0, 1], 9090)),
            mode: Mode::Relay,
            eio: 4,
            workspaces: 250,
            attendees: 4,
            msg: Msg::Negotiation,
            depth: 4,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(5),
            rate: 10_000.0,
            conns: 1000,
            joined: 0.5,
            hold: None,
            server_pid: None,
            src_addrs: 0,
            concurrency: 64,
            max_joins: 1_000_000,
            prefill: 0,
            prefill_conns: 256,
            prefill_timeout: Duration::from_secs(120),
            inflight: 1,
            creates_per_conn: 0,
            label: String::new(),
            threads: 0,
            cycles: 200_000,
            max_secs: Duration::from_secs(600),
            sample_every: 0,
            grace: Duration::from_secs(3),
        }
    }
}

pub const USAGE: &str = "usage: loadgen --addr 127.0.0.1:PORT --mode relay|relay-open|auth|join|idle|create|churn \
[--eio 3|4] [--workspaces W] [--attendees K] [--msg negotiation|icecandidate] [--depth D] \
[--warmup S] [--duration S] [--rate MSGS_PER_S] [--conns C] [--joined FRACTION] [--hold S] \
[--server-pid PID] [--src-addrs N] [--concurrency N] [--max-joins N] [--prefill N] \
[--prefill-conns N] [--prefill-timeout S] [--inflight K] [--creates-per-conn N] [--label TEXT] [--threads N] \
[--cycles N] [--max-secs S] [--sample-every N] [--grace S]";

fn secs(v: &str) -> Result<Duration> {
    let s: f64 = v.parse().with_context(|| format!("not a number of seconds: {v}"))?;
    if !(0.0..=3600.0).contains(&s) {
        bail!("seconds out of range: {v}");
    }
    Ok(Duration::from_secs_f64(s))
}

/// Parses `--key value` / `--key=value` arguments (without the program name).
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Opts> {
    let mut o = Opts::default();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (key, inline) = match arg.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        if key == "--help" || key == "-h" {
            bail!("{USAGE}");
        }
        let v = match inline {
            Some(v) => v,
            None => it.next().ok_or_else(|| anyhow!("{key} needs a value"))?,
        };
        let num = |v: &str| -> Result<usize> { v.parse::<usize>().with_context(|| format!("{key}: not a count: {v}")) };
        match key.as_str() {
            "--addr" => o.addr = v.parse().with_context(|| format!("--addr: {v}"))?,
            "--mode" => {
                o.mode = match v.as_str() {
                    "relay" => Mode::Relay,
                    "relay-open" => Mode::RelayOpen,
                    "auth" => Mode::Auth,
                    "join" => Mode::Join,
                    "idle" => Mode::Idle,
                    "create" => Mode::Create,
                    "churn" => Mode::Churn,
                    _ => bail!("--mode: unknown mode {v}"),
                }
            }
            "--eio" => {
                o.eio = match v.as_str() {
                    "3" => 3,
                    "4" => 4,
                    _ => bail!("--eio must be 3 or 4"),
                }
            }
            "--workspaces" => o.workspaces = num(&v)?,
            "--attendees" => o.attendees = num(&v)?,
            "--msg" => {
                o.msg = match v.as_str() {
                    "negotiation" => Msg::Negotiation,
                    "icecandidate" => Msg::IceCandidate,
                    _ => bail!("--msg must be negotiation or icecandidate"),
                }
            }
            "--depth" => o.depth = num(&v)?,
            "--warmup" => o.warmup = secs(&v)?,
            "--duration" => o.duration = secs(&v)?,
            "--rate" => o.rate = v.parse().with_context(|| format!("--rate: {v}"))?,
            "--conns" => o.conns = num(&v)?,
            "--joined" => o.joined = v.parse().with_context(|| format!("--joined: {v}"))?,
            "--hold" => o.hold = Some(secs(&v)?),
            "--server-pid" => o.server_pid = Some(num(&v)? as u32),
            "--src-addrs" => o.src_addrs = num(&v)?,
            "--concurrency" => o.concurrency = num(&v)?,
            "--max-joins" => o.max_joins = num(&v)? as u64,
            "--prefill" => o.prefill = num(&v)? as u64,
            "--prefill-conns" => o.prefill_conns = num(&v)?,
            "--prefill-timeout" => o.prefill_timeout = secs(&v)?,
            "--inflight" => o.inflight = num(&v)?,
            "--creates-per-conn" => o.creates_per_conn = num(&v)? as u64,
            "--label" => o.label = v,
            "--threads" => o.threads = num(&v)?,
            "--cycles" => o.cycles = num(&v)? as u64,
            "--max-secs" => o.max_secs = secs(&v)?,
            "--sample-every" => o.sample_every = num(&v)? as u64,
            "--grace" => o.grace = secs(&v)?,
            _ => bail!("unknown option {key}\n{USAGE}"),
        }
    }
    o.validate()?;
    Ok(o)
}

impl Opts {
    pub fn validate(&self) -> Result<()> {
        if !self.addr.ip().is_loopback() {
            bail!("only loopback targets are allowed, not {}", self.addr);
        }
        if self.attendees < 2 || self.attendees > 64 {
            bail!("--attendees must be 2..=64");
        }
        if self.workspaces == 0 || self.workspaces > 100_000 {
            bail!("--workspaces must be 1..=100000");
        }
        if self.depth == 0 || self.depth > 1024 {
            bail!("--depth must be 1..=1024");
        }
        if self.conns == 0 || self.conns > 200_000 {
            bail!("--conns must be 1..=200000");
        }
        if !(0.0..=1.0).contains(&self.joined) {
            bail!("--joined must be between 0 and 1");
        }
        if !(self.rate > 0.0 && self.rate <= 10_000_000.0) {
            bail!("--rate must be positive");
        }
        if self.concurrency == 0 || self.concurrency > 4096 {
            bail!("--concurrency must be 1..=4096");
        }
        if self.src_addrs > 250 {
            bail!("--src-addrs must be at most 250");
        }
        if self.prefill > 10_000_000 {
            bail!("--prefill must be at most 10000000");
        }
        if self.prefill_conns == 0 || self.prefill_conns > 4096 {
            bail!("--prefill-conns must be 1..=4096");
        }
        // The server queues at most 256 events per socket (more get an alert).
        if self.inflight == 0 || self.inflight > 256 {
            bail!("--inflight must be 1..=256");
        }
        if self.cycles < 2 || self.cycles > 10_000_000 {
            bail!("--cycles must be 2..=10000000");
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- clocks, /proc

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// Microseconds since the process-wide base instant (senders and receivers
/// are in this process, so one clock serves both ends).
fn now_us() -> u64 {
    base().elapsed().as_micros() as u64
}

/// utime + stime of a process, in clock ticks (USER_HZ = 100 on Linux).
fn cpu_ticks(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// (busy, steal) clock ticks of the whole machine, all cores, from /proc/stat.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let f: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy = f.first()? + f.get(1)? + f.get(2)? + f.get(5)? + f.get(6)? + f.get(7)?;
    Some((busy, *f.get(7)?))
}

/// Resident set size of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Open file descriptors of a process (entries of /proc/PID/fd).
pub fn fd_count(pid: u32) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

/// Clock ticks (USER_HZ = 100) in microseconds.
const US_PER_TICK: f64 = 10_000.0;

/// CPU use of the load generator and the server over a window.
struct CpuWindow {
    t: Instant,
    me: Option<u64>,
    server: Option<u64>,
    pid: Option<u32>,
}

impl CpuWindow {
    fn start(pid: Option<u32>) -> CpuWindow {
        CpuWindow {
            t: Instant::now(),
            me: cpu_ticks(None),
            server: pid.and_then(|p| cpu_ticks(Some(p))),
            pid,
        }
    }

    /// (load generator %, server %) of one core.
    fn finish(&self) -> (Option<f64>, Option<f64>) {
        let (me, server, _) = self.finish_with_server_us();
        (me, server)
    }

    /// As `finish`, plus the server's CPU time over the window in µs (from
    /// the same reading, so that a per-message cost and the % agree).
    fn finish_with_server_us(&self) -> (Option<f64>, Option<f64>, Option<f64>) {
        let secs = self.t.elapsed().as_secs_f64().max(1e-6);
        let ticks = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64),
            _ => None,
        };
        let pct = |t: Option<f64>| t.map(|t| t / 100.0 / secs * 100.0);
        let me = ticks(self.me, cpu_ticks(None));
        let server = ticks(self.server, self.pid.and_then(|p| cpu_ticks(Some(p))));
        (pct(me), pct(server), server.map(|t| t * US_PER_TICK))
    }
}

// ---------------------------------------------------------------- histogram

/// Log-linear latency histogram in microseconds (128 sub-buckets per power
/// of two: better than 1 % resolution).
#[derive(Clone)]
pub struct Hist {
    buckets: Vec<u64>,
    count: u64,
    max: u64,
}

impl Default for Hist {
    fn default() -> Hist {
        Hist {
            buckets: vec![0; 58 * 128],
            count: 0,
            max: 0,
        }
    }
}

impl Hist {
    fn index(v: u64) -> usize {
        if v < 128 {
            v as usize
        } else {
            let e = 63 - v.leading_zeros() as u64;
            let sub = (v >> (e - 7)) & 127;
            ((e - 6) * 128 + sub) as usize
        }
    }

    fn value(i: usize) -> u64 {
        if i < 128 {
            i as u64
        } else {
            let e = (i / 128) as u64 + 6;
            let sub = (i % 128) as u64;
            // Upper edge of the bucket, so quantiles never flatter.
            ((128 + sub + 1) << (e - 7)) - 1
        }
    }

    pub fn record(&mut self, v: u64) {
        self.buckets[Self::index(v)] += 1;
        self.count += 1;
        self.max = self.max.max(v);
    }

    pub fn merge(&mut self, o: &Hist) {
        for (a, b) in self.buckets.iter_mut().zip(&o.buckets) {
            *a += b;
        }
        self.count += o.count;
        self.max = self.max.max(o.max);
    }

    /// The q-quantile in microseconds (0 when empty).
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Self::value(i).min(self.max);
            }
        }
        self.max
    }

    fn json(&self) -> Value {
        let ms = |us: u64| (us as f64 / 1000.0 * 1000.0).round() / 1000.0;
        json!({
            "samples": self.count,
            "p50_ms": ms(self.quantile(0.50)),
            "p90_ms": ms(self.quantile(0.90)),
            "p99_ms": ms(self.quantile(0.99)),
            "p999_ms": ms(self.quantile(0.999)),
            "max_ms": ms(self.max),
        })
    }
}

// ---------------------------------------------------------------- payloads

const LG_PLACEHOLDER: &str = "\"@@LG@@\"";
/// The key that carries `[sender, seq, send time µs]` through the server.
/// Starts with a digit so that it sorts first in a re-serialized object.
const LG_KEY: &str = "\"0lg\":[";

/// A pre-serialized frame with a hole for `sender,seq,ts`.
#[derive(Clone)]
struct Tpl {
    pre: String,
    post: String,
}

impl Tpl {
    /// `payload` must contain the string "@@LG@@" once (as a `0lg` value).
    fn new(event: &str, payload: &Value) -> Tpl {
        let text = format!(
            "42{}",
            serde_json::to_string(&json!([event, payload])).expect("serializable")
        );
        let (pre, post) = text.split_once(LG_PLACEHOLDER).expect("template without placeholder");
        Tpl {
            pre: format!("{pre}["),
            post: format!("]{post}"),
        }
    }

    fn build(&self, sender: usize, seq: u64, ts: u64) -> String {
        let mut s = String::with_capacity(self.pre.len() + self.post.len() + 40);
        s.push_str(&self.pre);
        let _ = write!(s, "{sender},{seq},{ts}");
        s.push_str(&self.post);
        s
    }

    fn build_raw(&self, raw: &str) -> String {
        let mut s = String::with_capacity(self.pre.len() + self.post.len() + raw.len());
        s.push_str(&self.pre);
        s.push_str(raw);
        s.push_str(&self.post);
        s
    }

    fn len(&self) -> usize {
        self.pre.len() + self.post.len() + 20
    }
}

/// A plausible ≈3.5 KB SDP offer (audio + video, ICE, DTLS).
fn sdp(target: usize) -> String {
    let mut s = String::from(
        "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
a=group:BUNDLE 0 1\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS stream\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\nc=IN IP4 0.0.0.0\r\n\
a=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:Pm3d\r\na=ice-pwd:H2kq0YlKx8b1n4Zr5c7VtJ0d\r\n\
a=ice-options:trickle\r\na=fingerprint:sha-256 1B:7E:9C:44:0A:3D:5F:62:8B:11:C2:9A:77:E0:\
4D:36:AB:19:F8:22:6C:05:D9:8E:31:B7:4A:90:EC:53:2F:16\r\na=setup:actpass\r\na=mid:0\r\n\
a=sendrecv\r\na=msid:stream audio0\r\na=rtcp-mux\r\n\
a=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n",
    );
    let mut pt = 96;
    while s.len() < target.saturating_sub(60) {
        let _ = write!(
            s,
            "a=rtpmap:{pt} VP8/90000\r\na=rtcp-fb:{pt} goog-remb\r\na=rtcp-fb:{pt} transport-cc\r\n\
a=rtcp-fb:{pt} ccm fir\r\na=rtcp-fb:{pt} nack\r\na=rtcp-fb:{pt} nack pli\r\n"
        );
        pt += 1;
    }
    s.push_str("a=ssrc:3735928559 cname:bench\r\n");
    s
}

/// A plausible ICE candidate line, padded so that the frame is ≈600 B.
fn candidate_line(pad_to: usize) -> String {
    let mut s = String::from(
        "candidate:842163049 1 udp 1677729535 203.0.113.7 54321 typ srflx raddr 192.0.2.10 rport 54321 generation 0 ufrag Pm3d network-id 1 network-cost 10",
    );
    while s.len() < pad_to {
        s.push_str(" x");
    }
    s
}

// ---------------------------------------------------------------- connections

/// A control (non-hot) event seen by a connection's reader.
struct Ctl {
    name: String,
    text: String,
}

/// What a reader needs to handle hot events.
struct Hot {
    run: Arc<Run>,
    /// Pre-built `answer` frame for a `ring` addressed to this socket.
    answer: Option<Tpl>,
}

#[derive(Default)]
struct Shared {
    closed: AtomicBool,
    /// EIO3: pongs received; EIO4: server pings answered.
    pings: AtomicU64,
    /// `alert`s and other error replies.
    errors: AtomicU64,
    hot: RwLock<Option<Arc<Hot>>>,
    hist: Mutex<Hist>,
    /// Woken when the reader ends (the server closed, or the stream failed).
    gone: tokio::sync::Notify,
}

pub struct Conn {
    tx: mpsc::UnboundedSender<Message>,
    ctl: mpsc::UnboundedReceiver<Ctl>,
    sh: Arc<Shared>,
    ping_interval: Duration,
    tasks: [AbortHandle; 2],
}

impl Drop for Conn {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

type Ws = WebSocketStream<TcpStream>;

static NEXT_SRC: AtomicUsize = AtomicUsize::new(0);
/// Connect probes (`iceservers`) that went unanswered: events the server dropped.
static PROBE_RETRIES: AtomicU64 = AtomicU64::new(0);

async fn next_text(ws: &mut Ws) -> Result<String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t.to_string()),
            Some(Ok(Message::Close(_))) | None => bail!("closed during the handshake"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
        }
    }
}

/// Leaves the source port to `connect`, which picks one unique for the whole
/// address pair, instead of `bind`, which must find a port no socket on the
/// source address holds — TIME_WAIT ones included. After an 18 000-socket run
/// the next one's binds searched among 36 000 TIME_WAIT sockets: the load
/// generator spent its core in `bind` for 45–60 s, and its sockets' late
/// heartbeats were the "dropped idle sockets" (bench/idle-memory.md).
fn bind_address_no_port(sock: &TcpSocket) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid descriptor, and a pointer to an int that outlives the call, with its size.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

impl Conn {
    /// Opens a WebSocket, does the Engine.IO/Socket.IO handshake and starts
    /// the reader and writer tasks.
    pub async fn connect(o: &Opts, src_addrs: usize) -> Result<Conn> {
        tokio::time::timeout(Duration::from_secs(20), Self::connect_inner(o, src_addrs))
            .await
            .map_err(|_| anyhow!("connect timed out"))?
    }

    async fn connect_inner(o: &Opts, src_addrs: usize) -> Result<Conn> {
        let url = format!("ws://{}/socket.io/?EIO={}&transport=websocket", o.addr, o.eio);
        let sock = TcpSocket::new_v4()?;
        if src_addrs > 1 {
            let n = NEXT_SRC.fetch_add(1, Relaxed) % src_addrs;
            let ip = Ipv4Addr::new(127, 0, 0, 1 + n as u8);
            bind_address_no_port(&sock)?;
            sock.bind(SocketAddr::new(IpAddr::V4(ip), 0))?;
        }
        let stream = sock.connect(o.addr).await.context("TCP connect")?;
        stream.set_nodelay(true)?;
        let cfg = WebSocketConfig::default()
            .read_buffer_size(8 * 1024)
            .write_buffer_size(16 * 1024);
        let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(cfg))
            .await
            .context("WebSocket handshake")?;
        let open = next_text(&mut ws).await?;
        let hs: Value = open
            .strip_prefix('0')
            .and_then(|j| serde_json::from_str(j).ok())
            .ok_or_else(|| anyhow!("expected an Engine.IO open packet, got {open:.80}"))?;
        let ping_ms = hs["pingInterval"].as_u64().unwrap_or(25_000).max(100);
        let ping_interval = Duration::from_millis(ping_ms);
        if o.eio == 4 {
            ws.send(Message::text("40")).await?;
        }
        loop {
            let t = next_text(&mut ws).await?;
            if t.starts_with("40") {
                break;
            } else if t == "2" && o.eio == 4 {
                ws.send(Message::text("3")).await?;
            } else if t.starts_with("44") {
                bail!("Socket.IO connect refused: {t}");
            }
        }
        // The server sends `40` before its connect handler has registered
        // the socket's event handler (socketioxide runs connect handlers in a
        // task of their own), so an event sent at once can be dropped. Probe
        // with the harmless `iceservers` until it is answered, and count the
        // retries: each one is an event the server lost.
        let mut tries = 0;
        loop {
            ws.send(Message::text("42[\"iceservers\",{}]")).await?;
            let answered = tokio::time::timeout(Duration::from_millis(300), async {
                loop {
                    let t = next_text(&mut ws).await?;
                    if t.starts_with("42[\"iceservers\"") {
                        return Ok::<bool, anyhow::Error>(true);
                    } else if t == "2" && o.eio == 4 {
                        ws.send(Message::text("3")).await?;
                    }
                }
            })
            .await;
            match answered {
                Ok(r) => {
                    r?;
                    break;
                }
                Err(_) if tries < 30 => {
                    tries += 1;
                    PROBE_RETRIES.fetch_add(1, Relaxed);
                }
                Err(_) => bail!("no answer to iceservers after {tries} tries"),
            }
        }
        let (sink, stream) = ws.split();
        let (tx, rx) = mpsc::unbounded_channel();
        let (ctl_tx, ctl) = mpsc::unbounded_channel();
        let sh = Arc::new(Shared::default());
        let w = tokio::spawn(writer(sink, rx, (o.eio == 3).then_some(ping_interval), sh.clone()));
        let r = tokio::spawn(reader(stream, tx.clone(), ctl_tx, sh.clone(), o.eio));
        Ok(Conn {
            tx,
            ctl,
            sh,
            ping_interval,
            tasks: [w.abort_handle(), r.abort_handle()],
        })
    }

    fn send(&self, text: String) -> Result<()> {
        self.tx
            .send(Message::text(text))
            .map_err(|_| anyhow!("connection closed"))
    }

    fn emit(&self, event: &str, payload: &Value) -> Result<()> {
        self.send(format!("42{}", json!([event, payload])))
    }

    /// Waits for one of `names`; `alert`, `full` and `destroyed` are errors.
    async fn wait_for(&mut self, names: &[&str], limit: Duration) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            let ctl = tokio::time::timeout_at(deadline, self.ctl.recv())
                .await
                .map_err(|_| {
                    anyhow!(
                        "no {names:?} within {limit:?} (saw {seen:?}, socket alive: {})",
                        self.alive()
                    )
                })?
                .ok_or_else(|| anyhow!("connection closed while waiting for {names:?}"))?;
            if names.contains(&ctl.name.as_str()) {
                let mut v: Value = serde_json::from_str(&ctl.text[2..])?;
                return Ok(v.get_mut(1).map(Value::take).unwrap_or(Value::Null));
            }
            if matches!(ctl.name.as_str(), "alert" | "full" | "destroyed") {
                bail!("server answered {:.200}", ctl.text);
            }
            seen.push(ctl.name);
        }
    }

    fn set_hot(&self, hot: Option<Arc<Hot>>) {
        *self.sh.hot.write().unwrap() = hot;
    }

    fn alive(&self) -> bool {
        !self.sh.closed.load(Relaxed)
    }

    /// Leaves as socket.io-client's `disconnect()` does: a Socket.IO
    /// disconnect packet, then a WebSocket close; returns once the server
    /// has closed its side (bounded by `limit`).
    async fn disconnect(self, limit: Duration) -> Result<()> {
        let gone = self.sh.gone.notified();
        self.send("41".into())?;
        self.tx
            .send(Message::Close(None))
            .map_err(|_| anyhow!("connection closed"))?;
        if self.alive() {
            tokio::time::timeout(limit, gone)
                .await
                .map_err(|_| anyhow!("the server did not close within {limit:?} of a clean disconnect"))?;
        }
        Ok(())
    }
}

async fn writer(
    mut sink: SplitSink<Ws, Message>,
    mut rx: mpsc::UnboundedReceiver<Message>,
    eio3_ping: Option<Duration>,
    sh: Arc<Shared>,
) {
    let period = eio3_ping.unwrap_or(Duration::from_secs(3600));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            m = rx.recv() => {
                let Some(m) = m else { break };
                if sink.feed(m).await.is_err() {
                    break;
                }
                let mut n = 1;
                while n < 64 {
                    match rx.try_recv() {
                        Ok(m) => {
                            if sink.feed(m).await.is_err() {
                                break;
                            }
                            n += 1;
                        }
                        Err(_) => break,
                    }
                }
                if sink.flush().await.is_err() {
                    break;
                }
            }
            _ = tick.tick(), if eio3_ping.is_some() => {
                if sink.send(Message::text("2")).await.is_err() {
                    break;
                }
            }
        }
    }
    sh.closed.store(true, Relaxed);
}

async fn reader(
    mut stream: SplitStream<Ws>,
    tx: mpsc::UnboundedSender<Message>,
    ctl: mpsc::UnboundedSender<Ctl>,
    sh: Arc<Shared>,
    eio: u8,
) {
    while let Some(m) = stream.next().await {
        match m {
            Ok(Message::Text(t)) => {
                if !on_frame(t.as_str(), &tx, &ctl, &sh, eio) {
                    break;
                }
            }
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    sh.closed.store(true, Relaxed);
    sh.gone.notify_waiters();
}

/// Handles one Engine.IO frame; false when the connection is over.
fn on_frame(
    t: &str,
    tx: &mpsc::UnboundedSender<Message>,
    ctl: &mpsc::UnboundedSender<Ctl>,
    sh: &Shared,
    eio: u8,
) -> bool {
    let b = t.as_bytes();
    match b.first() {
        Some(b'2') if eio == 4 => {
            sh.pings.fetch_add(1, Relaxed);
            let _ = tx.send(Message::text("3"));
        }
        Some(b'3') => {
            sh.pings.fetch_add(1, Relaxed);
        }
        Some(b'1') => return false,
        Some(b'4') => match b.get(1) {
            Some(b'2') => {
                let name = t.get(4..).and_then(|r| r.split_once('"')).map(|(n, _)| n).unwrap_or("");
                if matches!(name, "negotiation" | "icecandidate" | "mic-toggle" | "ring" | "answer") {
                    let hot = sh.hot.read().unwrap().clone();
                    if let Some(hot) = hot {
                        on_hot(name, t, &hot, sh, tx);
                        return true;
                    }
                }
                if matches!(name, "alert" | "full" | "destroyed") {
                    sh.errors.fetch_add(1, Relaxed);
                    if let Some(hot) = sh.hot.read().unwrap().as_ref() {
                        hot.run.errors.fetch_add(1, Relaxed);
                    }
                }
                let _ = ctl.send(Ctl {
                    name: name.to_string(),
                    text: t.to_string(),
                });
            }
            Some(b'1') => return false,
            _ => {}
        },
        _ => {}
    }
    true
}

/// `sender,seq,ts` of the `0lg` marker, and its raw text.
fn parse_lg(t: &str) -> Option<(usize, u64, u64, &str)> {
    let i = t.find(LG_KEY)? + LG_KEY.len();
    let rest = &t[i..];
    let raw = &rest[..rest.find(']')?];
    let mut it = raw.split(',');
    let s = it.next()?.parse().ok()?;
    let q = it.next()?.parse().ok()?;
    let ts = it.next()?.parse().ok()?;
    Some((s, q, ts, raw))
}

fn on_hot(name: &str, t: &str, hot: &Hot, sh: &Shared, tx: &mpsc::UnboundedSender<Message>) {
    let run = &hot.run;
    let Some((s, seq, ts, raw)) = parse_lg(t) else {
        run.stray.fetch_add(1, Relaxed);
        return;
    };
    if name == "ring" {
        // The callee answers at once; the caller measures the round trip.
        match &hot.answer {
            Some(a) => {
                let _ = tx.send(Message::text(a.build_raw(raw)));
            }
            None => {
                run.stray.fetch_add(1, Relaxed);
            }
        }
        return;
    }
    let Some(st) = run.senders.get(s) else {
        run.stray.fetch_add(1, Relaxed);
        return;
    };
    let now = now_us();
    if run.fanout == 1 {
        let prev = st.last_seq.swap(seq, Relaxed);
        if seq != prev + 1 {
            run.reorders.fetch_add(1, Relaxed);
        }
    }
    if now >= run.win_start.load(Relaxed) && now < run.win_end.load(Relaxed) {
        run.delivered_win.fetch_add(1, Relaxed);
        sh.hist.lock().unwrap().record(now.saturating_sub(ts));
    }
    let r = st.recv.fetch_add(1, Relaxed) + 1;
    if r % run.fanout == 0 {
        st.sem.add_permits(1);
    }
}

// ---------------------------------------------------------------- runs

struct SenderState {
    sem: Semaphore,
    sent: AtomicU64,
    recv: AtomicU64,
    last_seq: AtomicU64,
}

/// The shared state of one measured phase.
struct Run {
    senders: Vec<SenderState>,
    /// Deliveries expected per message sent.
    fanout: u64,
    win_start: AtomicU64,
    win_end: AtomicU64,
    delivered_win: AtomicU64,
    reorders: AtomicU64,
    stray: AtomicU64,
    errors: AtomicU64,
    skipped: AtomicU64,
    stop: AtomicBool,
}

impl Run {
    fn new(n: usize, fanout: u64, depth: usize) -> Arc<Run> {
        Arc::new(Run {
            senders: (0..n)
                .map(|_| SenderState {
                    sem: Semaphore::new(depth),
                    sent: AtomicU64::new(0),
                    recv: AtomicU64::new(0),
                    last_seq: AtomicU64::new(0),
                })
                .collect(),
            fanout,
            win_start: AtomicU64::new(u64::MAX),
            win_end: AtomicU64::new(u64::MAX),
            delivered_win: AtomicU64::new(0),
            reorders: AtomicU64::new(0),
            stray: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        })
    }

    fn sent(&self) -> u64 {
        self.senders.iter().map(|s| s.sent.load(Relaxed)).sum()
    }

    fn received(&self) -> u64 {
        self.senders.iter().map(|s| s.recv.load(Relaxed)).sum()
    }
}

/// One attendee of a benchmark workspace.
pub struct Member {
    conn: Conn,
    ws: String,
    id: String,
    token: String,
}

fn src_addrs_for(o: &Opts, conns: usize) -> usize {
    if o.src_addrs > 0 {
        o.src_addrs
    } else {
        conns.div_ceil(16_000).max(1)
    }
}

/// Creates one workspace and has K-1 more sockets attend it.
async fn make_workspace(o: &Opts, k: usize, src: usize) -> Result<Vec<Member>> {
    let limit = Duration::from_secs(20);
    let mut owner = Conn::connect(o, src).await?;
    owner.emit(
        "create",
        &json!({"workspace": {"name": "bench", "pin": "", "avatar": ""},
                "attendee": {"name": "owner", "avatar": ""}, "nonce": 1}),
    )?;
    let c = owner.wait_for(&["created"], limit).await?;
    let text = |v: &Value, what: &str| -> Result<String> {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("reply without {what}: {c:.300}"))
    };
    let ws = text(&c["workspace"]["id"], "workspace.id")?;
    let ws_token = text(&c["workspace"]["token"], "workspace.token")?;
    let mut members = vec![Member {
        id: text(&c["attendee"]["id"], "attendee.id")?,
        token: text(&c["accessToken"], "accessToken")?,
        ws: ws.clone(),
        conn: owner,
    }];
    for _ in 1..k {
        let mut conn = Conn::connect(o, src).await?;
        conn.emit(
            "attend",
            &json!({"workspace": {"token": ws_token, "pin": ""},
                    "attendee": {"name": "guest", "avatar": ""}, "nonce": 2}),
        )?;
        let g = conn.wait_for(&["attendance-granted"], limit).await?;
        let gid = g["workspace"]["id"].as_str().unwrap_or_default();
        if gid != ws {
            bail!("attendance-granted for {gid}, expected {ws}");
        }
        members.push(Member {
            id: text(&g["attendee"]["id"], "attendee.id")?,
            token: text(&g["accessToken"], "accessToken")?,
            ws: ws.clone(),
            conn,
        });
    }
    Ok(members)
}

/// W workspaces of K attendees, set up `concurrency` at a time.
async fn make_workspaces(o: &Opts, w: usize, k: usize, src: usize) -> Result<Vec<Vec<Member>>> {
    let sem = Arc::new(Semaphore::new(o.concurrency.max(1)));
    let mut set = JoinSet::new();
    for i in 0..w {
        let (o, sem) = (o.clone(), sem.clone());
        set.spawn(async move {
            let _p = sem.acquire().await;
            (i, make_workspace(&o, k, src).await)
        });
    }
    let mut out: Vec<Option<Vec<Member>>> = (0..w).map(|_| None).collect();
    while let Some(r) = set.join_next().await {
        let (i, ws) = r?;
        out[i] = Some(ws.with_context(|| format!("setting up workspace {i}"))?);
    }
    Ok(out.into_iter().flatten().collect())
}

/// Sleeps through warmup and the measurement window; returns the CPU use
/// over the window (loadgen %, server %, server µs) and its length in s.
async fn measure(run: &Run, o: &Opts) -> (Option<f64>, Option<f64>, Option<f64>, f64) {
    let start = now_us() + o.warmup.as_micros() as u64;
    run.win_start.store(start, Relaxed);
    run.win_end.store(start + o.duration.as_micros() as u64, Relaxed);
    tokio::time::sleep(o.warmup).await;
    let cpu = CpuWindow::start(o.server_pid);
    let t = Instant::now();
    tokio::time::sleep(o.duration).await;
    let secs = t.elapsed().as_secs_f64();
    let (me, server, server_us) = cpu.finish_with_server_us();
    (me, server, server_us, secs)
}

/// Stops the senders and waits (bounded) for what is in flight.
async fn drain(run: &Run) -> u64 {
    run.stop.store(true, Relaxed);
    let sent_at_stop = run.sent();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let want = run.sent() * run.fanout;
        if run.received() >= want || Instant::now() > deadline {
            return want.saturating_sub(run.received());
        }
        let _ = sent_at_stop;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn hist_of(members: &[&Member]) -> Hist {
    let mut h = Hist::default();
    for m in members {
        let mut mine = m.conn.sh.hist.lock().unwrap();
        h.merge(&mine);
        *mine = Hist::default();
    }
    h
}

fn round1(v: Option<f64>) -> Value {
    v.map(|x| json!((x * 10.0).round() / 10.0)).unwrap_or(Value::Null)
}

/// Runs closed-loop (or open-loop at `rate`) senders over `flat`, where
/// sender i's frames come from `tpls[i]`; `fanout` deliveries per message.
async fn drive(
    o: &Opts,
    flat: &[&Member],
    tpls: Vec<Tpl>,
    fanout: u64,
    answers: Vec<Option<Tpl>>,
    open_rate: Option<f64>,
) -> Result<Value> {
    let n = flat.len();
    let run = Run::new(n, fanout, o.depth);
    for (m, answer) in flat.iter().zip(answers) {
        m.conn.set_hot(Some(Arc::new(Hot {
            run: run.clone(),
            answer,
        })));
    }
    let mut senders = JoinSet::new();
    for (i, (m, tpl)) in flat.iter().zip(tpls).enumerate() {
        let (run, tx) = (run.clone(), m.conn.tx.clone());
        match open_rate {
            None => senders.spawn(closed_sender(run, i, tx, tpl)),
            Some(rate) => {
                let period = Duration::from_secs_f64(n as f64 / rate);
                let phase = period.mul_f64(i as f64 / n as f64);
                senders.spawn(open_sender(run, i, tx, tpl, period, phase))
            }
        };
    }
    let (me, server, server_us, secs) = measure(&run, o).await;
    let lost = drain(&run).await;
    senders.abort_all();
    for m in flat {
        m.conn.set_hot(None);
    }
    let hist = hist_of(flat);
    let delivered = run.delivered_win.load(Relaxed);
    // Events the server handled in the window: one per `fanout` deliveries.
    let msgs = delivered / fanout;
    let closed = flat.iter().filter(|m| !m.conn.alive()).count();
    Ok(json!({
        "senders": n,
        "sent": run.sent(),
        "delivered": run.received(),
        "delivered_in_window": delivered,
        "msgs_per_s": (delivered as f64 / secs).round(),
        "latency": hist.json(),
        "lost": lost,
        "errors": run.errors.load(Relaxed),
        "reordered": run.reorders.load(Relaxed),
        "stray": run.stray.load(Relaxed),
        "skipped_open_loop": run.skipped.load(Relaxed),
        "closed_sockets": closed,
        "window_s": (secs * 1000.0).round() / 1000.0,
        "loadgen_cpu_pct": round1(me),
        "server_cpu_pct": round1(server),
        "msgs_in_window": msgs,
        "server_cpu_us_per_msg": per_unit(server_us, msgs),
    }))
}

/// Server CPU µs per unit of work (message, join), 2 decimals; null
/// without a CPU reading or without work.
fn per_unit(server_us: Option<f64>, n: u64) -> Value {
    match server_us {
        Some(us) if n > 0 => json!((us / n as f64 * 100.0).round() / 100.0),
        _ => Value::Null,
    }
}

async fn closed_sender(run: Arc<Run>, i: usize, tx: mpsc::UnboundedSender<Message>, tpl: Tpl) {
    let st = &run.senders[i];
    let mut seq = 0;
    loop {
        match st.sem.acquire().await {
            Ok(p) => p.forget(),
            Err(_) => return,
        }
        if run.stop.load(Relaxed) {
            return;
        }
        seq += 1;
        let frame = tpl.build(i, seq, now_us());
        st.sent.fetch_add(1, Relaxed);
        if tx.send(Message::text(frame)).is_err() {
            return;
        }
    }
}

async fn open_sender(
    run: Arc<Run>,
    i: usize,
    tx: mpsc::UnboundedSender<Message>,
    tpl: Tpl,
    period: Duration,
    phase: Duration,
) {
    let st = &run.senders[i];
    let mut seq = 0;
    let mut next = tokio::time::Instant::now() + phase;
    // Bounded: never more than this many of one sender's messages unanswered.
    const MAX_OUTSTANDING: u64 = 512;
    loop {
        tokio::time::sleep_until(next).await;
        if run.stop.load(Relaxed) {
            return;
        }
        // Latency counts from the intended send time (no coordinated omission).
        let intended = now_us().saturating_sub(next.elapsed().as_micros() as u64);
        next += period;
        if st.sent.load(Relaxed) - st.recv.load(Relaxed) >= MAX_OUTSTANDING {
            run.skipped.fetch_add(1, Relaxed);
            continue;
        }
        seq += 1;
        st.sent.fetch_add(1, Relaxed);
        if tx.send(Message::text(tpl.build(i, seq, intended))).is_err() {
            return;
        }
    }
}

/// Sender i of a workspace sends to attendee i+1 of the same workspace.
fn relay_templates(groups: &[Vec<Member>], msg: Msg) -> Vec<Tpl> {
    let sdp = sdp(3400);
    let cand = candidate_line(170);
    let mut out = Vec::new();
    for g in groups {
        for (i, m) in g.iter().enumerate() {
            let target = &g[(i + 1) % g.len()];
            let tpl = match msg {
                Msg::Negotiation => Tpl::new(
                    "negotiation",
                    &json!({
                        "workspace": {"id": m.ws},
                        "attendee": {"id": target.id},
                        "broadcaster": {"id": m.id},
                        "accessToken": m.token,
                        "message": {"0lg": "@@LG@@", "type": "offer",
                                    "data": {"type": "offer", "sdp": sdp}},
                    }),
                ),
                Msg::IceCandidate => Tpl::new(
                    "icecandidate",
                    &json!({
                        "workspace": {"id": m.ws},
                        "attendee": {"id": target.id},
                        "broadcaster": {"id": m.id},
                        "accessToken": m.token,
                        "candidate": {"0lg": "@@LG@@", "candidate": cand,
                                      "sdpMid": "0", "sdpMLineIndex": 0,
                                      "usernameFragment": "Pm3d"},
                    }),
                ),
            };
            out.push(tpl);
        }
    }
    out
}

async fn run_relay(o: &Opts, open_rate: Option<f64>) -> Result<Value> {
    let k = o.attendees;
    let src = src_addrs_for(o, o.workspaces * k);
    let t = Instant::now();
    let groups = make_workspaces(o, o.workspaces, k, src).await?;
    let setup_s = t.elapsed().as_secs_f64();
    let tpls = relay_templates(&groups, o.msg);
    let frame_bytes = tpls.first().map(Tpl::len).unwrap_or(0);
    let flat: Vec<&Member> = groups.iter().flatten().collect();
    let answers = flat.iter().map(|_| None).collect();
    let mut r = drive(o, &flat, tpls, 1, answers, open_rate).await?;
    r["setup_s"] = json!((setup_s * 100.0).round() / 100.0);
    r["frame_bytes"] = json!(frame_bytes);
    r["msg"] = json!(match o.msg {
        Msg::Negotiation => "negotiation",
        Msg::IceCandidate => "icecandidate",
    });
    if let Some(rate) = open_rate {
        r["offered_rate"] = json!(rate);
    }
    Ok(r)
}

async fn run_auth(o: &Opts) -> Result<Value> {
    let k = o.attendees;
    let src = src_addrs_for(o, o.workspaces * k);
    let groups = make_workspaces(o, o.workspaces, k, src).await?;
    let flat: Vec<&Member> = groups.iter().flatten().collect();

    // mic-toggle: each attendee broadcasts to the K-1 others.
    let mic: Vec<Tpl> = flat
        .iter()
        .map(|m| {
            Tpl::new(
                "mic-toggle",
                &json!({
                    "workspace": {"id": m.ws},
                    "attendee": {"0lg": "@@LG@@", "id": m.id},
                    "state": true,
                    "accessToken": m.token,
                }),
            )
        })
        .collect();
    let none = flat.iter().map(|_| None).collect();
    let mic_r = drive(o, &flat, mic, (k - 1) as u64, none, None).await?;

    // ring → answer: attendee i rings i+1, which answers at once.
    let offer = sdp(3400);
    let mut rings = Vec::new();
    let mut answers = Vec::new();
    for g in &groups {
        for (i, m) in g.iter().enumerate() {
            let callee = &g[(i + 1) % g.len()];
            let caller = &g[(i + g.len() - 1) % g.len()];
            rings.push(Tpl::new(
                "ring",
                &json!({
                    "workspace": {"id": m.ws},
                    "attendee": {"id": m.id, "name": "caller"},
                    "accessToken": m.token,
                    "call": {"id": "call-bench"},
                    "callee": {"id": callee.id},
                    "offer": {"type": "offer", "sdp": offer},
                    "nonce": {"0lg": "@@LG@@"},
                }),
            ));
            answers.push(Some(Tpl::new(
                "answer",
                &json!({
                    "workspace": {"id": m.ws},
                    "attendee": {"id": m.id, "name": "callee"},
                    "call": {"id": "call-bench"},
                    "caller": {"id": caller.id},
                    "answer": {"type": "answer", "sdp": offer},
                    "accessToken": m.token,
                    "nonce": {"0lg": "@@LG@@"},
                }),
            )));
        }
    }
    let mut ring_r = drive(o, &flat, rings, 1, answers, None).await?;
    // A round trip is two events for the server (`ring`, then `answer`).
    let trips = ring_r["msgs_in_window"].as_u64().unwrap_or(0);
    let per_trip = ring_r["server_cpu_us_per_msg"].as_f64();
    ring_r["msgs_in_window"] = json!(trips * 2);
    ring_r["server_cpu_us_per_msg"] = per_trip.map_or(Value::Null, |us| json!((us / 2.0 * 100.0).round() / 100.0));
    Ok(json!({"mic_toggle": mic_r, "ring_answer": ring_r}))
}

async fn run_join(o: &Opts) -> Result<Value> {
    let k = o.attendees;
    let hist = Arc::new(Mutex::new(Hist::default()));
    let joins = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let deadline = Instant::now() + o.warmup + o.duration;
    let measure_from = Instant::now() + o.warmup;
    let src = src_addrs_for(o, 16_000);
    let cpu_start = Arc::new(Mutex::new(None::<CpuWindow>));
    let mut set = JoinSet::new();
    for _ in 0..o.concurrency {
        let (o, hist, joins, errors, first_error) = (
            o.clone(),
            hist.clone(),
            joins.clone(),
            errors.clone(),
            first_error.clone(),
        );
        set.spawn(async move {
            while Instant::now() < deadline && joins.load(Relaxed) < o.max_joins {
                let r = join_once(&o, k, src, measure_from, &hist, &joins).await;
                if let Err(e) = r {
                    errors.fetch_add(1, Relaxed);
                    first_error.lock().unwrap().get_or_insert(format!("{e:#}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        });
    }
    tokio::time::sleep_until((measure_from).into()).await;
    *cpu_start.lock().unwrap() = Some(CpuWindow::start(o.server_pid));
    let t = Instant::now();
    while set.join_next().await.is_some() {}
    let secs = t.elapsed().as_secs_f64().max(1e-6);
    let (me, server, server_us) = cpu_start
        .lock()
        .unwrap()
        .as_ref()
        .map(CpuWindow::finish_with_server_us)
        .unwrap_or((None, None, None));
    let h = hist.lock().unwrap().clone();
    let n = joins.load(Relaxed);
    Ok(json!({
        "joins": n,
        "joins_per_s": (h.count as f64 / secs).round(),
        "latency": h.json(),
        "errors": errors.load(Relaxed),
        "first_error": *first_error.lock().unwrap(),
        "workers": o.concurrency,
        "attendees_per_workspace": k,
        "loadgen_cpu_pct": round1(me),
        "server_cpu_pct": round1(server),
        "server_cpu_us_per_join": per_unit(server_us, h.count),
    }))
}

/// One workspace: a new socket creates it, K-1 new sockets attend; each is a
/// join, timed from connect to the reply.
async fn join_once(
    o: &Opts,
    k: usize,
    src: usize,
    measure_from: Instant,
    hist: &Mutex<Hist>,
    joins: &AtomicU64,
) -> Result<()> {
    let limit = Duration::from_secs(20);
    let record = |t: Instant| {
        joins.fetch_add(1, Relaxed);
        if t >= measure_from {
            hist.lock().unwrap().record(t.elapsed().as_micros() as u64);
        }
    };
    let t = Instant::now();
    let mut owner = Conn::connect(o, src).await?;
    owner.emit(
        "create",
        &json!({"workspace": {"name": "j", "pin": ""}, "attendee": {"name": "o"}, "nonce": 1}),
    )?;
    let c = owner.wait_for(&["created"], limit).await?;
    record(t);
    let token = c["workspace"]["token"]
        .as_str()
        .ok_or_else(|| anyhow!("created without workspace.token"))?
        .to_string();
    let mut guests = Vec::new();
    for _ in 1..k {
        let t = Instant::now();
        let mut g = Conn::connect(o, src).await?;
        g.emit(
            "attend",
            &json!({"workspace": {"token": token, "pin": ""}, "attendee": {"name": "g"}, "nonce": 2}),
        )?;
        g.wait_for(&["attendance-granted"], limit).await?;
        record(t);
        guests.push(g);
    }
    Ok(())
}

async fn run_idle(o: &Opts) -> Result<Value> {
    let pid = o.server_pid;
    let rss0 = pid.and_then(rss_kib);
    let k = o.attendees;
    let src = src_addrs_for(o, o.conns);
    let groups_n = ((o.conns as f64 * o.joined) as usize) / k;
    let plain_n = o.conns - groups_n * k;
    let t = Instant::now();
    let groups = if groups_n == 0 {
        Vec::new()
    } else {
        make_workspaces(o, groups_n, k, src).await?
    };
    let plain = connect_many(o, plain_n, src).await?;
    let connect_s = t.elapsed().as_secs_f64();
    let all: Vec<&Conn> = groups.iter().flatten().map(|m| &m.conn).chain(plain.iter()).collect();
    let ping = all.first().map(|c| c.ping_interval).unwrap_or(Duration::from_secs(25));
    let rss1 = pid.and_then(rss_kib);
    let hold = o.hold.unwrap_or(ping * 2 + Duration::from_secs(2));
    let cpu = CpuWindow::start(pid);
    tokio::time::sleep(hold).await;
    let (me, server) = cpu.finish();
    let rss2 = pid.and_then(rss_kib);
    let alive = all.iter().filter(|c| c.alive()).count();
    let pinged = all.iter().filter(|c| c.sh.pings.load(Relaxed) >= 1).count();
    let per_conn = match (rss0, rss2) {
        (Some(a), Some(b)) => json!(((b as f64 - a as f64) * 1024.0 / all.len() as f64).round()),
        _ => Value::Null,
    };
    Ok(json!({
        "conns": all.len(),
        "joined": groups_n * k,
        "src_addrs": src,
        "connect_s": (connect_s * 100.0).round() / 100.0,
        "conns_per_s": (all.len() as f64 / connect_s.max(1e-6)).round(),
        "hold_s": hold.as_secs_f64(),
        "ping_interval_s": ping.as_secs_f64(),
        "alive": alive,
        "dropped": all.len() - alive,
        "all_up": alive == all.len(),
        "pinged": pinged,
        "rss_before_kib": rss0,
        "rss_connected_kib": rss1,
        "rss_after_kib": rss2,
        "rss_bytes_per_conn": per_conn,
        "loadgen_cpu_pct": round1(me),
        "server_cpu_pct": round1(server),
    }))
}

/// Opens `n` plain sockets, `concurrency` at a time.
async fn connect_many(o: &Opts, n: usize, src: usize) -> Result<Vec<Conn>> {
    let sem = Arc::new(Semaphore::new(o.concurrency));
    let mut set = JoinSet::new();
    for _ in 0..n {
        let (o, sem) = (o.clone(), sem.clone());
        set.spawn(async move {
            let _p = sem.acquire().await;
            Conn::connect(&o, src).await
        });
    }
    let mut conns = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        conns.push(r??);
    }
    Ok(conns)
}

/// Creates outstanding per prefill socket (the server queues up to 256).
const PREFILL_INFLIGHT: usize = 32;

/// The counters of one `create` phase, shared by its sockets.
#[derive(Default)]
struct CreateRun {
    /// Creates that may still be sent (the count bound).
    budget: AtomicU64,
    /// `created` replies.
    created: AtomicU64,
    /// `created` replies received within the measurement window.
    created_in_window: AtomicU64,
    /// `alert`s and other error replies, and sockets that failed.
    errors: AtomicU64,
    /// Creates still unanswered when the phase's drain ended.
    unanswered: AtomicU64,
    /// `created` replies whose nonce was not the oldest outstanding one.
    mismatched: AtomicU64,
    /// Sockets replaced after `creates_per_conn` creates.
    reconnects: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl CreateRun {
    fn new(budget: u64) -> Arc<CreateRun> {
        Arc::new(CreateRun {
            budget: AtomicU64::new(budget),
            ..CreateRun::default()
        })
    }

    /// Takes one create from the budget; false when it is spent.
    fn take_one(&self) -> bool {
        self.budget.fetch_update(Relaxed, Relaxed, |b| b.checked_sub(1)).is_ok()
    }

    fn error(&self, e: String) {
        self.errors.fetch_add(1, Relaxed);
        self.first_error.lock().unwrap().get_or_insert(e);
    }
}

/// A `create` phase: each socket keeps `inflight` creates outstanding and
/// is replaced after `per_conn` of them (0: never); sockets send until
/// `stop`; replies that arrive within `window` are counted, and the latency
/// of every create sent within it is recorded.
#[derive(Clone, Copy)]
struct CreatePhase {
    inflight: usize,
    per_conn: u64,
    src: usize,
    stop: Instant,
    window: Option<(Instant, Instant)>,
}

fn create_frame(nonce: u64) -> String {
    format!(r#"42["create",{{"workspace":{{"name":"b","pin":"1234"}},"attendee":{{"name":"o"}},"nonce":{nonce}}}]"#)
}

/// The numeric `nonce` of a reply frame (scanned, not parsed).
fn reply_nonce(t: &str) -> Option<u64> {
    let rest = &t[t.rfind("\"nonce\":")? + 8..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    rest[..digits].parse().ok()
}

/// One socket keeping `phase.inflight` creates outstanding until the phase
/// stops or the budget is spent, then waiting (at most 5 s) for the ones in
/// flight. The server handles a socket's events in order, so each reply
/// answers the oldest outstanding create. Returns the (last) socket and the
/// window's latencies.
async fn create_loop(o: Arc<Opts>, mut conn: Conn, run: Arc<CreateRun>, phase: CreatePhase) -> (Conn, Hist) {
    let reply_limit = Duration::from_secs(20);
    let drain_until = phase.stop + Duration::from_secs(5);
    let k = phase.inflight;
    let mut hist = Hist::default();
    let mut pending: std::collections::VecDeque<(u64, Instant)> = std::collections::VecDeque::with_capacity(k);
    let mut nonce = 0;
    let mut on_conn = 0;
    loop {
        let now = Instant::now();
        let used_up = phase.per_conn > 0 && on_conn >= phase.per_conn;
        if used_up && pending.is_empty() && now < phase.stop {
            match Conn::connect(&o, phase.src).await {
                Ok(c) => {
                    conn = c;
                    on_conn = 0;
                    run.reconnects.fetch_add(1, Relaxed);
                    continue;
                }
                Err(e) => {
                    run.error(format!("reconnect: {e:#}"));
                    break;
                }
            }
        }
        if now < phase.stop {
            while pending.len() < k && (phase.per_conn == 0 || on_conn < phase.per_conn) && run.take_one() {
                nonce += 1;
                on_conn += 1;
                if conn.send(create_frame(nonce)).is_err() {
                    break;
                }
                pending.push_back((nonce, Instant::now()));
            }
        }
        if pending.is_empty() {
            break;
        }
        let until = if now < phase.stop {
            now + reply_limit
        } else {
            drain_until
        };
        let ctl = match tokio::time::timeout_at(until.into(), conn.ctl.recv()).await {
            Ok(Some(ctl)) => ctl,
            Ok(None) => {
                run.error(format!("connection closed with {} creates outstanding", pending.len()));
                break;
            }
            Err(_) if now >= phase.stop => {
                run.unanswered.fetch_add(pending.len() as u64, Relaxed);
                break;
            }
            Err(_) => {
                run.error(format!("no reply to create within {reply_limit:?}"));
                break;
            }
        };
        let t = Instant::now();
        match ctl.name.as_str() {
            "created" => {
                let Some((sent_nonce, sent)) = pending.pop_front() else {
                    run.mismatched.fetch_add(1, Relaxed);
                    continue;
                };
                if reply_nonce(&ctl.text) != Some(sent_nonce) {
                    run.mismatched.fetch_add(1, Relaxed);
                }
                run.created.fetch_add(1, Relaxed);
                if let Some((from, to)) = phase.window {
                    if t >= from && t < to {
                        run.created_in_window.fetch_add(1, Relaxed);
                    }
                    if sent >= from && sent < to {
                        hist.record((t - sent).as_micros() as u64);
                    }
                }
            }
            "alert" | "full" | "destroyed" => {
                pending.pop_front();
                run.error(format!("server answered {:.200}", ctl.text));
            }
            _ => {}
        }
    }
    (conn, hist)
}

/// Runs `create_loop` on every socket; returns the sockets and the merged latencies.
async fn create_phase(
    o: Arc<Opts>,
    conns: Vec<Conn>,
    run: Arc<CreateRun>,
    phase: CreatePhase,
) -> Result<(Vec<Conn>, Hist)> {
    let mut set = JoinSet::new();
    for conn in conns {
        set.spawn(create_loop(o.clone(), conn, run.clone(), phase));
    }
    let mut out = Vec::new();
    let mut hist = Hist::default();
    while let Some(r) = set.join_next().await {
        let (conn, h) = r?;
        hist.merge(&h);
        out.push(conn);
    }
    Ok((out, hist))
}

async fn run_create(o: &Opts) -> Result<Value> {
    let pid = o.server_pid;
    let src = src_addrs_for(o, o.conns + o.prefill_conns);
    let rss0 = pid.and_then(rss_kib);
    let shared = Arc::new(o.clone());

    // Prefill, not measured. Its sockets stay open until the end: closing them
    // would start a presence grace per workspace, work that lands in the window.
    let t = Instant::now();
    let pre = CreateRun::new(o.prefill);
    let mut prefill_conns = Vec::new();
    if o.prefill > 0 {
        let n = o.prefill_conns.min(o.prefill as usize);
        let conns = connect_many(o, n, src).await.context("prefill connections")?;
        let phase = CreatePhase {
            inflight: PREFILL_INFLIGHT,
            per_conn: 0,
            src,
            stop: t + o.prefill_timeout,
            window: None,
        };
        prefill_conns = create_phase(shared.clone(), conns, pre.clone(), phase).await?.0;
    }
    let prefill_s = t.elapsed().as_secs_f64();
    let prefilled = pre.created.load(Relaxed);
    if prefilled < o.prefill {
        bail!(
            "prefill: {prefilled} of {} workspaces created within {:?} ({} errors, first: {})",
            o.prefill,
            o.prefill_timeout,
            pre.errors.load(Relaxed),
            pre.first_error.lock().unwrap().as_deref().unwrap_or("none")
        );
    }
    let rss1 = pid.and_then(rss_kib);

    // The measured phase.
    let conns = connect_many(o, o.conns, src).await.context("connections")?;
    let from = Instant::now() + o.warmup;
    let to = from + o.duration;
    let run = CreateRun::new(o.max_joins);
    let phase = CreatePhase {
        inflight: o.inflight,
        per_conn: o.creates_per_conn,
        src,
        stop: to,
        window: Some((from, to)),
    };
    let task = tokio::spawn(create_phase(shared, conns, run.clone(), phase));
    tokio::time::sleep_until(from.into()).await;
    let cpu = CpuWindow::start(pid);
    let machine0 = machine_ticks();
    tokio::time::sleep_until(to.into()).await;
    let secs = from.elapsed().as_secs_f64().max(1e-6);
    let (me, server) = cpu.finish();
    // What the rest of the machine used meanwhile (other processes, and the
    // hypervisor's steal): a benchmark on a busy machine says so.
    let (others, steal) = match (machine0, machine_ticks()) {
        (Some((b0, s0)), Some((b1, s1))) => {
            let pct = |t: u64| t as f64 / 100.0 / secs * 100.0;
            let all = pct(b1.saturating_sub(b0));
            (
                Some((all - me.unwrap_or(0.0) - server.unwrap_or(0.0)).max(0.0)),
                Some(pct(s1.saturating_sub(s0))),
            )
        }
        _ => (None, None),
    };
    let (conns, hist) = task.await??;
    let closed = conns.iter().chain(&prefill_conns).filter(|c| !c.alive()).count();
    let rss2 = pid.and_then(rss_kib);
    let in_window = run.created_in_window.load(Relaxed);
    let first_error = run.first_error.lock().unwrap().clone();
    let prefill_first_error = pre.first_error.lock().unwrap().clone();
    Ok(json!({
        "prefill": o.prefill,
        "prefilled": prefilled,
        "prefill_conns": prefill_conns.len(),
        "prefill_s": (prefill_s * 100.0).round() / 100.0,
        "prefill_creates_per_s": (prefilled as f64 / prefill_s.max(1e-6)).round(),
        "prefill_errors": pre.errors.load(Relaxed),
        "prefill_first_error": prefill_first_error,
        "conns": conns.len(),
        "inflight": o.inflight,
        "creates_per_conn": o.creates_per_conn,
        "reconnects": run.reconnects.load(Relaxed),
        "creates": run.created.load(Relaxed),
        "creates_in_window": in_window,
        "creates_per_s": (in_window as f64 / secs).round(),
        "latency": hist.json(),
        "errors": run.errors.load(Relaxed),
        "first_error": first_error,
        "unanswered": run.unanswered.load(Relaxed),
        "mismatched": run.mismatched.load(Relaxed),
        "closed_sockets": closed,
        "window_s": (secs * 1000.0).round() / 1000.0,
        "workspaces_created": prefilled + run.created.load(Relaxed),
        "rss_before_kib": rss0,
        "rss_prefilled_kib": rss1,
        "rss_after_kib": rss2,
        "loadgen_cpu_pct": round1(me),
        "server_cpu_pct": round1(server),
        "other_cpu_pct": round1(others),
        "steal_cpu_pct": round1(steal),
    }))
}

// ---------------------------------------------------------------- churn

/// The counters of a `churn` run, shared by its workers.
struct ChurnRun {
    pid: Option<u32>,
    started: Instant,
    pairs: u64,
    /// Pairs that may still be started (the count bound).
    pairs_left: AtomicU64,
    /// Sockets through a whole cycle (connect, join, exchange, disconnect).
    cycles: AtomicU64,
    clean: AtomicU64,
    dropped: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
    sample_every: u64,
    warmup_cycles: u64,
    curve: Mutex<Vec<Value>>,
    warm: Mutex<Option<Value>>,
    /// The sample at half the cycles: a level that is still climbing after
    /// the warm-up (a leak) and one that has settled (the allocator's high
    /// water mark) differ in the second half.
    half: Mutex<Option<Value>>,
}

impl ChurnRun {
    /// Takes one pair from the budget: its number, or None when it is spent.
    fn take_pair(&self) -> Option<u64> {
        self.pairs_left
            .fetch_update(Relaxed, Relaxed, |b| b.checked_sub(1))
            .ok()
    }

    /// Counts a finished pair and samples the server when it crossed a
    /// sampling point or the end of the warm-up.
    fn pair_done(&self) {
        let done = self.cycles.fetch_add(2, Relaxed) + 2;
        let crossed = |every: u64| done / every > (done - 2) / every;
        if crossed(self.sample_every) {
            self.curve.lock().unwrap().push(self.sample(done));
        }
        let reached = |mark: u64| done >= mark && done - 2 < mark;
        if reached(self.warmup_cycles) {
            *self.warm.lock().unwrap() = Some(self.sample(done));
        }
        if reached(self.half_cycles()) {
            *self.half.lock().unwrap() = Some(self.sample(done));
        }
    }

    /// Half the cycles: a pair is two.
    fn half_cycles(&self) -> u64 {
        self.pairs.max(2)
    }

    fn sample(&self, cycles: u64) -> Value {
        json!({
            "cycles": cycles,
            "t_s": (self.started.elapsed().as_secs_f64() * 100.0).round() / 100.0,
            "rss_kib": self.pid.and_then(rss_kib),
            "fds": self.pid.and_then(fd_count),
        })
    }

    fn error(&self, e: String) {
        self.errors.fetch_add(1, Relaxed);
        self.first_error.lock().unwrap().get_or_insert(e);
    }
}

/// The ≈3.5 KB SDP every churn negotiation carries (built once).
fn churn_sdp() -> &'static str {
    static SDP: OnceLock<String> = OnceLock::new();
    SDP.get_or_init(|| sdp(3400))
}

/// One churn pair: the owner creates a workspace and a guest attends it; a
/// `negotiation` each way and the guest's `mic-toggle`, each awaited by its
/// receiver; then one of them drops its TCP connection and the other leaves
/// cleanly (pair `n` even: the guest drops, odd: the owner).
async fn churn_pair(o: &Opts, src: usize, n: u64, run: &ChurnRun) -> Result<()> {
    let limit = Duration::from_secs(20);
    let mut pair = make_workspace(o, 2, src).await?.into_iter();
    let (Some(owner), Some(guest)) = (pair.next(), pair.next()) else {
        bail!("make_workspace(2) did not give two members");
    };
    let ws = owner.ws.clone();
    let (owner_id, owner_token, mut owner) = (owner.id, owner.token, owner.conn);
    let (guest_id, guest_token, mut guest) = (guest.id, guest.token, guest.conn);
    let negotiation = |from: &str, token: &str, to: &str| {
        json!({"workspace": {"id": ws}, "attendee": {"id": to}, "broadcaster": {"id": from},
               "accessToken": token, "message": {"type": "offer", "data": {"type": "offer", "sdp": churn_sdp()}}})
    };
    owner.emit("negotiation", &negotiation(&owner_id, &owner_token, &guest_id))?;
    guest.wait_for(&["negotiation"], limit).await?;
    guest.emit("negotiation", &negotiation(&guest_id, &guest_token, &owner_id))?;
    owner.wait_for(&["negotiation"], limit).await?;
    guest.emit(
        "mic-toggle",
        &json!({"workspace": {"id": ws}, "attendee": {"id": guest_id}, "state": true, "accessToken": guest_token}),
    )?;
    owner.wait_for(&["mic-toggle"], limit).await?;
    let (dropping, leaving) = if n.is_multiple_of(2) {
        (guest, owner)
    } else {
        (owner, guest)
    };
    drop(dropping);
    run.dropped.fetch_add(1, Relaxed);
    leaving.disconnect(limit).await?;
    run.clean.fetch_add(1, Relaxed);
    Ok(())
}

/// The gauges of the server's `/metrics` that name what it still holds;
/// None when the target serves no `/metrics` (the floor).
#[derive(Debug, Default)]
struct Held {
    attendees: f64,
    workspaces: f64,
    sockets: f64,
}

async fn server_holds(addr: SocketAddr) -> Result<Option<Held>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = tokio::time::timeout(Duration::from_secs(5), async {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
            .await?;
        let mut out = Vec::new();
        s.take(16 << 20).read_to_end(&mut out).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&out).into_owned())
    })
    .await
    .map_err(|_| anyhow!("/metrics: no answer within 5 s"))??;
    if !body.starts_with("HTTP/1.1 200") {
        return Ok(None);
    }
    let mut held = Held::default();
    let mut seen = false;
    for line in body.lines().filter(|l| l.starts_with("wrw_")) {
        let (Some(name), Some(v)) = (line.split(['{', ' ']).next(), line.rsplit(' ').next()) else {
            continue;
        };
        let v: f64 = v.parse().unwrap_or(0.0);
        match name {
            "wrw_attendees" => held.attendees += v,
            "wrw_workspaces" => held.workspaces += v,
            "wrw_sockets_connected" => held.sockets += v,
            _ => continue,
        }
        seen = true;
    }
    Ok(seen.then_some(held))
}

/// `(final - warm) / warm` in %, one decimal.
fn return_pct(warm: &Value, last: &Value) -> Value {
    match (warm.as_f64(), last.as_f64()) {
        (Some(w), Some(l)) if w > 0.0 => json!(((l - w) / w * 1000.0).round() / 10.0),
        _ => Value::Null,
    }
}

async fn run_churn(o: &Opts) -> Result<Value> {
    let pairs = o.cycles.div_ceil(2);
    let sample_every = if o.sample_every > 0 {
        o.sample_every
    } else {
        (o.cycles / 20).max(2)
    };
    let run = Arc::new(ChurnRun {
        pid: o.server_pid,
        started: Instant::now(),
        pairs,
        pairs_left: AtomicU64::new(pairs),
        cycles: AtomicU64::new(0),
        clean: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        first_error: Mutex::new(None),
        sample_every,
        // Warm-up: the first 10 % of the cycles (the allocator's arenas, the
        // maps' capacity and the grace timers reach their steady state).
        warmup_cycles: (o.cycles / 10).max(2),
        curve: Mutex::new(Vec::new()),
        warm: Mutex::new(None),
        half: Mutex::new(None),
    });
    let start = run.sample(0);
    let src = src_addrs_for(o, o.cycles.min(4_000_000) as usize);
    let deadline = Instant::now() + o.max_secs;
    // What the server holds at a time (attendees in their grace, workspaces
    // waiting to expire) grows with the rate, and so does its RSS: a steady
    // rate keeps the warm-up level and the final one comparable.
    let pair_period = Duration::from_secs_f64(2.0 / o.rate);
    let t0 = tokio::time::Instant::now();
    let cpu = CpuWindow::start(o.server_pid);
    let mut set = JoinSet::new();
    for _ in 0..o.concurrency {
        let (o, run) = (o.clone(), run.clone());
        set.spawn(async move {
            while Instant::now() < deadline {
                let Some(n) = run.take_pair() else { break };
                tokio::time::sleep_until(t0 + pair_period.mul_f64((pairs - n) as f64)).await;
                let e = match tokio::time::timeout(Duration::from_secs(60), churn_pair(&o, src, n, &run)).await {
                    Ok(Ok(())) => {
                        run.pair_done();
                        continue;
                    }
                    Ok(Err(e)) => format!("{e:#}"),
                    Err(_) => "a churn pair took over 60 s".to_string(),
                };
                run.error(e);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    }
    while set.join_next().await.is_some() {}
    let cycles_s = run.started.elapsed().as_secs_f64().max(1e-6);
    let (me, server, server_us) = cpu.finish_with_server_us();
    let done = run.cycles.load(Relaxed);

    // After the grace every attendee has lapsed and every workspace expired:
    // whatever the server still holds then is a ghost. Polled a while longer
    // (bounded) so that a slow sweep is not taken for a ghost.
    let settle_from = Instant::now();
    tokio::time::sleep(o.grace).await;
    let mut held = server_holds(o.addr).await?;
    let settle_limit = Instant::now() + Duration::from_secs(10);
    while let Some(h) = &held {
        if h.attendees + h.workspaces + h.sockets == 0.0 || Instant::now() > settle_limit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        held = server_holds(o.addr).await?;
    }
    let settle_s = settle_from.elapsed().as_secs_f64();
    let last = run.sample(done);
    let warm = run.warm.lock().unwrap().clone().unwrap_or(Value::Null);
    let half = run.half.lock().unwrap().clone().unwrap_or(Value::Null);
    let ghosts = held
        .as_ref()
        .map_or(Value::Null, |h| json!((h.attendees + h.workspaces + h.sockets) as u64));
    let field = |f: fn(&Held) -> f64| held.as_ref().map_or(Value::Null, |h| json!(f(h) as u64));
    let curve = run.curve.lock().unwrap().clone();
    let first_error = run.first_error.lock().unwrap().clone();
    Ok(json!({
        "cycles_target": o.cycles,
        "cycles": done,
        "completed": done >= o.cycles,
        "clean_disconnects": run.clean.load(Relaxed),
        "dropped_disconnects": run.dropped.load(Relaxed),
        "errors": run.errors.load(Relaxed),
        "first_error": first_error,
        "workers": o.concurrency,
        "cycles_s": (cycles_s * 100.0).round() / 100.0,
        "cycles_per_s": (done as f64 / cycles_s).round(),
        "max_cycles_per_s": o.rate,
        "warmup_cycles": run.warmup_cycles,
        "sample_every": sample_every,
        "start": start,
        "warm": warm,
        "curve": curve,
        "final": last,
        "rss_return_pct": return_pct(&warm["rss_kib"], &last["rss_kib"]),
        "fd_return_pct": return_pct(&warm["fds"], &last["fds"]),
        "half": half,
        "rss_second_half_pct": return_pct(&half["rss_kib"], &last["rss_kib"]),
        "grace_s": o.grace.as_secs_f64(),
        "settle_s": (settle_s * 100.0).round() / 100.0,
        "ghosts_checked": held.is_some(),
        "ghosts": ghosts,
        "ghost_attendees": field(|h| h.attendees),
        "ghost_workspaces": field(|h| h.workspaces),
        "ghost_sockets": field(|h| h.sockets),
        "loadgen_cpu_pct": round1(me),
        "server_cpu_pct": round1(server),
        "server_cpu_us_per_cycle": per_unit(server_us, done),
    }))
}

/// Runs one mode and returns its JSON report.
pub async fn run(o: &Opts) -> Result<Value> {
    o.validate()?;
    base();
    let started = Instant::now();
    let probes_before = PROBE_RETRIES.load(Relaxed);
    let result = match o.mode {
        Mode::Relay => run_relay(o, None).await?,
        Mode::RelayOpen => run_relay(o, Some(o.rate)).await?,
        Mode::Auth => run_auth(o).await?,
        Mode::Join => run_join(o).await?,
        Mode::Idle => run_idle(o).await?,
        Mode::Create => run_create(o).await?,
        Mode::Churn => run_churn(o).await?,
    };
    let mut out = json!({
        "mode": o.mode.name(),
        "label": o.label,
        "eio": o.eio,
        "workspaces": o.workspaces,
        "attendees": o.attendees,
        "depth": o.depth,
        "elapsed_s": (started.elapsed().as_secs_f64() * 100.0).round() / 100.0,
        "dropped_first_events": PROBE_RETRIES.load(Relaxed) - probes_before,
    });
    if let (Value::Object(out), Value::Object(r)) = (&mut out, result) {
        out.extend(r);
    }
    Ok(out)
}

/// A few human-readable lines about a report.
pub fn summary(r: &Value) -> String {
    let lat = |l: &Value| {
        format!(
            "p50 {} ms, p99 {} ms, p999 {} ms",
            l["p50_ms"], l["p99_ms"], l["p999_ms"]
        )
    };
    let relay = |r: &Value| {
        format!(
            "{} msgs/s delivered ({} senders), latency {}; sent {}, lost {}, errors {}, reordered {}; CPU loadgen {}%, server {}%",
            r["msgs_per_s"], r["senders"], lat(&r["latency"]), r["sent"], r["lost"], r["errors"],
            r["reordered"], r["loadgen_cpu_pct"], r["server_cpu_pct"]
        )
    };
    let head = format!(
        "loadgen {} [{}] EIO={}",
        r["mode"].as_str().unwrap_or("?"),
        r["label"].as_str().unwrap_or(""),
        r["eio"]
    );
    match r["mode"].as_str() {
        Some("relay") | Some("relay-open") => format!(
            "{head} {} W={} K={} D={}: {}",
            r["msg"].as_str().unwrap_or(""),
            r["workspaces"],
            r["attendees"],
            r["depth"],
            relay(r)
        ),
        Some("auth") => format!(
            "{head} W={} K={}:\n  mic-toggle deliveries: {}\n  ring→answer round trips: {}",
            r["workspaces"],
            r["attendees"],
            relay(&r["mic_toggle"]),
            relay(&r["ring_answer"])
        ),
        Some("join") => format!(
            "{head}: {} joins/s, latency {}; errors {}; CPU loadgen {}%, server {}%",
            r["joins_per_s"],
            lat(&r["latency"]),
            r["errors"],
            r["loadgen_cpu_pct"],
            r["server_cpu_pct"]
        ),
        Some("create") => format!(
            "{head}: {} creates/s over {} sockets × {} in flight after a prefill of {} ({} s), latency {}; \
errors {}{}; CPU loadgen {}%, server {}%",
            r["creates_per_s"],
            r["conns"],
            r["inflight"],
            r["prefilled"],
            r["prefill_s"],
            lat(&r["latency"]),
            r["errors"],
            r["first_error"]
                .as_str()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default(),
            r["loadgen_cpu_pct"],
            r["server_cpu_pct"]
        ),
        Some("idle") => format!(
            "{head}: {} sockets ({} joined) held {} s: {} alive, all up: {}; server RSS {} → {} KiB = {} B/socket",
            r["conns"],
            r["joined"],
            r["hold_s"],
            r["alive"],
            r["all_up"],
            r["rss_before_kib"],
            r["rss_after_kib"],
            r["rss_bytes_per_conn"]
        ),
        Some("churn") => format!(
            "{head}: {} of {} cycles in {} s ({} /s, at most {}; {} clean, {} dropped), errors {}{}; \
server RSS warm {} → final {} KiB ({} %), fds {} → {} ({} %); ghosts {} after {} s",
            r["cycles"],
            r["cycles_target"],
            r["cycles_s"],
            r["cycles_per_s"],
            r["max_cycles_per_s"],
            r["clean_disconnects"],
            r["dropped_disconnects"],
            r["errors"],
            r["first_error"]
                .as_str()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default(),
            r["warm"]["rss_kib"],
            r["final"]["rss_kib"],
            r["rss_return_pct"],
            r["warm"]["fds"],
            r["final"]["fds"],
            r["fd_return_pct"],
            r["ghosts"],
            r["settle_s"]
        ),
        _ => head,
    }
}

#[allow(dead_code)]
fn main() {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let threads = if opts.threads > 0 {
        opts.threads
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("tokio runtime");
    // Hard bound on the whole run, whatever the mode.
    let limit = opts.warmup * 3
        + opts.duration * 3
        + opts.hold.unwrap_or_default()
        + opts.prefill_timeout
        + if opts.mode == Mode::Churn {
            opts.max_secs + opts.grace + Duration::from_secs(60)
        } else {
            Duration::ZERO
        }
        + Duration::from_secs(600);
    match rt.block_on(async { tokio::time::timeout(limit, run(&opts)).await }) {
        Ok(Ok(report)) => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", summary(&report));
            let _ = writeln!(out, "{report}");
        }
        Ok(Err(e)) => {
            eprintln!("loadgen failed: {e:#}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("loadgen: overall time limit reached");
            std::process::exit(1);
        }
    }
    rt.shutdown_timeout(Duration::from_secs(1));
}
