"""The extension API seen from an embedding program: tests/integration/hook_probe.cpp registers
Hooks that record every call as a JSON line; these tests drive it with ftplib and raw control
connections and check that every hook fires exactly once per event with the right data
(complete, incomplete and resumed transfers), that the decision points veto, and that a slow
blocking hook on one session does not hold the others back."""
from __future__ import annotations

import contextlib
import ftplib
import io
import json
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from feitp_harness import Raw, feitpd_binary, random_bytes, recv_all, retr_bytes, stor_bytes

USER, PASSWORD = "alice", "probe-Pass1"
WAIT = 10.0  # longest wait for an event to be recorded


def probe_binary() -> Path:
    return feitpd_binary().parent / "hook_probe"


class Probe:
    """A running hook_probe, with its event record."""

    def __init__(self, work: Path, args: list[str]):
        self.root = work / "root"
        self.root.mkdir()
        self.events_path = work / "events.jsonl"
        self.log_path = work / "probe.log"
        self.argv = [str(probe_binary()), "--listen", "127.0.0.1:0", "--user", f"{USER}:{PASSWORD}",
                     "--root", str(self.root), "--events", str(self.events_path), *args]
        self.user, self.password, self.users = USER, PASSWORD, {USER: PASSWORD}
        self.host = "127.0.0.1"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        self.port = 0
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not self.port:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hook_probe exited: {self.log()}")
            for line in self.log().splitlines():
                if "listening on port" in line:
                    self.port = int(line.rsplit(" ", 1)[1])
            time.sleep(0.02)
        if not self.port:
            self.stop()
            raise RuntimeError(f"hook_probe did not start: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def connect(self, login: bool = True) -> ftplib.FTP:
        f = ftplib.FTP(timeout=10, encoding="utf-8")
        f.connect(self.host, self.port, timeout=10)
        if login:
            f.login(USER, PASSWORD)
        return f

    def events(self) -> list[dict]:
        if not self.events_path.exists():
            return []
        out = []
        for line in self.events_path.read_text().splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out

    def of(self, session: int | None = None, event: str | None = None) -> list[dict]:
        return [e for e in self.events()
                if (session is None or e["session"] == session) and (event is None or e["event"] == event)]

    def wait(self, pred, timeout: float = WAIT) -> list[dict]:
        """Waits until pred(events) is true; returns the events."""
        deadline = time.monotonic() + timeout
        while True:
            ev = self.events()
            if pred(ev):
                return ev
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for events; have:\n" +
                                     "\n".join(json.dumps(e) for e in ev[-40:]))
            time.sleep(0.02)

    def wait_disconnect(self, session: int) -> None:
        self.wait(lambda ev: any(e["event"] == "on_disconnect" and e["session"] == session for e in ev))

    def session_of(self, local_port: int) -> int:
        """The session id of the control connection from `local_port` (its on_connect)."""
        ev = self.wait(lambda ev: any(e["event"] == "on_connect" and e["port"] == local_port for e in ev))
        return next(e["session"] for e in ev if e["event"] == "on_connect" and e["port"] == local_port)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def start_probe(tmp_path_factory, request):
    if not probe_binary().exists():
        pytest.fail(f"{probe_binary()} not built")
    probes: list[Probe] = []

    def _start(*args: str) -> Probe:
        p = Probe(tmp_path_factory.mktemp("probe"), list(args))
        probes.append(p)
        return p

    yield _start
    for p in probes:
        p.stop()
        print(f"--- hook_probe log ({' '.join(p.argv)}):\n{p.log()[-5000:]}")


@pytest.fixture
def probe(start_probe) -> Probe:
    return start_probe()


def only(events: list[dict], name: str, **match) -> dict:
    found = [e for e in events if e["event"] == name and all(e.get(k) == v for k, v in match.items())]
    assert len(found) == 1, f"{name} {match}: expected exactly one, got {len(found)}: {found}"
    return found[0]


