//! `plugin_routes::reach`, as a plugin author uses it: permissions declared as the macro would
//! (`static Permissions`), resolved with placeholder values, every kind of request refused when
//! undeclared (and logged once), and — where the kernel has Landlock — the programs started
//! through the handle confined to the declared files and ports.

use crate::logs::captured;
use plugin_routes::reach::{
    Kind, Placeholders, Reach, ReachError, Refused, ResolveError, enforcement,
};
use plugin_routes::{Permissions, RouteError};
use std::path::PathBuf;
use std::process::Stdio;

/// A fresh directory of this test's own under the temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("reach-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.canonicalize().unwrap()
}

/// `work/` (writable), `data/` (readable, holding `data/note`), `secret` (neither).
struct Layout {
    root: PathBuf,
    work: PathBuf,
    data: PathBuf,
    secret: PathBuf,
}

impl Drop for Layout {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn layout(name: &str) -> Layout {
    let root = scratch(name);
    let (work, data) = (root.join("work"), root.join("data"));
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("note"), "readable\n").unwrap();
    let secret = root.join("secret");
    std::fs::write(&secret, "hunter2\n").unwrap();
    Layout {
        root,
        work,
        data,
        secret,
    }
}

static PERMS: Permissions = Permissions {
    presets: &[],
    shell: &["sh", "bash", "cat", "echo hello"],
    read: &["{data}"],
    write: &["{work}"],
    net: &["{peer}", "api.example.com:443"],
    env: &["HOME", "REACH_*"],
};

fn reach(label: &str, l: &Layout, peer: &str) -> Reach {
    let values = Placeholders::new()
        .with("work", l.work.to_str().unwrap())
        .with("data", l.data.to_str().unwrap())
        .with("peer", peer);
    Reach::resolve(label, &PERMS, &values).unwrap()
}

/// The log lines naming `route` and `asked`.
fn lines_about(route: &str, asked: &str) -> Vec<String> {
    captured()
        .text()
        .lines()
        .filter(|l| {
            l.contains(&format!("route=\"{route}\"")) && l.contains(&format!("asked=\"{asked}\""))
        })
        .map(str::to_owned)
        .collect()
}

/// Asserts `refused` is of `kind` for `asked`, and was logged exactly once, as an error.
fn assert_refused(refused: &Refused, route: &str, kind: Kind, asked: &str) {
    assert_eq!(
        (refused.route(), refused.kind(), refused.asked()),
        (route, kind, asked)
    );
    let lines = lines_about(route, asked);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("ERROR"), "{}", lines[0]);
    assert!(
        lines[0].contains(&format!("kind=\"{kind}\"")),
        "{}",
        lines[0]
    );
    let shown = refused.to_string();
    assert!(
        shown.contains(route) && shown.contains(kind.as_str()) && shown.contains(asked),
        "{shown}"
    );
}

fn refusal(e: ReachError) -> Refused {
    match e {
        ReachError::Refused(r) => r,
        ReachError::Io(e) => panic!("expected a refusal, got {e}"),
    }
}

#[tokio::test]
async fn placeholders_are_resolved_to_canonical_paths_and_endpoints() {
    let l = layout("resolve");
    // A value given through a link resolves to where the link leads.
    let link = l.root.join("work-link");
    std::os::unix::fs::symlink(&l.work, &link).unwrap();
    let values = Placeholders::new()
        .with("work", link.to_str().unwrap())
        .with("data", l.data.to_str().unwrap())
        .with("peer", "127.0.0.1:7001")
        .with("peer", "https://LLM.example.com/v1");
    let reach = Reach::resolve("resolve GET /x", &PERMS, &values).unwrap();
    let allowed = reach.describe();
    assert_eq!(allowed.route, "resolve GET /x");
    assert_eq!(allowed.write, std::slice::from_ref(&l.work));
    assert_eq!(allowed.read, std::slice::from_ref(&l.data));
    let net: Vec<String> = allowed
        .net
        .iter()
        .map(|e| format!("{}:{}", e.host, e.port))
        .collect();
    assert_eq!(
        net,
        [
            "127.0.0.1:7001",
            "llm.example.com:443",
            "api.example.com:443"
        ]
    );
    assert_eq!(allowed.programs, ["sh", "bash", "cat", "echo hello"]);
    let json = serde_json::to_value(&reach).unwrap();
    assert_eq!(json["env"], serde_json::json!(["HOME", "REACH_*"]));

    // `{tmp}` needs no value.
    static TMP: Permissions = Permissions {
        write: &["{tmp}"],
        ..Permissions::NONE
    };
    let tmp = Reach::resolve("tmp", &TMP, &Placeholders::new()).unwrap();
    assert_eq!(
        tmp.describe().write,
        [std::env::temp_dir().canonicalize().unwrap()]
    );
}

