//! Project chores, run as `cargo xtask <task>`.
//!
//! - `bless`: re-writes the expected compiler output of the trybuild suite (`tests/ui/**.stderr`)
//!   and the golden expansions (`plugin-macros/tests/expand/*.rs`). Review the diff afterwards.
//! - `openapi [--check]`: writes the example server's OpenAPI documents to `openapi/`, or with
//!   `--check` fails naming each committed file that is stale.
//! - `manifest [--check]`: the same for the plugin manifest, `openapi/manifest.json`.
//! - `bench`: runs the generated-vs-hand-written benchmark, the 500-route start-up benchmark and
//!   the rate-limit checks, and prints the instruction counts and wall-clock figures recorded in
//!   `BENCHMARKS.md`.
//! - `bench peers [--only PART] [--peers A,B] [--rounds N] [--seconds S] [--connections C]
//!   [--processes P] [--compile-rounds N]`: the peer suite of `tests/peers/` (this project,
//!   hand-written axum, utoipa-axum, poem-openapi, dropshot, raw hyper, and this project
//!   recording metrics and traces); `--peers` measures only those named (`ours`, `hyper`,
//!   `ours-observed`, ...) beside hand-written axum. Builds it, checks every server answers the
//!   same requests with the same statuses, then measures throughput, latency, CPU and memory over
//!   loopback with wrk, the server's instructions per request over loopback and in process with
//!   callgrind, a CPU profile of
//!   this project's `create_item` (written to `docs/benchmarks/create-item.svg`), and compile
//!   times of generated 100- and 500-route servers. `PART` is one or more of `check`, `deps`,
//!   `load`, `socket`, `instructions`, `profile`, `compile`, separated by commas. With
//!   `PEERS_KEEP_PROFILES=DIR`, `socket` keeps each server's callgrind profile in `DIR`.
//! - `compile-crates`: writes the generated 100- and 500-route servers of `bench peers`' compile
//!   part to `target/compile-time/`, without building them, to measure one change by hand
//!   (`cargo llvm-lines`, `-Z time-passes`).
//! - `bench-paired [operations]`: only the paired instruction counts of `bench` (both routers in
//!   one process); with `operations`, from the harness built with `operations-sqlite`, in
//!   `target/bench-operations`.
//! - `bench-metrics`: what recording metrics, and tracing every request, costs it: instructions
//!   paired in one process (routers recording and not), wall time likewise, the OpenTelemetry
//!   SDK's own cost of a server span with nothing of this project around it (the floor under the
//!   traced figures), and heap allocations per request (DHAT), from the harness built with
//!   `metrics` and `otel` in `target/bench-metrics`.
//! - `bench-limits`: wall time of a rate-limit check in memory, and in Redis beside a `PING`
//!   (Redis at `PLUGIN_TEST_REDIS_URL`, else `redis://127.0.0.1:6379`).
//! - `build-time [--rounds N]`: builds the one-plugin crates of `tests/bench/build-time/` from
//!   clean, in turn, N rounds (default 3), then each again after touching its source, and prints
//!   the medians and the number of crates compiled.

