"""Prometheus /metrics (--metrics-listen, [metrics] listen): exact counter values while real
clients (ftplib, curl) upload and download, histogram counts, summation over two workers,
gauges of a running transfer, worker restarts, and bounded answers to bad HTTP."""
from __future__ import annotations

import os
import signal
import socket
import subprocess

import pytest

from feitp_harness import free_port, random_bytes, run, \
    feitpd_binary, stor_bytes, which
from monitoring import SlowUpload, http, metric, scrape, wait_for


def start_with_metrics(start_server, workers: int = 2, **kw):
    port = free_port()
    extra = ["--metrics-listen", f"127.0.0.1:{port}", "--workers", str(workers)] + kw.pop("extra", [])
    srv = start_server(extra=extra, **kw)
    srv.metrics_port = port
    return srv


def families_are_well_formed(text: str):
    """Every sample belongs to a family announced by # TYPE, and every histogram's buckets are
    cumulative and end in +Inf == _count."""
    types = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name = line.split("{")[0].split(" ")[0]
            base = name
            for suffix in ("_bucket", "_sum", "_count"):
                if name.endswith(suffix) and name[: -len(suffix)] in types:
                    base = name[: -len(suffix)]
            assert base in types, f"sample without a TYPE line: {line}"
    return types


def check_histogram(m: dict, name: str, **labels) -> float:
    buckets = sorted(
        ((dict(lbl)["le"], v) for (n, lbl), v in m.items()
         if n == f"{name}_bucket" and all((k, val) in lbl for k, val in labels.items())),
        key=lambda x: float(x[0]))
    assert buckets and buckets[-1][0] == "+Inf", buckets
    values = [v for _, v in buckets]
    assert values == sorted(values), f"{name} buckets are not cumulative: {buckets}"
    count = metric(m, f"{name}_count", **labels)
    assert values[-1] == count
    assert metric(m, f"{name}_sum", **labels) >= 0
    return count


def test_metrics_count_real_transfers_exactly_over_two_workers(start_server, tmp_path):
    srv = start_with_metrics(start_server, workers=2)
    sizes = [1000, 65536, 1, 300000, 4097]
    for i, n in enumerate(sizes):
        ftp = srv.connect()
        stor_bytes(ftp, f"/up{i}.bin", random_bytes(n, seed=i))
        ftp.quit()
    curl = which("curl")
    assert curl, "curl is needed (scripts/setup.sh installs it)"
    for i in (1, 3, 4):
        out = tmp_path / f"down{i}.bin"
        r = run([curl, "-sS", "--fail", "-o", str(out), srv.url(f"/up{i}.bin")])
        assert r.returncode == 0, r.stderr
        assert out.read_bytes() == random_bytes(sizes[i], seed=i)
    bad = srv.connect(login=False)
    with pytest.raises(Exception):
        bad.login(srv.user, "wrong-password")
    bad.close()

    # Workers publish their counters once a second: wait for the last ones, then check all.
    m = wait_for(lambda: (lambda m: m if metric(m, "feitp_downloads_total") == 3
                          and metric(m, "feitp_uploads_total") == 5
                          and metric(m, "feitp_logins_total", result="failure") == 1 else None)(
        scrape(srv.metrics_port)), what="the counters of 5 uploads and 3 downloads")
    assert metric(m, "feitp_bytes_received_total") == sum(sizes)
    assert metric(m, "feitp_bytes_sent_total") == sizes[1] + sizes[3] + sizes[4]
    assert metric(m, "feitp_logins_total", result="success") == 5 + 3
    # The harness's start-up probe, 5 ftplib and 3 curl sessions, the failed login.
    assert metric(m, "feitp_connections_total") == 1 + 5 + 3 + 1
    assert metric(m, "feitp_workers") == 2
    assert check_histogram(m, "feitp_transfer_duration_seconds", direction="upload") == 5
    assert check_histogram(m, "feitp_transfer_duration_seconds", direction="download") == 3
    assert check_histogram(m, "feitp_command_duration_seconds", verb="STOR") == 5
    assert check_histogram(m, "feitp_command_duration_seconds", verb="RETR") == 3
    assert check_histogram(m, "feitp_command_duration_seconds", verb="PASS") == 9
    assert metric(m, "feitp_worker_restarts_total") == 0
    assert metric(m, "feitp_bans_active") == 0
    status, headers, body = http(srv.metrics_port, "GET", "/metrics")
    types = families_are_well_formed(body.decode())
    for name, kind in {"feitp_connections_total": "counter", "feitp_sessions": "gauge",
                       "feitp_logins_total": "counter", "feitp_uploads_total": "counter",
                       "feitp_downloads_total": "counter", "feitp_bytes_received_total": "counter",
                       "feitp_bytes_sent_total": "counter", "feitp_transfers_active": "gauge",
                       "feitp_bans_active": "gauge", "feitp_worker_restarts_total": "counter",
                       "feitp_transfer_duration_seconds": "histogram",
                       "feitp_command_duration_seconds": "histogram"}.items():
        assert types.get(name) == kind, (name, types.get(name))


