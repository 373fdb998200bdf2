"""Timeouts that mean what they say (audit F7, F8, F19).

- The data stall timeout fires only when no byte has moved for its whole length: a client that
  reads or sends slowly but steadily is never cut off, whatever the socket buffers (F7).
- Control commands (NOOP...) never extend the data accept and stall timeouts, and
  `idle_timeout = 0` does not disable them (F8).
- Before login, every refused command (unknown verb, or 530 for want of a login) counts against
  `max_unknown_before_login` (F19).

Each test runs feitpd with `--data-timeout 2` (accept and stall) and takes well under 20 s."""
import socket
import time

from feitp_harness import Raw, parse_229, random_bytes, recv_all, sha256_bytes

DATA_TIMEOUT = 2


def data_server(start_server, *extra: str):
    return start_server(extra=["--data-timeout", str(DATA_TIMEOUT), *extra])


def epsv_connect(r: Raw, rcvbuf: int | None = None, sndbuf: int | None = None) -> socket.socket:
    """EPSV, then a data socket whose buffers are set before the connect (so the TCP window
    is small from the start)."""
    code, text = r.cmd("EPSV")
    assert code == 229, text
    d = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        d.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if sndbuf:
        d.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    d.settimeout(10)
    d.connect((r.server.host, parse_229(text)))
    return d


def read_steadily(d: socket.socket, rate: int, limit_s: float) -> bytes:
    """Reads at about `rate` bytes per second, in small steps, until EOF (or `limit_s`)."""
    step = 0.02
    per_step = max(1, int(rate * step))
    got = bytearray()
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        b = d.recv(per_step)
        if not b:
            return bytes(got)
        got += b
        # Keep the average rate: sleep until this many bytes are "due".
        due = start + len(got) / rate
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(min(pause, step * 5))
    raise AssertionError(f"download not finished after {limit_s} s ({len(got)} bytes)")


def replies_until(r: Raw, wanted: set[int], noop_every: float, limit_s: float):
    """Sends NOOP every `noop_every` s until a reply with a code in `wanted` arrives; returns
    (code, text, seconds). Every NOOP is answered 200 at once (also while a transfer runs), so
    after each NOOP the replies are read up to its 200, and a wanted one is caught on the way."""
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        r.send("NOOP")
        found = None
        while True:
            code, text = r.reply()
            if code in wanted and found is None:
                found = (code, text, time.monotonic() - start)
                continue
            assert code == 200, text
            break
        if found:
            return found
        time.sleep(noop_every)
    raise AssertionError(f"no {sorted(wanted)} reply within {limit_s} s")


# --- F7: slow but steady transfers --------------------------------------------------------------

def test_slow_steady_download_completes(start_server):
    """F7: a client reading steadily at ~350 KB/s through a small receive window downloads a
    file bigger than what the kernel queues for it (about 4 MB here: tcp_wmem's maximum), with a
    2 s stall timeout: every byte and 226. (Before, the stall deadline moved only when a whole
    256 KiB write completed; a writer blocked on a full send buffer is woken only once about a
    third of it has drained, here more than 3 s: 426.)"""
    srv = data_server(start_server)
    data = random_bytes(4_600_000, seed=71)
    (srv.root / "slow.bin").write_bytes(data)
    with Raw(srv, timeout=20) as r:
        r.login()
        assert r.cmd("TYPE I")[0] == 200
        d = epsv_connect(r, rcvbuf=8192)
        r.send("RETR slow.bin")
        code, text = r.reply()
        assert code == 150, text
        got = read_steadily(d, rate=350_000, limit_s=19)
        d.close()
        code, text = r.reply()
        assert code == 226, text
    assert sha256_bytes(got) == sha256_bytes(data)


def test_slow_steady_upload_completes(start_server):
    """F7: a client sending 1000 bytes every 0.2 s for 5 s (longer than the 2 s stall timeout):
    226 and the bytes intact."""
    srv = data_server(start_server)
    data = random_bytes(25_000, seed=72)
    with Raw(srv, timeout=15) as r:
        r.login()
        assert r.cmd("TYPE I")[0] == 200
        d = epsv_connect(r)
        r.send("STOR up.bin")
        code, text = r.reply()
        assert code == 150, text
        for i in range(0, len(data), 1000):
            d.sendall(data[i:i + 1000])
            time.sleep(0.2)
        d.close()
        code, text = r.reply()
        assert code == 226, text
    assert (srv.root / "up.bin").read_bytes() == data


def test_slow_big_listing_completes(start_server):
    """F7: a LIST of about 5 MB (17000 files with long names, more than the kernel queues for a
    slow reader) read steadily at ~450 KB/s through a small window, with a 2 s stall timeout: the
    whole listing and 226. (Before, a listing was one write whose deadline was never moved: 426
    after 2 s.)"""
    srv = data_server(start_server)
    big = srv.root / "big"
    big.mkdir()
    names = [f"{i:06d}-" + "n" * 240 for i in range(17000)]
    for n in names:
        (big / n).touch()
    with Raw(srv, timeout=20) as r:
        r.login()
        d = epsv_connect(r, rcvbuf=16384)
        r.send("LIST /big")
        code, text = r.reply()
        assert code == 150, text
        got = read_steadily(d, rate=450_000, limit_s=19)
        d.close()
        code, text = r.reply()
        assert code == 226, text
    assert len(got) > 4_500_000
    listed = {line.rsplit(" ", 1)[-1] for line in got.decode().split("\r\n") if line}
    assert listed == set(names)


# --- the stall timeout still works ---------------------------------------------------------------

