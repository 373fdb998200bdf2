"""The multi-process runtime: a master and its workers, cluster-wide limits and bans, respawn,
reload (SIGHUP) and graceful stop (SIGTERM), against the real feitpd on 127.0.0.1.

Every loop here has a deadline or a bounded count; every socket has a timeout.
"""
from __future__ import annotations

import ftplib
import hashlib
import io
import os
import signal
import subprocess
import threading
import time

import pytest

from feitp_harness import random_bytes, sha256_bytes, sha256_file
from runtime_helpers import (children, comm, greet, listening_sockets, owner, runtime_config,
                             open_uploads, send_line, uid_of, unnamed, wait_for, workers)

pytestmark = pytest.mark.skipif(os.environ.get("FEITP_TEST_AGAINST") == "pyftpdlib",
                                reason="feitpd's own process model")

TOO_MANY = "too many connections, try again later"


def start(start_server, **cfg):
    srv = start_server(config_text=runtime_config(**cfg))
    return srv, workers(srv.proc.pid, cfg.get("workers", 2))


def config_path(srv):
    return srv.log_path.parent / "feitpd.toml"


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass
    socks.clear()


def greet_many(srv, n, source=None):
    """n connections opened at the same moment; returns [(socket, code, text)]."""
    out = [None] * n
    barrier = threading.Barrier(n)

    def one(i):
        barrier.wait(timeout=10)
        out[i] = greet(srv.host, srv.port, source=source)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert all(o is not None for o in out), "a connection did not complete"
    return out


def hold_spread(srv, kids, per_worker, attempts=200):
    """Admitted connections, exactly `per_worker` on each worker (others are closed again)."""
    held = {k: [] for k in kids}
    for _ in range(attempts):
        if all(len(v) == per_worker for v in held.values()):
            return held
        s, code, _ = greet(srv.host, srv.port)
        who = owner(s, srv.port, kids) if code == 220 else None
        if who is None or len(held[who]) >= per_worker:
            s.close()
            time.sleep(0.02)  # let the server see the close before the next try
            continue
        held[who].append(s)
    raise AssertionError(f"could not spread {per_worker} connections per worker: "
                         f"{ {k: len(v) for k, v in held.items()} }")


def admitted_now(srv, n, timeout=5.0):
    """Waits until n more connections are admitted at once; returns them."""
    def attempt():
        got = greet_many(srv, n)
        if all(code == 220 for _, code, _ in got):
            return [s for s, _, _ in got]
        close_all([s for s, _, _ in got])
        time.sleep(0.1)
        return None
    return wait_for(attempt, timeout, interval=0, what=f"{n} admitted connections")


# --- Processes ---------------------------------------------------------------------------------

def test_master_and_two_workers(start_server):
    srv, kids = start(start_server)
    master = srv.proc.pid
    assert comm(master) == "feitpd"
    assert len(kids) == 2 and all(comm(k) == "feitpd-worker" for k in kids)
    # Each worker holds only its own SO_REUSEPORT socket; the master keeps both for respawns.
    for k in kids:
        wait_for(lambda: listening_sockets(k, srv.port) == 1, 5.0,
                 what=f"worker {k} to hold only its own socket")
    assert listening_sockets(master, srv.port) == 2
    f = srv.connect()
    assert owner(f.sock, srv.port, kids) in kids
    f.nlst()
    f.quit()


