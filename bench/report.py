#!/usr/bin/python3
"""Turns a bench/compare.sh results folder into docs/performance.md and docs/perf/*.png.

usage: report.py --results DIR --out FILE.md [--charts DIR]

DIR holds results.tsv (one line per measurement), meta.txt and commands.txt, as written by
compare.sh. Charts go to DIR_OF_OUT/perf/ unless --charts says otherwise; gnuplot draws them.

A run with FTPS scenarios (-tls) writes only the "## FTPS" section of FILE.md (replacing the one
there, or appended at the end), with the run's plain scenarios as the baseline; a run without
them rewrites the page and keeps the FTPS section that was there.
"""
import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys

SCENARIO_TEXT = {
    "seed": ("seed: each client loops connect, login, TYPE I, EPSV, STOR 1-4 KiB, QUIT", "uploads/s", "ms CPU per upload"),
    "session": ("session: clients log in once, then loop EPSV + STOR 1-4 KiB", "uploads/s", "ms CPU per upload"),
    "login": ("login: each client loops connect, USER, PASS, QUIT", "logins/s", "ms CPU per login"),
    "list": ("list: clients logged in once loop EPSV + LIST of a 10,000-entry directory", "listings/s", "ms CPU per listing"),
    "retr": ("retr: clients loop RETR of a big file", "MiB/s", "ms CPU per MiB"),
    "stor": ("stor: clients loop STOR of a big stream", "MiB/s", "ms CPU per MiB"),
    "idle": ("idle: logged-in sessions held, server memory (Pss) per session", "KiB per session", ""),
    "seed-tls": ("seed-tls: seed over FTPS, a full TLS handshake per connection: connect, AUTH TLS, login, "
                 "PBSZ 0, PROT P, TYPE I, EPSV, STOR 1-4 KiB over TLS (resuming the control session), QUIT",
                 "uploads/s", "ms CPU per upload"),
    "seed-tls-resume": ("seed-tls-resume: seed over FTPS where each reconnect resumes the previous connection's "
                        "TLS session", "uploads/s", "ms CPU per upload"),
    "session-tls": ("session-tls: logged in once over TLS with PROT P, then loop EPSV + STOR 1-4 KiB, one data "
                    "handshake (resuming the control session) per upload", "uploads/s", "ms CPU per upload"),
    "retr-tls": ("retr-tls: clients logged in over TLS loop RETR of a big file under PROT P", "MiB/s", "ms CPU per MiB"),
    "stor-tls": ("stor-tls: clients logged in over TLS loop STOR of a big stream under PROT P", "MiB/s", "ms CPU per MiB"),
}
SERVER_TEXT = {
    "limit": "limit responder",
    "feitpd-1": "feitpd, 1 worker",
    "feitpd-2": "feitpd, 2 workers",
    "feitpd-base": "feitpd baseline build, 1 worker",
    "feitpd-limits": "feitpd, 1 worker, quota and rates set (not reached)",
    "vsftpd": "vsftpd",
    "proftpd": "ProFTPD",
    "pureftpd": "Pure-FTPd",
    "pyftpdlib": "pyftpdlib",
    "pyftpdlib-2": "pyftpdlib, 2 processes",
    "pyftpdlib-cb": "pyftpdlib + Python on_file_received",
    "feitp-py": "feitp.pyftpdlib + Python on_file_received, 1 worker",
    "feitp-py-2": "feitp.pyftpdlib + Python on_file_received, 2 workers",
    "feitp-py-nocb": "feitp.pyftpdlib + on_file_received doing nothing, 1 worker",
}
THROUGHPUT = {"retr", "stor", "retr-tls", "stor-tls"}
FTPS_HEADING = "## FTPS"


def is_tls(scenario):
    return "-tls" in scenario


def split_section(text, heading=FTPS_HEADING):
    """(text without the section, the section or ""): from the heading line to the next "## "."""
    lines = text.split("\n")
    start = next((i for i, l in enumerate(lines) if l.rstrip() == heading), None)
    if start is None:
        return text, ""
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    rest = lines[:start] + lines[end:]
    return "\n".join(rest).rstrip() + "\n", "\n".join(lines[start:end]).rstrip() + "\n"


