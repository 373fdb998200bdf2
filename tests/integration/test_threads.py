"""Nothing waits behind bulk work, HASH is bounded, listings are bounded (audit F6, F14, F20).

The servers here run one worker process (`workers = 1`) so that every session shares one event
loop and one set of thread pools, which is what the findings are about."""
from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from feitp_harness import Raw, read_reply, recv_all

ONE_WORKER = """
[server]
workers = 1
blocking_threads = {threads}

[limits]
login_failure_delay_ms = {delay_ms}
{limits}
"""


def config(threads: int = 2, delay_ms: int = 1000, limits: str = "") -> str:
    return ONE_WORKER.format(threads=threads, delay_ms=delay_ms, limits=limits)


def sparse(root: Path, name: str, size: int) -> Path:
    """A file of `size` bytes that takes no disk space (all one hole): cheap to make, and a
    digest of it still reads every byte."""
    p = root / name
    with open(p, "wb") as f:
        f.truncate(size)
    return p


def logged_in(server, n: int) -> list[Raw]:
    out = []
    for _ in range(n):
        r = Raw(server, timeout=30)
        r.login()
        out.append(r)
    return out


def close_all(raws: list[Raw]) -> None:
    for r in raws:
        r.close()


# --- F6: separate pools, HASH capped and cancelled --------------------------------------------

@pytest.mark.slow
def test_wrong_password_is_not_queued_behind_hash(start_server):
    """F6: four sessions hashing a 3 GiB file keep every thread of a 2-thread pool busy for many
    seconds; a wrong-password login meanwhile must still be answered after about the failure
    delay (1 s), not after the digests (the audit measured 28 s)."""
    srv = start_server(config_text=config(threads=2, delay_ms=1000))
    sparse(srv.root, "huge.bin", 3 << 30)
    hashers = logged_in(srv, 4)
    try:
        for r in hashers:
            r.send("XSHA512 /huge.bin")
        time.sleep(0.5)  # the digests are running and the pool is full
        with Raw(srv, timeout=60) as r:
            assert r.cmd(f"USER {srv.user}")[0] == 331
            t0 = time.monotonic()
            code, text = r.cmd("PASS not-the-password")
            elapsed = time.monotonic() - t0
        assert code == 530, text
        # The failure delay is 1 s; a password check costs well under 0.5 s even on a busy
        # machine. Queued behind the digests it takes 10 s or more.
        assert elapsed < 2.5, f"wrong-password reply took {elapsed:.1f} s behind HASH"
    finally:
        close_all(hashers)


def test_hash_over_the_cap_is_refused(start_server):
    """F6: a file bigger than [limits] max_hash_size gets 552 and no digest; a file within the
    cap still gets its digest."""
    srv = start_server(config_text=config(limits="max_hash_size = 1048576"))
    sparse(srv.root, "big.bin", (1 << 20) + 1)
    small = os.urandom(5000)
    (srv.root / "small.bin").write_bytes(small)
    with Raw(srv) as r:
        r.login()
        code, text = r.cmd("XSHA256 /big.bin")
        assert code == 552, text
        assert "too large" in text and "1048576" in text, text
        code, text = r.cmd("HASH /big.bin")
        assert code == 552, text
        code, text = r.cmd("XSHA256 /small.bin")
        assert code == 250, text
        assert text.split()[1] == hashlib.sha256(small).hexdigest()
        code, text = r.cmd("NOOP")
        assert code == 200, text


@pytest.mark.slow
def test_hash_stops_when_its_client_leaves(start_server):
    """F6: with one bulk thread, a HASH of an 8 GiB file whose client disconnects must stop at
    once, so that the next session's HASH runs promptly (before: it waited for the whole
    digest, about 10 s or more), and the server says so in its log."""
    srv = start_server(config_text=config(threads=1, limits="max_hash_size = 17179869184"))
    sparse(srv.root, "huge.bin", 8 << 30)
    small = os.urandom(3000)
    (srv.root / "small.bin").write_bytes(small)
    leaver, stayer = logged_in(srv, 2)
    try:
        leaver.send("XSHA512 /huge.bin")
        time.sleep(0.5)
        leaver.close()
        time.sleep(0.2)
        t0 = time.monotonic()
        code, text = stayer.cmd("XSHA256 /small.bin")
        elapsed = time.monotonic() - t0
        assert code == 250, text
        assert text.split()[1] == hashlib.sha256(small).hexdigest()
        assert elapsed < 3.0, f"the second HASH waited {elapsed:.1f} s for an abandoned one"
    finally:
        stayer.close()
    deadline = time.monotonic() + 5
    while "cancelled: the client has gone" not in srv.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "cancelled: the client has gone" in srv.log()
