"""Passive listeners belong to the worker's loop, not to a session: after a transfer the listener
goes back to the loop's pool and the next PASV/EPSV (most likely the same session's) gets it
again (no new socket, bind and listen). A connection nobody asked for is never handed to a
transfer, an idle listener closes after about 2 s, a port needed now always wins over an idle
one, and when the whole range is taken PASV/EPSV waits for a port instead of failing at once.
Ranges under 100 ports keep nothing idle."""
import socket
import time

import pytest

from feitp_harness import Raw, parse_227, parse_229, random_bytes, recv_all


def passive(r: Raw, cmd: str) -> tuple[int, socket.socket]:
    code, text = r.cmd(cmd)
    assert code == (229 if cmd == "EPSV" else 227), text
    port = parse_229(text) if cmd == "EPSV" else parse_227(text)[1]
    return port, socket.create_connection((r.server.host, port), timeout=10)


def upload(r: Raw, data_sock: socket.socket, name: str, data: bytes) -> None:
    r.send(f"STOR {name}")
    code, text = r.reply()
    assert code == 150, text
    data_sock.sendall(data)
    data_sock.close()
    code, text = r.reply()
    assert code == 226, text


@pytest.fixture
def wide(start_server):
    """A server whose passive range is big enough for kept listeners (>= 100 ports)."""
    return start_server(pasv_ports=200)


def refused(server, port: int) -> bool:
    try:
        s = socket.create_connection((server.host, port), timeout=3)
    except ConnectionRefusedError:
        return True
    except TimeoutError:
        return False  # still listening, its queue full of our earlier probes
    s.close()
    return False


@pytest.mark.parametrize("cmd", ["EPSV", "PASV"])
def test_next_transfer_gets_the_same_port(wide, cmd):
    with Raw(wide) as r:
        r.login()
        assert r.cmd("TYPE I")[0] == 200
        ports = []
        for i in range(3):
            port, d = passive(r, cmd)
            ports.append(port)
            upload(r, d, f"f{i}.bin", random_bytes(3000 + i, seed=i))
        assert ports[0] == ports[1] == ports[2]
        # Downloads reuse it as well, and the bytes are right.
        port, d = passive(r, cmd)
        assert port == ports[0]
        r.send("RETR f1.bin")
        assert r.reply()[0] == 150
        assert recv_all(d) == random_bytes(3001, seed=1)
        d.close()
        assert r.reply()[0] == 226
    for i in range(3):
        assert (wide.root / f"f{i}.bin").read_bytes() == random_bytes(3000 + i, seed=i)


def test_stray_connection_on_kept_port_is_never_used(wide):
    """A connection that arrives on the kept port before the client asked for a new transfer
    is not the client's next data connection: the next EPSV opens a fresh listener."""
    with Raw(wide) as r:
        r.login()
        assert r.cmd("TYPE I")[0] == 200
        port1, d = passive(r, "EPSV")
        upload(r, d, "first.bin", b"first")
        stray = socket.create_connection((wide.host, port1), timeout=5)
        stray.sendall(b"bytes that must not land in a file")
        time.sleep(0.2)
        # (A fresh random port, which may by chance be the same number again.)
        _, d = passive(r, "EPSV")
        data = random_bytes(4096, seed=9)
        upload(r, d, "second.bin", data)
        stray.settimeout(5)
        try:
            assert stray.recv(100) == b""
        except ConnectionResetError:
            pass
        stray.close()
        assert r.cmd("NOOP")[0] == 200
    assert (wide.root / "second.bin").read_bytes() == data
    assert (wide.root / "first.bin").read_bytes() == b"first"


def test_kept_port_closes_when_not_reused(wide):
    with Raw(wide, timeout=15) as r:
        r.login()
        port, d = passive(r, "EPSV")
        upload(r, d, "x.bin", b"x")
        # Kept for about 2 seconds, checked once a second.
        deadline = time.monotonic() + 6
        while not refused(wide, port):
            assert time.monotonic() < deadline, "the kept passive port stayed open"
            time.sleep(0.5)
        port2, d = passive(r, "EPSV")
        upload(r, d, "y.bin", b"y")
    assert (wide.root / "y.bin").read_bytes() == b"y"


def test_active_mode_gives_the_port_back(wide):
    """After EPRT the session's earlier listener is no longer its own: a connection to it never
    becomes the active transfer's data, and the idle port closes within the keep time."""
    with Raw(wide, timeout=15) as r:
        r.login()
        port, d = passive(r, "EPSV")
        upload(r, d, "a.bin", b"a")
        lst = socket.socket()
        lst.bind(("127.0.0.1", 0))
        lst.listen(1)
        lst.settimeout(10)
        lport = lst.getsockname()[1]
        assert r.cmd(f"EPRT |1|127.0.0.1|{lport}|")[0] == 200
        try:
            stray = socket.create_connection((wide.host, port), timeout=3)
            stray.sendall(b"not the data")
        except ConnectionRefusedError:
            stray = None
        r.send("STOR b.bin")
        conn, _ = lst.accept()
        assert r.reply()[0] == 150
        conn.sendall(b"active")
        conn.close()
        assert r.reply()[0] == 226
        lst.close()
        if stray:
            stray.close()
        deadline = time.monotonic() + 6
        while not refused(wide, port):
            assert time.monotonic() < deadline, "the idle passive port stayed open"
            time.sleep(0.5)
    assert (wide.root / "b.bin").read_bytes() == b"active"