#[test]
fn an_unknown_placeholder_is_refused_when_resolving() {
    static REPO: Permissions = Permissions {
        write: &["{repo}/.git"],
        ..Permissions::NONE
    };
    let err = Reach::resolve("commit POST /push", &REPO, &Placeholders::new()).unwrap_err();
    assert!(
        matches!(&err, ResolveError::UnknownPlaceholder { name, entry, .. }
            if name == "repo" && entry == "{repo}/.git"),
        "{err:?}"
    );
    let shown = err.to_string();
    assert!(
        shown.contains("{repo}") && shown.contains("commit POST /push"),
        "{shown}"
    );

    let relative = Placeholders::new().with("repo", "repos/site");
    let err = Reach::resolve("commit POST /push", &REPO, &relative).unwrap_err();
    assert!(matches!(err, ResolveError::NotAbsolute { .. }), "{err:?}");

    static NET: Permissions = Permissions {
        net: &["{llm}"],
        ..Permissions::NONE
    };
    let err =
        Reach::resolve("ai", &NET, &Placeholders::new().with("llm", "file:///x")).unwrap_err();
    assert!(matches!(err, ResolveError::BadHost { .. }), "{err:?}");
}

#[tokio::test]
async fn every_kind_of_undeclared_request_is_refused_and_logged_once() {
    // The log subscriber is in place before the first refusal.
    let _ = captured();
    let route = "refusals POST /run";
    let l = layout("refusals");
    let reach = reach(route, &l, "127.0.0.1:7002");

    // Programs, and a first argument other than the declared one.
    let r = reach.command("curl").unwrap_err();
    assert_refused(&r, route, Kind::Shell, "curl");
    let r = refusal(
        reach
            .command("echo")
            .unwrap()
            .arg("goodbye")
            .spawn()
            .unwrap_err(),
    );
    assert_refused(&r, route, Kind::Shell, "echo goodbye");
    let r = refusal(reach.command("echo").unwrap().spawn().unwrap_err());
    assert_refused(&r, route, Kind::Shell, "echo");
    let r = reach.command("/usr/bin/sh").unwrap_err();
    assert_refused(&r, route, Kind::Shell, "/usr/bin/sh");

    // Environment: read, or passed to a child.
    let r = reach.env("REFUSALS_TOKEN").unwrap_err();
    assert_refused(&r, route, Kind::Env, "REFUSALS_TOKEN");
    let mut sh = reach.command("sh").unwrap();
    let r = sh.env("REFUSALS_CHILD", "x").unwrap_err();
    assert_refused(&r, route, Kind::Env, "REFUSALS_CHILD");

    // Files: outside, read-only, `..`, a link leading out, a dangling link, a working directory.
    let secret = l.secret.display().to_string();
    let r = refusal(reach.read(&l.secret).await.unwrap_err());
    assert_refused(&r, route, Kind::Read, &secret);
    let note = l.data.join("note");
    let r = refusal(reach.write(&note, "x").await.unwrap_err());
    assert_refused(&r, route, Kind::Write, &note.display().to_string());
    let dotdot = l.work.join("../secret");
    let r = refusal(reach.read_to_string(&dotdot).await.unwrap_err());
    assert_refused(
        &r,
        route,
        Kind::Read,
        &format!("{} (= {secret})", dotdot.display()),
    );
    let link = l.work.join("link");
    std::os::unix::fs::symlink(&l.secret, &link).unwrap();
    let r = refusal(reach.check_read(&link).unwrap_err());
    assert_refused(
        &r,
        route,
        Kind::Read,
        &format!("{} (= {secret})", link.display()),
    );
    let dangling = l.work.join("dangling");
    std::os::unix::fs::symlink(l.root.join("created-outside"), &dangling).unwrap();
    let r = refusal(reach.write(&dangling, "x").await.unwrap_err());
    assert_refused(&r, route, Kind::Write, &dangling.display().to_string());
    assert!(!l.root.join("created-outside").exists());
    let r = refusal(
        reach
            .command("sh")
            .unwrap()
            .current_dir(&l.root)
            .unwrap_err(),
    );
    assert_refused(&r, route, Kind::Read, &l.root.display().to_string());
    let r = refusal(reach.create_dir_all(l.root.join("made")).await.unwrap_err());
    assert_refused(
        &r,
        route,
        Kind::Write,
        &l.root.join("made").display().to_string(),
    );

    // Hosts and ports.
    let r = reach.check_host("evil.example.com", 443).unwrap_err();
    assert_refused(&r, route, Kind::Net, "evil.example.com:443");
    let r = reach.check_host("api.example.com", 80).unwrap_err();
    assert_refused(&r, route, Kind::Net, "api.example.com:80");
    let r = refusal(reach.connect("127.0.0.1", 7003).await.unwrap_err());
    assert_refused(&r, route, Kind::Net, "127.0.0.1:7003");

    // Nothing at all.
    let none = Reach::none("nothing GET /");
    let r = none.command("sh").unwrap_err();
    assert_refused(&r, "nothing GET /", Kind::Shell, "sh");
}

