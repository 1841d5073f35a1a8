//! `cargo xtask bench peers`: the same two routes served by this project and by its peers
//! (`tests/peers/`), checked to answer alike, then measured over loopback and in process.
//!
//! Each round starts every server afresh, in an order rotated from round to round so the
//! machine's noise falls on all alike, and runs the load generator against both routes. On a
//! machine with at least two cores the server is pinned to the first and the load generator to
//! the second, so neither takes the other's core.

use crate::{median, ratio_spread};
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One server of the suite.
pub(crate) struct Peer {
    pub(crate) name: &'static str,
    /// The binary, which is also its package's name in `tests/peers`.
    binary: &'static str,
    /// Whether it parses and validates input (raw hyper answers fixed bytes).
    validates: bool,
    /// Whether it can answer a request in process, for callgrind.
    in_process: bool,
    /// Cases it answers otherwise because the framework gives no way to do as the others do:
    /// the case's description and the status it gives.
    own_answers: &'static [(&'static str, u16)],
    /// Environment variables it is started with.
    env: &'static [(&'static str, &'static str)],
}

pub(crate) const PEERS: &[Peer] = &[
    Peer {
        name: "this project",
        binary: "peer-ours",
        validates: true,
        in_process: true,
        own_answers: &[],
        env: &[],
    },
    Peer {
        name: "axum, hand-written",
        binary: "peer-axum",
        validates: true,
        in_process: true,
        own_answers: &[],
        env: &[],
    },
    Peer {
        name: "utoipa-axum + garde",
        binary: "peer-utoipa-axum",
        validates: true,
        in_process: true,
        own_answers: &[],
        env: &[],
    },
    Peer {
        name: "poem-openapi",
        binary: "peer-poem-openapi",
        validates: true,
        in_process: true,
        own_answers: &[],
        env: &[],
    },
    Peer {
        name: "dropshot",
        binary: "peer-dropshot",
        validates: true,
        in_process: false,
        // `TypedBody` refuses another content type itself, with 400.
        own_answers: &[("not JSON by its content type", 400)],
        env: &[],
    },
    Peer {
        name: "raw hyper, fixed bytes",
        binary: "peer-hyper",
        validates: false,
        in_process: true,
        own_answers: &[],
        env: &[],
    },
    // Raw hyper again, doing both routes' work by hand with nothing between the connection and
    // the work: the least a server answering every case alike spends on this stack.
    Peer {
        name: "raw hyper, the same work by hand",
        binary: "peer-hyper-work",
        validates: true,
        in_process: true,
        own_answers: &[],
        env: &[],
    },
    // The same work by hand again, routed by axum's router: what that router adds to the least
    // work, for any server routed by it, as every plugin served by this project is.
    Peer {
        name: "axum's router, the same work by hand",
        binary: "peer-axum-work",
        validates: true,
        in_process: true,
        own_answers: &[],
        env: &[],
    },
    // This project again, recording metrics and tracing every request (`peer-ours` built with
    // its `observed` feature): each span sampled, then each dropped by the sampler.
    Peer {
        name: "this project, metrics and traces, sampled",
        binary: "peer-ours-observed",
        validates: true,
        in_process: false,
        own_answers: &[],
        env: &[("PEER_TRACES", "sampled")],
    },
    Peer {
        name: "this project, metrics and traces, not sampled",
        binary: "peer-ours-observed",
        validates: true,
        in_process: false,
        own_answers: &[],
        env: &[("PEER_TRACES", "dropped")],
    },
];

/// The index of hand-written axum in [`PEERS`]: every ratio is to it.
const BASE: usize = 1;

const CREATE_BODY: &str = r#"{"name":"widget","status":"active"}"#;

/// The two measured routes.
#[derive(Clone, Copy)]
enum Route {
    Get,
    Create,
}

impl Route {
    const ALL: [Route; 2] = [Route::Get, Route::Create];

    fn label(self) -> &'static str {
        match self {
            Route::Get => "GET /items/{id}",
            Route::Create => "POST /items",
        }
    }

    fn count_arg(self) -> &'static str {
        match self {
            Route::Get => "get",
            Route::Create => "create",
        }
    }
}

/// The settings of one run.
pub(crate) struct Options {
    rounds: usize,
    seconds: u64,
    connections: usize,
    processes: usize,
    /// `--peers a,b`: only the servers whose binary is named (`peer-` may be left out), and
    /// hand-written axum, whom every ratio is to.
    peers: Option<Vec<String>>,
}