def hand_written_sections(text, generated):
    """The old page's "## " sections that this script does not write, in their order: the FTPS
    section of an earlier TLS run and the hand-written ones (a before/after note, the Python
    layer, account stores...). A run without them keeps them instead of dropping them."""
    def ours(heading):  # written by this script, in this run or in another with other scenarios
        name = heading[3:].split(":", 1)[0]
        return heading in generated or (name in SCENARIO_TEXT and ":" in heading)

    out, current = [], None
    for line in text.split("\n"):
        if line.startswith("## "):
            current = [] if not ours(line.rstrip()) else None
            if current is not None:
                out.append(current)
        if current is not None:
            current.append(line)
    return ["\n".join(c).rstrip() + "\n" for c in out]


def load(results):
    rows = []
    with open(os.path.join(results, "results.tsv")) as f:
        for r in csv.DictReader(f, delimiter="\t"):
            rows.append(r)
    meta = {}
    with open(os.path.join(results, "meta.txt")) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v
    cmds = ""
    p = os.path.join(results, "commands.txt")
    if os.path.exists(p):
        cmds = open(p).read()
    return rows, meta, cmds


def primary(r, scenario):
    if scenario == "idle":
        return float(r["kib_per_session"])
    if scenario in THROUGHPUT:
        return float(r["mib_per_s"])
    return float(r["rate"])


def cpu_per_unit(r, scenario):
    cpu_ms = float(r["server_cpu_us"]) / 1000.0
    if scenario in THROUGHPUT:
        mib = float(r["all_bytes"]) / 1048576.0
        return cpu_ms / mib if mib > 0 else None
    n = float(r["all_transactions"])
    if scenario.startswith("seed-tls") and int(r.get("tls_data_handshakes") or 0) > 0:
        # Every upload counted had its data handshake. (feitp-bench before 16c51d5 also counted,
        # as seed transactions, the clients the end of the run sent from login to QUIT.)
        n = min(n, float(r["tls_data_handshakes"]))
    return cpu_ms / n if n > 0 else None


def stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return statistics.median(values), min(values), max(values), len(values)


def fmt_num(v):
    if v is None:
        return "-"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def fmt_stat(s):
    if s is None:
        return "-"
    med, lo, hi, n = s
    if n == 1:
        return fmt_num(med)
    return f"{fmt_num(med)} ({fmt_num(lo)}-{fmt_num(hi)})"


def collect(rows):
    """(scenario, server, pin) -> dict of stats and failures."""
    out = {}
    for r in rows:
        key = (r["scenario"], r["server"], r["pin"])
        d = out.setdefault(key, {"prim": [], "cpu": [], "fail": 0, "bad": 0, "runs": 0, "kinds": {}, "procs": 0,
                                 "tls": [0, 0, 0, 0, 0], "tls_version": ""})
        d["runs"] += 1
        if r["rc"] == "nostart" or r["failure_kinds"].startswith("no result"):
            d["bad"] += 1
            continue
        d["fail"] += int(r["failures"])
        if r["failure_kinds"] != "-":
            for kv in r["failure_kinds"].split(","):
                k, _, v = kv.partition("=")
                d["kinds"][k] = d["kinds"].get(k, 0) + int(v or 0)
        d["prim"].append(primary(r, r["scenario"]))
        d["cpu"].append(cpu_per_unit(r, r["scenario"]))
        d["procs"] = max(d["procs"], int(r["processes"]))
        if r.get("tls_version") not in (None, "", "-"):
            d["tls_version"] = r["tls_version"]
            for i, k in enumerate(["tls_ctrl_handshakes", "tls_ctrl_resume_wanted", "tls_ctrl_resumed",
                                   "tls_data_handshakes", "tls_data_resumed"]):
                d["tls"][i] += int(r.get(k) or 0)
    for d in out.values():
        d["prim_s"] = stats(d["prim"])
        d["cpu_s"] = stats(d["cpu"])
    return out


