//! Project chores, run as `cargo xtask <task>`.
//!
//! - `bless`: re-writes the expected compiler output of the trybuild suite (`tests/ui/**.stderr`)
//!   and the golden expansions (`plugin-macros/tests/expand/*.rs`). Review the diff afterwards.
//! - `bench`: runs the generated-vs-hand-written benchmark and prints the instruction counts and
//!   wall-clock figures recorded in `BENCHMARKS.md`.

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let task = std::env::args().nth(1);
    let result = match task.as_deref() {
        Some("bless") => bless(),
        Some("bench") => bench(),
        _ => {
            eprintln!("usage: cargo xtask <bless|bench>");
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

fn cargo(args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
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

fn bless() -> Result<(), String> {
    cargo(
        &["test", "-p", "plugin-macros", "golden"],
        &[("PLUGIN_BLESS", "1")],
    )?;
    cargo(
        &["test", "-p", "plugin-tests", "--test", "all", "--", "ui"],
        &[("TRYBUILD", "overwrite")],
    )?;
    eprintln!("blessed; review `git diff tests/ui plugin-macros/tests/expand`");
    Ok(())
}

/// Instruction counts under callgrind (deterministic, unaffected by a noisy machine), then
/// criterion's wall-clock figures, both generated against hand-written in one run.
fn bench() -> Result<(), String> {
    cargo(
        &[
            "build",
            "--release",
            "-p",
            "plugin-bench",
            "--bin",
            "bench-instructions",
        ],
        &[],
    )?;
    let binary = std::path::Path::new(&target_dir()).join("release/bench-instructions");
    let (small, large) = (2_000u64, 6_000u64);
    println!(
        "instructions per request (callgrind, release build, ({large} - {small} requests) / {})",
        large - small
    );
    println!("| route | generated | hand-written | ratio |");
    println!("|---|---:|---:|---:|");
    for route in ["create_item", "get_item"] {
        let mut per_request = Vec::new();
        for variant in ["generated", "hand_written"] {
            let a = instructions(&binary, variant, route, small)?;
            let b = instructions(&binary, variant, route, large)?;
            per_request.push((b - a) as f64 / (large - small) as f64);
        }
        println!(
            "| {route} | {:.0} | {:.0} | {:.3} |",
            per_request[0],
            per_request[1],
            per_request[0] / per_request[1]
        );
    }
    cargo(&["bench", "-p", "plugin-bench", "--bench", "routes"], &[])
}

fn target_dir() -> String {
    std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into())
}

/// Total instructions callgrind counts for one run of the harness.
fn instructions(
    binary: &std::path::Path,
    variant: &str,
    route: &str,
    n: u64,
) -> Result<u64, String> {
    let out = Command::new("valgrind")
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(binary)
        .args([variant, route, &n.to_string()])
        .output()
        .map_err(|e| format!("cannot run valgrind (apt-get install valgrind): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{variant} {route} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr
        .lines()
        .find_map(|l| l.split("Collected :").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("no instruction count in callgrind's output:\n{stderr}"))
}
