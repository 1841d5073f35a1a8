//! The commit plugin's git under the kernel's confinement (Landlock), as a user meets it: real
//! commits and pushes go through, while a repository hook that tries to write outside the
//! repository, or to open a TCP connection from a route that is not `POST /push`, is stopped.
//! The places "outside" are neither in the repository nor in the temporary directory the plugin
//! may also write.

use crate::commit::{Repo, client_with, with_work};
use plugin_routes::testing::TestClient;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// Whether the kernel confines children here; on a machine without Landlock the tests say they
/// were skipped, but never in CI, where this machine's kernel has it.
fn confined() -> bool {
    let e = plugin_routes::reach::enforcement();
    if std::env::var_os("CI").is_some() {
        assert!(
            e.fs.enforced && e.net.enforced,
            "CI runs where Landlock confines files and TCP: {e:?}"
        );
    }
    if !(e.fs.enforced && e.net.enforced) {
        println!("SKIPPED: the kernel does not confine children here: {e:?}");
    }
    e.fs.enforced && e.net.enforced
}

/// A fresh directory outside the repository and outside the temporary directory (which the
/// plugin may write): `/var/tmp`, else `HOME`, else Cargo's target directory, the first not
/// under the temporary directory (a checkout under `/tmp` puts the target directory there).
fn outside(name: &str) -> PathBuf {
    let tmp = std::fs::canonicalize(std::env::temp_dir()).unwrap();
    let candidates = [
        Some(PathBuf::from("/var/tmp")),
        std::env::var_os("HOME").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR"))),
    ];
    let base = candidates
        .into_iter()
        .flatten()
        .filter_map(|c| std::fs::canonicalize(c).ok())
        .find(|c| !c.starts_with(&tmp) && !tmp.starts_with(c))
        .expect("a writable directory outside the temporary directory");
    let dir = base.join(format!("commit-sandbox-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn hook(repo: &Repo, name: &str, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = repo.dir.join(".git/hooks").join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, format!("#!/bin/sh\n{script}\nexit 0\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn said(repo: &Repo, file: &str) -> String {
    std::fs::read_to_string(repo.dir.join(".git").join(file)).unwrap_or_default()
}

async fn post(c: &TestClient, route: &str) -> (u16, Value) {
    let r = c
        .post(&format!("/v1/plugins/commit/{route}"))
        .json(&json!({}))
        .send_and_wait()
        .await;
    (r.status().as_u16(), r.json())
}

fn bare(dir: &Path) {
    let ok = Command::new("git")
        .args(["init", "-q", "--bare", "-b", "main"])
        .arg(dir)
        .status()
        .unwrap();
    assert!(ok.success());
}

fn head_of(origin: &Path) -> String {
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(origin)
        .args(["rev-parse", "main"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn a_hook_cannot_write_outside_the_repository_and_a_push_reaches_a_local_origin() {
    if !confined() {
        return;
    }
    let repo = with_work("sandbox-fs");
    let elsewhere = outside("fs");
    // The test itself may write there: only git's confinement can stop the hook.
    std::fs::write(elsewhere.join("control"), "x").unwrap();
    // The origin is on this machine, outside the repository: only `POST /push` may write it.
    let origin = elsewhere.join("origin.git");
    bare(&origin);
    repo.git(&["remote", "add", "origin", origin.to_str().unwrap()]);
    repo.git(&["push", "-q", "origin", "main"]);
    let escape = elsewhere.join("escaped");
    let into_origin = origin.join("hook-was-here");
    hook(
        &repo,
        "pre-commit",
        &format!(
            "echo ran >> .git/hook-ran\n\
             if echo x > '{}' 2>/dev/null; then echo wrote >> .git/hook-said; else echo refused >> .git/hook-said; fi\n\
             if echo x > '{}' 2>/dev/null; then echo wrote >> .git/hook-said; else echo refused >> .git/hook-said; fi",
            escape.display(),
            into_origin.display()
        ),
    );
    let c = client_with(&repo.dir, "commit:*", "sqlite::memory:", |s| s).await;
    let (status, plan) = post(&c, "generate").await;
    assert_eq!(status, 200, "{plan}");
    let planned = plan["commits"].as_array().unwrap().len();

    let (status, applied) = post(&c, "apply").await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(applied["made"].as_array().unwrap().len(), planned);
    // The hook ran for every commit, inside the repository, and every write outside failed.
    assert_eq!(said(&repo, "hook-ran").lines().count(), planned);
    let outcomes = said(&repo, "hook-said");
    assert_eq!(outcomes.lines().count(), 2 * planned, "{outcomes}");
    assert!(outcomes.lines().all(|l| l == "refused"), "{outcomes}");
    assert!(!escape.exists() && !into_origin.exists());

    // The push route may write the local origin: the real push lands there.
    let (status, pushed) = post(&c, "push").await;
    assert_eq!(status, 200, "{pushed}");
    assert_eq!(head_of(&origin), repo.git(&["rev-parse", "HEAD"]).trim());
    let _ = std::fs::remove_dir_all(&elsewhere);
}

/// `git daemon` serving `base` on a free port of 127.0.0.1, pushes allowed.
struct Daemon {
    child: Child,
    port: u16,
}

impl Daemon {
    fn start(base: &Path) -> Daemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // `git-daemon` itself, not the `git` wrapper, so that killing it stops the server (a
        // daemon left behind would hold the test binary's output open).
        let exec_path = Command::new("git").arg("--exec-path").output().unwrap();
        let exec_path = PathBuf::from(String::from_utf8_lossy(&exec_path.stdout).trim());
        let mut child = Command::new(exec_path.join("git-daemon"))
            .args(["--reuseaddr", "--listen=127.0.0.1", "--export-all"])
            .arg(format!("--port={port}"))
            .arg("--enable=receive-pack")
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .spawn()
            .unwrap();
        // Ready once it accepts a connection (bounded: 500 tries).
        for _ in 0..500 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Daemon { child, port };
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("git daemon did not start on port {port}");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn only_the_push_route_connects_out_and_only_to_the_remote() {
    if !confined() {
        return;
    }
    let repo = with_work("sandbox-net");
    let base = outside("net");
    bare(&base.join("origin.git"));
    let daemon = Daemon::start(&base);
    let url = format!("git://127.0.0.1:{}/origin.git", daemon.port);
    repo.git(&["remote", "add", "origin", &url]);
    repo.git(&["push", "-q", "origin", "main"]);
    // Another port on the same host, listening, which no route declares.
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other_port = other.local_addr().unwrap().port();
    let probe = |port: u16, file: &str| {
        format!(
            "if bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}' 2>/dev/null; then echo connected >> .git/{file}; else echo refused >> .git/{file}; fi"
        )
    };
    hook(&repo, "pre-commit", &probe(daemon.port, "from-apply"));
    hook(
        &repo,
        "pre-push",
        &format!(
            "{}\n{}",
            probe(daemon.port, "from-push"),
            probe(other_port, "from-push-elsewhere")
        ),
    );
    let c = client_with(&repo.dir, "commit:*", "sqlite::memory:", |s| s).await;
    let (status, plan) = post(&c, "generate").await;
    assert_eq!(status, 200, "{plan}");
    let (status, applied) = post(&c, "apply").await;
    assert_eq!(status, 200, "{applied}");
    let from_apply = said(&repo, "from-apply");
    assert!(
        !from_apply.is_empty() && from_apply.lines().all(|l| l == "refused"),
        "a commit's hook connected out: {from_apply}"
    );

    let (status, pushed) = post(&c, "push").await;
    assert_eq!(status, 200, "{pushed}");
    assert_eq!(pushed["upToDate"], json!(false));
    assert_eq!(
        head_of(&base.join("origin.git")),
        repo.git(&["rev-parse", "HEAD"]).trim()
    );
    assert_eq!(said(&repo, "from-push").trim(), "connected");
    assert_eq!(said(&repo, "from-push-elsewhere").trim(), "refused");
    drop(other);
    drop(daemon);
    let _ = std::fs::remove_dir_all(&base);
}
