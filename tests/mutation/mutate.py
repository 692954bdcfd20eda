#!/usr/bin/env python3
"""tests/mutation/mutate.py - the file side of the mutation check (run.sh drives it).

  mutate.py sync SRC DST          make DST a copy of the source tree SRC (git's tracked and
                                  untracked-but-not-ignored files): copy what differs, delete
                                  what SRC no longer has; DST/build is left alone. A copied file
                                  gets a new mtime, so ninja rebuilds exactly what changed.
  mutate.py show FILE.mut         print the mutation's fields (name, tests, files), shell-quoted
  mutate.py check TREE FILE.mut   check that the mutation applies to TREE (every find matches
                                  exactly once); exit 3 with a message that says what to update
  mutate.py apply TREE FILE.mut   apply it in TREE (after the same check)
  mutate.py check-all REPO        check every mutation in REPO/tests/mutation/mutations: it
                                  applies, and the tests it names exist (a meson test, run in
                                  every build, so that a mutation the code outgrew is seen at
                                  once rather than at the next `make mutation`)
  mutate.py targets BUILD NAME...  the ninja targets of unit tests NAME (meson introspect): the
                                  executable each runs, and any built file among its arguments
  mutate.py restore SRC TREE FILE.mut
                                  put the mutated files back from SRC (with a new mtime)

A mutation file (tests/mutation/mutations/NN-slug.mut):

  # One or more comment lines: the defect, as a user would see it.
  tests: unit:store daemon-restart
  expect: test_double_lease_impossible|no GPU free
  file: src/daemon/ledger/store.c
  find:
                  if (r > 0) {
                          n_leased++;
  replace:
                  if (0 && r > 0) {
                          n_leased++;

`tests:` names the tests to run, fastest first ("unit:NAME" is a meson unit test, any other
NAME tests/integration/test-NAME.sh). `expect:` (optional) is an extended regular expression
that a failed check ("not ok - ..." or cmocka's "[  FAILED  ] test_...") must match to count
as catching the defect; without it any failure counts. `file:`, `find:` and `replace:` start a
line; everything up to the next marker line is the
text. Several file/find/replace groups may follow (a `file:` stays in force for the next
find). The find text must occur exactly once in the file; whitespace runs match any whitespace
(re-indentation, re-wrapping by clang-format), everything else must match exactly. The replace
text is inserted as it is.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys

class MutationError(Exception):
    pass


def parse(path):
    """Returns {name, description, tests, groups: [(file, find, replace)]}."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    desc, tests, groups, expect = [], None, [], ""
    cur_file = None
    field = None  # "find" or "replace" while collecting text
    find_lines, repl_lines = [], []

    def close_group():
        nonlocal find_lines, repl_lines
        if field is None:
            return
        if cur_file is None:
            raise MutationError("%s: find: before any file:" % path)
        find = "\n".join(find_lines).strip("\n")
        if not find.strip():
            raise MutationError("%s: an empty find: text" % path)
        if field != "replace":
            raise MutationError("%s: find: without replace:" % path)
        groups.append((cur_file, find, "\n".join(repl_lines).strip("\n")))
        find_lines, repl_lines = [], []

    started = False
    for line in lines:
        if not started and line.startswith("#"):
            desc.append(line[1:].strip())
            continue
        if not started and not line.strip():
            continue
        started = True
        if line.startswith("tests:") and field is None:
            tests = line[len("tests:"):].split()
        elif line.startswith("expect:") and field is None:
            expect = line[len("expect:"):].strip()
        elif line.startswith("file:"):
            close_group()
            field = None
            cur_file = line[len("file:"):].strip()
        elif line.startswith("find:"):
            close_group()
            field = "find"
        elif line.startswith("replace:"):
            if field != "find":
                raise MutationError("%s: replace: without a find: before it" % path)
            field = "replace"
        elif field == "find":
            find_lines.append(line)
        elif field == "replace":
            repl_lines.append(line)
        elif line.strip():
            raise MutationError("%s: unexpected line outside find:/replace: %r" % (path, line))
    close_group()
    if not tests:
        raise MutationError("%s: no tests: line (which tests should catch this defect?)" % path)
    if not groups:
        raise MutationError("%s: no file:/find:/replace: group" % path)
    name = os.path.basename(path)
    if name.endswith(".mut"):
        name = name[:-4]
    return {"name": name, "description": " ".join(desc), "tests": tests, "expect": expect,
            "groups": groups}


