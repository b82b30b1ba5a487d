//! A closed-loop load generator for MCP servers over streamable HTTP (`bench/proxy.sh` runs it).
//!
//! `--sessions N` client sessions, each with its own HTTP client (one keep-alive connection), do `initialize`
//! (keeping the `Mcp-Session-Id` the server issues, if any), `notifications/initialized`, then call
//! `tools/call echo` back to back: a warm-up (`--warmup`), then the measured window (`--duration`). A POST may be
//! answered with `application/json` or with a `text/event-stream` holding the response; both are read. The
//! latency of a call runs from the request being sent to its response being parsed (an event stream is then
//! read to its end before the connection is reused, as a client must). Calls that complete inside the window
//! are counted; one JSON line of results goes to stdout:
//!
//! ```text
//! {"label":…,"url":…,"sessions":64,"duration_s":10.0,"requests":…,"errors":…,"answers":"json"|"sse"|"mixed",
//!  "rps":…,"p50_us":…,"p90_us":…,"p99_us":…,"max_us":…,"mean_us":…,
//!  "cpu":{"proxy_s":…,"server_s":…,"loadgen_s":…,"kernel_threads_s":…,"machine_s":…,"other_pct":…},
//!  "first_error":…}
//! ```
//!
//! ```sh
//! cargo run --release -p thv --example mcp_load -- --url http://127.0.0.1:8080/mcp --sessions 64 --duration 10
//! ```

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::Parser;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::oneshot;

#[derive(Debug, Parser)]
#[command(about = "Closed-loop tools/call load against an MCP streamable-HTTP endpoint")]
struct Args {
    /// The MCP endpoint, e.g. http://127.0.0.1:8080/mcp.
    #[arg(long, required_unless_present = "stdio", conflicts_with = "stdio")]
    url: Option<String>,
    /// Instead of a URL: spawn this command and talk to it over its stdin/stdout (no HTTP; every session's calls
    /// share the one pipe, matched to their responses by id): the floor a stdio proxy adds to.
    #[arg(last = true)]
    stdio: Vec<String>,
    /// Concurrent client sessions (each its own connection, one request in flight).
    #[arg(long, default_value_t = 1)]
    sessions: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before the measurement (not counted).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// A name for the result line.
    #[arg(long, default_value = "")]
    label: String,
    /// The text each echo call sends.
    #[arg(long, default_value = "hello from mcp_load")]
    text: String,
    /// The protocol version offered in `initialize`.
    #[arg(long, default_value = "2025-06-18")]
    protocol_version: String,
    /// Seconds a single request may take before it counts as an error.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// Report the CPU time of this process and its descendants during the measured window (repeatable).
    #[arg(long)]
    cpu_of: Vec<u32>,
    /// Processes of that name (`comm`, 15 characters at most) in those trees are counted as the MCP server, the
    /// rest as the proxy.
    #[arg(long, default_value = "thv-test-mcp-se")]
    server_comm: String,
    /// A bearer token sent with every request (for a proxy that authenticates).
    #[arg(long)]
    bearer: Option<String>,
}

/// One streamable-HTTP client session.
struct HttpSession {
    http: reqwest::Client,
    url: String,
    session_id: Option<HeaderValue>,
    protocol_version: Option<HeaderValue>,
    bearer: Option<HeaderValue>,
    next_id: u64,
}

