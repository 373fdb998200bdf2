#!/usr/bin/env python3
"""Makes a man page from a markdown template under docs/man/ with go-md2man.

    make-man.py GO_MD2MAN OUT VERSION TEMPLATE.md      (OUT ending in .gz: compressed)

The template may include parts of the other docs, so that the man pages say what the docs say:

    <!-- include: configuration.md -->                  the whole file, its title left out
    <!-- include: configuration.md#Command line -->     one "## " section (up to the next one)
    <!-- include: configuration.md -Command line -->    the whole file less that section
    <!-- include: configuration.md#Command line as OPTIONS -->   that section, renamed

Included headings move up one level ("##" becomes a man page section), and tables become
definition lists (tables do not fit an 80-column terminal). The first line of the template is
the title line `% NAME SECTION "" "" "MANUAL"`; the date and the version are filled in here.
"""
from __future__ import annotations

import gzip
import re
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent


def sections(text: str) -> list[tuple[str, list[str]]]:
    """Splits a document into (heading, lines) by its "## " headings; the part before the
    first one has the heading ""."""
    out: list[tuple[str, list[str]]] = [("", [])]
    fence = False
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        if not fence and line.startswith("## "):
            out.append((line[3:].strip().strip("`"), [line]))
        else:
            out[-1][1].append(line)
    return out


def cells(row: str) -> list[str]:
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|"):
        row = row[:-1]
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)]


def table_to_list(rows: list[str]) -> list[str]:
    head = cells(rows[0])
    body = [cells(r) for r in rows[2:]]
    # "Letter | Allows | Letter | Allows": two tables side by side.
    if len(head) == 4 and head[0] == head[2] and head[1] == head[3]:
        body = [r[:2] for r in body] + [r[2:] for r in body]
        head = head[:2]
    out: list[str] = []
    for r in body:
        r = r + [""] * (len(head) - len(r))
        if not r[0]:
            continue
        parts = [f"{h.lower()}: {c}" for h, c in zip(head[1:-1], r[1:-1]) if c]
        text = r[-1] if len(r) > 1 else ""
        desc = "; ".join(parts)
        if desc and text:
            desc = f"{desc}. {text}"
        out += [r[0], f": {desc or text}", ""]
    return out


def convert(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    fence = False
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            fence = not fence
        if not fence and line.startswith("|") and i + 1 < len(lines) and re.match(r"^\|[-:| ]+\|$", lines[i + 1].strip()):
            j = i
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            out += table_to_list(lines[i:j])
            i = j
            continue
        if not fence and line.startswith("#"):
            line = line[1:].replace("`", "")  # one level up; plain text in headings
        out.append(line)
        i += 1
    return out


def include(spec: str) -> list[str]:
    rename = None
    if " as " in spec:
        spec, rename = spec.rsplit(" as ", 1)
    m = re.fullmatch(r"(\S+?)(?:(#|\s-)(.+))?", spec.strip())
    if not m:
        raise SystemExit(f"make-man: bad include: {spec}")
    name, op, sec = m.group(1), m.group(2), (m.group(3) or "").strip()
    parts = sections((DOCS / name).read_text())
    if op == "#":
        chosen = [p for p in parts if p[0] == sec]
        if not chosen:
            raise SystemExit(f"make-man: {name} has no section '## {sec}'")
    else:
        # the text before the first section, less the document's "# " title
        intro = [line for line in parts[0][1] if not line.startswith("# ")]
        chosen = [("", intro)] + [p for p in parts[1:] if not (op and p[0] == sec)]
        if op and len(chosen) == len(parts):
            raise SystemExit(f"make-man: {name} has no section '## {sec}'")
    lines: list[str] = []
    for _, body in chosen:
        lines += convert(body)
    if rename and lines and lines[0].startswith("# "):
        lines[0] = "# " + rename.strip()
    return lines


def main() -> None:
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    tool, out, version, template = sys.argv[1:]
    src = Path(template).read_text().splitlines()
    title = src[0]
    if not title.startswith("% "):
        raise SystemExit(f"make-man: {template}: the first line must be the title line (% NAME SECTION ...)")
    fields = title[2:].split('"')
    name_sec = fields[0].strip()
    manual = fields[5] if len(fields) > 5 else ""
    lines = [f'% {name_sec} "" "feitp {version}" "{manual}"']
    for line in src[1:]:
        m = re.fullmatch(r"\s*<!--\s*include:\s*(.+?)\s*-->\s*", line)
        lines += include(m.group(1)) if m else [line]
    with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False) as f:
        f.write("\n".join(lines) + "\n")
        md = f.name
    try:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        roff = subprocess.run([tool, "-in", md], check=True, capture_output=True).stdout
    finally:
        Path(md).unlink()
    if out.endswith(".gz"):  # as Debian installs man pages; mtime 0: the same bytes every build
        with open(out, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                   compresslevel=9, mtime=0) as z:
            z.write(roff)
    else:
        Path(out).write_bytes(roff)


main()
