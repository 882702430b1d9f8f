#!/usr/bin/env python3
"""Judges the boots ci/boot/run.sh made and writes the report.

    ci/boot/check.py RUN_DIR KNOWN_ALLOCATORS

RUN_DIR holds one directory per boot (RELEASE-ALLOCATOR, RELEASE-none for
the boot without memproxy), each with `outcome`, `seconds`, `console.log` and
the guest's `report/` (see ci/boot/guest/boot-report). Prints a table per
release and allocator and writes RUN_DIR/report.md and report.json. Exits 1
when any boot fails a check.

A process's expected route is computed here from the config and the two
names the guest read from /proc (the executable, and AT_EXECFN from the
auxiliary vector and the process's memory), with the config rules of
docs/user-guide.md re-implemented, not taken from `memproxy status`'s own
verdict; status is only trusted to report what the process recorded.
"""

import json
import os
import re
import sys

JOURNAL_PROBLEM = re.compile(r"segfault|abort|memproxy", re.IGNORECASE)


def fnmatch_pathname(pattern, subject):
    """fnmatch(3) with FNM_PATHNAME in the C locale: no wildcard or bracket
    matches '/'. Returns None for a malformed pattern (matches nothing)."""
    regex, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 == len(pattern):
                return None
            regex += re.escape(pattern[i + 1])
            i += 2
        elif c == "*":
            regex += "[^/]*"
            i += 1
        elif c == "?":
            regex += "[^/]"
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "^", "]") else i + 1)
            if end < 0:
                return None
            body = pattern[i + 1 : end]
            negate = body[:1] in ("!", "^")
            if negate:
                body = body[1:]
            body = body.replace("\\", "\\\\").replace("^", "\\^")
            regex += "(?!/)[" + ("^" if negate else "") + body + "]"
            i = end + 1
        else:
            regex += re.escape(c)
            i += 1
    return re.fullmatch(regex, subject, re.DOTALL) is not None


def excluded(config_text, exe, execfn):
    """Whether the config excludes a program whose executable is EXE, started
    as EXECFN (the path given to execve; None when unknown): the last
    matching line decides; names match the last component of either,
    entries starting with '/' either full path, patterns as fnmatch(3)."""
    paths = [exe] + ([execfn] if execfn else [])
    names = [os.path.basename(path) for path in paths]
    decision = False
    for raw in config_text.splitlines():
        line = raw.strip(" \t\r")
        if not line or line[0] in "#;":
            continue
        include = line.startswith("!")
        entry = line[1:].strip(" \t") if include else line
        if not entry:
            continue
        subjects = paths if entry.startswith("/") else names
        if any(c in entry for c in "*?[\\"):
            matched = any(fnmatch_pathname(entry, subject) for subject in subjects)
        else:
            matched = entry in subjects
        if matched:
            decision = not include
    return decision


def read(path, default=""):
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.read()
    except OSError:
        return default


def units(text):
    return sorted(line.split()[0] for line in text.splitlines() if line.strip())


def allocator_files(table, release):
    files = {}
    for line in read(table).splitlines():
        words = line.split("#")[0].split()
        if len(words) >= 4 and words[0] == release:
            files[words[1]] = words[2]
    return files