def pattern(find):
    """The find text as a regex: whitespace runs match any whitespace, the rest literally."""
    return re.compile(r"\s+".join(re.escape(tok) for tok in find.split()))


def plan(tree, mut_path):
    """Checks every group against the files in tree; returns {file: new_text}."""
    m = parse(mut_path)
    out = {}
    rel_mut = os.path.relpath(mut_path)
    for fname, find, repl in m["groups"]:
        path = os.path.join(tree, fname)
        if fname not in out:
            if not os.path.isfile(path):
                raise MutationError(
                    "mutation %s no longer applies: %s does not exist (the code moved) - update "
                    "the file: line in %s" % (m["name"], fname, rel_mut))
            with open(path, encoding="utf-8") as f:
                out[fname] = f.read()
        text = out[fname]
        hits = list(pattern(find).finditer(text))
        first = find.strip().split("\n")[0].strip()
        if len(hits) != 1:
            if not hits:
                why = "the text to find is not in %s" % fname
            else:
                lines = [text.count("\n", 0, h.start()) + 1 for h in hits]
                why = "the text to find occurs %d times in %s (lines %s); it must be unique" % (
                    len(hits), fname, ", ".join(map(str, lines)))
            defect = re.split(r"[:.]", m["description"] or m["name"])[0]
            raise MutationError(
                "mutation %s no longer applies: %s (find: starts with %r). The code changed "
                "since the mutation was written: find where the code now decides this (%s) and "
                "update find:/replace: in %s" % (m["name"], why, first, defect, rel_mut))
        h = hits[0]
        # the match starts at the first token: the line's indentation is kept from the file
        out[fname] = text[:h.start()] + repl.lstrip(" \t") + text[h.end():]
    return out