impl HttpSession {
    fn request(&self, body: &Value) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .post(&self.url)
            .header(ACCEPT, "application/json, text/event-stream")
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(id) = &self.session_id {
            req = req.header("mcp-session-id", id.clone());
        }
        if let Some(v) = &self.protocol_version {
            req = req.header("mcp-protocol-version", v.clone());
        }
        if let Some(b) = &self.bearer {
            req = req.header(reqwest::header::AUTHORIZATION, b.clone());
        }
        req
    }

    /// initialize + notifications/initialized.
    async fn open(
        http: reqwest::Client,
        url: &str,
        protocol_version: &str,
        bearer: Option<&str>,
    ) -> anyhow::Result<Self> {
        let mut s = Self {
            http,
            url: url.to_owned(),
            session_id: None,
            protocol_version: None,
            bearer: bearer.and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok()),
            next_id: 1,
        };
        let init = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": protocol_version,
                "capabilities": {},
                "clientInfo": {"name": "mcp-load", "version": "0.1.0"}
            }
        });
        let resp = s.request(&init).send().await.context("initialize")?;
        s.session_id = resp.headers().get("mcp-session-id").cloned();
        let (answer, _, _) = read_response(resp, &json!(0)).await.context("initialize")?;
        let result = answer
            .get("result")
            .ok_or_else(|| anyhow!("initialize failed: {answer}"))?;
        if let Some(v) = result.get("protocolVersion").and_then(Value::as_str) {
            s.protocol_version = HeaderValue::from_str(v).ok();
        }
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let resp = s
            .request(&note)
            .send()
            .await
            .context("notifications/initialized")?;
        let status = resp.status();
        let _ = resp.bytes().await;
        if !status.is_success() {
            bail!("notifications/initialized: HTTP {status}");
        }
        Ok(s)
    }

    async fn echo(&mut self, text: &str) -> anyhow::Result<(Duration, bool)> {
        let id = self.next_id;
        self.next_id += 1;
        let call = json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": text}}
        });
        let req = self.request(&call);
        let start = Instant::now();
        let resp = req.send().await.context("tools/call")?;
        let (answer, at, sse) = read_response(resp, &json!(id)).await?;
        check_echo(&answer, text)?;
        Ok((at - start, sse))
    }
}

/// A stdio server shared by every session: requests are written as lines to its stdin, its stdout is read by
/// a task that hands each response to the caller waiting for that id.
struct StdioPeer {
    stdin: tokio::sync::Mutex<tokio::process::ChildStdin>,
    pending: Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>,
    next_id: AtomicU64,
    timeout: Duration,
}

impl StdioPeer {
    /// Spawns `command` and initializes it.
    async fn start(
        command: &[String],
        protocol_version: &str,
        timeout: Duration,
    ) -> anyhow::Result<(Arc<Self>, tokio::process::Child)> {
        let (program, rest) = command.split_first().context("no command")?;
        let mut child = tokio::process::Command::new(program)
            .args(rest)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {program}"))?;
        let stdin = child.stdin.take().context("no stdin")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let pending: Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>> = Arc::default();
        let routes = pending.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(msg) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if msg.get("method").is_some() {
                    continue; // a notification or a server request: not expected from the echo server
                }
                if let Some(id) = msg.get("id").and_then(Value::as_u64)
                    && let Some(tx) = routes.lock().unwrap_or_else(|e| e.into_inner()).remove(&id)
                {
                    let _ = tx.send(msg);
                }
            }
            // EOF: the waiting callers see their senders dropped.
            routes.lock().unwrap_or_else(|e| e.into_inner()).clear();
        });
        let peer = Arc::new(Self {
            stdin: tokio::sync::Mutex::new(stdin),
            pending,
            next_id: AtomicU64::new(0),
            timeout,
        });
        let answer = peer
            .call(
                "initialize",
                json!({
                    "protocolVersion": protocol_version,
                    "capabilities": {},
                    "clientInfo": {"name": "mcp-load", "version": "0.1.0"}
                }),
            )
            .await
            .context("initialize")?
            .0;
        if answer.get("result").is_none() {
            bail!("initialize failed: {answer}");
        }
        peer.write(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await?;
        Ok((peer, child))
    }

    async fn write(&self, msg: &Value) -> anyhow::Result<()> {
        let mut line = msg.to_string().into_bytes();
        line.push(b'\n');
        let mut stdin = self.stdin.lock().await;
        stdin.write_all(&line).await.context("writing to stdin")?;
        stdin.flush().await.context("writing to stdin")?;
        Ok(())
    }

    /// One request; its response and when it arrived.
    async fn call(&self, method: &str, params: Value) -> anyhow::Result<(Value, Instant)> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tx);
        self.write(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await?;
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(v)) => Ok((v, Instant::now())),
            Ok(Err(_)) => bail!("the server's stdout ended"),
            Err(_) => {
                self.pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
                bail!("no response within {:?}", self.timeout)
            }
        }
    }
}