def kinds_text(kinds):
    return ", ".join(f"{k} {v}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]))


def ordered(servers):
    order = list(SERVER_TEXT)
    return sorted(servers, key=lambda s: order.index(s) if s in order else 99)


def chart(scenario, servers, data, chart_dir):
    """One PNG per scenario: the main figure unpinned, and CPU per unit pinned."""
    if not shutil.which("gnuplot"):
        return None
    _, unit, cpu_unit = SCENARIO_TEXT[scenario]
    dat = os.path.join(chart_dir, f"{scenario}.dat")
    lines = []
    have_cpu = False
    for s in servers:
        u = data.get((scenario, s, "unpinned"), {}).get("prim_s")
        p = data.get((scenario, s, "pinned"), {}).get("cpu_s")
        label = SERVER_TEXT.get(s, s).replace(" ", "\\n", 1).replace(",", "")
        row = [f'"{label}"']
        row += [f"{x:.6g}" for x in u[:3]] if u else ["?"] * 3
        row += [f"{x:.6g}" if x > 0 else "?" for x in p[:3]] if p else ["?"] * 3
        have_cpu = have_cpu or bool(p and p[0] > 0)
        lines.append(" ".join(row))
    with open(dat, "w") as f:
        f.write("\n".join(lines) + "\n")
    png = os.path.join(chart_dir, f"{scenario}.png")
    panels = 2 if cpu_unit and have_cpu else 1
    script = f"""
set terminal pngcairo size {560 * panels},420 font "sans,9"
set datafile missing "?"
set output "{png}"
set style fill solid 0.6 border -1
set boxwidth 0.7
set grid ytics
set yrange [0:*]
set xtics scale 0 font "sans,8"
set key off
set bmargin 4
set multiplot layout 1,{panels} title "{scenario} (medians, bars: min-max)"
set title "{unit}{'' if scenario == 'idle' else ', unpinned'}"
plot "{dat}" using 0:2:xtic(1) with boxes lc rgb "#4477aa", "" using 0:2:3:4 with yerrorbars lc rgb "black" pt 0
"""
    if panels == 2:
        script += f"""
set title "server {cpu_unit}, pinned (lower is better; log scale)"
set logscale y
set yrange [*:*]
plot "{dat}" using 0:5:xtic(1) with boxes lc rgb "#cc6677", "" using 0:5:6:7 with yerrorbars lc rgb "black" pt 0
"""
    script += "unset multiplot\n"
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if r.returncode != 0:
        sys.stderr.write(f"gnuplot failed for {scenario}: {r.stderr}\n")
        return None
    return png


def ftps_section(rows, meta, cmds, data, out_dir, chart_dir):
    """The "## FTPS" section: the -tls scenarios and the run's plain ones as their baseline."""
    scenarios = [s for s in SCENARIO_TEXT if any(k[0] == s for k in data)]
    servers = ordered({k[1] for k in data if is_tls(k[0])} | {"feitpd-1"} & {k[1] for k in data})
    md = [FTPS_HEADING + "\n"]
    md.append("Written by `bench/compare.sh` with FTPS scenarios (the next such run replaces this section; a run "
              "without them rewrites the page above and keeps it). Explicit FTPS (RFC 4217): AUTH TLS, login, "
              "PBSZ 0, PROT P, every data connection over TLS. feitp-bench resumes the control connection's TLS "
              "session on every data connection, as FileZilla and curl do, and counts every handshake and whether "
              "the server resumed it: a resumed scenario in which the server resumed nothing fails "
              "(`tls_not_resumed`). Every TLS server of the run has the same certificate. Same method as above: "
              "each measurement starts the server afresh in its own cgroup, CPU per upload divides the server's "
              "CPU time by every upload of the run; *pinned* (server on CPU 0, generator on CPU 1) is the robust "
              "figure; cells are medians of the runs with min-max in parentheses.\n")
    for k, label in [("date", "date"), ("cores", "cores"), ("commit", "feitp commit"),
                     ("runs", "runs per measurement"), ("duration", "seconds measured per run"),
                     ("clients", "clients"), ("tls_version", "TLS version offered by the generator"),
                     ("tls_certificate", "certificate"), ("openssl", "OpenSSL"), ("vsftpd", "vsftpd"),
                     ("proftpd", "ProFTPD"), ("proftpd_mod_crypto", "ProFTPD mod_tls (proftpd-mod-crypto)"),
                     ("pureftpd", "Pure-FTPd"), ("pyftpdlib", "pyftpdlib")]:
        if meta.get(k):
            md.append(f"- {label}: {meta[k]}")
    loads = [float(r["load1"]) for r in rows if r.get("load1") not in (None, "", "-")]
    if loads:
        md.append(f"- 1-minute load average when each measurement started: {min(loads):.1f} to {max(loads):.1f} "
                  f"(median {statistics.median(loads):.1f}; above 2 means other work shared this 2-core machine: "
                  f"rates suffer, CPU per upload much less)")
    md.append(f"- command: `{meta.get('command', 'bench/compare.sh').strip()}`")
    for k in ("note", "tls_note", "feitpd_note"):
        if meta.get(k):
            md.append(f"- note: {meta[k]}")
    md.append("")
    md.append("Configuration, as an operator who turns TLS on would: vsftpd `ssl_enable=YES` with its defaults "
              "for the rest (TLS required for logins and data, `require_ssl_reuse=YES`: a data connection must "
              "resume the control session); ProFTPD `mod_tls` loaded from proftpd-mod-crypto, `TLSRequired on`, "
              "`TLSProtocol TLSv1.2 TLSv1.3`, `TLSSessionTickets on`, data-session reuse required (its default); "
              "Pure-FTPd `-Y 2` (TLS required for the control connection) with the certificate and key in one "
              "file; pyftpdlib `TLS_FTPHandler` (TLS optional); feitpd `--tls-cert`/`--tls-key` and its defaults.\n")

    def cell(sc, s, pin, what):
        d = data.get((sc, s, pin), {})
        v = d.get(what)
        return v[0] if v else None

    md.append("### Summary\n")
    md.append("| scenario | " + " | ".join(SERVER_TEXT.get(s, s) for s in servers) + " |")
    md.append("|---|" + "---|" * len(servers))
    for sc in scenarios:
        _, unit, cpu_unit = SCENARIO_TEXT[sc]
        if sc == "idle":
            continue
        md.append(f"| {sc}: {cpu_unit}, pinned | " + " | ".join(fmt_num(cell(sc, s, "pinned", "cpu_s")) for s in servers) + " |")
        md.append(f"| {sc}: {unit}, unpinned | " + " | ".join(fmt_num(cell(sc, s, "unpinned", "prim_s")) for s in servers) + " |")
    md.append("")

    md.append("### Resumption, as the generator counted it (all runs, pinned and unpinned)\n")
    md.append("| scenario | server | TLS | control handshakes | reconnects resumed | data handshakes | data resumed |")
    md.append("|---|---|---|---|---|---|---|")
    for sc in scenarios:
        if not is_tls(sc):
            continue
        for s in servers:
            t = [0] * 5
            ver = ""
            for pin in ("unpinned", "pinned"):
                d = data.get((sc, s, pin))
                if d:
                    t = [x + y for x, y in zip(t, d["tls"])]
                    ver = ver or d["tls_version"]
            if not any(t):
                continue
            rec = f"{t[2]} of {t[1]}" if t[1] else "-"
            md.append(f"| {sc} | {SERVER_TEXT.get(s, s)} | {ver} | {t[0]} | {rec} | {t[3]} | {t[4]} of {t[3]} |")
    md.append("")

    for sc in scenarios:
        if sc == "idle":
            continue
        title, unit, cpu_unit = SCENARIO_TEXT[sc]
        md.append(f"### {title}\n")
        png = chart(sc, servers, data, chart_dir) if is_tls(sc) else None
        extra = " TLS − plain (ms per upload, pinned) |" if sc == "seed-tls" and "seed" in scenarios else ""
        md.append(f"| server | {unit}, unpinned | {unit}, pinned | {cpu_unit}, pinned | {cpu_unit}, unpinned | "
                  f"failures | peer ÷ feitpd (CPU, pinned) |{extra}")
        md.append("|---|---|---|---|---|---|---|" + ("---|" if extra else ""))
        ref = cell(sc, "feitpd-1", "pinned", "cpu_s")
        for s in servers:
            du = data.get((sc, s, "unpinned"), {})
            dp = data.get((sc, s, "pinned"), {})
            if not du and not dp:
                continue
            ratio = "-"
            c = cell(sc, s, "pinned", "cpu_s")
            if ref and c and not s.startswith("feitpd"):
                ratio = f"{c / ref:.2f}x"
            kinds = dict(du.get("kinds", {}))
            for k, v in dp.get("kinds", {}).items():
                kinds[k] = kinds.get(k, 0) + v
            bad = du.get("bad", 0) + dp.get("bad", 0)
            ftxt = str(du.get("fail", 0) + dp.get("fail", 0)) + (" (" + kinds_text(kinds) + ")" if kinds else "") + \
                (f"; {bad} run(s) without result" if bad else "")
            row = (f"| {SERVER_TEXT.get(s, s)} | {fmt_stat(du.get('prim_s'))} | {fmt_stat(dp.get('prim_s'))} | "
                   f"{fmt_stat(dp.get('cpu_s'))} | {fmt_stat(du.get('cpu_s'))} | {ftxt} | {ratio} |")
            if extra:
                plain = cell("seed", s, "pinned", "cpu_s")
                row += f" {fmt_num(c - plain) if c is not None and plain is not None else '-'} |"
            md.append(row)
        md.append("")
        if png:
            md.append(f"![{sc}]({os.path.relpath(png, out_dir)})\n")

    f = "feitpd-1"
    if any(k[1] == f and is_tls(k[0]) for k in data):
        # Each round measures every server back to back; a noisy machine slows whole rounds, so
        # the same-round comparison is the steadier one, and "met" is judged on its median.
        by_round = {}
        for r in rows:
            if r["pin"] == "pinned" and r["rc"] != "nostart" and not r["failure_kinds"].startswith("no result"):
                by_round[(r["scenario"], r["server"], r["round"])] = cpu_per_unit(r, r["scenario"])

        def paired(a, b, op):
            """op(a's value, b's value) for every round that measured both; the list, in round order."""
            rounds = sorted({k[2] for k in by_round}, key=lambda x: int(x) if str(x).isdigit() else x)
            out = []
            for rd in rounds:
                va, vb = by_round.get((a[0], a[1], rd)), by_round.get((b[0], b[1], rd))
                if va is not None and vb is not None and vb != 0:
                    out.append(op(va, vb))
            return out

        def rounds_text(vals, fmt):
            return " · ".join(fmt(v) for v in vals) if vals else "-"

        md.append("### Targets\n")
        md.append("Pinned server CPU. *Medians*: each server's median over the runs; *same round*: "
                  "the value within each round (servers measured back to back), and its median, "
                  "on which *met* is judged.\n")
        md.append("| target | medians | same round | met |")
        md.append("|---|---|---|---|")
        for sc in scenarios:
            if not is_tls(sc):
                continue
            mine = cell(sc, f, "pinned", "cpu_s")
            peers = [(cell(sc, s, "pinned", "cpu_s"), s) for s in servers if not s.startswith("feitpd")]
            peers = [p for p in peers if p[0]]
            if mine is None or not peers:
                continue
            best, who = min(peers)
            pr = paired((sc, f), (sc, who), lambda a, b: a / b)
            m = statistics.median(pr) if pr else mine / best
            md.append(f"| {sc}: feitpd at most half the best TLS peer | feitpd {fmt_num(mine)}, best peer "
                      f"{SERVER_TEXT.get(who, who)} {fmt_num(best)} ({mine / best:.2f}x) | "
                      f"{rounds_text(pr, lambda v: f'{v:.2f}x')} (median {m:.2f}x) | {'yes' if m <= 0.5 else 'no'} |")
        full, res = cell("seed-tls", f, "pinned", "cpu_s"), cell("seed-tls-resume", f, "pinned", "cpu_s")
        if full and res:
            pr = paired(("seed-tls", f), ("seed-tls-resume", f), lambda a, b: a / b)
            m = statistics.median(pr) if pr else full / res
            md.append(f"| resumed reconnect at least 1.5x cheaper than a full handshake | {fmt_num(full)} ÷ "
                      f"{fmt_num(res)} = {full / res:.2f}x | {rounds_text(pr, lambda v: f'{v:.2f}x')} "
                      f"(median {m:.2f}x) | {'yes' if m >= 1.5 else 'no'} |")
        plain = cell("seed", f, "pinned", "cpu_s")
        if full and plain:
            pr = paired(("seed-tls", f), ("seed", f), lambda a, b: a - b)
            m = statistics.median(pr) if pr else full - plain
            md.append(f"| full-handshake FTPS upload at most 0.5 ms more than plain | {fmt_num(full)} − "
                      f"{fmt_num(plain)} = {full - plain:.3f} ms | {rounds_text(pr, lambda v: f'{v:.3f}')} "
                      f"(median {m:.3f} ms) | {'yes' if m <= 0.5 else 'no'} |")
        md.append("")

    md.append("### Exact commands\n")
    md.append("The first run's command lines (`$WORK`: the run's upload folders; `taskset -c 0` / `-c 1` when "
              "pinned; the certificate and key are in the run's results folder):\n")
    md.append("```")
    md.append(cmds.rstrip())
    md.append("```\n")
    return "\n".join(md)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--charts", default="")
    a = ap.parse_args()
    rows, meta, cmds = load(a.results)
    data = collect(rows)
    out_dir = os.path.dirname(os.path.abspath(a.out))
    chart_dir = a.charts or os.path.join(out_dir, "perf")
    os.makedirs(chart_dir, exist_ok=True)
    old = open(a.out).read() if os.path.exists(a.out) else ""
    if any(is_tls(r["scenario"]) for r in rows):
        section = ftps_section(rows, meta, cmds, data, out_dir, chart_dir)
        page, _ = split_section(old)
        with open(a.out, "w") as f:
            f.write((page.rstrip() + "\n\n" if page.strip() else "") + section)
        return 0

    scenarios = [s for s in SCENARIO_TEXT if any(k[0] == s for k in data)]
    servers = ordered({k[1] for k in data})
    feitp_rate = "feitpd-2" if "feitpd-2" in servers else "feitpd-1"
    feitp_cpu = "feitpd-1"
    peers = [s for s in servers if not s.startswith("feitpd")]

    md = []
    md.append("# Performance\n")
    md.append("Written by `bench/compare.sh` (do not edit by hand: run it again). Every figure below comes from "
              "one invocation on one machine: the servers were measured interleaved, in the same run, with the same "
              "load generator (`feitp-bench`), the same user with the same SHA-512-crypt hash (pyftpdlib: plaintext "
              "comparison, its own authorizer) and the same passive port range; the peers log nothing, while feitpd runs "
              "with its defaults (the quick start's settings: info-level log, every limit and timeout as shipped). "
              "Ratios between servers "
              "are what carry over to other machines; absolute figures do not.\n")
    md.append("## Machine and run\n")
    for k, label in [("date", "date"), ("cpu", "CPU"), ("cores", "cores"), ("memory", "memory"), ("kernel", "kernel"),
                     ("os", "system"), ("compiler", "compiler"), ("commit", "feitp commit"), ("runs", "runs per measurement"),
                     ("duration", "seconds measured per run"), ("clients", "clients"), ("cpu_source", "server CPU time from"),
                     ("local_port_range", "client ephemeral ports"), ("earlier_uploads", "upload folders of earlier runs on the disk"), ("reserved_ports", "passive range (reserved during the run)"),
                     ("vsftpd", "vsftpd"), ("proftpd", "ProFTPD"), ("pureftpd", "Pure-FTPd"), ("pyftpdlib", "pyftpdlib"),
                     ("python", "Python")]:
        if meta.get(k):
            md.append(f"- {label}: {meta[k]}")
    loads = [float(r["load1"]) for r in rows if r.get("load1") not in (None, "", "-")]
    if loads:
        md.append(f"- 1-minute load average when each measurement started: {min(loads):.1f} to {max(loads):.1f} "
                  f"(median {statistics.median(loads):.1f}; a 1-minute average, which stays high for a minute or two after "
                  f"the idle scenario's thousand per-session processes of the forking servers; otherwise above 2 means "
                  f"other work shared this 2-core machine)")
    md.append(f"- command: `{meta.get('command', 'bench/compare.sh').strip()}`")
    if meta.get("note"):
        md.append(f"- note: {meta['note']}")
    if meta.get("feitpd_note"):
        md.append(f"- note: {meta['feitpd_note']}")
    f2 = [int(r["processes"]) for r in rows if r["server"] == "feitpd-2" and r["rc"] != "nostart"]
    if f2 and max(f2) < 2:
        md.append("- note: `feitpd --workers 2` ran as a single process in this build (the multi-process runtime "
                  "was not in it yet), so its figures are one worker's.")
    md.append("")
    md.append("How to read it: *unpinned* lets the server and the generator share both cores (the rate a client sees); "
              "*pinned* puts the server on CPU 0 and the generator on CPU 1 and is the robust comparison: the server's "
              "CPU time per unit of work, summed over all its processes (workers, per-session children). Each cell is "
              "the median of the runs, with min-max in parentheses. A transaction counts only when every reply code "
              "was right; uploads were checked on disk for their exact byte count (`--verify-dir`). The limit "
              "responder does the socket work of a transaction with canned replies and no FTP logic: it is the "
              "ceiling for any server measured this way.\n")

    # Summary: the headline figure of each scenario, one column per server.
    md.append("## Summary\n")
    md.append("| scenario | " + " | ".join(SERVER_TEXT.get(s, s) for s in servers) + " |")
    md.append("|---|" + "---|" * len(servers))
    for sc in scenarios:
        _, unit, cpu_unit = SCENARIO_TEXT[sc]
        pin_main = "unpinned"
        cells = [fmt_num(data.get((sc, s, pin_main), {}).get("prim_s", (None,))[0]
                         if data.get((sc, s, pin_main), {}).get("prim_s") else None) for s in servers]
        md.append(f"| {sc}: {unit}{'' if sc == 'idle' else ', unpinned'} | " + " | ".join(cells) + " |")
        if cpu_unit:
            cells = [fmt_num(data.get((sc, s, "pinned"), {}).get("cpu_s", (None,))[0]
                             if data.get((sc, s, "pinned"), {}).get("cpu_s") else None) for s in servers]
            if any(c != "-" for c in cells):
                md.append(f"| {sc}: {cpu_unit}, pinned | " + " | ".join(cells) + " |")
    md.append("")

    for sc in scenarios:
        title, unit, cpu_unit = SCENARIO_TEXT[sc]
        md.append(f"## {title}\n")
        png = chart(sc, servers, data, chart_dir)
        if sc == "idle":
            md.append(f"| server | {unit} | server processes | failures | peer ÷ feitpd |")
            md.append("|---|---|---|---|---|")
            ref = data.get(("idle", feitp_cpu, "unpinned"), {}).get("prim_s")
            for s in servers:
                d = data.get(("idle", s, "unpinned"))
                if not d:
                    continue
                ratio = "-"
                if ref and d["prim_s"] and ref[0] > 0 and not s.startswith("feitpd"):
                    ratio = f"{d['prim_s'][0] / ref[0]:.1f}x"
                fails = str(d["fail"]) + (" (" + kinds_text(d["kinds"]) + ")" if d["kinds"] else "")
                md.append(f"| {SERVER_TEXT.get(s, s)} | {fmt_stat(d['prim_s'])} | {d['procs']} | {fails} | {ratio} |")
        else:
            md.append(f"| server | {unit}, unpinned | {unit}, pinned | {cpu_unit}, pinned | {cpu_unit}, unpinned | "
                      f"failures | feitpd ÷ peer ({unit}, unpinned) | peer ÷ feitpd (CPU, pinned) |")
            md.append("|---|---|---|---|---|---|---|---|")
            ref_rate = data.get((sc, feitp_rate, "unpinned"), {}).get("prim_s")
            ref_cpu = data.get((sc, feitp_cpu, "pinned"), {}).get("cpu_s")
            for s in servers:
                du = data.get((sc, s, "unpinned"), {})
                dp = data.get((sc, s, "pinned"), {})
                if not du and not dp:
                    continue
                r1 = r2 = "-"
                if not s.startswith("feitpd"):
                    if ref_rate and du.get("prim_s") and du["prim_s"][0] > 0:
                        r1 = f"{ref_rate[0] / du['prim_s'][0]:.2f}x"
                    if ref_cpu and dp.get("cpu_s") and ref_cpu[0] > 0:
                        r2 = f"{dp['cpu_s'][0] / ref_cpu[0]:.2f}x"
                fails = du.get("fail", 0) + dp.get("fail", 0)
                bad = du.get("bad", 0) + dp.get("bad", 0)
                kinds = dict(du.get("kinds", {}))
                for k, v in dp.get("kinds", {}).items():
                    kinds[k] = kinds.get(k, 0) + v
                ftxt = str(fails) + (" (" + kinds_text(kinds) + ")" if kinds else "") + (f"; {bad} run(s) without result" if bad else "")
                md.append(f"| {SERVER_TEXT.get(s, s)} | {fmt_stat(du.get('prim_s'))} | {fmt_stat(dp.get('prim_s'))} | "
                          f"{fmt_stat(dp.get('cpu_s'))} | {fmt_stat(du.get('cpu_s'))} | {ftxt} | {r1} | {r2} |")
        md.append("")
        if png:
            rel = os.path.relpath(png, out_dir)
            md.append(f"![{sc}]({rel})\n")

    md.append("## Exact commands\n")
    md.append("The server and generator command lines of the first run of each measurement (`$WORK` is the run's "
              "folder of fresh upload directories under the cache; `taskset -c 0` / `taskset -c 1` when pinned):\n")
    md.append("```")
    md.append(cmds.rstrip())
    md.append("```\n")
    md.append("## Method notes\n")
    md.append("- Each measurement starts the server afresh (own cgroup, own fresh upload folder, owned by the bench user), "
              "runs `feitp-bench` for the stated seconds, reads the server's CPU time before and after, and stops it "
              "(SIGTERM, then the whole cgroup). CPU per unit divides the server CPU over the whole generator run by "
              "every transaction (or MiB) completed in it, warm-up and end included.\n"
              "- The passive range is reserved with `net.ipv4.ip_local_reserved_ports` during the run (and restored "
              "after), so the generator's ephemeral ports never take a server's passive port; it also lies above "
              "the ephemeral range.\n"
              "- Upload folders are never deleted right before a measurement: on this machine's ext4 without journal, "
              "creating files right after deleting many is slow for minutes (and deleting a run's hundreds of thousands "
              "of small files takes minutes too). They are kept; `bench/compare.sh --clean` deletes them when no "
              "benchmark is about to run.\n"
              "- vsftpd, ProFTPD and Pure-FTPd run with their defaults apart from the settings listed above (vsftpd "
              "keeps its per-session process isolation); they check the password through the system's crypt(3) "
              "(vsftpd via PAM), each login paying one SHA-512-crypt verification.\n"
              "- feitp-bench's own CPU use is in `results.tsv` (bench_cpu_pct) for every run; the generator is one "
              "epoll loop with no per-transaction allocation.\n")
    # The profiling record (hand-written, kept with the charts) follows the generated tables.
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profiling-notes.md")
    if os.path.exists(notes):
        with open(notes) as f:
            md.append(f.read().rstrip() + "\n")
    generated = {l.rstrip() for part in md for l in part.split("\n") if l.startswith("## ")}
    md.extend(hand_written_sections(old, generated))
    with open(a.out, "w") as f:
        f.write("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