def tree_files(src):
    try:
        r = subprocess.run(["git", "-C", src, "ls-files", "-z", "-co", "--exclude-standard"],
                           check=True, capture_output=True)
        return [p for p in r.stdout.decode().split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for root, dirs, names in os.walk(src):
            rel = os.path.relpath(root, src)
            if rel == ".":
                dirs[:] = [d for d in dirs if d != ".git" and not d.startswith("build")]
            files += [os.path.normpath(os.path.join(rel, n)) for n in names]
        return files


def same(a, b):
    try:
        if os.path.islink(a) or os.path.islink(b):
            return os.path.islink(a) and os.path.islink(b) and os.readlink(a) == os.readlink(b)
        if os.path.getsize(a) != os.path.getsize(b):
            return False
        with open(a, "rb") as fa, open(b, "rb") as fb:
            return fa.read() == fb.read()
    except OSError:
        return False


def sync(src, dst):
    src, dst = os.path.abspath(src), os.path.abspath(dst)
    os.makedirs(dst, exist_ok=True)
    want = set()
    copied = 0
    for rel in tree_files(src):
        s, d = os.path.join(src, rel), os.path.join(dst, rel)
        if not os.path.lexists(s) or os.path.isdir(s) and not os.path.islink(s):
            continue  # deleted in the work tree, or a nested repository
        want.add(os.path.normpath(rel))
        if same(s, d):
            continue
        os.makedirs(os.path.dirname(d), exist_ok=True)
        if os.path.lexists(d):
            os.unlink(d)
        if os.path.islink(s):
            os.symlink(os.readlink(s), d)
        else:
            shutil.copyfile(s, d)  # a new mtime: ninja sees the change
            shutil.copymode(s, d)
        copied += 1
    removed = 0
    for root, dirs, names in os.walk(dst):
        rel_root = os.path.relpath(root, dst)
        if rel_root == ".":
            dirs[:] = [x for x in dirs if x != "build"]
        for n in names:
            rel = os.path.normpath(os.path.join(rel_root, n))
            if rel not in want:
                os.unlink(os.path.join(root, n))
                removed += 1
    print("copy %s: %d files, %d copied, %d removed" % (dst, len(want), copied, removed))


def targets(build, names):
    r = subprocess.run(["meson", "introspect", "--tests", build], check=True, capture_output=True)
    build = os.path.realpath(build)
    out = []
    for t in json.loads(r.stdout):
        if t["name"] not in names:
            continue
        for word in t["cmd"]:
            p = os.path.realpath(word)
            if p.startswith(build + os.sep) and p not in out:
                out.append(p)
    for p in out:
        print(os.path.relpath(p, build))


def unit_test_names(repo):
    """The meson test names tests/unit/meson.build declares: the unit_tests table's keys and
    each test('NAME', ...)."""
    with open(os.path.join(repo, "tests/unit/meson.build"), encoding="utf-8") as f:
        text = f.read()
    return set(re.findall(r"^\s*'([\w-]+)'\s*:", text, re.M)) | set(
        re.findall(r"^test\('([\w-]+)'", text, re.M))


def check_all(repo):
    mdir = os.path.join(repo, "tests/mutation/mutations")
    units = unit_test_names(repo)
    problems = []
    names = sorted(n for n in os.listdir(mdir) if n.endswith(".mut"))
    for n in names:
        path = os.path.join(mdir, n)
        try:
            m = parse(path)
            plan(repo, path)
        except MutationError as e:
            problems.append(str(e))
            continue
        for t in m["tests"]:
            if t.startswith("unit:"):
                ok = t[5:] in units
            else:
                ok = os.path.exists(os.path.join(repo, "tests/integration/test-%s.sh" % t))
            if not ok:
                problems.append("mutation %s names the test %s, which does not exist: update its "
                                "tests: line in %s" % (m["name"], t, path))
    for p in problems:
        sys.stderr.write("%s\n" % p)
    print("mutations: %d checked, %d problem(s)" % (len(names), len(problems)))
    if problems:
        raise MutationError("%d mutation(s) need updating (above)" % len(problems))


def main(argv):
    try:
        if len(argv) == 4 and argv[1] == "sync":
            sync(argv[2], argv[3])
        elif len(argv) == 3 and argv[1] == "show":
            m = parse(argv[2])
            files = sorted({g[0] for g in m["groups"]})
            print("MUT_NAME=%s" % shlex.quote(m["name"]))
            print("MUT_DESC=%s" % shlex.quote(m["description"]))
            print("MUT_TESTS=(%s)" % " ".join(shlex.quote(t) for t in m["tests"]))
            print("MUT_EXPECT=%s" % shlex.quote(m["expect"]))
            print("MUT_FILES=(%s)" % " ".join(shlex.quote(f) for f in files))
        elif len(argv) == 4 and argv[1] in ("check", "apply"):
            new = plan(argv[2], argv[3])
            if argv[1] == "apply":
                for fname, text in new.items():
                    with open(os.path.join(argv[2], fname), "w", encoding="utf-8") as f:
                        f.write(text)
        elif len(argv) == 3 and argv[1] == "check-all":
            check_all(argv[2])
        elif len(argv) >= 3 and argv[1] == "targets":
            targets(argv[2], set(argv[3:]))
        elif len(argv) == 5 and argv[1] == "restore":
            m = parse(argv[4])
            for fname in sorted({g[0] for g in m["groups"]}):
                s, d = os.path.join(argv[2], fname), os.path.join(argv[3], fname)
                if os.path.exists(s):
                    shutil.copyfile(s, d)
        else:
            sys.stderr.write(__doc__)
            return 2
    except MutationError as e:
        sys.stderr.write("%s\n" % e)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