def none_of(events: list[dict], name: str, **match) -> None:
    found = [e for e in events if e["event"] == name and all(e.get(k) == v for k, v in match.items())]
    assert not found, f"{name} {match}: expected none, got {found}"


def rst_close(sock: socket.socket, raw: Raw | None = None) -> None:
    """Closes with a TCP reset (the client 'drops'), not an orderly FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    if raw is not None:
        raw.close()  # the socket's file object holds the descriptor too
    sock.close()


def raw_session(probe: Probe) -> tuple[Raw, int]:
    r = Raw(probe)
    sid = probe.session_of(r.sock.getsockname()[1])
    r.login(USER, PASSWORD)
    assert r.cmd("TYPE I")[0] == 200
    return r, sid


# --- every notify hook, once, with the right data -------------------------------------------

def test_session_lifecycle_fires_each_hook_once(probe):
    data = random_bytes(300_000, seed=3)
    f = probe.connect(login=False)
    sid = probe.session_of(f.sock.getsockname()[1])
    f.login(USER, PASSWORD)
    f.mkd("/d")
    stor_bytes(f, "/d/a.bin", data)
    assert retr_bytes(f, "/d/a.bin") == data
    f.rename("/d/a.bin", "/d/b.bin")
    f.delete("/d/b.bin")
    f.rmd("/d")
    f.quit()
    probe.wait_disconnect(sid)
    ev = probe.of(session=sid)

    names = [e["event"] for e in ev if e["event"] != "before_command"]
    assert names[0] == "on_connect" and names[-1] == "on_disconnect", names
    for name in ("on_connect", "on_login", "on_logout", "on_disconnect", "on_rename",
                 "before_upload", "before_download", "check_upload", "on_file_received",
                 "on_file_sent", "on_mkdir"):
        only(ev, name)
    none_of(ev, "on_login_failed")
    none_of(ev, "on_incomplete_file_received")
    none_of(ev, "on_incomplete_file_sent")

    assert only(ev, "on_connect")["user"] == "" and only(ev, "on_connect")["peer"] == "127.0.0.1"
    assert only(ev, "on_login")["user"] == USER and only(ev, "on_login")["logged_in"]
    assert only(ev, "on_mkdir")["path"] == "/d"
    assert only(ev, "before_upload")["path"] == "/d/a.bin"
    assert only(ev, "before_download")["path"] == "/d/a.bin"
    for name, upload in (("check_upload", True), ("on_file_received", True), ("on_file_sent", False)):
        e = only(ev, name)
        assert (e["path"], e["bytes"], e["offset"], e["upload"], e["outcome"]) == \
            ("/d/a.bin", len(data), 0, upload, "complete"), e
        assert e["seconds"] >= 0
    assert (only(ev, "on_rename")["from"], only(ev, "on_rename")["to"]) == ("/d/a.bin", "/d/b.bin")
    removed = [e["path"] for e in ev if e["event"] == "on_remove"]
    assert removed == ["/d/b.bin", "/d"]
    # check_upload comes before the upload's completion event
    order = [e["event"] for e in ev]
    assert order.index("check_upload") < order.index("on_file_received")
    assert order.index("on_logout") < order.index("on_disconnect")

    # before_command: once per command, in order, the password never shown
    verbs = [(e["verb"], e["arg"]) for e in ev if e["event"] == "before_command"]
    assert ("USER", USER) in verbs and ("PASS", "****") in verbs
    assert [v for v, _ in verbs if v in ("MKD", "RNFR", "RNTO", "DELE", "RMD", "QUIT")] == \
        ["MKD", "RNFR", "RNTO", "DELE", "RMD", "QUIT"]
    assert sum(1 for v, _ in verbs if v == "STOR") == 1 and sum(1 for v, _ in verbs if v == "RETR") == 1


def test_login_failed_fires_once_with_the_name_tried(probe):
    f = probe.connect(login=False)
    sid = probe.session_of(f.sock.getsockname()[1])
    with pytest.raises(ftplib.error_perm):
        f.login("mallory", "wrong")
    f.close()
    probe.wait_disconnect(sid)
    ev = probe.of(session=sid)
    e = only(ev, "on_login_failed")
    assert e["tried"] == "mallory" and e["user"] == "" and not e["logged_in"]
    none_of(ev, "on_login")
    none_of(ev, "on_logout")  # never logged in
    only(ev, "on_disconnect")


def test_disconnect_without_quit_still_logs_out_once(probe):
    r, sid = raw_session(probe)
    rst_close(r.sock, r)
    probe.wait_disconnect(sid)
    ev = probe.of(session=sid)
    only(ev, "on_logout")
    only(ev, "on_disconnect")


# --- incomplete transfers ---------------------------------------------------------------------

def start_stor(r: Raw, path: str, chunk: bytes) -> socket.socket:
    d = r.pasv()
    r.send(f"STOR {path}")
    code, text = r.reply()
    assert code in (125, 150), text
    d.sendall(chunk)
    return d


def wait_bytes_on_disk(path: Path, n: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size >= n:
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} never reached {n} bytes")


def test_client_drops_data_connection_mid_stor(probe):
    r, sid = raw_session(probe)
    chunk = random_bytes(200_000, seed=5)
    d = start_stor(r, "/part.bin", chunk)
    wait_bytes_on_disk(probe.root / "part.bin", len(chunk))
    rst_close(d)
    code, text = r.reply()
    assert code == 426, text
    assert r.cmd("NOOP")[0] == 200
    r.send("QUIT")
    r.close()
    probe.wait_disconnect(sid)
    ev = probe.of(session=sid)
    e = only(ev, "on_incomplete_file_received")
    assert e["path"] == "/part.bin" and e["upload"] and e["outcome"] == "client_gone"
    assert e["bytes"] == len(chunk) and e["offset"] == 0
    none_of(ev, "on_file_received")
    none_of(ev, "check_upload")  # nothing complete to check


def test_client_vanishes_mid_stor(probe):
    """Control and data connections both reset: exactly one incomplete event."""
    r, sid = raw_session(probe)
    chunk = random_bytes(100_000, seed=6)
    d = start_stor(r, "/gone.bin", chunk)
    wait_bytes_on_disk(probe.root / "gone.bin", len(chunk))
    rst_close(r.sock, r)
    rst_close(d)
    probe.wait_disconnect(sid)
    ev = probe.of(session=sid)
    e = only(ev, "on_incomplete_file_received")
    assert e["path"] == "/gone.bin" and e["outcome"] in ("client_gone", "aborted")
    assert e["bytes"] == len(chunk)
    none_of(ev, "on_file_received")


def start_big_retr(probe: Probe, r: Raw, name: str = "big.bin", size: int = 32 << 20) -> socket.socket:
    with open(probe.root / name, "wb") as f:
        f.truncate(size)
    d = r.pasv()
    d.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    r.send(f"RETR {name}")
    code, text = r.reply()
    assert code in (125, 150), text
    assert d.recv(65536)
    time.sleep(0.2)  # the server fills the socket buffers and waits
    return d


def test_client_drops_data_connection_mid_retr(probe):
    r, sid = raw_session(probe)
    d = start_big_retr(probe, r)
    rst_close(d)
    code, text = r.reply()
    assert code == 426, text
    r.send("QUIT")
    r.close()
    probe.wait_disconnect(sid)
    ev = probe.of(session=sid)
    e = only(ev, "on_incomplete_file_sent")
    assert e["path"] == "/big.bin" and not e["upload"] and e["outcome"] == "client_gone"
    assert 0 < e["bytes"] < 32 << 20
    none_of(ev, "on_file_sent")


def test_abor_mid_retr(probe):
    r, sid = raw_session(probe)
    d = start_big_retr(probe, r)
    r.send("ABOR")
    assert (r.reply()[0], r.reply()[0]) == (426, 226)
    d.close()
    r.send("QUIT")
    r.close()
    probe.wait_disconnect(sid)
    ev = probe.of(session=sid)
    e = only(ev, "on_incomplete_file_sent")
    assert e["outcome"] == "aborted" and 0 < e["bytes"] < 32 << 20
    none_of(ev, "on_file_sent")


def test_abor_mid_stor(probe):
    r, sid = raw_session(probe)
    chunk = random_bytes(150_000, seed=8)
    d = start_stor(r, "/abor.bin", chunk)
    wait_bytes_on_disk(probe.root / "abor.bin", len(chunk))
    r.send("ABOR")
    assert (r.reply()[0], r.reply()[0]) == (426, 226)
    d.close()
    r.send("QUIT")
    r.close()
    probe.wait_disconnect(sid)
    ev = probe.of(session=sid)
    e = only(ev, "on_incomplete_file_received")
    assert e["outcome"] == "aborted" and e["bytes"] == len(chunk) and e["path"] == "/abor.bin"
    none_of(ev, "on_file_received")
    none_of(ev, "check_upload")


# --- resumed transfers --------------------------------------------------------------------

def test_resumed_stor_and_retr_carry_the_offset(probe):
    data = random_bytes(400_000, seed=9)
    (probe.root / "r.bin").write_bytes(data[:150_000])
    f = probe.connect()
    sid = probe.session_of(f.sock.getsockname()[1])
    f.voidcmd("TYPE I")
    f.storbinary("STOR r.bin", io.BytesIO(data[150_000:]), rest=150_000)
    assert (probe.root / "r.bin").read_bytes() == data
    buf = bytearray()
    f.retrbinary("RETR r.bin", buf.extend, rest=100_000)
    assert bytes(buf) == data[100_000:]
    f.storbinary("APPE r.bin", io.BytesIO(b"tail"))
    f.quit()
    probe.wait_disconnect(sid)
    ev = probe.of(session=sid)
    received = [e for e in ev if e["event"] == "on_file_received"]
    assert [(e["offset"], e["bytes"]) for e in received] == [(150_000, 250_000), (400_000, 4)]
    checks = [e for e in ev if e["event"] == "check_upload"]
    assert [(e["offset"], e["bytes"]) for e in checks] == [(150_000, 250_000), (400_000, 4)]
    e = only(ev, "on_file_sent")
    assert (e["offset"], e["bytes"], e["outcome"]) == (100_000, 300_000, "complete")


# --- vetoes ---------------------------------------------------------------------------------

def test_before_command_answers_with_its_own_reply(start_probe):
    probe = start_probe("--answer", "MKD:553:Probe keeps directories out.")
    with Raw(probe) as r:
        r.login(USER, PASSWORD)
        code, text = r.cmd("MKD newdir")
        assert code == 553 and "Probe keeps directories out." in text
        assert r.cmd("NOOP")[0] == 200  # the session goes on
    assert not (probe.root / "newdir").exists()
    time.sleep(0.2)
    assert not probe.of(event="on_mkdir")


def test_before_command_disconnects(start_probe):
    probe = start_probe("--disconnect", "DELE")
    (probe.root / "keep.txt").write_bytes(b"keep")
    with Raw(probe) as r:
        r.login(USER, PASSWORD)
        code, text = r.cmd("DELE keep.txt")
        assert code == 421, text
        r.sock.settimeout(5)
        assert r.sock.recv(100) == b""  # the server closed the control connection
    assert (probe.root / "keep.txt").read_bytes() == b"keep"
    assert not probe.of(event="on_remove")


def test_before_upload_refuses(start_probe):
    probe = start_probe("--refuse-upload", "forbidden")
    f = probe.connect()
    with pytest.raises(ftplib.error_perm) as e:
        stor_bytes(f, "forbidden.txt", b"x" * 1000)
    assert str(e.value).startswith("550") and "Probe refuses" in str(e.value)
    stor_bytes(f, "fine.txt", b"ok")  # others pass
    f.quit()
    assert not (probe.root / "forbidden.txt").exists()
    assert (probe.root / "fine.txt").read_bytes() == b"ok"
    ev = probe.events()
    none_of(ev, "check_upload", path="/forbidden.txt")
    none_of(ev, "on_file_received", path="/forbidden.txt")
    none_of(ev, "on_incomplete_file_received", path="/forbidden.txt")


def test_before_download_refuses(start_probe):
    probe = start_probe("--refuse-download", "secret")
    (probe.root / "secret.txt").write_bytes(b"s")
    f = probe.connect()
    with pytest.raises(ftplib.error_perm) as e:
        retr_bytes(f, "secret.txt")
    assert str(e.value).startswith("550")
    f.quit()
    none_of(probe.events(), "on_file_sent")


@pytest.mark.parametrize("atomic", [False, True], ids=["plain", "atomic"])
def test_check_upload_refuses_and_removes_the_file(start_probe, atomic):
    probe = start_probe("--refuse-check", "reject", *(["--atomic"] if atomic else []))
    f = probe.connect()
    sid = probe.session_of(f.sock.getsockname()[1])
    with pytest.raises(ftplib.error_perm) as e:
        stor_bytes(f, "reject.bin", random_bytes(500_000, seed=11))
    assert str(e.value).startswith("550") and "Probe rejects the content." in str(e.value)
    assert not (probe.root / "reject.bin").exists()
    assert f.nlst() == []
    stor_bytes(f, "accept.bin", b"fine")
    f.quit()
    probe.wait_disconnect(sid)
    ev = probe.of(session=sid)
    only(ev, "check_upload", path="/reject.bin")
    e = only(ev, "on_incomplete_file_received", path="/reject.bin")
    assert e["outcome"] == "refused" and e["bytes"] == 500_000
    none_of(ev, "on_file_received", path="/reject.bin")
    only(ev, "on_file_received", path="/accept.bin")
    assert sorted(p.name for p in probe.root.iterdir()) == ["accept.bin"]


def test_check_upload_refusal_restores_previous_version_with_atomic_uploads(start_probe):
    """With atomic uploads a refused upload leaves the version it would have replaced."""
    probe = start_probe("--refuse-check", "reject", "--atomic")
    (probe.root / "reject.bin").write_bytes(b"previous version")
    f = probe.connect()
    with pytest.raises(ftplib.error_perm):
        stor_bytes(f, "reject.bin", b"MZ new bad version")
    f.quit()
    assert (probe.root / "reject.bin").read_bytes() == b"previous version"


# --- where hooks run -------------------------------------------------------------------------

def drive_everything(probe: Probe) -> int:
    f = probe.connect(login=False)
    sid = probe.session_of(f.sock.getsockname()[1])
    with contextlib.suppress(ftplib.error_perm):
        f.login(USER, "wrong")
    f.close()
    probe.wait_disconnect(sid)
    f = probe.connect(login=False)
    sid = probe.session_of(f.sock.getsockname()[1])
    f.login(USER, PASSWORD)
    f.mkd("x")
    stor_bytes(f, "x/a", b"a")
    retr_bytes(f, "x/a")
    f.rename("x/a", "x/b")
    f.delete("x/b")
    f.rmd("x")
    f.quit()
    probe.wait_disconnect(sid)
    return sid


def test_inline_hooks_run_on_the_event_loop(probe):
    drive_everything(probe)
    off = [e["event"] for e in probe.events() if not e["on_loop"]]
    assert not off, f"non-blocking hooks ran off the event loop: {off}"


def test_blocking_hooks_never_run_on_the_event_loop(start_probe):
    probe = start_probe("--blocking")
    drive_everything(probe)
    ev = probe.events()
    assert {e["event"] for e in ev} >= {"on_connect", "on_login", "on_login_failed", "on_logout",
                                        "on_file_received", "on_file_sent", "on_rename", "on_mkdir",
                                        "on_remove", "before_command", "check_upload", "on_disconnect"}
    on_loop = sorted({e["event"] for e in ev if e["on_loop"]})
    assert not on_loop, f"blocking hooks ran on the event loop: {on_loop}"


def test_a_blocking_hook_sends_only_its_own_call_to_the_pool(start_probe):
    """Issue 11: with blocking hooks and a storage that does not block, the commands and their
    storage calls stay on the event loop and only the hooks' calls go to the pool. Before, MKD,
    RMD, DELE, RNTO and a transfer's preparation ran whole on the pool for the hooks' sake."""
    probe = start_probe("--blocking", "--storage-threads")
    drive_everything(probe)
    ev = probe.events()
    storage = [e for e in ev if e["event"].startswith("storage.")]
    assert {e["event"] for e in storage} >= {"storage.mkdir", "storage.open_write", "storage.open_read",
                                             "storage.rename", "storage.remove", "storage.rmdir"}
    off_loop = sorted({e["event"] for e in storage if not e["on_loop"]})
    assert not off_loop, f"storage calls left the event loop for the hooks' sake: {off_loop}"
    hooks = [e for e in ev if not e["event"].startswith("storage.")]
    assert {e["event"] for e in hooks} >= {"on_mkdir", "on_rename", "on_remove", "before_upload",
                                           "before_download"}
    on_loop = sorted({e["event"] for e in hooks if e["on_loop"]})
    assert not on_loop, f"blocking hooks ran on the event loop: {on_loop}"
    # The events come in the order of the commands: the hook hears of a change after it.
    names = [e["event"] for e in ev]
    assert names.index("storage.mkdir") < names.index("on_mkdir")
    assert names.index("before_upload") < names.index("storage.open_write")
    assert names.index("storage.rename") < names.index("on_rename")


def test_site_commands_leave_the_loop_only_when_declared_blocking(start_probe):
    """An embedder's SITE command runs on the loop unless added with blocking = true; then it
    alone goes to the pool, whatever the hooks declare. Before, every SITE command went to the
    pool when a hook was blocking and stayed on the loop otherwise, however slow it was."""
    for flags, expected in (((), {"WHERE": "on the loop", "WHERE-POOL": "on the pool"}),
                            (("--blocking",), {"WHERE": "on the loop", "WHERE-POOL": "on the pool"})):
        probe = start_probe(*flags)
        f = probe.connect()
        for name, where in expected.items():
            assert f.sendcmd(f"SITE {name}") == f"200 {where}", (flags, name)
        f.quit()
        probe.stop()


# --- a slow hook on one session does not hold the others back ------------------------------

def test_slow_blocking_hook_does_not_hold_back_other_sessions(start_probe):
    probe = start_probe("--sleep-path", "slow")
    results: dict[str, float] = {}
    errors: list[str] = []
    payload = random_bytes(1 << 20, seed=12)

    def upload(name: str) -> None:
        try:
            f = probe.connect()
            stor_bytes(f, name, payload)
            results[name] = time.monotonic()
            f.quit()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"{name}: {e!r}")

    t0 = time.monotonic()
    slow = threading.Thread(target=upload, args=("slow.bin",))
    slow.start()
    # the sleeper is inside its hook now
    probe.wait(lambda ev: any(e["event"] == "check_upload" and e["path"] == "/slow.bin" for e in ev))
    others = [threading.Thread(target=upload, args=(f"fast{i}.bin",)) for i in range(20)]
    for t in others:
        t.start()
    for t in others:
        t.join(30)
    slow.join(30)
    assert not errors, errors
    assert len(results) == 21
    slow_end = results.pop("slow.bin")
    assert slow_end - t0 >= 2.0  # the hook did sleep
    # all 20 others were done while the sleeper was still waiting for its 226
    assert max(results.values()) < slow_end, {k: round(v - t0, 3) for k, v in results.items()}
    for i in range(20):
        assert (probe.root / f"fast{i}.bin").stat().st_size == len(payload)