mod compile_time;
mod peers;

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = args.iter().any(|a| a == "--check");
    let result = match args.first().map(String::as_str) {
        Some("bless") => bless(),
        Some("bench") if args.get(1).is_some_and(|a| a == "peers") => bench_peers(&args),
        Some("bench") => bench(),
        Some("build-time") => build_time(&args),
        Some("bench-paired") => bench_paired(args.get(1).map(String::as_str)),
        Some("bench-metrics") => bench_metrics(),
        Some("compile-crates") => std::env::current_dir()
            .map_err(|e| e.to_string())
            .and_then(|root| compile_time::write_all(&root)),
        Some("bench-limits") => bench_limits(),
        Some("openapi") => export("openapi", "openapi", check),
        Some("manifest") => export("manifest", "openapi/manifest.json", check),
        _ => {
            eprintln!(
                "usage: cargo xtask <bless|bench|bench peers [--only PART]|bench-paired [operations]|bench-metrics|compile-crates|bench-limits|build-time [--rounds N]|openapi [--check]|manifest [--check]>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo xtask bench peers`: see the module documentation of `peers` and `compile_time`.
fn bench_peers(args: &[String]) -> Result<(), String> {
    const PARTS: [&str; 7] = [
        "check",
        "deps",
        "load",
        "socket",
        "instructions",
        "profile",
        "compile",
    ];
    let only: Option<Vec<&str>> = match args.iter().position(|a| a == "--only") {
        Some(i) => {
            let parts: Vec<&str> = args
                .get(i + 1)
                .map(String::as_str)
                .unwrap_or_default()
                .split(',')
                .collect();
            if parts.iter().any(|p| !PARTS.contains(p)) {
                return Err(format!(
                    "--only takes one or more of {}, separated by commas",
                    PARTS.join(", ")
                ));
            }
            Some(parts)
        }
        None => None,
    };
    let runs = |part: &str| only.as_ref().is_none_or(|o| o.contains(&part));
    let options = peers::Options::parse(args)?;
    let root = std::env::current_dir().map_err(|e| e.to_string())?;
    println!("machine: {}", machine());
    if runs("deps") {
        peers::dependencies(&root)?;
    }
    if ["check", "load", "socket", "instructions", "profile"]
        .iter()
        .any(|p| runs(p))
    {
        let bin = peers::build(&root)?;
        // The check runs before any measurement, whatever part was asked for.
        peers::check(&bin)?;
        if runs("load") {
            peers::load(&bin, &options)?;
        }
        if runs("socket") {
            peers::socket(&bin, &options)?;
        }
        if runs("instructions") {
            peers::instructions(&bin, &options)?;
        }
        if runs("profile") {
            peers::profile(
                &bin,
                &options,
                &root.join("docs/benchmarks/create-item.svg"),
            )?;
        }
    }
    if runs("compile") {
        let rounds = positive_arg(args, "--compile-rounds", 1)?;
        compile_time::run(&root, rounds)?;
    }
    Ok(())
}

/// The CPU, the number of cores and the toolchain, for the record.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let wrk = Command::new("wrk")
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .unwrap_or_default();
    format!("{cpu}, {cores} cores; {rustc}; {wrk}")
}

fn cargo(args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    let mut cmd = cargo_command();
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let status = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed", args.join(" ")))
    }
}

/// Runs `example-server <what> --out <target>` into a scratch directory, and compares or copies
/// the files it wrote. The server starts its plugins as it does to serve — on an in-memory
/// database, with a scratch repository as `COMMIT_REPO` so the commit plugin is served, and none
/// of this shell's plugin settings — and writes what it would serve instead of listening.
fn export(what: &str, target: &str, check: bool) -> Result<(), String> {
    let scratch = std::env::temp_dir().join(format!("xtask-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let out = if target.ends_with(".json") {
        scratch.join("manifest.json")
    } else {
        scratch.join("documents")
    };
    let repo = scratch.join("repository");
    std::fs::create_dir_all(&repo).map_err(|e| e.to_string())?;
    let init = Command::new("git")
        .args(["init", "-q"])
        .current_dir(&repo)
        .status()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !init.success() {
        return Err("`git init` failed".into());
    }
    let out_arg = out.to_string_lossy().into_owned();
    let mut cmd = cargo_command();
    cmd.args([
        "run",
        "--quiet",
        "-p",
        "items-example",
        "--bin",
        "example-server",
        "--",
        what,
        "--out",
        &out_arg,
    ]);
    for (name, _) in std::env::vars() {
        if [
            "AI_",
            "COMMIT_",
            "PLUGIN_CONFIG",
            "RATE_LIMITS",
            "REDIS_URL",
            "OAUTH_",
        ]
        .iter()
        .any(|p| name.starts_with(p))
        {
            cmd.env_remove(name);
        }
    }
    let status = cmd
        .env("RUST_LOG", "warn")
        .env("DATABASE_URL", "sqlite::memory:")
        .env("COMMIT_REPO", &repo)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("`example-server {what}` failed"));
    }
    let written = if target.ends_with(".json") {
        vec![out.clone()]
    } else {
        files_under(&out)?
    };
    let mut stale = Vec::new();
    for file in written {
        let rel = file.strip_prefix(&out).unwrap_or(&file);
        let committed = if target.ends_with(".json") {
            std::path::PathBuf::from(target)
        } else {
            std::path::Path::new(target).join(rel)
        };
        let fresh = std::fs::read(&file).map_err(|e| e.to_string())?;
        if std::fs::read(&committed).ok().as_deref() != Some(&fresh[..]) {
            if check {
                stale.push(committed.display().to_string());
            } else {
                if let Some(dir) = committed.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
                }
                std::fs::write(&committed, &fresh).map_err(|e| e.to_string())?;
                println!("wrote {}", committed.display());
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "stale, re-run `cargo xtask {what}` and commit: {}",
            stale.join(", ")
        ))
    }
}