def test_session_end_closes_kept_port(wide):
    r = Raw(wide)
    r.login()
    port, d = passive(r, "EPSV")
    upload(r, d, "q.bin", b"q")
    assert r.cmd("QUIT")[0] == 221
    r.close()
    deadline = time.monotonic() + 5
    while not refused(wide, port):
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_small_range_keeps_no_listener(server):
    """The default test range has 40 ports: the listener closes right after the accept."""
    assert server.pasv[1] - server.pasv[0] + 1 < 100
    with Raw(server) as r:
        r.login()
        port, d = passive(r, "EPSV")
        upload(r, d, "s.bin", b"small")
        assert refused(server, port)
    assert (server.root / "s.bin").read_bytes() == b"small"


def test_port_needed_now_takes_an_idle_one(start_server):
    """All 100 ports of the range busy, one of them only idle in the pool: a new EPSV gets that
    one at once. (One worker: a worker hands on only its own listeners.)"""
    srv = start_server(pasv_ports=100, extra=["--workers", "1"])
    keeper = Raw(srv)
    holders = []
    try:
        keeper.login()
        for _ in range(99):
            h = Raw(srv)
            h.login()
            code, text = h.cmd("EPSV")
            assert code == 229, text
            holders.append(h)
        # The 100th port: used for one upload, then idle.
        kept_port, d = passive(keeper, "EPSV")
        upload(keeper, d, "k.bin", b"kept")
        with Raw(srv) as late:
            late.login()
            started = time.monotonic()
            port, d = passive(late, "EPSV")
            assert time.monotonic() - started < 1
            assert port == kept_port
            upload(late, d, "late.bin", b"needed now")
    finally:
        for h in holders:
            h.close()
        keeper.close()
    assert (srv.root / "late.bin").read_bytes() == b"needed now"


def test_pasv_waits_for_a_port_when_the_range_is_taken(start_server):
    """Every port offered to another session: EPSV and PASV wait (instead of 425 at once) until
    a session gives its port back, and then get that very port. (One worker, as above.)"""
    srv = start_server(pasv_ports=100, extra=["--workers", "1"])
    holders = []
    try:
        ports = []
        for _ in range(100):
            h = Raw(srv)
            h.login()
            code, text = h.cmd("EPSV")
            assert code == 229, text
            ports.append(parse_229(text))
            holders.append(h)
        for cmd, freed in (("EPSV", 0), ("PASV", 1)):
            late = Raw(srv, timeout=10)
            holders.append(late)
            late.login()
            late.send(cmd)
            time.sleep(1)
            # A QUIT gives the holder's listener back: the waiting session gets it.
            assert holders[freed].cmd("QUIT")[0] == 221
            code, text = late.reply()
            assert code == (229 if cmd == "EPSV" else 227), text
            port = parse_229(text) if cmd == "EPSV" else parse_227(text)[1]
            assert port == ports[freed]
            d = socket.create_connection((srv.host, port), timeout=10)
            upload(late, d, f"late-{cmd}.bin", cmd.encode())
            # It takes a port again, so the whole range stays offered.
            assert late.cmd("EPSV")[0] == 229
    finally:
        for h in holders:
            h.close()
    assert (srv.root / "late-EPSV.bin").read_bytes() == b"EPSV"
    assert (srv.root / "late-PASV.bin").read_bytes() == b"PASV"


def test_unused_passive_ports_are_released_after_accept_timeout(start_server):
    """F15: with a 4-port range, 4 sessions that send EPSV and never use it hold every port only
    until the accept timeout (2 s here): then a 5th session's EPSV (which waited meanwhile) and
    transfer work, and the idle sessions' next RETR gets 425 (their port is gone; they must send
    PASV/EPSV again)."""
    srv = start_server(pasv_ports=4, extra=["--data-timeout", "2", "--max-per-ip", "0"])
    (srv.root / "f.bin").write_bytes(b"content")
    idle = []
    try:
        for _ in range(4):
            r = Raw(srv, timeout=10)
            idle.append(r)
            r.login()
            assert r.cmd("EPSV")[0] == 229
        with Raw(srv, timeout=10) as late:
            late.login()
            # Every port is taken now (the precondition of the test): EPSV waits, and gets a
            # port once the idle sessions' offers expire, or 425 if its own wait ends first.
            started = time.monotonic()
            code, text = late.cmd("EPSV")
            assert time.monotonic() - started > 1, (code, text)
            deadline = time.monotonic() + 8
            while code != 229:
                assert code == 425, text
                assert time.monotonic() < deadline, "passive ports still taken after the accept timeout"
                code, text = late.cmd("EPSV")
            d = socket.create_connection((srv.host, parse_229(text)), timeout=10)
            upload(late, d, "late.bin", b"a port again")
        for r in idle:
            code, text = r.cmd("RETR f.bin")
            assert code == 425, text
            # A fresh EPSV works for them too.
            port, d = passive(r, "EPSV")
            r.send("RETR f.bin")
            assert r.reply()[0] == 150
            assert recv_all(d) == b"content"
            d.close()
            assert r.reply()[0] == 226
    finally:
        for r in idle:
            r.close()
    assert (srv.root / "late.bin").read_bytes() == b"a port again"


def test_offered_port_is_not_closed_early(start_server):
    """The accept timeout counts from the PASV/EPSV reply: a client that connects within it
    (here after 1 s of a 3 s timeout) gets its transfer."""
    srv = start_server(extra=["--data-timeout", "3"])
    with Raw(srv, timeout=10) as r:
        r.login()
        code, text = r.cmd("EPSV")
        assert code == 229, text
        time.sleep(1)
        d = socket.create_connection((srv.host, parse_229(text)), timeout=10)
        upload(r, d, "in-time.bin", b"in time")
    assert (srv.root / "in-time.bin").read_bytes() == b"in time"