#[tokio::test]
async fn declared_requests_go_through() {
    let l = layout("allowed");
    let reach = reach("allowed POST /run", &l, "127.0.0.1:7004");
    // Hosts without regard to case.
    reach.check_host("API.Example.COM", 443).unwrap();
    reach.check_host("127.0.0.1", 7004).unwrap();
    assert_eq!(reach.env("HOME").unwrap(), std::env::var("HOME").ok());

    // Files inside, through `..` that stays inside, and new ones.
    assert_eq!(
        reach.read_to_string(l.data.join("note")).await.unwrap(),
        "readable\n"
    );
    let nested = l.work.join("a/b/../c");
    reach.create_dir_all(&nested).await.unwrap();
    assert!(l.work.join("a/c").is_dir());
    let file = l.work.join("a/c/out.txt");
    assert_eq!(reach.check_write(&file).unwrap(), file);
    reach.write(&file, "written").await.unwrap();
    assert_eq!(reach.read(&file).await.unwrap(), b"written");
    reach.remove_file(&file).await.unwrap();
    assert!(!file.exists());

    // The declared first argument; the child's environment is the declared variables only.
    let out = reach
        .command("echo")
        .unwrap()
        .arg("hello")
        .output()
        .await
        .unwrap();
    assert_eq!(out.stdout, b"hello\n");
    let out = reach
        .command("sh")
        .unwrap()
        .args([
            "-c",
            "echo \"home=$HOME pkg=${CARGO_PKG_NAME:-unset} x=$REACH_X\"; pwd",
        ])
        .env("REACH_X", "1")
        .unwrap()
        .current_dir(&l.work)
        .unwrap()
        .output()
        .await
        .unwrap();
    let home = std::env::var("HOME").unwrap_or_default();
    let expected = format!("home={home} pkg=unset x=1\n{}\n", l.work.display());
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}

#[test]
fn a_refusal_is_an_internal_error_that_says_nothing_about_permissions() {
    let reach = Reach::none("errors GET /");
    let refused = reach.command("ssh").unwrap_err();
    let e = RouteError::from(refused);
    assert_eq!(e.status(), 500);
    assert!(e.is_internal());
    assert!(
        !e.message().contains("ssh") && !e.message().contains("permission"),
        "{}",
        e.message()
    );
    assert!(e.details().is_none());
}

/// An error of plugin code that wraps a refusal, as the commit plugin's `GitError` does.
#[derive(Debug)]
struct Wrapped(Refused);

impl std::fmt::Display for Wrapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "git was not started: {}", self.0)
    }
}

impl std::error::Error for Wrapped {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Code that asks its handle for a program its route does not declare, directly and wrapped.
#[plugin_routes::plugin_route(method = "GET", path = "/direct", security(none))]
async fn refused_direct(ctx: plugin_routes::Ctx<()>) -> plugin_routes::RouteResult<String> {
    ctx.reach().command("ssh-once-direct")?;
    Ok(String::new())
}

#[plugin_routes::plugin_route(method = "GET", path = "/wrapped", security(none))]
async fn refused_wrapped(ctx: plugin_routes::Ctx<()>) -> plugin_routes::RouteResult<String> {
    ctx.reach().command("ssh-once-wrapped").map_err(Wrapped)?;
    Ok(String::new())
}

#[plugin_routes::plugin(
    name = "reach-errors",
    version = "1.0.0",
    routes(refused_direct, refused_wrapped)
)]
struct ReachErrors;

