#!/usr/bin/env python3
"""Check every cases/*.json file and print a summary.

    python3 validate.py [--git]   # --git also re-checks base/commits against the mirrors in spec.json
"""
import collections
import glob
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TYPES = {"feat", "fix", "docs", "test", "refactor", "perf", "style",
         "build", "ci", "chore", "revert"}
CHANGES = {"modified", "added", "deleted", "renamed"}
CUT = "\\ diff cut here"


def check(path, errors, warnings):
    name = os.path.basename(path)
    raw = open(path, "rb").read()
    if len(raw) >= 200 * 1024:
        errors.append(f"{name}: {len(raw)} bytes (limit 200 KB)")
    try:
        c = json.loads(raw)
    except ValueError as e:
        errors.append(f"{name}: JSON does not parse: {e}")
        return None
    if list(c) != ["repo", "base", "commits", "files", "author"]:
        errors.append(f"{name}: top-level keys {list(c)}")
    if not (1 <= len(c["commits"]) <= 4):
        errors.append(f"{name}: {len(c['commits'])} commits")
    if len(c["author"]) != len(c["commits"]):
        errors.append(f"{name}: {len(c['author'])} author entries for {len(c['commits'])} commits")
    for s in [c["base"], *c["commits"]]:
        if len(s) != 40 or any(ch not in "0123456789abcdef" for ch in s):
            errors.append(f"{name}: bad sha {s!r}")
    paths = [f["path"] for f in c["files"]]
    if not (3 <= len(paths) <= 25):
        errors.append(f"{name}: {len(paths)} files (want 3-25)")
    if len(set(paths)) != len(paths):
        errors.append(f"{name}: duplicate paths")
    for f in c["files"]:
        p = f["path"]
        if f["change"] not in CHANGES:
            errors.append(f"{name}: {p}: change {f['change']!r}")
        if (f["change"] == "renamed") != ("from" in f):
            errors.append(f"{name}: {p}: 'from' must be present exactly for renames")
        for k in ("additions", "deletions"):
            if not isinstance(f.get(k), int) or f[k] < 0:
                errors.append(f"{name}: {p}: bad {k}")
        d = f.get("diff", "")
        lines = d.splitlines()
        if not d.strip() or not lines[0].startswith("diff --git "):
            errors.append(f"{name}: {p}: empty diff or no `diff --git` header")
        if len(lines) > 251 or (len(lines) == 251 and lines[-1] != CUT):
            errors.append(f"{name}: {p}: diff has {len(lines)} lines, not cut at 250")
        if CUT in lines[:-1]:
            errors.append(f"{name}: {p}: cut marker not at the end")
        if "Binary files" in d and "differ" in d:
            errors.append(f"{name}: {p}: binary diff")
    owners = collections.Counter()
    for a in c["author"]:
        if a["type"] not in TYPES:
            errors.append(f"{name}: type {a['type']!r}")
        if not (a["scope"] is None or (isinstance(a["scope"], str) and a["scope"])):
            errors.append(f"{name}: scope {a['scope']!r}")
        if not a["subject"].strip():
            errors.append(f"{name}: empty subject")
        kws = a["keywords"]
        if not (1 <= len(kws) <= 3) or any(k != k.lower() or not k.strip() for k in kws):
            errors.append(f"{name}: keywords {kws}")
        if not a["files"]:
            warnings.append(f"{name}: commit {a['subject']!r} owns no file of the squashed change")
        for p in a["files"]:
            if p not in paths:
                errors.append(f"{name}: author file {p} not in files")
            owners[p] += 1
    for p in paths:
        if owners[p] != 1:
            errors.append(f"{name}: {p} is in {owners[p]} author commits (want exactly 1)")
    return c


def git_check(cases, errors):
    spec = {s["id"]: s for s in json.load(open(os.path.join(HERE, "spec.json")))}
    for cid, c in cases.items():
        s = spec.get(cid)
        if not s or not os.path.isdir(s["git_dir"]):
            continue
        g = ["git", "--git-dir=" + s["git_dir"]]
        prev = c["base"]
        for sha in c["commits"]:
            par = subprocess.run(g + ["rev-list", "--parents", "-n1", sha], capture_output=True,
                                 text=True, check=True).stdout.split()[1:]
            if par != [prev]:
                errors.append(f"{cid}: {sha[:10]} parents {par} (expected only {prev[:10]})")
            prev = sha
        ns = subprocess.run(g + ["diff", "-M", "--numstat", c["base"], c["commits"][-1]],
                            capture_output=True, text=True, check=True).stdout
        total = sum(int(l.split("\t")[0]) for l in ns.splitlines())
        if total != sum(f["additions"] for f in c["files"]):
            errors.append(f"{cid}: additions do not match git numstat")
        if len(ns.splitlines()) != len(c["files"]):
            errors.append(f"{cid}: file count does not match git numstat")


def main():
    errors, warnings, cases = [], [], {}
    files = sorted(glob.glob(os.path.join(HERE, "cases", "*.json")))
    for path in files:
        c = check(path, errors, warnings)
        if c:
            cases[os.path.basename(path)[:-5]] = c
    if "--git" in sys.argv:
        git_check(cases, errors)
    by_repo = collections.Counter(c["repo"] for c in cases.values())
    kinds = collections.Counter("single" if len(c["commits"]) == 1 else "run" for c in cases.values())
    types = collections.Counter(a["type"] for c in cases.values() for a in c["author"])
    nfiles = [len(c["files"]) for c in cases.values()]
    print(f"{len(cases)} cases; {dict(kinds)}")
    print("repositories:", dict(by_repo))
    print("author commit types:", dict(types.most_common()))
    print(f"files per case: min {min(nfiles)}, max {max(nfiles)}, total {sum(nfiles)}")
    print("change kinds:", dict(collections.Counter(f["change"] for c in cases.values() for f in c["files"])))
    print("cut diffs:", sum(f["diff"].rstrip("\n").endswith(CUT) for c in cases.values() for f in c["files"]))
    for w in warnings:
        print("WARNING", w)
    for e in errors:
        print("ERROR", e)
    print("OK" if not errors else f"{len(errors)} errors")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
