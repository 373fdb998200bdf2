"""Smoke test of feitp-bench against the real feitpd (and against the limit responder).

A few seconds of each scenario on loopback; asserts that every transaction succeeded, that
there were some, and that every upload the generator reported is on disk with its exact size.
No timing assertions: performance is shown by bench/compare.sh, not by tests.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from feitp_harness import REPO, feitpd_binary, free_port


def tool(name: str) -> Path:
    """feitp-bench / feitp-limit-responder: $FEITP_BENCH_DIR, else beside feitpd, else build/bin."""
    candidates = []
    if os.environ.get("FEITP_BENCH_DIR"):
        candidates.append(Path(os.environ["FEITP_BENCH_DIR"]) / name)
    candidates += [feitpd_binary().parent / name, REPO / "build" / "bin" / name]
    for c in candidates:
        if c.exists():
            return c
    pytest.fail(f"{name} not built (looked in {', '.join(str(c) for c in candidates)})")


def run_bench(port: int, scenario: str, *args: str, user: str = "u", password: str = "p",
              duration: float = 2.0) -> dict:
    argv = [str(tool("feitp-bench")), "--host", "127.0.0.1", "--port", str(port),
            "--user", user, "--password", password, "--scenario", scenario,
            "--duration", str(duration), "--timeout", "10", "--json", "--no-progress", *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    assert proc.stdout.strip(), f"no output from {' '.join(argv)}: {proc.stderr}"
    result = json.loads(proc.stdout)
    assert result["failures_total"] == 0, (
        f"{scenario}: failures {result['failures']}, e.g. {result['failure_samples']}")
    assert result["transactions"] > 0, f"{scenario}: no transaction completed: {result}"
    assert proc.returncode == 0, proc.stderr
    return result


@pytest.fixture
def bench_server(start_server):
    srv = start_server()
    listing = srv.root / "listdir"
    listing.mkdir()
    for i in range(200):
        (listing / f"file{i:04d}.bin").write_bytes(b"x" * (i % 7))
    return srv


def test_seed_uploads_all_arrive(bench_server):
    r = run_bench(bench_server.port, "seed", "--clients", "4", "--verify-dir", str(bench_server.root),
                  user=bench_server.user, password=bench_server.password)
    assert r["uploads_checked"] >= r["transactions"] > 0


def test_session_uploads_all_arrive(bench_server):
    r = run_bench(bench_server.port, "session", "--clients", "4", "--verify-dir", str(bench_server.root),
                  user=bench_server.user, password=bench_server.password)
    assert r["uploads_checked"] >= r["transactions"] > 0
    assert r["bytes"] >= 1024 * r["transactions"]


def test_session_with_pasv(bench_server):
    run_bench(bench_server.port, "session", "--clients", "2", "--mode", "pasv",
              user=bench_server.user, password=bench_server.password, duration=1.0)


def test_login(bench_server):
    run_bench(bench_server.port, "login", "--clients", "4",
              user=bench_server.user, password=bench_server.password, duration=1.0)


def test_list(bench_server):
    r = run_bench(bench_server.port, "list", "--clients", "2", "--path", "listdir",
                  user=bench_server.user, password=bench_server.password, duration=1.0)
    assert r["bytes"] > 0


def test_wrong_password_counts_as_failure(bench_server):
    argv = [str(tool("feitp-bench")), "--port", str(bench_server.port), "--user", bench_server.user,
            "--password", "not-the-password", "--scenario", "login", "--clients", "1",
            "--duration", "1", "--json", "--no-progress"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    r = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert r["transactions"] == 0
    assert r["failures"].get("reply_pass", 0) > 0


def test_refuses_non_loopback_host():
    proc = subprocess.run([str(tool("feitp-bench")), "--host", "192.0.2.1", "--port", "21",
                           "--duration", "1"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "loopback" in proc.stderr


def test_against_limit_responder():
    """The generator and the responder alone: no feitpd needed."""
    port = free_port()
    responder = subprocess.Popen([str(tool("feitp-limit-responder")), "--port", str(port),
                                  "--retr-size", str(1 << 20), "--list-lines", "100"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        import socket
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "limit responder did not start"
                time.sleep(0.05)
        for scenario, extra in [("seed", []), ("login", []), ("list", []),
                                ("retr", ["--path", "f"]), ("mixed", ["--path", "d"])]:
            run_bench(port, scenario, "--clients", "4", *extra, duration=0.5)
        r = run_bench(port, "idle", "--clients", "50", "--pid", str(responder.pid), duration=0.2)
        assert r["idle"]["sessions"] == 50
    finally:
        responder.terminate()
        try:
            responder.wait(timeout=10)
        except subprocess.TimeoutExpired:
            responder.kill()
            responder.wait(timeout=10)


# --- FTPS (--tls) ------------------------------------------------------------------------------

def test_tls_against_server_without_tls_counts_reply_auth(bench_server):
    """feitpd started without a certificate refuses AUTH TLS: every attempt is a reply_auth
    failure, nothing counts as a transaction, exit status 1."""
    argv = [str(tool("feitp-bench")), "--port", str(bench_server.port), "--user", bench_server.user,
            "--password", bench_server.password, "--scenario", "seed", "--clients", "1", "--tls",
            "--duration", "0.5", "--json", "--no-progress"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    r = json.loads(proc.stdout)
    assert proc.returncode == 1, proc.stderr
    assert r["transactions"] == 0
    assert r["failures"].get("reply_auth", 0) > 0, r
    assert r["tls"]["ctrl_handshakes"] == 0


def test_tls_options_need_tls():
    proc = subprocess.run([str(tool("feitp-bench")), "--port", "21", "--tls-reconnect", "resume"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "--tls" in proc.stderr


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory):
    """A self-signed RSA-2048 certificate made with the openssl CLI, as bench/compare.sh does."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture
def tls_server(start_server, tls_cert):
    cert, key = tls_cert
    srv = start_server(extra=["--tls-cert", str(cert), "--tls-key", str(key)])
    (srv.root / "big.bin").write_bytes(os.urandom(3 << 20))
    return srv


def test_tls_seed_full_handshakes(tls_server):
    r = run_bench(tls_server.port, "seed", "--tls", "--clients", "4", "--verify-dir", str(tls_server.root),
                  user=tls_server.user, password=tls_server.password)
    t = r["tls"]
    assert t["version"] == "TLSv1.3"
    assert r["uploads_checked"] >= r["transactions"] > 0
    # one control handshake per connection, none resumed; each upload's data connection resumed
    # the control session
    assert t["ctrl_handshakes"] >= r["all_transactions"] and t["ctrl_resumed"] == 0
    assert t["data_handshakes"] >= r["all_transactions"]
    assert t["data_resumed"] == t["data_resume_offered"] == t["data_handshakes"]


def test_tls_seed_resumed_reconnects(tls_server):
    r = run_bench(tls_server.port, "seed", "--tls", "--tls-reconnect", "resume", "--clients", "4",
                  "--verify-dir", str(tls_server.root), user=tls_server.user, password=tls_server.password)
    t = r["tls"]
    assert t["ctrl_resume_wanted"] > 0
    assert t["ctrl_resumed"] == t["ctrl_resume_wanted"], t


def test_tls12_session_retr_stor(tls_server):
    args = ("--tls", "--tls-version", "1.2")
    r = run_bench(tls_server.port, "session", *args, "--clients", "2", "--verify-dir", str(tls_server.root),
                  user=tls_server.user, password=tls_server.password, duration=1.0)
    assert r["tls"]["version"] == "TLSv1.2"
    assert r["tls"]["data_handshakes"] >= r["transactions"] > 0
    r = run_bench(tls_server.port, "retr", *args, "--clients", "2", "--path", "big.bin",
                  user=tls_server.user, password=tls_server.password, duration=1.0)
    assert r["all_bytes"] >= (3 << 20) * r["transactions"]
    assert r["tls"]["data_eof_without_close_notify"] == 0
    r = run_bench(tls_server.port, "stor", "--tls", "--clients", "2", "--size", str(2 << 20),
                  "--verify-dir", str(tls_server.root), user=tls_server.user, password=tls_server.password,
                  duration=1.0)
    assert r["uploads_checked"] > 0