/// A session: over HTTP, or a share of the stdio peer.
enum Session {
    Http(HttpSession),
    Stdio(Arc<StdioPeer>),
}

impl Session {
    /// One echo call; `Ok((latency, answered with an event stream))` when the answer is the echoed text.
    async fn echo(&mut self, text: &str) -> anyhow::Result<(Duration, bool)> {
        match self {
            Self::Http(s) => s.echo(text).await,
            Self::Stdio(peer) => {
                let start = Instant::now();
                let (answer, at) = peer
                    .call(
                        "tools/call",
                        json!({"name": "echo", "arguments": {"text": text}}),
                    )
                    .await?;
                check_echo(&answer, text)?;
                Ok((at - start, false))
            }
        }
    }
}

fn check_echo(answer: &Value, text: &str) -> anyhow::Result<()> {
    let got = answer
        .pointer("/result/content/0/text")
        .and_then(Value::as_str);
    if got != Some(text) || answer.pointer("/result/isError") == Some(&Value::Bool(true)) {
        bail!("unexpected tools/call answer: {answer}");
    }
    Ok(())
}

/// Reads the response to request `id` from a POST's answer (JSON or an event stream); returns it and when it
/// was parsed. An event stream is drained to its end afterwards (bounded), so the connection can be reused.
async fn read_response(
    mut resp: reqwest::Response,
    id: &Value,
) -> anyhow::Result<(Value, Instant, bool)> {
    let status = resp.status();
    let is_sse = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        bail!("HTTP {status}: {}", truncate(&body));
    }
    if !is_sse {
        let body = resp.bytes().await.context("reading the body")?;
        let v: Value = serde_json::from_slice(&body)
            .with_context(|| format!("not JSON: {}", truncate(&String::from_utf8_lossy(&body))))?;
        let at = Instant::now();
        let found = match v {
            Value::Array(items) => items.into_iter().find(|m| m.get("id") == Some(id)),
            v if v.get("id") == Some(id) => Some(v),
            v => bail!("a response with another id: {v}"),
        };
        return found
            .map(|v| (v, at, false))
            .ok_or_else(|| anyhow!("no response with id {id}"));
    }
    // text/event-stream: events are separated by a blank line; `data:` lines are joined with '\n'.
    let mut buf: Vec<u8> = Vec::new();
    let mut data = String::new();
    let mut found: Option<(Value, Instant)> = None;
    loop {
        let chunk = if found.is_some() {
            // Drain: the server should end the stream right after the response.
            match tokio::time::timeout(Duration::from_secs(2), resp.chunk()).await {
                Ok(c) => c.context("reading the event stream")?,
                Err(_) => break, // left open: the connection is dropped with `resp`
            }
        } else {
            resp.chunk().await.context("reading the event stream")?
        };
        let Some(chunk) = chunk else { break };
        if found.is_some() {
            continue;
        }
        buf.extend_from_slice(&chunk);
        while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !data.is_empty() {
                    let v: Value = serde_json::from_str(&data)
                        .with_context(|| format!("event data not JSON: {}", truncate(&data)))?;
                    data.clear();
                    if v.get("id") == Some(id)
                        && (v.get("result").is_some() || v.get("error").is_some())
                    {
                        found = Some((v, Instant::now()));
                        break;
                    }
                }
            } else if let Some(d) = line.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(d.strip_prefix(' ').unwrap_or(d));
            }
        }
    }
    found
        .map(|(v, at)| (v, at, true))
        .ok_or_else(|| anyhow!("the event stream ended without the response to {id}"))
}

fn truncate(s: &str) -> String {
    let mut t: String = s.chars().take(300).collect();
    if t.len() < s.len() {
        t.push('…');
    }
    t
}

/// One /proc snapshot: every process's CPU ticks (user + system, 1/100 s), parent and name, and the machine's
/// busy (user + nice + system + steal) and total ticks from /proc/stat.
struct CpuSnapshot {
    procs: HashMap<u32, (u32, u64, String)>,
    machine_busy: u64,
    machine_total: u64,
}