fn files_under(dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>, String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            out.extend(files_under(&path)?);
        } else {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn bless() -> Result<(), String> {
    cargo(
        &["test", "-p", "plugin-routes-macros", "golden"],
        &[("PLUGIN_BLESS", "1")],
    )?;
    cargo(
        &["test", "-p", "plugin-tests", "--test", "all", "--", "ui"],
        &[("TRYBUILD", "overwrite")],
    )?;
    eprintln!("blessed; review `git diff tests/ui plugin-macros/tests/expand`");
    Ok(())
}

/// Instruction counts (callgrind) and heap allocations (DHAT) per request, which do not depend on
/// how busy the machine is, then criterion's wall-clock figures; generated against hand-written,
/// side by side in one run.
fn bench() -> Result<(), String> {
    let binary = instructions_harness()?;
    println!(
        "per request, release build, (run of {LARGE} requests - run of {SMALL}) / {}; instructions: median of {RUNS} runs [lowest, highest]",
        LARGE - SMALL
    );
    println!(
        "| route | instructions, generated | hand-written | ratio of medians | allocations, generated | hand-written |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for route in ["create_item", "get_item"] {
        let g = PerRequest::measure(&binary, "generated", route)?;
        let h = PerRequest::measure(&binary, "hand_written", route)?;
        println!(
            "| {route} | {} | {} | {:.3} | {:.2} | {:.2} |",
            g.instructions(),
            h.instructions(),
            g.median / h.median,
            g.allocations,
            h.allocations
        );
    }
    paired_instructions(&binary)?;
    println!();
    println!(
        "authentication: get_item in one router with auth, public and with an API key (warm cache)"
    );
    println!("| variant | instructions | allocations |");
    println!("|---|---:|---:|");
    let public = PerRequest::measure(&binary, "public", "get_item")?;
    let api_key = PerRequest::measure(&binary, "api_key", "get_item")?;
    for (variant, m) in [("public", &public), ("api_key", &api_key)] {
        println!(
            "| {variant} | {} (+{:.0}) | {:.2} |",
            m.instructions(),
            m.median - public.median,
            m.allocations
        );
    }
    startup_instructions()?;
    println!();
    println!("rate-limit checks: in memory, and in Redis beside a PING");
    bench_limits()?;
    cargo(&["bench", "-p", "plugin-bench"], &[])
}

/// Instructions to assemble the 500-route fixture once: its router with every document, and the
/// documents alone (`(run of 3 − run of 1) / 2`).
fn startup_instructions() -> Result<(), String> {
    let binary = release_binary("bench-startup")?;
    println!("\nstart-up, 500 routes in 10 plugins, release build, (run of 3 - run of 1) / 2");
    println!("| what | instructions |");
    println!("|---|---:|");
    for what in ["router", "documents"] {
        let one = valgrind(&binary, Tool::Callgrind, &[what, "1"])?;
        let three = valgrind(&binary, Tool::Callgrind, &[what, "3"])?;
        println!("| {what} | {} |", (three - one) / 2);
    }
    Ok(())
}

/// How many times each instruction count is taken.
const RUNS: usize = 9;
/// Per-request figures are `(run of LARGE requests - run of SMALL) / (LARGE - SMALL)`, so
/// start-up work cancels out.
const SMALL: u64 = 2_000;
const LARGE: u64 = 6_000;

/// One variant's cost per request: instructions (median of [`RUNS`] processes, with the lowest
/// and highest) and heap allocations (which do not vary).
struct PerRequest {
    median: f64,
    lowest: f64,
    highest: f64,
    allocations: f64,
}

impl PerRequest {
    fn measure(binary: &std::path::Path, variant: &str, route: &str) -> Result<Self, String> {
        let per_request = |tool| -> Result<f64, String> {
            let a = valgrind(binary, tool, &[variant, route, &SMALL.to_string()])?;
            let b = valgrind(binary, tool, &[variant, route, &LARGE.to_string()])?;
            Ok((b - a) as f64 / (LARGE - SMALL) as f64)
        };
        // The count moves by several percent from one process to the next (malloc's state
        // after start-up): take the median of several.
        let mut runs = (0..RUNS)
            .map(|_| per_request(Tool::Callgrind))
            .collect::<Result<Vec<f64>, String>>()?;
        runs.sort_by(f64::total_cmp);
        Ok(PerRequest {
            median: runs[RUNS / 2],
            lowest: runs[0],
            highest: runs[RUNS - 1],
            allocations: per_request(Tool::Dhat)?,
        })
    }

    /// `median [lowest, highest]`.
    fn instructions(&self) -> String {
        format!(
            "{:.0} [{:.0}, {:.0}]",
            self.median, self.lowest, self.highest
        )
    }
}

fn target_dir() -> String {
    std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into())
}