def judge(boot_dir, release, allocator, table):
    """The checks of one boot: a dict of counts and a list of problems."""
    report = os.path.join(boot_dir, "report")
    result = {
        "release": release,
        "allocator": allocator,
        "outcome": read(os.path.join(boot_dir, "outcome")).strip() or "not run",
        "seconds": int(read(os.path.join(boot_dir, "seconds"), "0").strip() or 0),
        "state": read(os.path.join(report, "system-state")).strip(),
        "failed_units": units(read(os.path.join(report, "failed-units"))),
        "running_units": units(read(os.path.join(report, "running-units"))),
        "processes_checked": 0,
        "routes_right": 0,
        "problems": [],
    }
    problems = result["problems"]
    if result["outcome"] != "reported":
        problems.append(f"the boot ended with '{result['outcome']}', no report")
        return result
    if result["state"] != "running":
        problems.append(f"systemctl is-system-running: '{result['state']}', not 'running'")
    for unit in result["failed_units"]:
        problems.append(f"failed unit: {unit}")
    for line in read(os.path.join(report, "journal")).splitlines():
        if JOURNAL_PROBLEM.search(line):
            problems.append(f"journal: {line.strip()}")

    executables = {}
    for line in read(os.path.join(report, "executables")).splitlines():
        pid, exe, execfn = (line.split("\t") + [""])[:3]
        executables[int(pid)] = (exe, execfn or None)
    if read(os.path.join(report, "status.exit")).strip() != "0":
        problems.append("memproxy status failed: " + read(os.path.join(report, "status.stderr")))
        return result
    status = json.loads(read(os.path.join(report, "status.json")))
    config = read(os.path.join(report, "memproxy.conf"))
    allocator_file = allocator_files(table, release).get(allocator)
    for process in status["processes"]:
        pid = process["pid"]
        exe, execfn = executables.get(pid, (None, None))
        # Started after the guest listed /proc, or a PID reused since.
        if exe is None or exe != process.get("exe"):
            continue
        result["processes_checked"] += 1
        who = f"PID {pid} {process['command']} ({exe}, started as {execfn})"
        if allocator is None:
            expected = ("glibc", None, None)
            got = (process["serving"], None, None)
        else:
            route = "glibc" if excluded(config, exe, execfn) else "custom"
            served_by = "libc.so.6" if route == "glibc" else allocator_file
            allocator_name = os.path.basename(process.get("allocator") or "")
            expected = ("memproxy", route, served_by)
            got = (process["serving"], process.get("route"), allocator_name)
        if got == expected:
            result["routes_right"] += 1
        else:
            problems.append(f"{who}: expected {expected}, status says {got}")
    if result["processes_checked"] == 0:
        problems.append("no process was checked")
    return result


def table_text(rows, markdown):
    header = ["release", "allocator", "boot", "state", "processes checked", "routes right",
              "units failed", "journal lines", "same units as without", "seconds"]
    cells = []
    for row in rows:
        journal = sum(1 for problem in row["problems"] if problem.startswith("journal: "))
        cells.append([row["release"], row["allocator"] or "none (no memproxy)", row["outcome"],
                      row["state"] or "-", str(row["processes_checked"]), str(row["routes_right"]),
                      str(len(row["failed_units"])), str(journal), row.get("same_units", "-"),
                      str(row["seconds"])])
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in cells]
        return "\n".join(lines) + "\n"
    widths = [max(len(column) for column in columns) for columns in zip(header, *cells)]
    return "".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() + "\n"
                   for row in [header] + cells)


def main():
    run_dir, table = sys.argv[1], sys.argv[2]
    rows = []
    for name in sorted(os.listdir(run_dir)):
        boot_dir = os.path.join(run_dir, name)
        if not os.path.isfile(os.path.join(boot_dir, "outcome")) or "-" not in name:
            continue
        release, allocator = name.split("-", 1)
        rows.append(judge(boot_dir, release, None if allocator == "none" else allocator, table))
    baselines = {row["release"]: row for row in rows if row["allocator"] is None}
    for row in rows:
        baseline = baselines.get(row["release"])
        if row["allocator"] is None or baseline is None:
            continue
        if baseline["outcome"] != "reported":
            row["same_units"] = "no baseline"
            row["problems"].append("the boot without memproxy gave no report to compare with")
            continue
        ours, theirs = set(row["running_units"]), set(baseline["running_units"])
        row["same_units"] = "yes" if ours == theirs else "no"
        for unit in sorted(ours - theirs):
            row["problems"].append(f"running only with memproxy: {unit}")
        for unit in sorted(theirs - ours):
            row["problems"].append(f"running only without memproxy: {unit}")
    failed = [row for row in rows if row["problems"]]
    summary = (f"{len(rows)} boots, {len(rows) - len(failed)} passed, {len(failed)} failed; "
               f"{sum(row['processes_checked'] for row in rows)} processes checked, "
               f"{sum(row['routes_right'] for row in rows)} routed as the config says")
    failures = "".join(f"{row['release']} {row['allocator'] or 'none'}: {problem}\n"
                       for row in failed for problem in row["problems"])
    print(table_text(rows, markdown=False))
    if failures:
        print("Failures:\n" + failures)
    print(summary)
    markdown = f"# memproxy boot report\n\n{summary}\n\n" + table_text(rows, markdown=True)
    if failures:
        markdown += f"\n## Failures\n\n```\n{failures}```\n"
    with open(os.path.join(run_dir, "report.md"), "w", encoding="utf-8") as file:
        file.write(markdown)
    with open(os.path.join(run_dir, "report.json"), "w", encoding="utf-8") as file:
        json.dump({"summary": summary, "boots": rows}, file, indent=2)
    return 1 if failed or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