/// `(pid, ppid, ticks, comm)` from a /proc/PID/stat line.
fn parse_stat(stat: &str) -> Option<(u32, u32, u64, String)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let pid = stat[..open].trim().parse().ok()?;
    let comm = stat[open + 1..close].to_owned();
    let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    // After "pid (comm) ": state, ppid, …, utime (field 14), stime (15) → indexes 1, 11, 12.
    let ppid = f.get(1)?.parse().ok()?;
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some((pid, ppid, ticks, comm))
}

fn cpu_snapshot() -> CpuSnapshot {
    let mut procs = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let name = entry.file_name();
            if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            // (processes may exit while being read)
            if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat"))
                && let Some((pid, ppid, ticks, comm)) = parse_stat(&stat)
            {
                procs.insert(pid, (ppid, ticks, comm));
            }
        }
    }
    let (mut machine_busy, mut machine_total) = (0, 0);
    if let Ok(stat) = std::fs::read_to_string("/proc/stat")
        && let Some(line) = stat.lines().find(|l| l.starts_with("cpu "))
    {
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .take(8)
            .filter_map(|x| x.parse().ok())
            .collect();
        if v.len() == 8 {
            // user nice system idle iowait irq softirq steal
            machine_busy = v[0] + v[1] + v[2] + v[7];
            machine_total = v.iter().sum();
        }
    }
    CpuSnapshot {
        procs,
        machine_busy,
        machine_total,
    }
}

/// Where the CPU went between two snapshots, in seconds: the watched process trees (split into the MCP server
/// processes, by name, and the rest: the proxy), this load generator, kernel threads, and everything else (as
/// a % of the whole machine).
fn cpu_usage(a: &CpuSnapshot, b: &CpuSnapshot, roots: &[u32], server_comm: &str) -> Value {
    let children = |root: u32| -> Vec<u32> {
        let mut tree = vec![root];
        let mut i = 0;
        while i < tree.len() {
            let p = tree[i];
            tree.extend(
                b.procs
                    .iter()
                    .filter(|(_, (ppid, _, _))| *ppid == p)
                    .map(|(pid, _)| *pid),
            );
            i += 1;
        }
        tree
    };
    let delta = |pid: u32| -> u64 {
        let after = b.procs.get(&pid).map_or(0, |p| p.1);
        let before = a.procs.get(&pid).map_or(0, |p| p.1);
        after.saturating_sub(before)
    };
    let (mut proxy, mut server) = (0u64, 0u64);
    let mut seen = std::collections::HashSet::new();
    for &root in roots {
        for pid in children(root) {
            if !seen.insert(pid) {
                continue;
            }
            if b.procs.get(&pid).is_some_and(|p| p.2 == server_comm) {
                server += delta(pid);
            } else {
                proxy += delta(pid);
            }
        }
    }
    let me = std::process::id();
    let loadgen = delta(me);
    seen.insert(me);
    let mut kernel = 0;
    for pid in children(2) {
        if seen.insert(pid) {
            kernel += delta(pid);
        }
    }
    let busy = b.machine_busy.saturating_sub(a.machine_busy);
    let total = b.machine_total.saturating_sub(a.machine_total).max(1);
    let other = busy.saturating_sub(proxy + server + loadgen + kernel);
    let secs = |t: u64| t as f64 / 100.0;
    json!({
        "proxy_s": secs(proxy),
        "server_s": secs(server),
        "loadgen_s": secs(loadgen),
        "kernel_threads_s": secs(kernel),
        "machine_s": secs(total),
        "other_pct": (other as f64 * 1000.0 / total as f64).round() / 10.0,
    })
}

struct SessionResult {
    latencies_us: Vec<u32>,
    errors: u64,
    sse_answers: u64,
    first_error: Option<String>,
}