#[tokio::test]
async fn a_refusal_answered_as_a_500_is_logged_once_even_when_wrapped() {
    let log = captured();
    let c = plugin_routes::testing::TestClient::new(plugin_routes::plugins![ReachErrors::new()]);
    for (path, asked) in [
        ("direct", "ssh-once-direct"),
        ("wrapped", "ssh-once-wrapped"),
    ] {
        let r = c
            .get(&format!("/v1/plugins/reach-errors/{path}"))
            .send()
            .await;
        assert_eq!(r.status(), 500);
        assert!(!r.text().contains("ssh"), "{}", r.text());
        // The refusal's own line, and not the envelope's "handler failed" line beside it.
        let lines: Vec<String> = log
            .text()
            .lines()
            .filter(|l| l.contains(asked))
            .map(str::to_owned)
            .collect();
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(lines[0].contains("refused"), "{}", lines[0]);
    }
}

/// Whether this machine must confine: on CI, or where the kernel lists Landlock.
fn landlock_expected() -> bool {
    std::env::var_os("CI").is_some()
        || std::fs::read_to_string("/sys/kernel/security/lsm").is_ok_and(|l| l.contains("landlock"))
}

/// Whether the kernel confines files and ports here; says so when the tests are skipped.
fn confined(test: &str) -> bool {
    let e = enforcement();
    let json = serde_json::to_value(e).unwrap();
    assert_eq!(json["landlock"], e.landlock);
    if landlock_expected() {
        assert!(
            e.fs.enforced && e.net.enforced,
            "Landlock expected here: {e:?}"
        );
    }
    if e.fs.enforced && e.net.enforced {
        return true;
    }
    println!("SKIPPED {test}: the kernel does not confine children here: {e:?}");
    false
}

async fn run(reach: &Reach, program: &str, script: &str) -> std::process::Output {
    reach
        .command(program)
        .unwrap()
        .args(["-c", script])
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn children_write_only_inside_their_write_paths() {
    if !confined("children_write_only_inside_their_write_paths") {
        return;
    }
    let l = layout("landlock-write");
    let reach = reach("landlock POST /write", &l, "127.0.0.1:7005");
    let inside = l.work.join("inside.txt");
    let out = run(&reach, "sh", &format!("echo x > {}", inside.display())).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read_to_string(&inside).unwrap(), "x\n");

    let outside = l.root.join("outside.txt");
    let out = run(&reach, "sh", &format!("echo x > {}", outside.display())).await;
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{out:?}"
    );
    assert!(!outside.exists());
    // Read-only paths are not writable either.
    let out = run(
        &reach,
        "sh",
        &format!("echo x >> {}", l.data.join("note").display()),
    )
    .await;
    assert!(!out.status.success(), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(l.data.join("note")).unwrap(),
        "readable\n"
    );
}

#[tokio::test]
async fn a_declared_directory_made_or_remade_after_a_spawn_is_ruled_as_it_is_now() {
    if !confined("a_declared_directory_made_or_remade_after_a_spawn_is_ruled_as_it_is_now") {
        return;
    }
    let l = layout("landlock-later");
    // `{work}` is declared but does not exist yet when the handle is resolved and first used.
    std::fs::remove_dir_all(&l.work).unwrap();
    let reach = reach("landlock POST /later", &l, "127.0.0.1:7008");
    let out = run(&reach, "sh", "true").await;
    assert!(out.status.success(), "{out:?}");
    std::fs::create_dir_all(&l.work).unwrap();
    let made = l.work.join("made.txt");
    let out = run(&reach, "sh", &format!("echo x > {}", made.display())).await;
    assert!(out.status.success(), "{out:?}");
    // Removed and made again: the new directory is the declared one.
    std::fs::remove_dir_all(&l.work).unwrap();
    std::fs::create_dir_all(&l.work).unwrap();
    let out = run(&reach, "sh", &format!("echo y > {}", made.display())).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read_to_string(&made).unwrap(), "y\n");
}

