#!/usr/bin/env python3
"""Extract one commit-planner evaluation case from a git repository.

Single case:
    python3 extract.py GIT_DIR OWNER/NAME BASE SHA [SHA ...] -o cases/x.json \
        --label 'feat:builder:get_overridden_usage,override_usage' --label ...

  GIT_DIR  a git directory (bare mirror or .git) holding the commits
  BASE     the parent of the first commit (checked)
  SHA...   the author's commits, oldest first; each must be the first-parent
           child of the previous one
  --label  one per commit, oldest first: TYPE:SCOPE:KEYWORDS
           TYPE     conventional type; empty = parse it from the subject
           SCOPE    scope, '-' for none, empty = parse it from the subject
           KEYWORDS comma separated, 1 to 3, lower case

All cases:
    python3 extract.py --spec spec.json [--only ID ...]
  reads spec.json (a list of {"id", "repo", "git_dir", "base", "commits",
  "labels": [{"type", "scope", "keywords"}], "why"}) and writes
  cases/<id>.json for each, then cases.txt.

Only reads the repository (git diff / diff-tree / log); never writes to it.
"""
import argparse
import json
import os
import re
import subprocess
import sys

TYPES = ["feat", "fix", "docs", "test", "refactor", "perf", "style",
         "build", "ci", "chore", "revert"]
MAX_DIFF_LINES = 250
CUT_LINE = "\\ diff cut here"
MAX_CASE_BYTES = 200 * 1024
HERE = os.path.dirname(os.path.abspath(__file__))


def git(git_dir, *args):
    out = subprocess.run(["git", "--git-dir=" + git_dir, *args],
                         check=True, capture_output=True)
    return out.stdout


def rev(git_dir, r):
    return git(git_dir, "rev-parse", "--verify", r + "^{commit}").decode().strip()


def first_parent(git_dir, sha):
    parents = git(git_dir, "rev-list", "--parents", "-n1", sha).decode().split()[1:]
    if len(parents) != 1:
        raise SystemExit(f"{sha}: has {len(parents)} parents; merges are not allowed")
    return parents[0]


def subject(git_dir, sha):
    return git(git_dir, "log", "-1", "--format=%s", sha).decode("utf-8").rstrip("\n")


def name_status(git_dir, a, b):
    """[(status, old_path, new_path)] for the diff a..b with rename detection."""
    raw = git(git_dir, "diff", "-M", "--name-status", "-z", "--no-color", a, b).decode("utf-8")
    parts = raw.split("\0")
    if parts and parts[-1] == "":
        parts.pop()
    out, i = [], 0
    while i < len(parts):
        st = parts[i]
        if st[0] in "RC":
            out.append((st[0], parts[i + 1], parts[i + 2]))
            i += 3
        else:
            out.append((st[0], parts[i + 1], parts[i + 1]))
            i += 2
    return out


def numstat(git_dir, a, b):
    """{new_path: (additions, deletions)}; binary files give (None, None)."""
    raw = git(git_dir, "diff", "-M", "--numstat", "-z", "--no-color", a, b).decode("utf-8")
    parts = raw.split("\0")
    res, i = {}, 0
    while i < len(parts):
        head = parts[i]
        if not head:
            i += 1
            continue
        add, dele, path = head.split("\t", 2)
        if path == "":  # rename: old and new follow as separate fields
            path = parts[i + 2]
            i += 3
        else:
            i += 1
        res[path] = (None if add == "-" else int(add), None if dele == "-" else int(dele))
    return res


def split_patch(patch):
    """Split a full `git diff` output into per-file blocks (lists of lines)."""
    blocks, cur = [], None
    for line in patch.split("\n"):
        if line.startswith("diff --git "):
            cur = [line]
            blocks.append(cur)
        elif cur is not None:
            cur.append(line)
    for b in blocks:
        while b and b[-1] == "":
            b.pop()
    return blocks


def cut(lines):
    if len(lines) > MAX_DIFF_LINES:
        lines = lines[:MAX_DIFF_LINES] + [CUT_LINE]
    return "\n".join(lines) + "\n"


def parse_conventional(subj):
    m = re.match(r"^([A-Za-z]+)(?:\(([^)]*)\))?!?: ", subj)
    if not m:
        return None, None
    t = m.group(1).lower()
    return (t if t in TYPES else None), m.group(2)


def parse_label(text):
    t, s, k = (text.split(":", 2) + ["", "", ""])[:3]
    return {"type": t or None,
            "scope": (None if s == "-" else (s or "")),
            "keywords": [w.strip() for w in k.split(",") if w.strip()]}


