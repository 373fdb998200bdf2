"""The passive listener kept between transfers: the session's next PASV/EPSV offers the same port
for a short while (no new socket, bind and listen), but never hands a connection nobody asked
for to a transfer, the port closes once the session stops using it, and a port needed now
always wins over a kept one. Ranges under 100 ports keep nothing."""
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


def test_active_mode_closes_kept_port(wide):
    with Raw(wide) as r:
        r.login()
        port, d = passive(r, "EPSV")
        upload(r, d, "a.bin", b"a")
        lst = socket.socket()
        lst.bind(("127.0.0.1", 0))
        lst.listen(1)
        lst.settimeout(10)
        lport = lst.getsockname()[1]
        assert r.cmd(f"EPRT |1|127.0.0.1|{lport}|")[0] == 200
        assert refused(wide, port)
        r.send("STOR b.bin")
        conn, _ = lst.accept()
        assert r.reply()[0] == 150
        conn.sendall(b"active")
        conn.close()
        assert r.reply()[0] == 226
        lst.close()
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


def test_port_needed_now_takes_a_kept_one(start_server):
    """All 100 ports of the range busy, one of them only kept: a new PASV gets that one. (One
    worker: a worker can take back only the listeners its own sessions keep.)"""
    srv = start_server(pasv_ports=100, extra=["--max-per-ip", "0", "--workers", "1"])
    keeper = Raw(srv)
    holders = []
    try:
        keeper.login()
        kept_port, d = passive(keeper, "EPSV")
        upload(keeper, d, "k.bin", b"kept")
        for _ in range(99):
            h = Raw(srv)
            h.login()
            code, text = h.cmd("EPSV")
            assert code == 229, text
            holders.append(h)
        with Raw(srv) as late:
            late.login()
            port, d = passive(late, "EPSV")
            assert port == kept_port
            upload(late, d, "late.bin", b"needed now")
        # The keeper's next transfer still works, on whatever port is free.
        h = holders.pop()
        h.close()
        time.sleep(0.2)
        _, d = passive(keeper, "EPSV")
        upload(keeper, d, "k2.bin", b"again")
    finally:
        for h in holders:
            h.close()
        keeper.close()
    assert (srv.root / "late.bin").read_bytes() == b"needed now"
    assert (srv.root / "k2.bin").read_bytes() == b"again"


def test_unused_passive_ports_are_released_after_accept_timeout(start_server):
    """F15: with a 4-port range, 4 sessions that send EPSV and never use it hold every port only
    until the accept timeout (2 s here): then a 5th session's EPSV and transfer work, and the
    idle sessions' next RETR gets 425 (their port is gone; they must send PASV/EPSV again)."""
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
            # Every port is taken now (the precondition of the test).
            code, text = late.cmd("EPSV")
            assert code == 425, text
            deadline = time.monotonic() + 8
            while True:
                code, text = late.cmd("EPSV")
                if code == 229:
                    break
                assert code == 425, text
                assert time.monotonic() < deadline, "passive ports still taken after the accept timeout"
                time.sleep(0.5)
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