def test_kill_worker_under_mixed_load(start_server):
    """SIGKILL of a worker under load: only its own sessions fail, it is respawned on the same
    socket, and the uploads it was serving leave no partial file (F3, atomic uploads): a new
    name holds nothing or the whole upload (killed after the rename, before the 226), a file
    being replaced holds one of its whole versions. No `.feitp-upload.*` temporary is ever
    listed, and the dead worker's temporaries are gone from the disk once the respawned worker
    has served a login (its storage factory sweeps the home at its first login)."""
    srv, kids = start(start_server)
    master = srv.proc.pid
    data = random_bytes(1 << 20, seed=3)
    (srv.root / "dl.bin").write_bytes(data)
    digest = sha256_bytes(data)
    victim = kids[0]
    killed_at = [None]
    results = []  # (worker, started after the kill, error or None)
    uploads = {}  # name -> sha256 of the upload acknowledged with 226
    attempted = {}  # name -> sha256 of every version a STOR may have committed
    for n in range(4):
        first = random_bytes(150_000, seed=900 + n)
        (srv.root / f"over-{n}.bin").write_bytes(first)
        attempted[f"over-{n}.bin"] = {sha256_bytes(first)}
    lock = threading.Lock()
    stop_at = time.monotonic() + 5.0

    def client(n):
        i = 0
        while time.monotonic() < stop_at:
            i += 1
            after = killed_at[0] is not None
            who, error = None, None
            try:
                f = srv.connect()
                who = owner(f.sock, srv.port, children(master))
                op = (n + i) % 3
                if op == 0:
                    body = random_bytes(200_000 + i, seed=n * 1000 + i)
                    # Every other upload replaces this client's own file, the others are new.
                    name = f"over-{n}.bin" if i % 2 else f"up-{n}-{i}.bin"
                    with lock:
                        attempted.setdefault(name, set()).add(sha256_bytes(body))
                    f.storbinary(f"STOR {name}", io.BytesIO(body))
                    with lock:
                        uploads[name] = sha256_bytes(body)
                elif op == 1:
                    buf = bytearray()
                    f.retrbinary("RETR dl.bin", buf.extend)
                    assert sha256_bytes(bytes(buf)) == digest, "download corrupted"
                else:
                    names = f.nlst()
                    assert "dl.bin" in names
                    assert not [x for x in names if ".feitp-upload." in x], names
                f.quit()
            except Exception as e:  # noqa: BLE001 - every failure is judged below
                error = repr(e)
            with lock:
                results.append((who, after, error))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    # Two uploads certainly cut by the kill: on the victim, half sent, one new name, one replace.
    old_body = random_bytes(100_000, seed=77)
    (srv.root / "cut-over.bin").write_bytes(old_body)
    cut = []
    for name in ("cut-new.bin", "cut-over.bin"):
        f = wait_for(lambda: on_worker(srv, victim, kids), 10.0, interval=0,
                     what="a session on the victim")
        f.voidcmd("TYPE I")
        conn = f.transfercmd(f"STOR {name}")
        conn.sendall(random_bytes(300_000, seed=78))
        cut.append((f, conn))
    # cut-over.bin's into a named temporary, cut-new.bin's into an unnamed (O_TMPFILE) file;
    # 300,000 bytes each (the other clients' uploads are 200,000 and a few).
    def cut_uploads_received():
        held = [u for u in open_uploads([victim], srv.root) if u[2] == 300_000]
        named = [u for u in held if u[1].startswith(".feitp-upload.") and f"-{victim}-" in u[1]]
        return len(named) == 1 and len(unnamed(held)) == 1
    wait_for(cut_uploads_received, 5.0, what="the victim's two cut uploads")
    os.kill(victim, signal.SIGKILL)
    killed_at[0] = time.monotonic()
    new = workers(master, 2, timeout=3.0, exclude={victim})
    for f, conn in cut:
        conn.close()
        f.close()
    respawn = time.monotonic() - killed_at[0]
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)

    survivor = next(k for k in kids if k != victim)
    assert survivor in new, "the surviving worker was disturbed"
    assert respawn < 1.0, f"respawn took {respawn:.2f}s"
    # Only sessions of the killed worker, started before the kill, may fail.
    bad = [r for r in results if r[2] is not None and (r[1] or r[0] not in (victim, None))]
    assert not bad, f"failures outside the killed worker: {bad[:5]}"
    assert sum(1 for r in results if r[0] == survivor and r[2] is None) > 0
    assert sum(1 for r in results if r[1] and r[2] is None) > 0, "nothing ran after the kill"
    for name, h in uploads.items():
        if name.startswith("up-"):
            assert sha256_file(srv.root / name) == h
    # Uploads cut by the kill: nothing or a whole version under the final name, never a part.
    assert not (srv.root / "cut-new.bin").exists()
    assert sha256_file(srv.root / "cut-over.bin") == sha256_bytes(old_body)
    for name, versions in attempted.items():
        path = srv.root / name
        if name.startswith("up-") and name not in uploads:
            assert not path.exists() or sha256_file(path) in versions, f"partial {name}"
        elif name.startswith("over-"):
            assert sha256_file(path) in versions, f"{name} is not one whole version"

    respawned = next(k for k in new if k != survivor)
    served_by_new = 0
    for _ in range(40):
        f = srv.connect()
        who = owner(f.sock, srv.port, [survivor, respawned])
        listing = []
        f.retrlines("LIST -a", listing.append)
        names = f.nlst()
        f.quit()
        assert "dl.bin" in names
        assert not [x for x in names + listing if ".feitp-upload." in x], (names, listing)
        served_by_new += who == respawned
        if served_by_new >= 2:
            break
    assert served_by_new >= 2, "no login reached the respawned worker"
    # Every writer has finished, the victim's leftovers are stale: none is left on the disk.
    left = sorted(p.name for p in srv.root.rglob(".feitp-upload.*"))
    assert not left, left
    assert "respawning it on the same socket" in srv.log()


