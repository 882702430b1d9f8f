#!/usr/bin/env python3
"""Lists the errors of one cross-build cargo run (ci/cross/build.sh).

Reads cargo's --message-format=json stdout; appends every compiler error
(file:line:col, code, message, first label) and cargo's own errors (from
its stderr: failed build scripts, refused rust-version, link failures) as a
Markdown section to --markdown; appends the rendered compiler messages to
--rendered (the stderr log); prints the number of errors.
"""

import argparse
import json
import re
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--rendered", required=True)
    ap.add_argument("--markdown", required=True)
    ap.add_argument("--top")
    ap.add_argument("json")
    args = ap.parse_args()

    rows = []
    rendered = []
    warnings = 0
    try:
        lines = open(args.json, encoding="utf-8", errors="replace").read().splitlines()
    except FileNotFoundError:
        lines = []
    for line in lines:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") != "compiler-message":
            continue
        diag = msg["message"]
        if diag.get("level") == "warning":
            warnings += 1
        if diag.get("level") not in ("error", "error: internal compiler error"):
            continue
        rendered.append(diag.get("rendered") or diag.get("message", ""))
        crate = msg.get("target", {}).get("name", "?")
        code = (diag.get("code") or {}).get("code") or ""
        spans = [s for s in diag.get("spans", []) if s.get("is_primary")] or diag.get("spans", [])
        where = "(no span)"
        label = ""
        if spans:
            s = spans[0]
            # Follow macro expansions back to the user's file.
            while s.get("expansion") and s["file_name"].startswith("<"):
                s = s["expansion"]["span"]
            where = f'{s["file_name"]}:{s["line_start"]}:{s["column_start"]}'
            label = s.get("label") or ""
        if diag.get("message", "").startswith("aborting due to"):
            continue
        rows.append((crate, where, code, diag.get("message", ""), label))

    # cargo's own errors (stderr): build scripts (with the C compiler's
    # diagnostics), the linker, refused rust-version, ...
    try:
        stderr = open(args.rendered, encoding="utf-8", errors="replace").read().splitlines()
    except FileNotFoundError:
        stderr = []
    blocks = []
    for line in stderr:
        if re.match(r"^error(\[E\d+\])?: ", line):
            blocks.append([line])
        elif re.match(r"^(warning|\s*Compiling|\s*Finished)", line):
            if blocks and len(blocks[-1]) and not blocks[-1][-1] is None:
                blocks[-1].append(None)  # closed
        elif blocks and blocks[-1][-1] is not None:
            blocks[-1].append(line)
    c_errors = []  # (where, message)
    other = []
    failed = []
    for block in blocks:
        lines = [l for l in block if l is not None]
        head = lines[0]
        if head.startswith("error: could not compile"):
            failed.append(head.replace("error: could not compile ", ""))
            continue
        if any(head.endswith(r[3]) for r in rows):
            continue
        keep = [head]
        for i, l in enumerate(lines[1:], 1):
            m = re.match(r"^\s*(\S+?):(\d+):(\d+): (?:fatal )?error: (.*)$", l)
            if m:
                c_errors.append((f"{m.group(1)}:{m.group(2)}:{m.group(3)}", m.group(4)))
                keep.append(l.strip())
            elif "panicked at" in l:
                keep.append(l.strip())
                if i + 1 < len(lines):
                    keep.append(lines[i + 1].strip()[:600])
            elif re.search(r"undefined reference|cannot find -l|collect2|ld(\.\w+)?: |linking with", l):
                keep.append(l.strip()[:600])
        other.append("\n".join(keep))

    with open(args.rendered, "a", encoding="utf-8") as out:
        if rendered:
            out.write("\n==== rendered compiler errors ====\n")
            for r in rendered:
                out.write(r.rstrip() + "\n\n")

    top = args.top.rstrip("/") + "/" if args.top else None
    rel = lambda w: w[len(top):] if top and w.startswith(top) else w
    esc = lambda t: t.replace("|", "\\|").replace("\n", " ")
    with open(args.markdown, "a", encoding="utf-8") as md:
        md.write(f"## {args.target} / {args.group}: {len(rows)} Rust error(s), {len(c_errors)} C/C++ error(s), {warnings} Rust warning(s)\n\n")
        if rows or c_errors:
            md.write("| crate | file:line:col | code | message | label |\n| --- | --- | --- | --- | --- |\n")
            for crate, where, code, message, label in rows:
                md.write(f"| {crate} | `{rel(where)}` | {code} | {esc(message)} | {esc(label)} |\n")
            for where, message in c_errors:
                md.write(f"| (C/C++, build script) | `{rel(where)}` | | {esc(message)} | |\n")
            md.write("\n")
        if failed:
            md.write("Crates that failed: " + "; ".join(failed) + "\n\n")
        for e in other:
            md.write("```\n" + e[:4000] + "\n```\n\n")
    # Cargo-level errors with no compiler diagnostic count as one each.
    extra = sum(1 for e in other if not re.search(r": (?:fatal )?error: ", e))
    print(len(rows) + len(c_errors) + extra)


if __name__ == "__main__":
    sys.exit(main())