async fn run_session(
    mut session: Session,
    text: Arc<str>,
    measure_from: Instant,
    measure_until: Instant,
    stop: Arc<AtomicBool>,
) -> SessionResult {
    let mut out = SessionResult {
        latencies_us: Vec::with_capacity(1 << 14),
        errors: 0,
        sse_answers: 0,
        first_error: None,
    };
    while !stop.load(Ordering::Relaxed) {
        let r = session.echo(&text).await;
        let now = Instant::now();
        let counted = now >= measure_from && now <= measure_until;
        match r {
            Ok((latency, sse)) => {
                if counted {
                    out.sse_answers += u64::from(sse);
                    out.latencies_us
                        .push(latency.as_micros().min(u32::MAX as u128) as u32);
                }
            }
            Err(e) => {
                if counted {
                    out.errors += 1;
                }
                if out.first_error.is_none() {
                    out.first_error = Some(format!("{e:#}"));
                }
                // Do not spin on a dead endpoint.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        if now > measure_until {
            break;
        }
    }
    out
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.sessions == 0 {
        bail!("--sessions must be at least 1");
    }
    let timeout = Duration::from_secs_f64(args.timeout);
    let text: Arc<str> = Arc::from(args.text.as_str());

    // Open every session first (concurrently), then start the clock.
    let mut cpu_of = args.cpu_of.clone();
    let mut _child = None; // killed on drop
    let target = match &args.url {
        Some(url) => url.clone(),
        None => format!("stdio: {}", args.stdio.join(" ")),
    };
    let sessions: Vec<Session> = if let Some(url) = &args.url {
        let opens = (0..args.sessions).map(|_| {
            let version = args.protocol_version.clone();
            let bearer = args.bearer.clone();
            async move {
                let http = reqwest::Client::builder()
                    .no_proxy()
                    .http1_only()
                    .pool_max_idle_per_host(1)
                    .timeout(timeout)
                    .build()
                    .context("building the HTTP client")?;
                HttpSession::open(http, url, &version, bearer.as_deref())
                    .await
                    .map(Session::Http)
            }
        });
        futures::future::try_join_all(opens)
            .await
            .with_context(|| format!("opening {} sessions on {url}", args.sessions))?
    } else {
        let (peer, child) = StdioPeer::start(&args.stdio, &args.protocol_version, timeout).await?;
        cpu_of.extend(child.id());
        _child = Some(child);
        (0..args.sessions)
            .map(|_| Session::Stdio(peer.clone()))
            .collect()
    };

    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let measure_until = measure_from + Duration::from_secs_f64(args.duration);
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = sessions
        .into_iter()
        .map(|s| {
            tokio::spawn(run_session(
                s,
                text.clone(),
                measure_from,
                measure_until,
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::sleep_until(measure_from.into()).await;
    let cpu_from = cpu_snapshot();
    tokio::time::sleep_until(measure_until.into()).await;
    let cpu_until = cpu_snapshot();
    stop.store(true, Ordering::Relaxed);

    let mut latencies: Vec<u32> = Vec::new();
    let mut errors = 0;
    let mut sse_answers = 0;
    let mut first_error = None;
    for t in tasks {
        let r = t.await.context("a session task panicked")?;
        latencies.extend_from_slice(&r.latencies_us);
        errors += r.errors;
        sse_answers += r.sse_answers;
        if first_error.is_none() {
            first_error = r.first_error;
        }
    }
    latencies.sort_unstable();
    let n = latencies.len();
    let mean = if n == 0 {
        0.0
    } else {
        latencies.iter().map(|&l| l as f64).sum::<f64>() / n as f64
    };
    let line = json!({
        "label": args.label,
        "url": target,
        "sessions": args.sessions,
        "duration_s": args.duration,
        "requests": n,
        "errors": errors,
        "answers": match sse_answers {
            _ if args.url.is_none() => "stdio",
            0 => "json",
            s if s as usize == n => "sse",
            _ => "mixed",
        },
        "rps": (n as f64 / args.duration * 10.0).round() / 10.0,
        "p50_us": percentile(&latencies, 50.0),
        "p90_us": percentile(&latencies, 90.0),
        "p99_us": percentile(&latencies, 99.0),
        "max_us": latencies.last().copied().unwrap_or(0),
        "mean_us": mean.round(),
        "cpu": cpu_usage(&cpu_from, &cpu_until, &cpu_of, &args.server_comm),
        "first_error": first_error,
    });
    println!("{line}");
    if n == 0 {
        bail!("no successful call in the measured window");
    }
    Ok(())
}