#[tokio::test]
async fn children_read_the_plain_devices_and_not_shared_memory() {
    if !confined("children_read_the_plain_devices_and_not_shared_memory") {
        return;
    }
    let l = layout("landlock-dev");
    let reach = reach("landlock GET /dev", &l, "127.0.0.1:7009");
    let out = run(
        &reach,
        "sh",
        "head -c 4 /dev/urandom | wc -c; cat /dev/null",
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "4");
    // Another process's shared memory (a database's pages, say) is not readable.
    let shm = PathBuf::from(format!("/dev/shm/reach-test-{}", std::process::id()));
    if std::fs::write(&shm, "shared\n").is_ok() {
        let out = run(&reach, "sh", &format!("cat {}", shm.display())).await;
        let _ = std::fs::remove_file(&shm);
        assert!(!out.status.success(), "{out:?}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("shared"));
    }
}

#[tokio::test]
async fn children_read_only_inside_their_read_and_write_paths() {
    if !confined("children_read_only_inside_their_read_and_write_paths") {
        return;
    }
    let l = layout("landlock-read");
    let reach = reach("landlock POST /read", &l, "127.0.0.1:7006");
    let out = reach
        .command("cat")
        .unwrap()
        .arg(l.data.join("note"))
        .output()
        .await
        .unwrap();
    assert_eq!(out.stdout, b"readable\n", "{out:?}");

    let out = reach
        .command("cat")
        .unwrap()
        .arg(&l.secret)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{out:?}"
    );
    // Nor what a link inside the write path leads to.
    std::os::unix::fs::symlink(&l.secret, l.work.join("link")).unwrap();
    let out = reach
        .command("cat")
        .unwrap()
        .arg(l.work.join("link"))
        .output()
        .await
        .unwrap();
    assert!(!out.status.success() && out.stdout.is_empty(), "{out:?}");
}

#[tokio::test]
async fn children_connect_only_to_declared_ports() {
    if !confined("children_connect_only_to_declared_ports") {
        return;
    }
    let declared = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (declared_port, other_port) = (
        declared.local_addr().unwrap().port(),
        other.local_addr().unwrap().port(),
    );
    let l = layout("landlock-net");
    let reach = reach(
        "landlock POST /net",
        &l,
        &format!("127.0.0.1:{declared_port}"),
    );
    let connect = |port: u16| format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected");

    let out = run(&reach, "bash", &connect(declared_port)).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"connected\n");

    let out = run(&reach, "bash", &connect(other_port)).await;
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{out:?}"
    );

    // Unconfined, the same connection works: the refusal above is the sandbox's.
    let out = tokio::process::Command::new("bash")
        .args(["-c", &connect(other_port)])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    // The handle's own connections are checked, not confined.
    reach.connect("127.0.0.1", declared_port).await.unwrap();
    drop((declared, other));
}

#[test]
fn enforcement_names_what_is_not_enforced() {
    let e = enforcement();
    for part in [&e.fs, &e.net, &e.scopes, &e.shell] {
        assert_eq!(part.enforced, part.reason.is_none(), "{e:?}");
    }
    // Landlock tells files apart, not programs: the program list is the handle's alone.
    assert!(!e.shell.enforced);
    if e.net.enforced {
        assert!(
            e.net.limits.iter().any(|l| l.contains("ports only")),
            "{e:?}"
        );
    }
}

/// `ServerReach` on a thread of its own, as a server's main thread confines itself: that thread,
/// and a thread it makes afterwards, read only the declared and system paths, write only the
/// write paths, and connect only to the declared ports.
#[test]
fn a_confined_server_thread_and_the_threads_it_makes_keep_to_its_reach() {
    if !confined("a_confined_server_thread_and_the_threads_it_makes_keep_to_its_reach") {
        return;
    }
    let l = layout("server-reach");
    let allowed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (allowed_port, other_port) = (
        allowed.local_addr().unwrap().port(),
        other.local_addr().unwrap().port(),
    );
    let reach = plugin_routes::reach::ServerReach::new()
        .read(&l.data)
        .write(&l.work)
        .connect(allowed_port);
    let (work, data, secret) = (l.work.clone(), l.data.clone(), l.secret.clone());
    let outcome = std::thread::spawn(move || {
        reach.confine_this_thread().unwrap();
        // A thread made after confining is confined too (the runtime's would be).
        std::thread::spawn(move || {
            let denied = |r: std::io::Result<()>| {
                matches!(r, Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied)
            };
            let read = std::fs::read_to_string(data.join("note")).map(|_| ());
            let write = std::fs::write(work.join("made.txt"), "x");
            let write_read_only = std::fs::write(data.join("note"), "changed");
            let read_secret = std::fs::read_to_string(&secret).map(|_| ());
            let connect = std::net::TcpStream::connect(("127.0.0.1", allowed_port)).map(|_| ());
            let connect_other =
                std::net::TcpStream::connect(("127.0.0.1", other_port)).map(|_| ());
            (
                read.is_ok(),
                write.is_ok(),
                denied(write_read_only),
                denied(read_secret),
                connect.is_ok(),
                denied(connect_other),
            )
        })
        .join()
        .unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(outcome, (true, true, true, true, true, true));
    assert_eq!(
        std::fs::read_to_string(l.work.join("made.txt")).unwrap(),
        "x"
    );
    assert_eq!(
        std::fs::read_to_string(l.data.join("note")).unwrap(),
        "readable\n"
    );
}