def extract(git_dir, repo, base, commits, labels):
    commits = [rev(git_dir, c) for c in commits]
    base = rev(git_dir, base)
    if len(labels) != len(commits):
        raise SystemExit(f"{len(commits)} commits but {len(labels)} labels")
    prev = base
    for c in commits:
        p = first_parent(git_dir, c)
        if p != prev:
            raise SystemExit(f"{c}: first parent {p} is not {prev}")
        prev = c
    last = commits[-1]

    # squashed change
    entries = name_status(git_dir, base, last)
    stats = numstat(git_dir, base, last)
    patch = git(git_dir, "diff", "-M", "--no-color", "--no-ext-diff", base, last).decode("utf-8")
    blocks = split_patch(patch)
    if len(blocks) != len(entries):
        raise SystemExit(f"{len(blocks)} diff blocks for {len(entries)} paths")
    files = []
    for (st, old, new), block in zip(entries, blocks):
        if new not in block[0] and f'"b/' not in block[0]:
            raise SystemExit(f"diff block {block[0]!r} does not match {new}")
        add, dele = stats[new]
        if add is None:
            raise SystemExit(f"{new}: binary file; pick another case")
        change = {"M": "modified", "A": "added", "D": "deleted", "R": "renamed",
                  "T": "modified", "C": "added"}[st]
        e = {"path": new, "change": change}
        if change == "renamed":
            e["from"] = old
        e.update({"additions": add, "deletions": dele, "diff": cut(block)})
        files.append(e)

    # which commit last touched each squashed path
    touched = []
    for c in commits:
        p = first_parent(git_dir, c)
        s = set()
        for _, old, new in name_status(git_dir, p, c):
            s.add(old)
            s.add(new)
        touched.append(s)
    owner = {}
    for e in files:
        keys = {e["path"], e.get("from", e["path"])}
        hits = [i for i, s in enumerate(touched) if s & keys]
        if not hits:
            raise SystemExit(f"{e['path']}: touched by no commit")
        owner[e["path"]] = hits[-1]

    author = []
    for i, (c, lab) in enumerate(zip(commits, labels)):
        subj = subject(git_dir, c)
        ct, cs = parse_conventional(subj)
        t = lab.get("type") or ct
        if t not in TYPES:
            raise SystemExit(f"{c}: no valid type (label {lab.get('type')!r}, subject {subj!r})")
        scope = lab.get("scope", "")
        if scope == "":
            scope = cs if lab.get("type") in (None, "", ct) else None
        kws = [k.lower() for k in lab.get("keywords", [])]
        if not 1 <= len(kws) <= 3:
            raise SystemExit(f"{c}: needs 1 to 3 keywords, got {kws}")
        # keywords must come from the commit's own content
        own = (subj + "\n" + git(git_dir, "show", "-M", "--format=", "--no-color", c)
               .decode("utf-8", "replace")).lower()
        for k in kws:
            if k not in own:
                raise SystemExit(f"{c}: keyword {k!r} not found in its subject or diff")
        author.append({"type": t, "scope": scope, "subject": subj,
                       "files": [e["path"] for e in files if owner[e["path"]] == i],
                       "keywords": kws})

    return {"repo": repo, "base": base, "commits": commits,
            "files": files, "author": author}


def write_case(case, path):
    text = json.dumps(case, indent=2, ensure_ascii=False) + "\n"
    if len(text.encode("utf-8")) > MAX_CASE_BYTES:
        raise SystemExit(f"{path}: {len(text)} bytes, over {MAX_CASE_BYTES}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def run_spec(spec_path, only):
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    for s in spec:
        if only and s["id"] not in only:
            continue
        base = s.get("base") or first_parent(s["git_dir"], rev(s["git_dir"], s["commits"][0]))
        case = extract(s["git_dir"], s["repo"], base, s["commits"], s["labels"])
        out = os.path.join(HERE, "cases", s["id"] + ".json")
        write_case(case, out)
        n = len(case["files"])
        empty = [a["subject"] for a in case["author"] if not a["files"]]
        print(f"{s['id']}: {len(case['commits'])} commit(s), {n} files"
              + (f"  WARNING commits without files: {empty}" if empty else ""))
    with open(os.path.join(HERE, "cases.txt"), "w", encoding="utf-8") as f:
        f.write("# id | repo | commits (oldest first) | what the change is; why it was picked\n")
        for s in spec:
            f.write(f"{s['id']} | {s['repo']} | {' '.join(s['commits'])} | {s['why']}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec")
    ap.add_argument("--only", nargs="*")
    ap.add_argument("git_dir", nargs="?")
    ap.add_argument("repo", nargs="?")
    ap.add_argument("base", nargs="?")
    ap.add_argument("commits", nargs="*")
    ap.add_argument("-o", "--output")
    ap.add_argument("--label", action="append", default=[])
    a = ap.parse_args()
    if a.spec:
        run_spec(a.spec, a.only)
        return
    if not (a.git_dir and a.repo and a.base and a.commits and a.output):
        ap.error("need GIT_DIR REPO BASE SHA... -o OUT (or --spec)")
    case = extract(a.git_dir, a.repo, a.base, a.commits, [parse_label(l) for l in a.label])
    write_case(case, a.output)


if __name__ == "__main__":
    main()