def test_download_stall_ends_with_426_and_session_goes_on(start_server):
    """A client that stops reading: 426 after about the stall timeout, then the session works."""
    srv = data_server(start_server)
    big = srv.root / "big.bin"
    with open(big, "wb") as f:
        f.truncate(64 << 20)  # far more than every socket buffer
    (srv.root / "small.bin").write_bytes(b"small file")
    with Raw(srv, timeout=15) as r:
        r.login()
        assert r.cmd("TYPE I")[0] == 200
        d = epsv_connect(r, rcvbuf=8192)
        r.send("RETR big.bin")
        assert r.reply()[0] == 150
        assert len(d.recv(4096)) > 0
        start = time.monotonic()
        code, text = r.reply()  # the client reads no more
        elapsed = time.monotonic() - start
        assert code == 426, text
        assert DATA_TIMEOUT - 0.5 <= elapsed <= DATA_TIMEOUT + 4, elapsed
        d.close()
        assert r.cmd("NOOP")[0] == 200
        d = epsv_connect(r)
        r.send("RETR small.bin")
        assert r.reply()[0] == 150
        assert recv_all(d) == b"small file"
        d.close()
        assert r.reply()[0] == 226


def test_upload_stall_ends_with_426_and_session_goes_on(start_server):
    srv = data_server(start_server)
    with Raw(srv, timeout=15) as r:
        r.login()
        assert r.cmd("TYPE I")[0] == 200
        d = epsv_connect(r)
        r.send("STOR stalled.bin")
        assert r.reply()[0] == 150
        d.sendall(b"x" * 1000)
        start = time.monotonic()
        code, text = r.reply()  # the client sends no more and does not close
        elapsed = time.monotonic() - start
        assert code == 426, text
        assert DATA_TIMEOUT - 0.5 <= elapsed <= DATA_TIMEOUT + 4, elapsed
        d.close()
        assert r.cmd("NOOP")[0] == 200
        d = epsv_connect(r)
        r.send("STOR ok.bin")
        assert r.reply()[0] == 150
        d.sendall(b"fine")
        d.close()
        assert r.reply()[0] == 226
    assert (srv.root / "ok.bin").read_bytes() == b"fine"


# --- F8: control commands do not extend data timeouts ---------------------------------------------

def test_noop_does_not_extend_stall_timeout(start_server):
    """F8: STOR with 1 byte, then NOOP every second: still 426 after about the stall timeout
    (before, each NOOP pushed the deadline back by the idle timeout: never)."""
    srv = data_server(start_server)
    with Raw(srv, timeout=15) as r:
        r.login()
        d = epsv_connect(r)
        r.send("STOR one.bin")
        assert r.reply()[0] == 150
        d.sendall(b"1")
        code, text, elapsed = replies_until(r, {426, 226}, noop_every=1.0, limit_s=12)
        assert code == 426, text
        assert elapsed <= DATA_TIMEOUT + 4, elapsed
        d.close()
        assert r.cmd("NOOP")[0] == 200


def test_noop_does_not_extend_accept_timeout(start_server):
    """F8: EPSV, then a RETR nobody connects to, with NOOP every second: 425 after about the
    accept timeout, and the passive port is released."""
    srv = data_server(start_server)
    (srv.root / "f.bin").write_bytes(b"f")
    with Raw(srv, timeout=15) as r:
        r.login()
        code, text = r.cmd("EPSV")
        assert code == 229, text
        port = parse_229(text)
        r.send("RETR f.bin")
        code, text, elapsed = replies_until(r, {425, 150, 226}, noop_every=1.0, limit_s=12)
        assert code == 425, text
        assert elapsed <= DATA_TIMEOUT + 4, elapsed
        try:
            socket.create_connection((srv.host, port), timeout=3).close()
            released = False
        except ConnectionRefusedError:
            released = True
        assert released, "the passive port stayed open after the accept timeout"
        assert r.cmd("NOOP")[0] == 200


def test_idle_timeout_zero_keeps_data_timeouts(start_server):
    """F8: with idle_timeout 0 (no idle limit) a stalled upload still ends with 426, even when
    a control command arrives during the transfer (before, any command then disabled it)."""
    srv = data_server(start_server, "--idle-timeout", "0")
    with Raw(srv, timeout=15) as r:
        r.login()
        d = epsv_connect(r)
        r.send("STOR zero.bin")
        assert r.reply()[0] == 150
        d.sendall(b"0")
        assert r.cmd("NOOP")[0] == 200
        start = time.monotonic()
        code, text = r.reply()
        assert code == 426, text
        assert time.monotonic() - start <= DATA_TIMEOUT + 4
        d.close()
        assert r.cmd("NOOP")[0] == 200


# --- F19: refused commands before login ------------------------------------------------------------

def test_refused_commands_before_login_close_with_421(server):
    """F19: `max_unknown_before_login` (10) counts commands refused for want of a login, not only
    unknown verbs: 10 × `CWD /` get 530, the 11th gets 421 and the connection closes."""
    with Raw(server, timeout=10) as r:
        for i in range(10):
            code, text = r.cmd("CWD /")
            assert code == 530, f"command {i + 1}: {text}"
        code, text = r.cmd("CWD /")
        assert code == 421, text
        assert r.f.readline() == b""


def test_mixed_refusals_before_login_count_together(server):
    """F19: unknown verbs and 530 refusals share one count; a login before the limit works."""
    with Raw(server, timeout=10) as r:
        for i in range(5):
            assert r.cmd(f"XYZZY{i}")[0] == 500
            assert r.cmd("PWD")[0] == 530
        code, text = r.cmd("LIST")
        assert code == 421, text
        assert r.f.readline() == b""
    with Raw(server, timeout=10) as r:
        for _ in range(9):
            assert r.cmd("CWD /")[0] == 530
        r.login()
        # After login the count no longer applies.
        for _ in range(12):
            assert r.cmd("XYZZY")[0] == 500
        assert r.cmd("NOOP")[0] == 200
