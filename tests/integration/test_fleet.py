"""A fleet behind one address (carrier NAT): feitpd started with the README's quick-start flags
(--listen, --root, --user, --write, --passive-ports; no config, no --max-per-ip) must serve
many simultaneous clients from one address. The old defaults (max_per_ip = 32) answered them
421; these tests pin the new defaults (max_per_ip = 0, max_connections = 20000).
"""
from __future__ import annotations

import ftplib
import hashlib
import io
from concurrent.futures import ThreadPoolExecutor

from feitp_harness import sha256_file
from test_bench_smoke import run_bench

SESSIONS = 200
QUICKSTART_PASSIVE_PORTS = 10000  # the README's --passive-ports 20000-29999


def _login(server) -> ftplib.FTP:
    return server.connect(timeout=30)


def test_200_simultaneous_sessions_from_one_address(start_server):
    """200 logged-in sessions at once from 127.0.0.1, each uploads and downloads its own file."""
    # As many passive ports as the README's quick-start range (20000-29999), and all 200
    # sessions transfer at once: with kept passive listeners each busy session holds a port.
    srv = start_server(pasv_ports=QUICKSTART_PASSIVE_PORTS)
    with ThreadPoolExecutor(max_workers=50) as pool:
        sessions = list(pool.map(lambda _: _login(srv), range(SESSIONS)))
    try:
        assert len(sessions) == SESSIONS
        # All 200 are logged in at the same time: each answers a command now.
        for ftp in sessions:
            assert ftp.voidcmd("NOOP").startswith("200")

        def transfer(i: int) -> str:
            ftp = sessions[i]
            data = hashlib.sha256(str(i).encode()).digest() * (64 + i)
            ftp.storbinary(f"STOR fleet-{i}.bin", io.BytesIO(data))
            back = io.BytesIO()
            ftp.retrbinary(f"RETR fleet-{i}.bin", back.write)
            assert back.getvalue() == data, f"session {i}: download differs"
            return hashlib.sha256(data).hexdigest()

        with ThreadPoolExecutor(max_workers=SESSIONS) as pool:
            digests = list(pool.map(transfer, range(SESSIONS)))
    finally:
        for ftp in sessions:
            try:
                ftp.quit()
            except (OSError, ftplib.Error):
                ftp.close()
    for i, digest in enumerate(digests):
        assert sha256_file(srv.root / f"fleet-{i}.bin") == digest, f"fleet-{i}.bin differs on disk"
    assert srv.alive()


def test_seed_workload_fifty_reconnecting_clients(start_server):
    """The seed workload: 50 clients from one address, a new connection per 1-4 KiB upload, 10 s."""
    srv = start_server(pasv_ports=QUICKSTART_PASSIVE_PORTS)
    r = run_bench(srv.port, "seed", "--clients", "50", "--verify-dir", str(srv.root),
                  user=srv.user, password=srv.password, duration=10.0)
    # run_bench asserts zero failures; every reported upload is on disk with its exact size.
    assert r["uploads_checked"] >= r["transactions"] > 0, r
    assert srv.alive()


def test_200_logged_in_clients_uploading_without_pause(start_server):
    """200 logged-in clients from one address loop EPSV + STOR for 5 s with the quick start's
    passive range: every one needs a passive port at once (with 101 ports, as the README once
    had, clients got 425 "no port available")."""
    srv = start_server(pasv_ports=QUICKSTART_PASSIVE_PORTS)
    r = run_bench(srv.port, "session", "--clients", str(SESSIONS), "--verify-dir", str(srv.root),
                  user=srv.user, password=srv.password, duration=5.0)
    assert r["uploads_checked"] >= r["transactions"] > 0, r
    assert srv.alive()


def test_200_clients_on_a_200_port_range_that_clients_share(start_server):
    """The outside check's run: the quick-start flags with a passive range of 200 ports inside
    the kernel's ephemeral range, the seed workload (50 reconnecting clients) and then 200
    logged-in clients uploading and downloading without pause. The seed's client sockets sit in
    TIME_WAIT on many ports of the range for a minute, so there are fewer free ports than
    sessions: listeners must pass from session to session and PASV/EPSV must wait for a port
    rather than answer 425 (it did: 108-236 failures in 2 s)."""
    srv = start_server(pasv_ports=200, pasv_ephemeral=True)
    run_bench(srv.port, "seed", "--clients", "50", "--verify-dir", str(srv.root),
              user=srv.user, password=srv.password, duration=3.0)
    r = run_bench(srv.port, "session", "--clients", str(SESSIONS), "--verify-dir", str(srv.root),
                  user=srv.user, password=srv.password, duration=4.0)
    assert r["uploads_checked"] >= r["transactions"] > 0, r
    assert srv.alive()