def test_metrics_gauges_follow_a_running_upload(start_server):
    srv = start_with_metrics(start_server, workers=2)
    up = SlowUpload(srv, "/slow.bin", chunk=16384, pause=0.05)
    up.start()
    assert up.started_evt.wait(10) and up.error is None, up.error
    m = wait_for(lambda: (lambda m: m if metric(m, "feitp_transfers_active") == 1 else None)(
        scrape(srv.metrics_port)), what="feitp_transfers_active 1")
    assert metric(m, "feitp_sessions") == 1
    up.stop()
    assert up.error is None, up.error
    assert up.final and up.final[0] == 226, up.final
    m = wait_for(lambda: (lambda m: m if metric(m, "feitp_transfers_active") == 0
                          and metric(m, "feitp_sessions") == 0
                          and metric(m, "feitp_uploads_total") == 1 else None)(
        scrape(srv.metrics_port)), what="the upload to end in the gauges")
    assert metric(m, "feitp_bytes_received_total") == up.sent
    assert (srv.root / "slow.bin").stat().st_size == up.sent


def test_metrics_count_a_worker_restart(start_server):
    srv = start_with_metrics(start_server, workers=2)
    ftp = srv.connect()
    stor_bytes(ftp, "/a.bin", b"a" * 1000)
    ftp.quit()
    # Workers publish their counts once a second: a worker killed before that loses its last
    # second (SIGKILL leaves no chance), so wait until it has published.
    wait_for(lambda: metric(scrape(srv.metrics_port), "feitp_uploads_total") == 1, what="uploads 1")
    children = subprocess.run(["pgrep", "-P", str(srv.proc.pid)], capture_output=True, text=True)
    pids = [int(p) for p in children.stdout.split()]
    workers = [p for p in pids if open(f"/proc/{p}/comm").read().strip() == "feitpd-worker"]
    assert len(workers) == 2, pids
    for pid in workers:  # the one that served the upload among them
        os.kill(pid, signal.SIGKILL)
    m = wait_for(lambda: (lambda m: m if metric(m, "feitp_worker_restarts_total") == 2
                          and metric(m, "feitp_workers") == 2 else None)(scrape(srv.metrics_port)),
                 what="the restart to be counted")
    # What the dead worker counted stays in the totals.
    m = wait_for(lambda: (lambda m: m if metric(m, "feitp_uploads_total") == 1 else None)(
        scrape(srv.metrics_port)), what="uploads_total 1 after the restart")
    assert metric(m, "feitp_bytes_received_total") == 1000


def test_metrics_in_a_single_process_and_from_the_config_file(start_server):
    port = free_port()
    srv = start_server(extra=["--workers", "1"],
                       config_text=f"[metrics]\nlisten = \"127.0.0.1:{port}\"\n")
    ftp = srv.connect()
    stor_bytes(ftp, "/one.bin", b"1" * 12345)
    ftp.quit()
    m = wait_for(lambda: (lambda m: m if metric(m, "feitp_uploads_total") == 1 else None)(scrape(port)),
                 what="uploads_total 1")
    assert metric(m, "feitp_bytes_received_total") == 12345
    assert check_histogram(m, "feitp_transfer_duration_seconds", direction="upload") == 1


def raw_http(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
        return out


def test_metrics_answer_bad_requests_with_4xx(start_server):
    srv = start_with_metrics(start_server, workers=2)
    p = srv.metrics_port
    assert http(p, "POST", "/metrics", body=b"x")[0] == 405
    status, headers, _ = http(p, "DELETE", "/metrics")
    assert status == 405 and headers.get("allow") == "GET, HEAD"
    assert http(p, "GET", "/nothing-here")[0] == 404
    assert http(p, "GET", "/api/v1/sessions")[0] == 404  # the admin API is not on this listener
    assert raw_http(p, b"BLAH\r\n\r\n").startswith(b"HTTP/1.1 400")
    huge = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n"
    reply = raw_http(p, huge)
    assert reply == b"" or reply.split(b" ", 2)[1].startswith(b"4"), reply[:80]
    # Still serving after all that.
    assert http(p, "GET", "/metrics")[0] == 200


def test_metrics_listen_must_be_an_address(tmp_path):
    r = run([str(feitpd_binary()), "--check", "--user", "u:p", "--root", str(tmp_path),
             "--metrics-listen", "localhost:9100"])
    assert r.returncode == 1
    assert "metrics.listen" in r.stderr and "localhost:9100" in r.stderr, r.stderr


def test_metrics_port_in_use_fails_start_clearly(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = run([str(feitpd_binary()), "--listen", f"127.0.0.1:{free_port()}", "--user", "u:p",
                 "--root", str(tmp_path), "--workers", "2", "--metrics-listen", f"127.0.0.1:{port}"],
                timeout=30)
    assert r.returncode == 1
    assert f"metrics.listen 127.0.0.1:{port}: cannot listen" in r.stderr, r.stderr
