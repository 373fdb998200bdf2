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

from feitp_harness import SANITIZED, Raw, read_reply, recv_all

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


# --- F14: listing memory is bounded --------------------------------------------------------------

def data_lines(data: bytes) -> list[str]:
    return [ln for ln in data.decode("utf-8", "replace").split("\r\n") if ln]


def test_listing_is_truncated_at_the_cap_with_a_clear_reply(start_server):
    """F14: with [limits] max_listing_entries = 10, LIST, NLST and MLSD of a 50-entry directory
    send 10 entries and end with a 226 that says the listing was truncated; STAT path too."""
    srv = start_server(config_text=config(limits="max_listing_entries = 10"))
    d = srv.root / "many"
    d.mkdir()
    for i in range(50):
        (d / f"f{i:03d}").write_bytes(b"x")
    names = {f"f{i:03d}" for i in range(50)}
    with Raw(srv) as r:
        r.login()
        for verb in ("LIST", "NLST", "MLSD"):
            data_sock = r.epsv()
            code, text = r.cmd(f"{verb} /many")
            assert code == 150, text
            lines = data_lines(recv_all(data_sock))
            data_sock.close()
            code, text = r.reply()
            assert code == 226, text
            assert "truncated to 10 of 50 entries" in text, text
            assert len(lines) == 10, (verb, lines)
            shown = {ln.split()[-1] if verb == "LIST" else ln.split(";")[-1].strip() for ln in lines}
            assert shown <= names and len(shown) == 10, (verb, lines)
        code, text = r.cmd("STAT /many")
        assert code == 213, text
        body = [ln for ln in text.split("\r\n")[1:-1] if ln.startswith(" ")]
        assert len(body) == 10, text
        assert text.rstrip().endswith("truncated to 10 of 50 entries (limits.max_listing_entries).)"), text
        # Within the cap nothing changes.
        (srv.root / "few").mkdir()
        for i in range(10):
            (srv.root / "few" / f"g{i}").write_bytes(b"y")
        data_sock = r.epsv()
        assert r.cmd("NLST /few")[0] == 150
        lines = data_lines(recv_all(data_sock))
        data_sock.close()
        code, text = r.reply()
        assert code == 226 and "truncated" not in text, text
        assert sorted(lines) == [f"g{i}" for i in range(10)]


def vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.mark.slow
@pytest.mark.skipif(SANITIZED, reason="under a sanitizer, RSS is the sanitizer's shadow and "
                    "quarantine, not the server's footprint (the normal suite measures it)")
def test_concurrent_big_mlsd_keep_memory_bounded(start_server):
    """F14: eight sessions list a 200,000-entry directory with MLSD at once (each with its own
    OPTS MLST, so no listing is shared) and read slowly, so all eight texts are held together.
    With max_listing_entries = 20000 the server's peak RSS grows by well under 60 MB (the audit
    measured 10 -> 175 MB without a cap)."""
    srv = start_server(config_text=config(limits="max_listing_entries = 20000"))
    d = srv.root / "huge"
    d.mkdir()
    for i in range(200_000):
        os.close(os.open(d / f"{i:06d}", os.O_CREAT | os.O_WRONLY, 0o644))
    facts = ["type;size;modify;", "type;size;", "type;modify;", "size;modify;",
             "type;", "size;", "modify;", "type;size;modify;perm;"]
    sessions = logged_in(srv, len(facts))
    before = vm_hwm_kib(srv.proc.pid)
    socks = []
    try:
        for r, f in zip(sessions, facts):
            assert r.cmd(f"OPTS MLST {f}")[0] == 200
            data_sock = r.epsv()
            socks.append(data_sock)
            code, text = r.cmd("MLSD /huge")
            assert code == 150, text
        # Every session has its text in memory now (or is sending it); read them all.
        for r, data_sock in zip(sessions, socks):
            lines = data_lines(recv_all(data_sock))
            assert len(lines) == 20000
            code, text = r.reply()
            assert code == 226 and "truncated to 20000 of 200000" in text, text
        grown_mb = (vm_hwm_kib(srv.proc.pid) - before) / 1024
        assert grown_mb < 60, f"peak RSS grew by {grown_mb:.0f} MB for eight listings"
    finally:
        for s in socks:
            s.close()
        close_all(sessions)