impl Options {
    pub(crate) fn parse(args: &[String]) -> Result<Options, String> {
        let number = |flag: &str, default: usize| crate::positive_arg(args, flag, default);
        Ok(Options {
            rounds: number("--rounds", 5)?,
            seconds: number("--seconds", 5)? as u64,
            connections: number("--connections", 32)?,
            processes: number("--processes", 3)?,
            peers: match args.iter().position(|a| a == "--peers") {
                None => None,
                Some(i) => {
                    let names: Vec<String> = args
                        .get(i + 1)
                        .map(String::as_str)
                        .unwrap_or_default()
                        .split(',')
                        .map(|n| format!("peer-{}", n.trim_start_matches("peer-")))
                        .collect();
                    if let Some(unknown) = names
                        .iter()
                        .find(|n| !PEERS.iter().any(|p| p.binary == n.as_str()))
                    {
                        return Err(format!(
                            "--peers: no server {unknown}; the servers are {}",
                            PEERS
                                .iter()
                                .map(|p| p.binary)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                    Some(names)
                }
            },
        })
    }

    /// The index in [`PEERS`] of the server built as `binary`, if it is measured.
    fn measured(&self, binary: &str) -> Option<usize> {
        PEERS
            .iter()
            .position(|p| p.binary == binary)
            .filter(|&i| self.measures(i))
    }

    /// Whether the `i`th server of [`PEERS`] is measured.
    fn measures(&self, i: usize) -> bool {
        i == BASE
            || self
                .peers
                .as_ref()
                .is_none_or(|names| names.iter().any(|n| n == PEERS[i].binary))
    }
}

/// Builds every server of the suite, release profile, into `target/peers`.
pub(crate) fn build(root: &Path) -> Result<PathBuf, String> {
    let target = root.join("target/peers");
    release_build(root, &target, &["--workspace"])?;
    // `peer-ours` with metrics and traces, in a target of its own: built with the others, the
    // features would be unified into the plain `peer-ours` too.
    let observed = root.join("target/peers-observed");
    release_build(
        root,
        &observed,
        &["--package", "peer-ours", "--features", "observed"],
    )?;
    let bin = target.join("release");
    std::fs::copy(
        observed.join("release/peer-ours"),
        bin.join("peer-ours-observed"),
    )
    .map_err(|e| format!("cannot copy peer-ours-observed: {e}"))?;
    Ok(bin)
}

/// `cargo build --release --locked` of the suite's `what`, into `target`.
fn release_build(root: &Path, target: &Path, what: &[&str]) -> Result<(), String> {
    let status = crate::cargo_command()
        .args(["build", "--release", "--locked"])
        .args(what)
        .arg("--manifest-path")
        .arg(root.join("tests/peers/Cargo.toml"))
        .env("CARGO_TARGET_DIR", target)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("building tests/peers ({}) failed", what.join(" ")))
    }
}

/// A server of the suite, running; killed when dropped.
struct Running {
    child: Child,
    addr: SocketAddr,
}

impl Running {
    /// The server's process id (`taskset` runs the server in its own place).
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn two_cores() -> bool {
    static PINNABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PINNABLE.get_or_init(|| {
        std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
            && Command::new("taskset")
                .arg("--version")
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    })
}

/// A command, pinned to `cpu` where the machine has two cores to pin to.
fn pinned(program: &Path, cpu: usize) -> Command {
    if two_cores() {
        let mut cmd = Command::new("taskset");
        cmd.arg("-c").arg(cpu.to_string()).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

fn start(bin: &Path, peer: &Peer) -> Result<Running, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let running = launch(pinned(&bin.join(peer.binary), 0), peer, addr)?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            return Err(format!("{} did not listen on {addr}", peer.name));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(running)
}

/// Starts `command` (the peer's binary, or a tool running it) serving on `addr`, with the peer's
/// environment.
fn launch(mut command: Command, peer: &Peer, addr: SocketAddr) -> Result<Running, String> {
    let child = command
        .envs(peer.env.iter().copied())
        .arg("--addr")
        .arg(addr.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", peer.binary))?;
    Ok(Running { child, addr })
}

/// One request over a fresh connection; the status and the body.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    if method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    head.push_str(body);
    stream
        .write_all(head.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(|e| e.to_string())?;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line in {answer:?}"))?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// One request of the equivalence check.
struct Case {
    what: &'static str,
    method: &'static str,
    path: &'static str,
    content_type: Option<&'static str>,
    body: String,
    expected: u16,
    /// Whether a server that does not parse input is held to it.
    valid: bool,
}

fn cases() -> Vec<Case> {
    let json = Some("application/json");
    let post = |what, body: String, expected| Case {
        what,
        method: "POST",
        path: "/v1/plugins/items/items",
        content_type: json,
        body,
        expected,
        valid: false,
    };
    let get = |what, path, expected| Case {
        what,
        method: "GET",
        path,
        content_type: None,
        body: String::new(),
        expected,
        valid: false,
    };
    vec![
        Case {
            valid: true,
            ..get("an item that exists", "/v1/plugins/items/items/7", 200)
        },
        get(
            "an id that is not a number",
            "/v1/plugins/items/items/abc",
            400,
        ),
        get(
            "an id too large for i64",
            "/v1/plugins/items/items/99999999999999999999",
            400,
        ),
        get(
            "an item that does not exist",
            "/v1/plugins/items/items/2000000",
            404,
        ),
        Case {
            valid: true,
            ..post("a valid item", CREATE_BODY.to_owned(), 201)
        },
        post(
            "the name that is taken",
            r#"{"name":"taken","status":"active"}"#.to_owned(),
            409,
        ),
        post(
            "an empty name",
            r#"{"name":"","status":"active"}"#.to_owned(),
            400,
        ),
        post(
            "a name of 101 characters",
            format!(r#"{{"name":"{}","status":"active"}}"#, "é".repeat(101)),
            400,
        ),
        post(
            "a name of 100 two-byte characters",
            format!(r#"{{"name":"{}","status":"active"}}"#, "é".repeat(100)),
            201,
        ),
        post(
            "a status that is not one of the two",
            r#"{"name":"widget","status":"deleted"}"#.to_owned(),
            400,
        ),
        post("no status", r#"{"name":"widget"}"#.to_owned(), 400),
        post(
            "an unknown field",
            r#"{"name":"widget","status":"active","colour":"red"}"#.to_owned(),
            400,
        ),
        post("JSON cut short", r#"{"name":"wid"#.to_owned(), 400),
        Case {
            content_type: Some("text/plain"),
            ..post("not JSON by its content type", CREATE_BODY.to_owned(), 415)
        },
    ]
}

/// Starts each server and sends it every case; fails, with a table of what differs, unless
/// every server that validates input answers every case with the expected status, and the one
/// that does not answers the valid ones alike.
pub(crate) fn check(bin: &Path) -> Result<(), String> {
    let cases = cases();
    let mut table = String::from("| request | expected |");
    for p in PEERS {
        table.push_str(&format!(" {} |", p.name));
    }
    table.push_str("\n|---|---:|");
    table.push_str(&"---:|".repeat(PEERS.len()));
    let mut answers = Vec::new();
    for p in PEERS {
        let running = start(bin, p)?;
        let mut got = Vec::new();
        for c in &cases {
            let (status, body) = request(running.addr, c.method, c.path, c.content_type, &c.body)
                .map_err(|e| format!("{}: {}: {e}", p.name, c.what))?;
            got.push((status, body));
        }
        answers.push(got);
    }
    let mut wrong = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        table.push_str(&format!("\n| {} | {} |", c.what, c.expected));
        for (p, got) in PEERS.iter().zip(&answers) {
            let (status, body) = &got[i];
            let held = p.validates || c.valid;
            let own = p
                .own_answers
                .iter()
                .any(|(what, s)| *what == c.what && s == status);
            let mark = if !held {
                " (not held)"
            } else if own {
                " (its own)"
            } else if *status != c.expected {
                wrong.push(format!(
                    "{}: {}: {status}, expected {}: {body}",
                    p.name, c.what, c.expected
                ));
                " ✗"
            } else {
                ""
            };
            table.push_str(&format!(" {status}{mark} |"));
        }
    }
    println!("\nSame requests, same statuses (checked before measuring):\n\n{table}\n");
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the servers do not answer alike:\n{}",
            wrong.join("\n")
        ))
    }
}

/// The load generator: wrk, from Debian's packages.
fn ensure_wrk() -> Result<(), String> {
    let found = || {
        Command::new("wrk")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    if found() {
        return Ok(());
    }
    eprintln!("wrk is not installed; trying `apt-get install -y wrk`");
    let _ = Command::new("apt-get")
        .args(["install", "-y", "wrk"])
        .status();
    if found() {
        Ok(())
    } else {
        Err("the load generator wrk is needed: `apt-get install wrk` (Debian, Ubuntu) or `brew install wrk`".to_owned())
    }
}

/// What one run of wrk measured, with the server's CPU time over the same span.
struct Load {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_us_per_request: f64,
    /// The server's CPU time over the span wrk ran: near 1.0 when its one core was saturated,
    /// lower when wrk, not the server, set the pace (a server waiting for work spends more CPU a
    /// request, in wake-ups and smaller batches).
    busy: f64,
}

/// The server's user and system CPU time so far, in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
    // The command name, in parentheses, may hold spaces: count fields after its end.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or("unreadable /proc stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: u64 = fields
        .get(11)
        .and_then(|f| f.parse().ok())
        .ok_or("no utime")?;
    let stime: u64 = fields
        .get(12)
        .and_then(|f| f.parse().ok())
        .ok_or("no stime")?;
    Ok(utime + stime)
}

fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
fn memory_kib(pid: u32) -> Result<(u64, u64), String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .ok_or(format!("no {name} in /proc/{pid}/status"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

fn wrk_script(dir: &Path) -> Result<PathBuf, String> {
    let path = dir.join("post-item.lua");
    let script = format!(
        "wrk.method = \"POST\"\nwrk.body = '{CREATE_BODY}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
    );
    std::fs::write(&path, script).map_err(|e| e.to_string())?;
    Ok(path)
}

fn wrk(
    running: &Running,
    route: Route,
    seconds: u64,
    connections: usize,
    script: &Path,
) -> Result<Load, String> {
    let url = match route {
        Route::Get => format!("http://{}/v1/plugins/items/items/7", running.addr),
        Route::Create => format!("http://{}/v1/plugins/items/items", running.addr),
    };
    let mut cmd = pinned(Path::new("wrk"), 1);
    cmd.args(["-t1", "--latency"])
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"));
    if let Route::Create = route {
        cmd.arg("-s").arg(script);
    }
    let pid = running.pid();
    let before = cpu_ticks(pid)?;
    let started = Instant::now();
    let out = cmd
        .arg(&url)
        .output()
        .map_err(|e| format!("cannot run wrk: {e}"))?;
    let after = cpu_ticks(pid)?;
    let span = started.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if let Some(line) = text.lines().find(|l| l.contains("Non-2xx")) {
        return Err(format!("{url}: {}", line.trim()));
    }
    let (rps, requests, p50_us, p99_us) = parse_wrk(&text)?;
    let ticks = (after - before) as f64;
    Ok(Load {
        rps,
        p50_us,
        p99_us,
        cpu_us_per_request: ticks / clock_ticks_per_second() * 1e6 / requests.max(1) as f64,
        busy: ticks / clock_ticks_per_second() / span,
    })
}

/// From wrk's report with `--latency`: requests per second, the number of requests, and the
/// 50th and 99th percentile latencies in microseconds. A request that timed out is an error:
/// the figures would leave it out.
fn parse_wrk(text: &str) -> Result<(f64, u64, f64, f64), String> {
    let number_after = |label: &str| -> Option<String> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label).map(|v| v.trim().to_owned()))
    };
    if let Some(errors) = number_after("Socket errors:")
        && !errors.ends_with("timeout 0")
    {
        return Err(format!("wrk saw socket errors: {errors}"));
    }
    let rps: f64 = number_after("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .ok_or(format!("no Requests/sec in wrk's output:\n{text}"))?;
    let requests: u64 = text
        .lines()
        .find_map(|l| {
            let (n, rest) = l.trim().split_once(' ')?;
            rest.starts_with("requests in").then(|| n.parse().ok())?
        })
        .ok_or(format!("no request count in wrk's output:\n{text}"))?;
    let latency = |label: &str| -> Result<f64, String> {
        let v = number_after(label).ok_or(format!("no {label} latency in wrk's output"))?;
        duration_us(&v).ok_or(format!("unreadable latency {v:?}"))
    };
    Ok((rps, requests, latency("50%")?, latency("99%")?))
}

/// wrk's durations: `812.00us`, `1.23ms`, `2.01s`.
fn duration_us(v: &str) -> Option<f64> {
    let split = v.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "us" => n,
        "ms" => n * 1e3,
        "s" => n * 1e6,
        _ => return None,
    })
}

/// The figures of one peer, one route, over all rounds.
#[derive(Default, Clone)]
struct Series {
    rps: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    cpu: Vec<f64>,
    busy: Vec<f64>,
}

/// How busy a server's core must be, over a measured span, for its CPU a request to be read as
/// the cost of a request and not partly of waiting for the client.
const SATURATED: f64 = 0.95;

impl Series {
    /// This series' rounds in which both it and `other` had their cores at least [`SATURATED`]
    /// busy (rounds are paired by index).
    fn saturated_with(&self, other: &Series) -> Series {
        let mut kept = Series::default();
        for (r, (&mine, &theirs)) in self.busy.iter().zip(&other.busy).enumerate() {
            if mine >= SATURATED && theirs >= SATURATED {
                kept.rps.push(self.rps[r]);
                kept.p50.push(self.p50[r]);
                kept.p99.push(self.p99[r]);
                kept.cpu.push(self.cpu[r]);
                kept.busy.push(mine);
            }
        }
        kept
    }
}

/// Loads every server, round by round, and prints the tables.
pub(crate) fn load(bin: &Path, options: &Options) -> Result<(), String> {
    ensure_wrk()?;
    let scratch = std::env::temp_dir().join(format!("peers-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let script = wrk_script(&scratch)?;
    let mut series = vec![[Series::default(), Series::default()]; PEERS.len()];
    let mut idle = vec![Vec::new(); PEERS.len()];
    let mut rss = vec![Vec::new(); PEERS.len()];
    let mut hwm = vec![Vec::new(); PEERS.len()];
    for round in 0..options.rounds {
        for k in 0..PEERS.len() {
            let i = (k + round) % PEERS.len();
            if !options.measures(i) {
                continue;
            }
            let peer = &PEERS[i];
            let running = start(bin, peer)?;
            std::thread::sleep(Duration::from_millis(200));
            idle[i].push(memory_kib(running.pid())?.0 as f64);
            // The same order of routes within a round for all; the other order the next round.
            let routes = if round % 2 == 0 {
                [Route::Get, Route::Create]
            } else {
                [Route::Create, Route::Get]
            };
            for route in routes {
                // A second of warm-up: connections made, allocator and caches settled.
                wrk(&running, route, 1, options.connections, &script)?;
                let load = wrk(
                    &running,
                    route,
                    options.seconds,
                    options.connections,
                    &script,
                )?;
                eprintln!(
                    "round {}: {}: {}: {:.0} requests/s, p50 {:.0} µs, p99 {:.0} µs, {:.1} µs CPU a request, server core {:.0} % busy",
                    round + 1,
                    peer.name,
                    route.label(),
                    load.rps,
                    load.p50_us,
                    load.p99_us,
                    load.cpu_us_per_request,
                    load.busy * 100.0
                );
                let s = &mut series[i][route as usize];
                s.rps.push(load.rps);
                s.p50.push(load.p50_us);
                s.p99.push(load.p99_us);
                s.cpu.push(load.cpu_us_per_request);
                s.busy.push(load.busy);
            }
            let (now, peak) = memory_kib(running.pid())?;
            rss[i].push(now as f64);
            hwm[i].push(peak as f64);
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    println!(
        "\nOver loopback: wrk, 1 thread, {} connections, {} s per route after 1 s of warm-up, {} rounds; medians of the rounds. Ratios to hand-written axum are taken round by round (median [lowest, highest]).",
        options.connections, options.seconds, options.rounds
    );
    for route in Route::ALL {
        let r = route as usize;
        println!("\n`{}`\n", route.label());
        println!(
            "| server | requests/s | ratio | p50 | p99 | server CPU per request | ratio | server core busy [lowest] |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        for (i, p) in PEERS.iter().enumerate() {
            if !options.measures(i) {
                continue;
            }
            let s = &series[i][r];
            let b = &series[BASE][r];
            let lowest = s.busy.iter().copied().fold(f64::INFINITY, f64::min);
            println!(
                "| {} | {:.0} | {} | {:.0} µs | {:.0} µs | {:.1} µs | {} | {:.0} % [{:.0} %] |",
                p.name,
                median(&s.rps),
                ratio_spread(&s.rps, &b.rps, 3),
                median(&s.p50),
                median(&s.p99),
                median(&s.cpu),
                ratio_spread(&s.cpu, &b.cpu, 3),
                median(&s.busy) * 100.0,
                lowest * 100.0,
            );
        }
    }
    // This project and both servers doing the work by hand against raw hyper answering fixed
    // bytes; this project and axum's router doing the work against raw hyper doing it; this
    // project against axum's router doing it.
    let against = |base: usize, title: &str, who: &dyn Fn(&Peer) -> bool| {
        println!(
            "\n{title}, round by round (median [lowest, highest]), first over every round, then over the rounds where both servers' cores were at least {:.0} % busy: a server with time to spare spends more CPU a request, so a ratio to it says little.\n",
            SATURATED * 100.0
        );
        println!(
            "| server | route | requests/s, ratio | server CPU per request, ratio | rounds both saturated | requests/s, ratio, those rounds | CPU, ratio, those rounds |"
        );
        println!("|---|---|---:|---:|---:|---:|---:|");
        for (i, p) in PEERS.iter().enumerate() {
            if i == base || !who(p) || !options.measures(i) {
                continue;
            }
            for route in Route::ALL {
                let (a, b) = (&series[i][route as usize], &series[base][route as usize]);
                let (sa, sb) = (a.saturated_with(b), b.saturated_with(a));
                let (rps, cpu) = if sa.rps.is_empty() {
                    ("—".to_owned(), "—".to_owned())
                } else {
                    (
                        ratio_spread(&sa.rps, &sb.rps, 3),
                        ratio_spread(&sa.cpu, &sb.cpu, 3),
                    )
                };
                println!(
                    "| {} | `{}` | {} | {} | {} of {} | {rps} | {cpu} |",
                    p.name,
                    route.label(),
                    ratio_spread(&a.rps, &b.rps, 3),
                    ratio_spread(&a.cpu, &b.cpu, 3),
                    sa.rps.len(),
                    a.rps.len(),
                );
            }
        }
    };
    if let Some(hyper) = options.measured("peer-hyper") {
        against(
            hyper,
            "Against raw hyper answering fixed bytes",
            &|p: &Peer| p.binary.starts_with("peer-ours") || p.binary.ends_with("-work"),
        );
    }
    if let Some(work) = options.measured("peer-hyper-work") {
        against(
            work,
            "Against raw hyper doing the same work by hand",
            &|p: &Peer| p.binary.starts_with("peer-ours") || p.binary == "peer-axum-work",
        );
    }
    if let Some(routed) = options.measured("peer-axum-work") {
        against(
            routed,
            "Against axum's router with the same work by hand",
            &|p: &Peer| p.binary.starts_with("peer-ours"),
        );
    }
    println!(
        "\nMemory: resident set at start and after both routes' load (`VmRSS`), and the peak (`VmHWM`), medians of the rounds.\n"
    );
    println!("| server | at start | after load | peak | after load − axum's |");
    println!("|---|---:|---:|---:|---:|");
    for (i, p) in PEERS.iter().enumerate() {
        if !options.measures(i) {
            continue;
        }
        let after = median(&rss[i]);
        println!(
            "| {} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:+.1} MiB |",
            p.name,
            median(&idle[i]) / 1024.0,
            after / 1024.0,
            median(&hwm[i]) / 1024.0,
            (after - median(&rss[BASE])) / 1024.0,
        );
    }
    Ok(())
}

/// Requests of the socket count measured, after as many to warm up.
const SOCKET_REQUESTS: usize = 5_000;

/// Instructions the server process runs per request over loopback, every thread and the whole
/// stack above the kernel (hyper, the runtime, the allocator) counted by callgrind: the part of
/// the CPU a request that the load figures cannot measure finer than the machine's noise. Each
/// server runs under callgrind; a client sends the requests over four keep-alive connections,
/// eight at a time on each, and callgrind's counters are zeroed after the warm-up and dumped
/// after the measured requests. The median of several processes.
pub(crate) fn socket(bin: &Path, options: &Options) -> Result<(), String> {
    let scratch = std::env::temp_dir().join(format!("peers-socket-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for (i, p) in PEERS.iter().enumerate() {
        let mut per_route = Vec::new();
        if !options.measures(i) {
            rows.push(per_route);
            continue;
        }
        for route in Route::ALL {
            let mut counts = Vec::new();
            for _ in 0..options.processes {
                let total = socket_count(bin, p, route, &scratch)?;
                counts.push(total as f64 / SOCKET_REQUESTS as f64);
            }
            counts.sort_by(f64::total_cmp);
            eprintln!("{} over loopback: {}: {counts:?}", p.name, route.label());
            per_route.push(counts);
        }
        rows.push(per_route);
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let hyper = options.measured("peer-hyper");
    let work = options.measured("peer-hyper-work");
    let routed = options.measured("peer-axum-work");
    println!(
        "\nOver loopback, under callgrind: the server process's instructions per request (all its threads, kernel excluded), {SOCKET_REQUESTS} requests over 4 keep-alive connections 8 at a time, after as many to warm up; median of {} processes [lowest, highest]. Ratios to hand-written axum, to raw hyper answering fixed bytes, to raw hyper doing the same work by hand, and to axum's router with that work.\n",
        options.processes
    );
    println!(
        "| server | `GET` | to axum | to raw hyper | to the same work | to it routed | `POST` | to axum | to raw hyper | to the same work | to it routed |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (i, routes) in rows.iter().enumerate() {
        if routes.is_empty() {
            continue;
        }
        let cell = |r: usize| {
            let c = &routes[r];
            let m = median(c);
            let to = |base: Option<usize>| {
                base.map_or("—".to_owned(), |h| {
                    format!("{:.2}", m / median(&rows[h][r]))
                })
            };
            format!(
                "{:.0} [{:.0}, {:.0}] | {:.3} | {} | {} | {}",
                m,
                c[0],
                c[c.len() - 1],
                m / median(&rows[BASE][r]),
                to(hyper),
                to(work),
                to(routed)
            )
        };
        println!("| {} | {} | {} |", PEERS[i].name, cell(0), cell(1));
    }
    Ok(())
}

/// One server under callgrind: warmed up, its counters zeroed, [`SOCKET_REQUESTS`] answered,
/// and the instructions run since the zeroing.
fn socket_count(bin: &Path, peer: &Peer, route: Route, scratch: &Path) -> Result<u64, String> {
    let binary = bin.join(peer.binary);
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let out = scratch.join("callgrind.out.%p");
    let mut valgrind = Command::new("valgrind");
    valgrind
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(&binary);
    let running = launch(valgrind, peer, addr)?;
    let pid = running.pid().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            return Err(format!(
                "{} did not listen under valgrind",
                binary.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    drive(addr, route, SOCKET_REQUESTS)?;
    callgrind_control(&["-z", &pid])?;
    drive(addr, route, SOCKET_REQUESTS)?;
    callgrind_control(&["-d", &pid])?;
    drop(running);
    // The dump asked for is the process's first numbered part; the part written at exit has
    // no number.
    let dump = scratch.join(format!("callgrind.out.{pid}.1"));
    let text = std::fs::read_to_string(&dump)
        .map_err(|e| format!("no callgrind dump at {}: {e}", dump.display()))?;
    // Kept for `callgrind_annotate --inclusive=yes`, to see where a server's instructions go.
    if let Some(keep) = std::env::var_os("PEERS_KEEP_PROFILES") {
        let keep = Path::new(&keep);
        std::fs::create_dir_all(keep).map_err(|e| e.to_string())?;
        let name = format!("callgrind.{}.{}.{pid}", peer.binary, route.count_arg());
        std::fs::copy(&dump, keep.join(name))
            .map_err(|e| format!("cannot keep {}: {e}", dump.display()))?;
    }
    for entry in std::fs::read_dir(scratch).map_err(|e| e.to_string())? {
        let _ = std::fs::remove_file(entry.map_err(|e| e.to_string())?.path());
    }
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| format!("no totals in {}", dump.display()))
}

fn callgrind_control(args: &[&str]) -> Result<(), String> {
    let out = Command::new("callgrind_control")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run callgrind_control: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "callgrind_control {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Sends `requests` of `route` over four keep-alive connections, eight at a time on each, and
/// reads every answer, checking its status.
fn drive(addr: SocketAddr, route: Route, requests: usize) -> Result<(), String> {
    let one = match route {
        Route::Get => format!("GET /v1/plugins/items/items/7 HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
        Route::Create => format!(
            "POST /v1/plugins/items/items HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{CREATE_BODY}",
            CREATE_BODY.len()
        ),
    };
    let expected = match route {
        Route::Get => 200,
        Route::Create => 201,
    };
    let mut connections = (0..4)
        .map(|_| {
            let s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(Duration::from_secs(60)))
                .map_err(|e| e.to_string())?;
            Ok((s, Vec::new()))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut sent = 0;
    while sent < requests {
        for (stream, buf) in &mut connections {
            let n = 8.min(requests - sent);
            if n == 0 {
                break;
            }
            stream
                .write_all(one.repeat(n).as_bytes())
                .map_err(|e| e.to_string())?;
            for _ in 0..n {
                let status = read_answer(stream, buf)?;
                if status != expected {
                    return Err(format!(
                        "{} answered {status}, not {expected}",
                        route.label()
                    ));
                }
            }
            sent += n;
        }
    }
    Ok(())
}

/// Reads one response from `stream` (bytes already read in `buf`), leaving what follows it in
/// `buf`; its status.
fn read_answer(stream: &mut impl std::io::Read, buf: &mut Vec<u8>) -> Result<u16, String> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let status = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("no status line in {head:?}"))?;
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .ok_or_else(|| format!("no Content-Length in {head:?}"))?;
            let total = end + 4 + length;
            while buf.len() < total {
                let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("the server closed the connection".to_owned());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..total);
            return Ok(status);
        }
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the server closed the connection".to_owned());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Instructions per request in process, counted by callgrind inside the peer's
/// `measured_batch` only; the median of several processes.
pub(crate) fn instructions(bin: &Path, options: &Options) -> Result<(), String> {
    const REQUESTS: u64 = 2_000;
    let mut base = [0.0f64; 2];
    let mut rows = Vec::new();
    for (i, p) in PEERS.iter().enumerate() {
        if !p.in_process || !options.measures(i) {
            rows.push((i, None));
            continue;
        }
        let mut per_route = Vec::new();
        for route in Route::ALL {
            let mut counts = Vec::new();
            for _ in 0..options.processes {
                counts.push(
                    callgrind(&bin.join(p.binary), route, REQUESTS)? as f64 / REQUESTS as f64,
                );
            }
            counts.sort_by(f64::total_cmp);
            eprintln!("{}: {}: {counts:?}", p.name, route.label());
            per_route.push(counts);
        }
        if i == BASE {
            base = [median(&per_route[0]), median(&per_route[1])];
        }
        rows.push((i, Some(per_route)));
    }
    println!(
        "\nIn process, no sockets: instructions per request counted by callgrind over {REQUESTS} requests after as many to warm up, median of {} processes [lowest, highest].\n",
        options.processes
    );
    println!("| server | `GET` | ratio | `POST` | ratio |");
    println!("|---|---:|---:|---:|---:|");
    for (i, row) in rows {
        match row {
            None => println!("| {} | — | | — | |", PEERS[i].name),
            Some(routes) => {
                let cell = |r: usize| {
                    let c = &routes[r];
                    let m = median(c);
                    format!(
                        "{:.0} [{:.0}, {:.0}] | {:.3}",
                        m,
                        c[0],
                        c[c.len() - 1],
                        m / base[r]
                    )
                };
                println!("| {} | {} | {} |", PEERS[i].name, cell(0), cell(1));
            }
        }
    }
    Ok(())
}

fn callgrind(binary: &Path, route: Route, requests: u64) -> Result<u64, String> {
    crate::valgrind_with(
        binary,
        crate::Tool::Callgrind,
        &["--toggle-collect=*measured_batch*"],
        &["--count", route.count_arg(), &requests.to_string()],
    )
}

/// The number of distinct crates each server links (`cargo tree`, normal and build
/// dependencies, the server's own crate and the suite's shared one included).
pub(crate) fn dependencies(root: &Path) -> Result<(), String> {
    println!("\n| server | crates in its dependency tree |\n|---|---:|");
    for (i, p) in PEERS.iter().enumerate() {
        // The observed rows are one build (`peer-ours` with its `observed` feature), counted once.
        if PEERS[..i].iter().any(|q| q.binary == p.binary) {
            continue;
        }
        let package: &[&str] = match p.binary {
            "peer-ours-observed" => &["-p", "peer-ours", "--features", "observed"],
            binary => &["-p", binary],
        };
        let out = crate::cargo_command()
            .args(["tree", "--locked", "-e", "normal,build", "--prefix", "none"])
            .args(package)
            .arg("--manifest-path")
            .arg(root.join("tests/peers/Cargo.toml"))
            .output()
            .map_err(|e| format!("cannot run cargo tree: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let mut crates: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim_end_matches(" (*)").to_owned())
            .filter(|l| !l.is_empty())
            .collect();
        crates.sort();
        crates.dedup();
        let name = match p.binary {
            "peer-ours-observed" => "this project, with `metrics` and `otel`",
            _ => p.name,
        };
        println!("| {name} | {} |", crates.len());
    }
    Ok(())
}

/// A CPU profile of this project's `create_item` under load: `perf record` with DWARF call
/// graphs while wrk posts, folded and drawn by inferno, written to `path`.
pub(crate) fn profile(bin: &Path, options: &Options, path: &Path) -> Result<(), String> {
    ensure_wrk()?;
    for tool in ["inferno-collapse-perf", "inferno-flamegraph"] {
        if Command::new(tool)
            .arg("--help")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            eprintln!("{tool} is not installed; installing inferno with cargo");
            let status = crate::cargo_command()
                .args(["install", "--locked", "inferno"])
                .status()
                .map_err(|e| e.to_string())?;
            if !status.success() {
                return Err("`cargo install inferno` failed".to_owned());
            }
        }
    }
    let scratch = std::env::temp_dir().join(format!("peers-profile-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let script = wrk_script(&scratch)?;
    let running = start(bin, &PEERS[0])?;
    wrk(&running, Route::Create, 1, options.connections, &script)?;
    let data = scratch.join("perf.data");
    let mut perf = Command::new("perf")
        .args([
            "record",
            "-e",
            "cpu-clock",
            "-F",
            "2000",
            "--call-graph",
            "dwarf,16384",
            "-o",
        ])
        .arg(&data)
        .arg("-p")
        .arg(running.pid().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run perf (apt-get install linux-perf): {e}"))?;
    std::thread::sleep(Duration::from_millis(500));
    let load = wrk(
        &running,
        Route::Create,
        options.seconds,
        options.connections,
        &script,
    )?;
    // perf writes its data when interrupted.
    let _ = Command::new("kill")
        .args(["-INT", &perf.id().to_string()])
        .status();
    let _ = perf.wait();
    drop(running);
    eprintln!("profiled {:.0} requests/s", load.rps);
    let script_out = Command::new("perf")
        .args(["script", "--no-inline", "-i"])
        .arg(&data)
        .output()
        .map_err(|e| e.to_string())?;
    if !script_out.status.success() {
        return Err(format!(
            "perf script failed: {}",
            String::from_utf8_lossy(&script_out.stderr)
        ));
    }
    let folded = pipe("inferno-collapse-perf", &["--kernel"], &script_out.stdout)?;
    std::fs::write(scratch.join("folded.txt"), &folded).map_err(|e| e.to_string())?;
    let svg = pipe(
        "inferno-flamegraph",
        &[
            "--title",
            "create_item under load (this project, release)",
            "--width",
            "1600",
        ],
        &folded,
    )?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    std::fs::write(path, svg).map_err(|e| e.to_string())?;
    let summary = top_frames(&String::from_utf8_lossy(&folded));
    println!(
        "\nProfile of `POST /items` written to {}; where the server's CPU went, by crate:\n\n{summary}",
        path.display()
    );
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

fn pipe(program: &str, args: &[&str], input: &[u8]) -> Result<Vec<u8>, String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let _ = writer.join();
    if !out.status.success() {
        return Err(format!("{program} failed"));
    }
    Ok(out.stdout)
}

/// From folded stacks, where the time goes by crate: the share of samples whose innermost frame
/// is the crate's (its own work), and the share that pass through it at all (its work and what
/// it calls). Kernel frames (inferno marks them `_[k]`) count as one crate, the kernel; frames
/// without a Rust path are the C library's.
fn top_frames(folded: &str) -> String {
    let mut total = 0u64;
    let mut own: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut through: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for line in folded.lines() {
        let Some((stack, n)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else { continue };
        total += n;
        let frames: Vec<&str> = stack.split(';').collect();
        if let Some(leaf) = frames.last() {
            *own.entry(crate_of(leaf)).or_default() += n;
        }
        let mut seen = std::collections::HashSet::new();
        // The first frame is the thread's name, not code.
        for frame in frames.iter().skip(1) {
            let krate = crate_of(frame);
            if seen.insert(krate.clone()) {
                *through.entry(krate).or_default() += n;
            }
        }
    }
    let mut crates: Vec<_> = own.into_iter().collect();
    crates.sort_by_key(|c| std::cmp::Reverse(c.1));
    let share = |n: u64| n as f64 * 100.0 / total.max(1) as f64;
    let mut out = format!(
        // inferno weighs each sample by perf's period: nanoseconds of CPU for `cpu-clock`.
        "{:.0} ms of the server's CPU sampled.\n\n| crate | its own frames | through it |\n|---|---:|---:|\n",
        total as f64 / 1e6
    );
    for (krate, n) in crates.into_iter().take(16) {
        out.push_str(&format!(
            "| {krate} | {:.1} % | {:.1} % |\n",
            share(n),
            share(through.get(&krate).copied().unwrap_or(n))
        ));
    }
    out
}

/// The crate a frame belongs to: `hyper` for `hyper::proto::h1::...` and for
/// `<hyper::body::Incoming as http_body::Body>::poll_frame`; `the kernel` for `..._[k]`; `the
/// C library` for a name without a path.
fn crate_of(frame: &str) -> String {
    if frame.ends_with("_[k]") {
        return "the kernel".to_owned();
    }
    let path = frame
        .trim_start_matches('<')
        .trim_start_matches('&')
        .trim_start_matches("mut ");
    match path.split_once("::") {
        Some((krate, _)) if !krate.contains([' ', '<', '>']) => match krate {
            "core" | "alloc" | "std" => "std (core, alloc)".to_owned(),
            k => k.to_owned(),
        },
        _ if frame.contains("::") => "std (core, alloc)".to_owned(),
        _ => "the C library".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Running 5s test @ http://127.0.0.1:40001/v1/plugins/items/items/7
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   281.52us   61.03us   2.98ms   88.12%
    Req/Sec   113.41k     4.02k  118.90k    80.00%
  Latency Distribution
     50%  270.00us
     75%  296.00us
     90%  332.00us
     99%    1.02ms
  564321 requests in 5.00s, 82.19MB read
Requests/sec: 112860.43
Transfer/sec:     16.44MB
";

    #[test]
    fn reads_pipelined_answers_one_at_a_time() {
        let two = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        // Split across reads anywhere: the reader waits for the whole body.
        for split in [1, 20, 40, 45] {
            let (a, b) = two.split_at(split);
            let mut stream = std::io::Read::chain(a, b);
            let mut buf = Vec::new();
            assert_eq!(read_answer(&mut stream, &mut buf), Ok(200));
            assert_eq!(read_answer(&mut stream, &mut buf), Ok(404));
            assert!(buf.is_empty());
            assert!(read_answer(&mut stream, &mut buf).is_err());
        }
    }

    #[test]
    fn reads_wrk_report() {
        let (rps, requests, p50, p99) = parse_wrk(REPORT).unwrap();
        assert_eq!(rps, 112860.43);
        assert_eq!(requests, 564321);
        assert_eq!(p50, 270.0);
        assert_eq!(p99, 1020.0);
    }

    #[test]
    fn refuses_a_report_with_timeouts() {
        let report = REPORT.replace(
            "Requests/sec",
            "  Socket errors: connect 0, read 0, write 0, timeout 12\nRequests/sec",
        );
        assert!(parse_wrk(&report).unwrap_err().contains("timeout 12"));
        let clean = REPORT.replace(
            "Requests/sec",
            "  Socket errors: connect 0, read 3, write 0, timeout 0\nRequests/sec",
        );
        assert!(parse_wrk(&clean).is_ok());
    }

    #[test]
    fn durations_in_wrk_units() {
        assert_eq!(duration_us("812.00us"), Some(812.0));
        assert_eq!(duration_us("1.5ms"), Some(1500.0));
        assert_eq!(duration_us("2.00s"), Some(2_000_000.0));
        assert_eq!(duration_us("3m"), None);
    }

    #[test]
    fn frames_by_crate() {
        assert_eq!(crate_of("hyper::proto::h1::role::Server::parse"), "hyper");
        assert_eq!(
            crate_of("<hyper::body::incoming::Incoming as http_body::Body>::poll_frame"),
            "hyper"
        );
        assert_eq!(crate_of("tcp_sendmsg_[k]"), "the kernel");
        assert_eq!(crate_of("__GI___writev"), "the C library");
        assert_eq!(crate_of("alloc::raw_vec::finish_grow"), "std (core, alloc)");
    }

    #[test]
    fn summary_shares_add_up() {
        let folded = "worker;tokio::run;hyper::parse;tcp_sendmsg_[k] 60000000\nworker;tokio::run;plugin_routes::endpoint;serde_json::to_vec 40000000\n";
        let table = top_frames(folded);
        assert!(
            table.contains("| the kernel | 60.0 % | 60.0 % |"),
            "{table}"
        );
        assert!(
            table.contains("| serde_json | 40.0 % | 40.0 % |"),
            "{table}"
        );
        assert!(
            table.contains("| tokio | 0.0 % | 100.0 % |") || !table.contains("| tokio |"),
            "{table}"
        );
    }

    #[test]
    fn only_rounds_where_both_cores_were_saturated_are_paired() {
        let series = |busy: &[f64], cpu: &[f64]| Series {
            rps: cpu.iter().map(|c| 1e6 / c).collect(),
            p50: vec![0.0; cpu.len()],
            p99: vec![0.0; cpu.len()],
            cpu: cpu.to_vec(),
            busy: busy.to_vec(),
        };
        // Round 2 has the base's core idle a fifth of the time; round 3 the server's.
        let ours = series(&[0.97, 0.99, 0.80, 0.96], &[6.0, 6.2, 9.0, 6.1]);
        let base = series(&[0.96, 0.84, 0.98, 0.95], &[5.0, 8.0, 5.1, 5.0]);
        let (a, b) = (ours.saturated_with(&base), base.saturated_with(&ours));
        assert_eq!(a.cpu, [6.0, 6.1]);
        assert_eq!(b.cpu, [5.0, 5.0]);
        assert_eq!(a.busy, [0.97, 0.96]);
        assert_eq!(ratio_spread(&a.cpu, &b.cpu, 2), "1.22 [1.20, 1.22]");
        // No round where both were saturated: nothing is paired.
        let idle = series(&[0.5, 0.5, 0.5, 0.5], &[9.0; 4]);
        assert!(ours.saturated_with(&idle).cpu.is_empty());
    }
}