#[derive(Clone, Copy)]
enum Tool {
    Callgrind,
    Dhat,
}

/// For one run of the harness: the instructions callgrind counts, or the heap blocks DHAT counts.
fn valgrind(binary: &std::path::Path, tool: Tool, args: &[&str]) -> Result<u64, String> {
    valgrind_with(binary, tool, &[], args)
}

/// [`valgrind`], with more options for the tool (`--toggle-collect=...`).
fn valgrind_with(
    binary: &std::path::Path,
    tool: Tool,
    options: &[&str],
    args: &[&str],
) -> Result<u64, String> {
    let tool_args = match tool {
        Tool::Callgrind => ["--tool=callgrind", "--callgrind-out-file=/dev/null"],
        Tool::Dhat => ["--tool=dhat", "--dhat-out-file=/dev/null"],
    };
    let out = Command::new("valgrind")
        .args(tool_args)
        .args(options)
        .arg(binary)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run valgrind (apt-get install valgrind): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{} {} failed: {}",
            binary.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    // callgrind prints "==1== Collected : 123456"; DHAT "==1== Total:     1,234 bytes in 56 blocks".
    let found = match tool {
        Tool::Callgrind => stderr
            .lines()
            .find_map(|l| Some(l.split("Collected :").nth(1)?.trim().to_owned())),
        Tool::Dhat => stderr.lines().find_map(|l| {
            Some(
                l.split("Total:")
                    .nth(1)?
                    .split(" in ")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .to_owned(),
            )
        }),
    };
    found
        .and_then(|n| n.replace(',', "").parse().ok())
        .ok_or_else(|| format!("no count in valgrind's output:\n{stderr}"))
}