# --- F20: the loop leaves a session alone while its work is on a pool thread --------------------

@pytest.fixture
def start_probe(tmp_path_factory):
    """hook_probe (see test_hooks.py) with the given arguments; stopped after the test."""
    from test_hooks import Probe, probe_binary
    if not probe_binary().exists():
        pytest.fail(f"{probe_binary()} not built")
    probes = []

    def _start(*args: str):
        p = Probe(tmp_path_factory.mktemp("probe"), list(args))
        probes.append(p)
        return p

    yield _start
    for p in probes:
        p.stop()
        print(f"--- hook_probe log ({' '.join(p.argv)}):\n{p.log()[-20000:]}")


def test_idle_timeout_does_not_fire_inside_a_blocking_hook(start_probe):
    """F20: MKD runs on a pool thread (the hooks are blocking) and its on_mkdir hook takes 3 s,
    longer than the 1 s idle timeout. Before, the loop's sweep expired the session meanwhile and
    wrote 421 into the same reply buffer the pool thread was using (a data race: TSan reports
    it). Now the loop leaves the session alone until its work returns: MKD gets its 257, the
    idle clock restarts after it, and the idle timeout still closes a truly idle session."""
    p = start_probe("--blocking", "--sleep-path", "slowdir", "--idle-timeout", "1")
    with Raw(p, timeout=15) as r:
        r.login()
        code, text = r.cmd("MKD /slowdir")
        assert code == 257, text
        assert (p.root / "slowdir").is_dir()
        code, text = r.cmd("NOOP")
        assert code == 200, text
        time.sleep(3.5)
        code, text = r.reply()
        assert code == 421 and "Idle timeout" in text, text


def test_blocking_storage_commands_and_transfers(start_probe):
    """F20: with a blocking storage (and blocking hooks) every command and transfer step goes
    through the pools; a whole session's worth of them works (the ThreadSanitizer build runs
    this test and test_hooks.py without a data race report), and STOU draws fresh names."""
    p = start_probe("--blocking", "--blocking-storage")
    payload = os.urandom(300_000)
    with Raw(p, timeout=15) as r:
        r.login()
        assert r.cmd("TYPE I")[0] == 200
        assert r.cmd("MKD /d")[0] == 257
        assert r.cmd("CWD /d")[0] == 250
        d = r.epsv()
        assert r.cmd("STOR up.bin")[0] == 150
        d.sendall(payload)
        d.close()
        assert r.reply()[0] == 226
        assert (p.root / "d" / "up.bin").read_bytes() == payload
        names = set()
        for _ in range(3):
            d = r.epsv()
            code, text = r.cmd("STOU up.bin")
            assert code == 150, text
            d.sendall(b"stou")
            d.close()
            assert r.reply()[0] == 226
            names.add(text.split("FILE: ", 1)[1].strip())
        assert len(names) == 3 and all((p.root / "d" / n).read_bytes() == b"stou" for n in names)
        d = r.epsv()
        assert r.cmd("RETR up.bin")[0] == 150
        assert recv_all(d) == payload
        d.close()
        assert r.reply()[0] == 226
        d = r.epsv()
        assert r.cmd("NLST")[0] == 150
        listed = set(recv_all(d).decode().split())
        d.close()
        assert r.reply()[0] == 226
        assert listed == {"up.bin", *names}
        code, text = r.cmd("XSHA256 up.bin")
        assert code == 250 and text.split()[1] == hashlib.sha256(payload).hexdigest(), text
        assert r.cmd("SIZE up.bin") == (213, "213 300000\r\n")
        assert r.cmd("RNFR up.bin")[0] == 350
        assert r.cmd("RNTO moved.bin")[0] == 250
        assert r.cmd("STAT moved.bin")[0] == 213
        assert r.cmd("DELE moved.bin")[0] == 250
        assert not (p.root / "d" / "moved.bin").exists()
        assert r.cmd("QUIT")[0] == 221