def on_worker(srv, pid, kids):
    """A logged-in session held by worker `pid`, or None (the connection is closed again)."""
    f = srv.connect()
    if owner(f.sock, srv.port, kids) == pid:
        return f
    f.quit()
    return None


# --- Cluster-wide limits -------------------------------------------------------------------------

def test_per_address_cap_holds_across_workers(start_server):
    srv, kids = start(start_server, max_per_ip=4)
    master = srv.proc.pid

    # Eight at once: exactly four served, four told to come back later.
    got = greet_many(srv, 8)
    served = [g for g in got if g[1] == 220]
    refused = [g for g in got if g[1] != 220]
    assert len(served) == 4, [g[2] for g in got]
    assert all(g[1] == 421 and TOO_MANY in g[2].lower() for g in refused), [g[2] for g in refused]
    close_all([g[0] for g in got])

    # Two on each worker: the cap still counts them together.
    held = hold_spread(srv, kids, 2)
    more = greet_many(srv, 4)
    assert all(code == 421 and TOO_MANY in text.lower() for _, code, text in more), more
    close_all([s for s, _, _ in more])
    for v in held.values():
        close_all(v)
    # After closing, four are admitted again: nothing leaked.
    close_all(admitted_now(srv, 4))

    # A worker killed while holding two: the master gives its counts back.
    held = hold_spread(srv, kids, 2)
    victim = kids[0]
    os.kill(victim, signal.SIGKILL)
    workers(master, 2, timeout=3.0, exclude={victim})
    close_all(held[victim])
    again = admitted_now(srv, 2)
    s, code, text = greet(srv.host, srv.port)
    assert code == 421 and TOO_MANY in text.lower(), text
    s.close()
    close_all(again)
    close_all(held[kids[1]])
    close_all(admitted_now(srv, 4))


def fail_login(srv, s):
    assert send_line(s, f"USER {srv.user}").startswith("331")
    reply = send_line(s, "PASS definitely-wrong")
    assert reply.startswith("530"), reply
    s.close()


def test_brute_force_is_banned_across_workers(start_server):
    srv, kids = start(start_server, ban_after=5, ban_time=2, max_login_attempts=1)
    fails = {k: 0 for k in kids}
    for _ in range(200):
        if sum(fails.values()) == 5:
            break
        s, code, text = greet(srv.host, srv.port)
        assert code == 220, f"refused after {sum(fails.values())} failures: {text}"
        who = owner(s, srv.port, kids)
        # Alternate between the workers, so the count can only reach 5 when it is shared.
        if who is None or fails[who] > min(fails.values()):
            s.close()
            continue
        fail_login(srv, s)
        fails[who] += 1
    assert sum(fails.values()) == 5 and min(fails.values()) >= 2, fails
    banned_at = time.monotonic()

    for _ in range(6):
        s, code, text = greet(srv.host, srv.port)
        s.close()
        assert code == 421 and "try again later" in text.lower(), text

    # Another address is not affected.
    f = ftplib.FTP(timeout=10, source_address=("127.0.0.2", 0))
    f.connect(srv.host, srv.port)
    f.login(srv.user, srv.password)
    f.nlst()
    f.quit()

    # The ban expires (2 s).
    wait_for(lambda: greet(srv.host, srv.port)[1] == 220, 6.0, interval=0.2, what="ban expiry")
    assert time.monotonic() - banned_at >= 1.5
    # (No login from 127.0.0.1 here: a successful login shields its address from bans for
    # ban_window, and the repeat offence below must still be one.)

    # A repeat offender is banned for twice as long (4 s).
    for _ in range(5):
        s, code, text = greet(srv.host, srv.port)
        assert code == 220, text
        fail_login(srv, s)
    second = time.monotonic()
    time.sleep(2.6)
    s, code, text = greet(srv.host, srv.port)
    s.close()
    assert code == 421, "the second ban was not longer than the first"
    wait_for(lambda: greet(srv.host, srv.port)[1] == 220, 5.0, interval=0.2, what="second ban expiry")
    assert time.monotonic() - second >= 3.5
    assert "banning 127.0.0.1" in srv.log()


