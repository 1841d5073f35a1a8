//! The commit plugin reading a repository safely: files git ignores are not shown, links are
//! never followed, every read is bounded, names are taken literally (`*`, `-dash.txt`,
//! `:(foo)x`, a space, a newline), and every mix of index and work-tree states is one entry per
//! path, planned once and applied.

use crate::commit::{Repo, client_with};
use commit_plugin::changes::Limits;
use plugin_routes::testing::{TestClient, TestResponse};
use serde_json::{Value, json};
use std::os::unix::fs::symlink;

const MEMORY: &str = "sqlite::memory:";

async fn get(c: &TestClient, route: &str) -> TestResponse {
    c.get(&format!("/v1/plugins/commit/{route}")).send().await
}

async fn post(c: &TestClient, route: &str, body: Value) -> TestResponse {
    // Apply and push are operations: followed to their end, their answer is the route's.
    c.post(&format!("/v1/plugins/commit/{route}"))
        .json(&body)
        .send_and_wait()
        .await
}

fn code(r: &TestResponse) -> (u16, String) {
    (
        r.status().as_u16(),
        r.error()["code"].as_str().unwrap_or_default().to_owned(),
    )
}

/// `(path, change)` of each entry `GET /files` answers.
fn listed(files: &Value) -> Vec<(String, String)> {
    files
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["change"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Every file of every commit of `plan`, sorted.
fn planned_files(plan: &Value) -> Vec<String> {
    let mut files: Vec<String> = plan["commits"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["files"].as_array().unwrap().clone())
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    files.sort();
    files
}

/// The paths a commit touched, as git names them (`-z`: a newline in a name stays in it).
fn touched(repo: &Repo, sha: &str) -> Vec<String> {
    let mut files: Vec<String> = repo
        .git(&["show", "-z", "--name-only", "--format=", sha])
        .split('\0')
        .filter(|p| !p.trim().is_empty())
        .map(|p| p.trim_start_matches('\n').to_owned())
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn files_git_ignores_are_not_found_and_never_shown() {
    let repo = Repo::new("ignored");
    repo.write(".gitignore", ".env\nprivate/\n");
    repo.git(&["add", ".gitignore"]);
    repo.git(&["commit", "-q", "-m", "chore: ignore"]);
    repo.write(".env", "TOKEN=hunter2-very-secret\n");
    repo.write("private/keys.txt", "hunter2-very-secret\n");
    repo.write("src/new.rs", "fn x() {}\n");
    let c = client_with(&repo.dir, "commit:read", MEMORY, |s| s).await;
    let missing = get(&c, "diff?file=nowhere.txt").await;
    assert_eq!(code(&missing), (404, "FILE_NOT_FOUND".into()));
    for file in [".env", "private/keys.txt", "private"] {
        let r = get(&c, &format!("diff?file={file}")).await;
        assert_eq!(code(&r), (404, "FILE_NOT_FOUND".into()), "{file}");
        assert!(!r.text().contains("hunter2"), "{}", r.text());
        assert_eq!(
            r.error()["details"],
            missing.error()["details"],
            "answered as a file that does not exist"
        );
    }
    let r = get(&c, "diff?scope=private&file=keys.txt").await;
    assert_eq!(code(&r), (404, "FILE_NOT_FOUND".into()));
    // The untracked file beside them is shown, and the listings leave them out.
    let r = get(&c, "diff?file=src/new.rs").await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let files: Value = get(&c, "files").await.json();
    assert_eq!(listed(&files), [("src/new.rs".into(), "untracked".into())]);
}

#[tokio::test]
async fn untracked_links_count_as_links_and_are_never_followed() {
    let repo = Repo::new("links");
    // A file outside the repository, readable by the server, and a device that never ends.
    let outside = repo.dir.with_extension("outside.txt");
    std::fs::write(&outside, "one secret\ntwo secret\nthree secret\n").unwrap();
    symlink(&outside, repo.dir.join("leak")).unwrap();
    symlink("/dev/zero", repo.dir.join("src/zero")).unwrap();
    let c = client_with(&repo.dir, "commit:*", MEMORY, |s| s).await;

    let files: Value = get(&c, "files").await.json();
    assert_eq!(
        files,
        json!([
            {"path": "leak", "change": "untracked", "additions": 1, "deletions": 0},
            {"path": "src/zero", "change": "untracked", "additions": 1, "deletions": 0},
        ]),
        "one line each: the link's own text, as git stores it"
    );
    let r = get(&c, "diff?file=leak").await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let d: Value = r.json();
    let text = d["diff"].as_str().unwrap();
    assert!(text.contains("new file mode 120000"), "{text}");
    assert!(text.contains(&format!("+{}", outside.display())), "{text}");
    assert!(!r.text().contains("secret"), "{}", r.text());
    assert_eq!(
        (d["additions"].as_u64(), d["truncated"].as_bool()),
        (Some(1), Some(false))
    );
    let r = get(&c, "diff?scope=src&file=zero").await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert!(
        r.json::<Value>()["diff"]
            .as_str()
            .unwrap()
            .contains("+/dev/zero")
    );

    let status: Value = get(&c, "status").await.json();
    assert_eq!(
        (
            status["untracked"].as_u64(),
            status["filesChanged"].as_u64()
        ),
        (Some(2), Some(2))
    );
    let r = post(&c, "generate", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let r = post(&c, "apply", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    // Committed as links, as `git add` would.
    let tree = repo.git(&["ls-tree", "-r", "HEAD", "--", "leak", "src/zero"]);
    assert_eq!(
        tree.lines()
            .filter(|l| l.starts_with("120000 blob"))
            .count(),
        2,
        "{tree}"
    );
    let _ = std::fs::remove_file(outside);
}

#[tokio::test]
async fn reads_are_bounded_and_a_cut_diff_says_so() {
    let repo = Repo::new("bounded");
    let big: String = (0..1000).map(|i| format!("line {i}\n")).collect();
    assert!(big.len() > 8192);
    repo.write("big.txt", &big);
    repo.write(
        "src/lib.rs",
        &format!("pub fn one() -> u32 {{\n    1\n}}\n{big}"),
    );
    repo.write("small.txt", "small\n");
    let limits = Limits {
        diff_bytes: 4096,
        count_bytes: 8192,
        ..Limits::default()
    };
    let c = client_with(&repo.dir, "commit:read", MEMORY, |s| s.with_limits(limits)).await;
    let files: Value = get(&c, "files").await.json();
    assert_eq!(
        files,
        json!([
            {"path": "big.txt", "change": "untracked", "additions": null, "deletions": null},
            {"path": "small.txt", "change": "untracked", "additions": 1, "deletions": 0},
            {"path": "src/lib.rs", "change": "modified", "additions": 1000, "deletions": 0},
        ]),
        "an untracked file past what is read is not counted"
    );
    for file in ["big.txt", "src/lib.rs"] {
        let r = get(&c, &format!("diff?file={file}")).await;
        assert_eq!(r.status(), 200, "{}", r.text());
        let d: Value = r.json();
        let text = d["diff"].as_str().unwrap();
        assert!(
            text.len() <= 4096 && text.len() > 3000,
            "{file}: {}",
            text.len()
        );
        assert!(text.ends_with('\n'), "cut at a line's end");
        assert_eq!(d["truncated"], true, "{file}");
        assert_eq!(d["additions"], 1000, "{file}: the whole diff's count");
    }
    let d: Value = get(&c, "diff?file=small.txt").await.json();
    assert_eq!(
        (&d["truncated"], &d["additions"]),
        (&json!(false), &json!(1))
    );
}

#[tokio::test]
async fn a_scope_with_more_changes_than_a_request_works_on_is_too_many_changes() {
    let repo = Repo::new("too-many");
    for i in 0..300 {
        repo.write(&format!("gen/f{i:03}.txt"), "x\n");
    }
    for i in 0..20 {
        repo.write(&format!("src/m{i:02}.rs"), "fn m() {}\n");
    }
    let limits = Limits {
        files: 250,
        ..Limits::default()
    };
    let c = client_with(&repo.dir, "commit:*", MEMORY, |s| s.with_limits(limits)).await;
    for r in [
        get(&c, "files").await,
        get(&c, "git-status").await,
        post(&c, "generate", json!({})).await,
        post(&c, "summarize", json!({})).await,
    ] {
        assert_eq!(code(&r), (422, "TOO_MANY_CHANGES".into()), "{}", r.text());
        assert_eq!(r.error()["details"], json!({"files": 320, "limit": 250}));
    }
    // Counting and listing read nothing, so they still answer; a narrower scope is planned.
    let status: Value = get(&c, "status").await.json();
    assert_eq!(status["untracked"], 320);
    let actions: Value = get(&c, "actions").await.json();
    assert_eq!(actions["actions"][0]["name"], "generate");
    let r = get(&c, "files?scope=src").await;
    assert_eq!(r.json::<Vec<Value>>().len(), 20);
    let r = post(&c, "generate", json!({"scope": "src"})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
}

#[tokio::test]
async fn odd_names_are_listed_diffed_and_committed_as_themselves() {
    let repo = Repo::new("odd-names");
    // The user's own staged work, which an apply of other files must leave staged: a
    // reformatting, which the planner commits apart from new files.
    repo.write("src/lib.rs", "pub fn one() -> u32 {\n        1\n}\n");
    repo.git(&["add", "src/lib.rs"]);
    let odd = ["*", "-dash.txt", ":(foo)x", "new\nline.txt", "sp ace.txt"];
    for name in odd {
        repo.write(name, "odd\n");
    }
    repo.write(":(top)dir/inner.txt", "inner\n");
    let c = client_with(&repo.dir, "commit:*", MEMORY, |s| s).await;

    let files: Value = get(&c, "files").await.json();
    let paths: Vec<String> = listed(&files).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        paths,
        [
            "*",
            "-dash.txt",
            ":(foo)x",
            ":(top)dir/inner.txt",
            "new\nline.txt",
            "sp ace.txt",
            "src/lib.rs"
        ]
    );
    for (uri, added) in [
        ("diff?file=*", "+odd"),
        ("diff?file=:(foo)x", "+odd"),
        ("diff?file=sp%20ace.txt", "+odd"),
        ("diff?scope=:(top)dir&file=inner.txt", "+inner"),
    ] {
        let r = get(&c, uri).await;
        assert_eq!(r.status(), 200, "{uri}: {}", r.text());
        assert!(
            r.json::<Value>()["diff"].as_str().unwrap().contains(added),
            "{uri}"
        );
    }
    let r = get(&c, "files?scope=:(top)dir").await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(r.json::<Vec<Value>>().len(), 1);
    // Only `*` itself, not every file as a wildcard would.
    let d: Value = get(&c, "diff?file=*").await.json();
    assert_eq!((&d["path"], &d["additions"]), (&json!("*"), &json!(1)));

    let r = post(&c, "generate", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let plan: Value = r.json();
    let id = plan["commits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["files"].as_array().unwrap().contains(&json!("*")))
        .unwrap()["id"]
        .clone();
    let mine: Vec<String> = plan["commits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    for name in odd {
        assert!(mine.contains(&name.to_owned()), "{name:?} in {mine:?}");
    }
    let r = post(&c, "apply", json!({"commits": [id]})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let sha = r.json::<Value>()["made"][0]["sha"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut want = mine.clone();
    want.sort();
    assert_eq!(touched(&repo, &sha), want, "each name committed, whole");
    assert_eq!(
        repo.git(&["diff", "--cached", "--name-only"]),
        "src/lib.rs\n",
        "the user's staged work is still staged"
    );
    assert!(repo.git(&["diff", "--cached"]).contains("+        1"));
    let left: Value = get(&c, "files").await.json();
    let left: Vec<String> = listed(&left).into_iter().map(|(p, _)| p).collect();
    for name in odd {
        assert!(
            !left.contains(&name.to_owned()),
            "{name:?} is still changed: {left:?}"
        );
    }
}

#[tokio::test]
async fn every_mix_of_index_and_work_tree_is_one_entry_planned_once_and_applied() {
    let repo = Repo::new("matrix");
    for f in ["smod", "umod", "both", "rmc", "ren", "del", "gdel", "tc"] {
        repo.write(&format!("{f}.txt"), &format!("{f}\n"));
    }
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "chore: files"]);
    repo.write("sadd.txt", "staged add\n");
    repo.git(&["add", "sadd.txt"]);
    repo.write("smod.txt", "smod\nstaged\n");
    repo.git(&["add", "smod.txt"]);
    repo.write("umod.txt", "umod\nunstaged\n");
    repo.write("both.txt", "both\nstaged\n");
    repo.git(&["add", "both.txt"]);
    repo.write("both.txt", "both\nstaged\nunstaged\n");
    repo.write("untr.txt", "untracked\n");
    repo.git(&["rm", "-q", "--cached", "rmc.txt"]);
    repo.git(&["mv", "ren.txt", "renamed.txt"]);
    std::fs::remove_file(repo.dir.join("del.txt")).unwrap();
    repo.git(&["rm", "-q", "gdel.txt"]);
    std::fs::remove_file(repo.dir.join("tc.txt")).unwrap();
    symlink("smod.txt", repo.dir.join("tc.txt")).unwrap();
    repo.write("ita.txt", "intent\n");
    repo.git(&["add", "-N", "ita.txt"]);
    let c = client_with(&repo.dir, "commit:*", MEMORY, |s| s).await;

    let files: Value = get(&c, "files").await.json();
    let entries: Vec<(String, String)> = listed(&files);
    let want: Vec<(String, String)> = [
        ("both.txt", "modified"),
        ("del.txt", "deleted"),
        ("gdel.txt", "deleted"),
        ("ita.txt", "added"),
        ("ren.txt", "deleted"),
        ("renamed.txt", "added"),
        ("rmc.txt", "deleted"),
        ("sadd.txt", "added"),
        ("smod.txt", "modified"),
        ("tc.txt", "typechange"),
        ("umod.txt", "modified"),
        ("untr.txt", "untracked"),
    ]
    .iter()
    .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
    .collect();
    assert_eq!(entries, want);
    let git_status: Value = get(&c, "git-status").await.json();
    assert_eq!(
        git_status["untracked"],
        json!(["untr.txt"]),
        "rmc.txt is a staged deletion"
    );
    let status: Value = get(&c, "status").await.json();
    assert_eq!(
        (
            &status["staged"],
            &status["unstaged"],
            &status["untracked"],
            &status["filesChanged"]
        ),
        (&json!(7), &json!(5), &json!(1), &json!(12))
    );

    let r = post(&c, "generate", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let plan: Value = r.json();
    let paths: Vec<String> = want.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(
        planned_files(&plan),
        paths,
        "each path in exactly one commit"
    );

    let r = post(&c, "apply", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(r.json::<Value>()["plan"]["state"], "applied");
    // What was removed from the index but kept is now untracked, as asked; nothing else is left.
    assert_eq!(repo.git(&["status", "--porcelain"]), "?? rmc.txt\n");
    let tree = repo.git(&["ls-tree", "-r", "HEAD"]);
    for gone in ["rmc.txt", "ren.txt", "del.txt", "gdel.txt"] {
        assert!(!tree.contains(&format!("\t{gone}\n")), "{gone}: {tree}");
    }
    assert!(tree.contains("120000 blob"), "tc.txt is a link now: {tree}");
    assert_eq!(
        repo.git(&["show", "HEAD:both.txt"]),
        "both\nstaged\nunstaged\n"
    );
    assert_eq!(repo.git(&["show", "HEAD:ita.txt"]), "intent\n");
    let actions: Value = get(&c, "actions").await.json();
    let names: Vec<&str> = actions["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"apply"), "{names:?}");
}

#[tokio::test]
async fn git_s_listings_are_read_within_a_bound_and_counted_past_it() {
    let repo = Repo::new("listing-bytes");
    for i in 0..320 {
        repo.write(&format!("gen/f{i:03}.txt"), "x\n");
    }
    // 320 files are few, but their listing (`?? gen/f000.txt`, …) is longer than 1 KiB.
    let limits = Limits {
        listing_bytes: 1024,
        ..Limits::default()
    };
    let c = client_with(&repo.dir, "commit:*", MEMORY, |s| s.with_limits(limits)).await;
    for r in [
        get(&c, "files").await,
        get(&c, "git-status").await,
        post(&c, "generate", json!({})).await,
        post(&c, "summarize", json!({})).await,
    ] {
        assert_eq!(code(&r), (422, "TOO_MANY_CHANGES".into()), "{}", r.text());
        assert_eq!(
            r.error()["details"],
            json!({"listingBytes": 1024, "limit": 1000})
        );
    }
    // Counting keeps no name, so it answers whatever the listing's length.
    let status: Value = get(&c, "status").await.json();
    assert_eq!(
        (&status["untracked"], &status["filesChanged"]),
        (&json!(320), &json!(320))
    );
    let actions: Value = get(&c, "actions").await.json();
    assert_eq!(actions["actions"][0]["name"], "generate");
}

#[tokio::test]
async fn names_json_cannot_carry_and_nested_repositories_are_left_out_and_counted() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let repo = Repo::new("left-out");
    // A tracked file whose name is not UTF-8 (committed by git itself), changed since.
    let tracked = repo.dir.join(OsStr::from_bytes(b"old\xff.txt"));
    std::fs::write(&tracked, "one\n").unwrap();
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "chore: an odd name"]);
    std::fs::write(&tracked, "two\n").unwrap();
    // An untracked one, a repository of its own inside this one, and a plain new file.
    std::fs::write(repo.dir.join(OsStr::from_bytes(b"caf\xe9.txt")), "new\n").unwrap();
    std::fs::create_dir_all(repo.dir.join("vendor/tool")).unwrap();
    repo.git(&["-C", "vendor/tool", "init", "-q"]);
    repo.write("vendor/tool/null", "not a diff of anything\n");
    repo.write("readme.txt", "read me\n");
    let c = client_with(&repo.dir, "commit:*", MEMORY, |s| s).await;

    let files: Value = get(&c, "files").await.json();
    assert_eq!(listed(&files), [("readme.txt".into(), "untracked".into())]);
    let status: Value = get(&c, "git-status").await.json();
    assert_eq!(status["untracked"], json!(["readme.txt"]));
    assert_eq!(status["unstaged"], json!([]));
    assert_eq!(
        status["leftOut"],
        json!({"nonUtf8Names": 2, "nestedRepositories": 1})
    );
    let counts: Value = get(&c, "status").await.json();
    assert_eq!(
        (
            &counts["untracked"],
            &counts["unstaged"],
            &counts["filesChanged"]
        ),
        (&json!(1), &json!(0), &json!(1))
    );
    let r = post(&c, "generate", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let plan: Value = r.json();
    assert_eq!(planned_files(&plan), ["readme.txt"]);
    let message = plan["commits"][0]["message"].as_str().unwrap();
    assert!(!message.trim_end().ends_with("and"), "{message}");

    // The plan is applied (a lossy name would be stale forever), and the rest left alone.
    let r = post(&c, "apply", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let sha = r.json::<Value>()["made"][0]["sha"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(touched(&repo, &sha), ["readme.txt"]);
    let status: Value = get(&c, "git-status").await.json();
    assert_eq!(status["untracked"], json!([]));
    assert_eq!(
        status["leftOut"],
        json!({"nonUtf8Names": 2, "nestedRepositories": 1})
    );
    // Nothing left that a plan could take: nothing offered, nothing to plan.
    let actions: Value = get(&c, "actions").await.json();
    assert!(
        !actions["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "generate"),
        "{actions}"
    );
    let r = post(&c, "generate", json!({})).await;
    assert_eq!(code(&r), (400, "NO_CHANGES".into()));
}

#[tokio::test]
async fn an_untracked_file_git_cannot_read_is_a_failed_diff_not_an_empty_one() {
    let repo = Repo::new("no-access");
    // git under the plugin's own permissions, as the plugin starts it.
    let permissions = <commit_plugin::CommitPlugin as plugin_routes::Plugin>::META
        .permissions
        .unwrap();
    let values = plugin_routes::reach::Placeholders::new()
        .with("repo", repo.dir.to_string_lossy().into_owned());
    let reach = plugin_routes::reach::Reach::resolve("test", permissions, &values).unwrap();
    let git = commit_plugin::git::Git::new(&repo.dir, reach);
    // What a file listed a moment ago and removed since is to `diff --no-index`.
    let r = git.diff_untracked("gone.txt", false, 1 << 20).await;
    let e = r.expect_err("a diff of nothing");
    assert!(e.to_string().contains("Could not access"), "{e}");
    repo.write("here.txt", "one\n");
    let out = git
        .diff_untracked("here.txt", false, 1 << 20)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("+one"));
}