/// One crate of `tests/bench/build-time/` built one way.
struct Variant {
    name: &'static str,
    dir: &'static str,
    args: &'static [&'static str],
}

const VARIANTS: &[Variant] = &[
    Variant {
        name: "plugin-routes, core alone",
        dir: "ours",
        args: &[],
    },
    Variant {
        name: "plugin-routes, every feature",
        dir: "ours",
        args: &["--features", "all"],
    },
    Variant {
        name: "utoipa-axum + garde",
        dir: "utoipa-axum",
        args: &[],
    },
];

/// What one build took, and how many crates it compiled.
struct Built {
    seconds: f64,
    crates: usize,
}

fn timed_build(v: &Variant, target: &std::path::Path) -> Result<Built, String> {
    let dir = std::path::Path::new("tests/bench/build-time").join(v.dir);
    let start = std::time::Instant::now();
    let out = cargo_command()
        .args(["build", "--locked"])
        .args(v.args)
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let seconds = start.elapsed().as_secs_f64();
    let log = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("building {} failed:\n{log}", v.name));
    }
    let crates = log
        .lines()
        .filter(|l| l.trim_start().starts_with("Compiling "))
        .count();
    Ok(Built { seconds, crates })
}

fn median(xs: &[f64]) -> f64 {
    let mut xs = xs.to_vec();
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Ratios taken round by round, `of[i] / to[i]`: their median [lowest, highest], to `decimals`.
fn ratio_spread(of: &[f64], to: &[f64], decimals: usize) -> String {
    let mut r: Vec<f64> = of.iter().zip(to).map(|(a, b)| a / b).collect();
    r.sort_by(f64::total_cmp);
    format!(
        "{:.d$} [{:.d$}, {:.d$}]",
        r[r.len() / 2],
        r[0],
        r[r.len() - 1],
        d = decimals
    )
}

/// The value of `flag` in `args`, a positive number, or `default` without the flag.
fn positive_arg(args: &[String], flag: &str, default: usize) -> Result<usize, String> {
    match args.iter().position(|a| a == flag) {
        Some(i) => args
            .get(i + 1)
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .ok_or(format!("{flag} takes a positive number")),
        None => Ok(default),
    }
}

/// The cargo that runs this task, for the builds it starts.
fn cargo_command() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Clean debug builds of the same two-route server three ways, interleaved round by round so a
/// busy machine slows every variant alike; then, on the built tree, the rebuild after touching
/// the source (what each edit of a handler costs).
fn build_time(args: &[String]) -> Result<(), String> {
    let rounds = positive_arg(args, "--rounds", 3)?;
    let root = std::env::current_dir().map_err(|e| e.to_string())?;
    let targets: Vec<_> = (0..VARIANTS.len())
        .map(|i| root.join(format!("target/build-time/{i}")))
        .collect();
    let mut clean = vec![Vec::new(); VARIANTS.len()];
    let mut touched = vec![Vec::new(); VARIANTS.len()];
    let mut crates = vec![0; VARIANTS.len()];
    for round in 1..=rounds {
        for (i, v) in VARIANTS.iter().enumerate() {
            let _ = std::fs::remove_dir_all(&targets[i]);
            let built = timed_build(v, &targets[i])?;
            eprintln!(
                "round {round}: {}: clean build {:.1} s, {} crates",
                v.name, built.seconds, built.crates
            );
            clean[i].push(built.seconds);
            crates[i] = built.crates;
            let main = root
                .join("tests/bench/build-time")
                .join(v.dir)
                .join("src/main.rs");
            // Cargo compares contents, not only times: the edit must change the file.
            let source = std::fs::read_to_string(&main).map_err(|e| e.to_string())?;
            std::fs::write(&main, format!("{source}// edited\n")).map_err(|e| e.to_string())?;
            let rebuilt = timed_build(v, &targets[i]);
            std::fs::write(&main, source).map_err(|e| e.to_string())?;
            let rebuilt = rebuilt?;
            eprintln!(
                "round {round}: {}: after touching main.rs {:.1} s",
                v.name, rebuilt.seconds
            );
            touched[i].push(rebuilt.seconds);
        }
    }
    println!(
        "\nclean debug build (`cargo build`), median of {rounds} rounds, variants in turn each round; ratios to utoipa-axum taken round by round, median [lowest, highest]\n"
    );
    println!("| crate | crates compiled | clean build | ratio | rebuild after an edit | ratio |");
    println!("|---|---:|---:|---:|---:|---:|");
    let base = VARIANTS.len() - 1;
    for (i, v) in VARIANTS.iter().enumerate() {
        println!(
            "| {} | {} | {:.1} s | {} | {:.1} s | {} |",
            v.name,
            crates[i],
            median(&clean[i]),
            ratio_spread(&clean[i], &clean[base], 2),
            median(&touched[i]),
            ratio_spread(&touched[i], &touched[base], 2),
        );
    }
    Ok(())
}

fn bench_limits() -> Result<(), String> {
    let binary = release_binary("bench-limits")?;
    let url = std::env::var("PLUGIN_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let status = Command::new(&binary)
        .arg(&url)
        .status()
        .map_err(|e| format!("cannot run bench-limits: {e}"))?;
    if !status.success() {
        return Err("bench-limits failed".to_owned());
    }
    // Allocations per in-memory check: the difference between 0 and N checks after the same
    // warm-up, from DHAT's total.
    let blocks = |n: u32| -> Result<u64, String> {
        let out = std::env::temp_dir().join(format!("dhat.limits.{n}"));
        let run = Command::new("valgrind")
            .args(["--tool=dhat"])
            .arg(format!("--dhat-out-file={}", out.display()))
            .arg(&binary)
            .args(["--checks", &n.to_string()])
            .output()
            .map_err(|e| format!("cannot run valgrind (apt-get install valgrind): {e}"))?;
        let _ = std::fs::remove_file(&out);
        let text = String::from_utf8_lossy(&run.stderr);
        text.lines()
            .find_map(|l| {
                let rest = l.split("Total:").nth(1)?;
                let blocks = rest.split(" in ").nth(1)?.split_whitespace().next()?;
                blocks.replace(',', "").parse().ok()
            })
            .ok_or_else(|| format!("DHAT printed no total:\n{text}"))
    };
    const N: u32 = 10_000;
    let (base, more) = (blocks(0)?, blocks(N)?);
    println!(
        "allocations per in-memory check on a warm key: {} ({more} blocks with {N} more checks, {base} without)",
        more.saturating_sub(base) as f64 / f64::from(N)
    );
    Ok(())
}

/// `cargo xtask bench-metrics`: see the module documentation.
fn bench_metrics() -> Result<(), String> {
    let binary = instructions_harness_with("otel", "bench-metrics")?;
    for (mode, what) in [
        ("metrics", "metrics recorded"),
        (
            "unsampled",
            "metrics recorded and every request traced, the sampler dropping each span",
        ),
        (
            "traced",
            "metrics recorded and every request traced, each span sampled (batched, discarded)",
        ),
    ] {
        println!();
        println!(
            "{what}, against neither (`ServerConfig::without_metrics`, no tracer), the features compiled into both, one process, {PAIRED_ROUNDS} alternating batches of {PAIRED_BATCH}; median of {RUNS} processes [lowest, highest]"
        );
        println!("| route | instructions, recording | not recording | ratio |");
        println!("|---|---:|---:|---:|");
        for route in ["get_item", "create_item"] {
            let (on, off, ratio) = paired(
                &binary,
                &[&format!("paired-{mode}"), route],
                "measure_metrics_on",
                "measure_metrics_off",
            )?;
            println!("| {route} | {on} | {off} | {ratio} |");
        }
        println!();
        println!(
            "wall time, the same pairing without valgrind (2,000 requests a batch, 41 rounds):"
        );
        for route in ["get_item", "create_item"] {
            let out = Command::new(&binary)
                .args([&format!("time-{mode}"), route, "2000", "41"])
                .output()
                .map_err(|e| format!("cannot run the harness: {e}"))?;
            print!("{}", String::from_utf8_lossy(&out.stdout));
        }
    }
    println!();
    println!(
        "the OpenTelemetry SDK alone: a server span built by the same provider, given the HTTP conventions' attributes and its status, and ended, nothing of this project around it; one process, sampled and dropped alternating, median of {RUNS} processes [lowest, highest]"
    );
    println!("| instructions a span, sampled | dropped |");
    println!("|---:|---:|");
    let (sampled, dropped, _) = paired(
        &binary,
        &["paired-sdk", "-"],
        "measure_sdk_sampled",
        "measure_sdk_dropped",
    )?;
    println!("| {sampled} | {dropped} |");
    let out = Command::new(&binary)
        .args(["time-sdk", "-", "2000", "41"])
        .output()
        .map_err(|e| format!("cannot run the harness: {e}"))?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    println!();
    println!("heap allocations per request (DHAT, {LARGE} requests against {SMALL}):");
    for variant in [
        "generated",
        "generated_unsampled",
        "generated_traced",
        "generated_without_metrics",
    ] {
        let per_request =
            |n: u64| valgrind(&binary, Tool::Dhat, &[variant, "get_item", &n.to_string()]);
        let (a, b) = (per_request(SMALL)?, per_request(LARGE)?);
        println!(
            "  get_item, {variant}: {}",
            (b - a) as f64 / (LARGE - SMALL) as f64
        );
    }
    Ok(())
}

fn bench_paired(features: Option<&str>) -> Result<(), String> {
    match features {
        None => paired_instructions(&instructions_harness()?),
        // The same measurement with operations compiled in (none of the two routes is one):
        // what the feature costs the routes that do not use it.
        Some("operations") => {
            let binary = instructions_harness_with("operations", "bench-operations")?;
            println!("with the `operations-sqlite` feature compiled in");
            paired_instructions(&binary)
        }
        Some(other) => Err(format!(
            "bench-paired measures the default build, or `operations`; not `{other}`"
        )),
    }
}

/// Builds `bench-instructions` in release and returns its path.
fn instructions_harness() -> Result<std::path::PathBuf, String> {
    release_binary("bench-instructions")
}

/// Builds `bench-instructions` in release with the benchmark crate's `feature`, in
/// `target/<dir>` (so the default build stays as it is), and returns its path.
fn instructions_harness_with(feature: &str, dir: &str) -> Result<std::path::PathBuf, String> {
    let dir = format!("{}/{dir}", target_dir());
    cargo(
        &[
            "build",
            "--release",
            "-p",
            "plugin-bench",
            "--bin",
            "bench-instructions",
            "--features",
            feature,
        ],
        &[("CARGO_TARGET_DIR", &dir)],
    )?;
    Ok(std::path::Path::new(&dir).join("release/bench-instructions"))
}

/// Builds the benchmark crate's binary `name` in release and returns its path.
fn release_binary(name: &str) -> Result<std::path::PathBuf, String> {
    cargo(
        &["build", "--release", "-p", "plugin-bench", "--bin", name],
        &[],
    )?;
    Ok(std::path::Path::new(&target_dir())
        .join("release")
        .join(name))
}

/// Requests per batch and batches per side in the paired measurement.
const PAIRED_BATCH: u32 = 500;
const PAIRED_ROUNDS: u32 = 8;

/// Generated and hand-written in one process, batches alternating (see `bench-instructions
/// paired`): per process, the instructions of each side per request and their ratio; the
/// median of the ratios over several processes.
fn paired_instructions(binary: &std::path::Path) -> Result<(), String> {
    println!();
    println!(
        "paired: both routers in one process, {PAIRED_ROUNDS} alternating batches of {PAIRED_BATCH} requests each, after a warm-up; median of {RUNS} processes [lowest, highest]"
    );
    println!(
        "| route | instructions, generated | hand-written | ratio (median of per-process ratios) |"
    );
    println!("|---|---:|---:|---:|");
    for route in ["create_item", "get_item"] {
        let (g, h, ratio) = paired(
            binary,
            &["paired", route],
            "measure_generated",
            "measure_hand_written",
        )?;
        println!("| {route} | {g} | {h} | {ratio} |");
    }
    println!();
    println!(
        "in-memory rate limit: get_item without and with a quota it never reaches, paired as above"
    );
    println!("| route | instructions, unlimited | limited | ratio limited/unlimited |");
    println!("|---|---:|---:|---:|");
    let (limited, unlimited, ratio) = paired(
        binary,
        &["paired-limit", "get_item"],
        "measure_limited",
        "measure_unlimited",
    )?;
    println!("| get_item | {unlimited} | {limited} | {ratio} |");
    Ok(())
}

/// Runs `bench-instructions <mode...> <batch> <rounds>` under callgrind, counting inside the
/// marker functions `a` and `b`, RUNS times; each side's per-request count and the ratio a/b,
/// each as `median [lowest, highest]`.
fn paired(
    binary: &std::path::Path,
    mode: &[&str],
    a: &str,
    b: &str,
) -> Result<(String, String, String), String> {
    let (mut av, mut bv, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..RUNS {
        let out = std::env::temp_dir().join(format!("callgrind.{}.{run}", mode.join("-")));
        let status = Command::new("valgrind")
            .args(["--tool=callgrind"])
            .arg(format!("--toggle-collect=*{a}*"))
            .arg(format!("--toggle-collect=*{b}*"))
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg(binary)
            .args(mode)
            .args([&PAIRED_BATCH.to_string(), &PAIRED_ROUNDS.to_string()])
            .output()
            .map_err(|e| format!("cannot run valgrind (apt-get install valgrind): {e}"))?;
        if !status.status.success() {
            return Err(format!(
                "{} failed: {}",
                mode.join(" "),
                String::from_utf8_lossy(&status.stderr)
            ));
        }
        let annotated = Command::new("callgrind_annotate")
            .args(["--inclusive=yes", "--threshold=100", "--auto=no"])
            .arg(&out)
            .output()
            .map_err(|e| format!("cannot run callgrind_annotate: {e}"))?;
        let _ = std::fs::remove_file(&out);
        let text = String::from_utf8_lossy(&annotated.stdout);
        let requests = f64::from(PAIRED_BATCH * PAIRED_ROUNDS);
        let cost = |marker: &str| -> Result<f64, String> {
            text.lines()
                .find(|l| {
                    l.contains(&format!("::{marker} "))
                        || l.ends_with(&format!("::{marker}"))
                        || l.contains(&format!("::{marker} ["))
                })
                .and_then(|l| l.split_whitespace().next())
                .and_then(|n| n.replace(',', "").parse::<f64>().ok())
                .map(|n| n / requests)
                .ok_or_else(|| format!("callgrind_annotate shows no `{marker}`:\n{text}"))
        };
        let (x, y) = (cost(a)?, cost(b)?);
        av.push(x);
        bv.push(y);
        ratios.push(x / y);
    }
    let spread = |mut v: Vec<f64>, digits: usize| {
        v.sort_by(f64::total_cmp);
        format!(
            "{:.*} [{:.*}, {:.*}]",
            digits,
            v[v.len() / 2],
            digits,
            v[0],
            digits,
            v[v.len() - 1]
        )
    };
    Ok((
        spread(av, 0),
        spread(bv, 0),
        format!("**{}**", spread(ratios, 3)),
    ))
}