# --- Reload ----------------------------------------------------------------------------------

def test_reload_changes_banner_without_failing_uploads(start_server):
    """A reload turns no client away: every upload connects, logs in and transfers at its first
    try (no retry on 421 or a closed connection), and uploads in flight at SIGHUP complete."""
    srv, kids = start(start_server, banner="banner one")
    master = srv.proc.pid
    body = random_bytes(2 << 20, seed=11)
    digest = sha256_bytes(body)
    stop = threading.Event()
    lock = threading.Lock()
    failures, spans, done = [], [], []

    def upload(name):
        try:
            f = srv.connect()
            f.voidcmd("TYPE I")
            conn = f.transfercmd(f"STOR {name}")
            began = time.monotonic()
            for i in range(0, len(body), 1 << 16):
                conn.sendall(body[i:i + (1 << 16)])
                time.sleep(0.02)  # an upload stays in flight for ~0.6 s
            conn.close()
            f.voidresp()
            f.quit()
        except Exception as e:  # noqa: BLE001 - any failure fails the test below
            with lock:
                failures.append((name, repr(e)))
            return
        with lock:
            spans.append((began, time.monotonic()))
            done.append(name)

    def uploader(n):
        i = 0
        while not stop.is_set():
            i += 1
            upload(f"u{n}-{i}.bin")

    threads = [threading.Thread(target=uploader, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    cfg = config_path(srv)
    cfg.write_text(cfg.read_text().replace("banner one", "banner two"))
    hup = time.monotonic()
    os.kill(master, signal.SIGHUP)
    wait_for(lambda: "banner two" in greet(srv.host, srv.port)[2], 10.0, interval=0.1,
             what="the new banner")
    time.sleep(1.5)
    stop.set()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)

    assert not failures, failures
    assert any(b < hup < e for b, e in spans), "no upload was in flight during the reload"
    for name in done:
        assert sha256_file(srv.root / name) == digest, name
    new = workers(master, 2, timeout=35.0, exclude=set(kids))
    for _ in range(8):
        s, code, text = greet(srv.host, srv.port)
        s.close()
        assert code == 220 and "banner two" in text, text
    assert set(new).isdisjoint(kids)
    assert "reload done" in srv.log()


def test_reload_keeps_serving_idle_sessions_of_the_old_workers(start_server):
    """A reload turns no client away: a session that sits logged in between two commands when
    SIGHUP comes keeps being served by its (old) worker until it quits, instead of getting 421
    at once (found while removing the retry loop of the test above). The old worker exits
    when its last session has gone."""
    srv, kids = start(start_server, banner="banner one")
    master = srv.proc.pid
    idle = [srv.connect() for _ in range(4)]
    on_old = {owner(f.sock, srv.port, kids) for f in idle}
    assert on_old <= set(kids)
    cfg = config_path(srv)
    cfg.write_text(cfg.read_text().replace("banner one", "banner two"))
    os.kill(master, signal.SIGHUP)
    wait_for(lambda: "reload done" in srv.log(), 10.0, what="the reload")
    time.sleep(0.5)
    body = random_bytes(300_000, seed=5)
    for n, f in enumerate(idle):
        assert f.sendcmd("NOOP").startswith("200")
        f.storbinary(f"STOR idle-{n}.bin", io.BytesIO(body))
        assert sha256_file(srv.root / f"idle-{n}.bin") == sha256_bytes(body)
        assert f.quit().startswith("221")
    # With no session left, the old generation exits long before its 20 s grace.
    new = workers(master, 2, timeout=5.0, exclude=set(kids))
    assert set(new).isdisjoint(kids)
    s, code, text = greet(srv.host, srv.port)
    s.close()
    assert code == 220 and "banner two" in text, text


def test_reload_with_broken_config_keeps_serving(start_server):
    srv, kids = start(start_server, banner="still here")
    master = srv.proc.pid
    cfg = config_path(srv)
    cfg.write_text(cfg.read_text().replace("max_per_ip = 0", 'max_per_ip = "lots"'))
    os.kill(master, signal.SIGHUP)
    line = wait_for(lambda: next((ln for ln in srv.log().splitlines() if "reload failed" in ln), None),
                    5.0, what="the reload error in the log")
    assert "max_per_ip" in line and "keeping the running configuration" in line, line
    assert sorted(children(master)) == sorted(kids)
    for _ in range(4):
        f = srv.connect()
        assert "still here" in f.getwelcome()
        f.nlst()
        f.quit()


# --- Stop ----------------------------------------------------------------------------------

def slow_download(srv, name, progress, result, pause=0.004):
    try:
        f = srv.connect()
        f.voidcmd("TYPE I")
        conn = f.transfercmd(f"RETR {name}")
        h = hashlib.sha256()
        while True:
            b = conn.recv(1 << 16)
            if not b:
                break
            h.update(b)
            progress[0] += len(b)
            time.sleep(pause)
        conn.close()
        result["reply"] = f.voidresp()
        result["sha"] = h.hexdigest()
        result["end"] = time.monotonic()
        try:
            f.quit()
        except (ftplib.Error, EOFError, OSError):
            pass
    except Exception as e:  # noqa: BLE001
        result["error"] = repr(e)
        result["end"] = time.monotonic()


def test_sigterm_lets_a_large_download_finish(start_server):
    srv, kids = start(start_server, grace=15)
    data = os.urandom(48 << 20)
    (srv.root / "big.bin").write_bytes(data)
    digest = sha256_bytes(data)
    progress, result = [0], {}
    t = threading.Thread(target=slow_download, args=(srv, "big.bin", progress, result))
    t.start()
    wait_for(lambda: progress[0] > (1 << 20), 10.0, what="the download to start")
    term = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    for _ in range(3):
        try:
            s, code, text = greet(srv.host, srv.port, timeout=3)
            s.close()
            assert code in (0, 421), f"a new connection was served while stopping: {text}"
        except ConnectionRefusedError:
            pass
    t.join(30)
    assert "error" not in result, result
    assert result["reply"].startswith("226") and result["sha"] == digest
    assert result["end"] - term > 0.5, "the download was not in flight at SIGTERM"
    code = srv.proc.wait(15)
    exited = time.monotonic()
    assert code == 0
    assert exited - term < 15, "not stopped within shutdown_grace"
    assert exited >= result["end"] - 0.1


def test_second_sigterm_stops_at_once(start_server):
    srv, kids = start(start_server, grace=60)
    (srv.root / "big.bin").write_bytes(os.urandom(32 << 20))
    progress, result = [0], {}
    t = threading.Thread(target=slow_download, args=(srv, "big.bin", progress, result, 0.05))
    t.start()
    wait_for(lambda: progress[0] > (1 << 20), 10.0, what="the download to start")
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert srv.proc.poll() is None, "stopped before the transfer ended (grace is 60 s)"
    first = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(10) == 0
    assert time.monotonic() - first < 5
    t.join(30)
    assert "error" in result or not result.get("reply", "").startswith("226")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")
def test_workers_drop_to_run_as(start_server):
    text = runtime_config().replace("[server]\n", '[server]\nrun_as = "nobody"\n')
    srv = start_server(config_text=text)
    kids = workers(srv.proc.pid, 2)
    assert uid_of(srv.proc.pid) == 0
    # A worker is named before it drops its privileges, so give it the moment in between.
    wait_for(lambda: all(uid_of(k) != 0 for k in kids), 10, what="workers running as nobody")
    s, code, _ = greet(srv.host, srv.port)
    s.close()
    assert code == 220


@pytest.mark.parametrize("workers", ["2", "1"])
def test_second_server_on_a_port_in_use_fails(start_server, tmp_path, workers):
    """Workers share a port through SO_REUSEPORT, which any process of the same user may join:
    a second feitpd started by mistake on a port in use must fail with a clear error, not
    silently take part of the first one's connections (every login keeps reaching the first)."""
    from feitp_harness import feitpd_binary
    first = start_server(extra=["--workers", "2"])
    (tmp_path / "other").mkdir()
    proc = subprocess.run([str(feitpd_binary()), "--listen", f"127.0.0.1:{first.port}",
                           "--root", str(tmp_path / "other"), "--user", "bob:Other-Pass1",
                           "--workers", workers], capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert f"127.0.0.1:{first.port}" in proc.stderr and "in use" in proc.stderr, proc.stderr
    for _ in range(20):
        f = first.connect()
        assert f.getwelcome().startswith("220")
        f.quit()
