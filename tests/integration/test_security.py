"""The classic FTP attacks: traversal, symlink escapes, PORT bounce, PASV theft, brute force,
hostile bytes, vanishing clients, connection floods, idle sessions."""
import ftplib
import os
import random
import socket
import struct
import time

import pytest

from feitp_harness import Raw, parse_227, random_bytes, recv_all, retr_bytes, stor_bytes


def err_code(fn, *a):
    with pytest.raises(ftplib.Error) as e:
        fn(*a)
    return int(str(e.value)[:3])


@pytest.fixture
def outside(server):
    """A directory beside the root (outside it) holding a secret."""
    d = server.root.parent / "outside"
    d.mkdir(exist_ok=True)
    (d / "secret.txt").write_bytes(b"TOP SECRET")
    return d


# --- traversal --------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["../outside/secret.txt", "../../outside/secret.txt",
                                  "/../outside/secret.txt", "sub/../../outside/secret.txt",
                                  "..//outside/secret.txt", "/etc/passwd", "../../../../etc/passwd"])
def test_retr_traversal_refused(ftp, server, outside, path):
    (server.root / "sub").mkdir(exist_ok=True)
    assert err_code(retr_bytes, ftp, path) == 550


def test_cwd_dotdot_stays_in_root(ftp, server, outside):
    assert ftp.sendcmd("CWD ../../..")[:3] in ("250", "550")
    assert ftp.sendcmd("PWD").startswith('257 "/"')
    names = ftp.nlst()
    assert "outside" not in names and "secret.txt" not in names


def test_absolute_path_is_inside_root(ftp, server):
    (server.root / "etc").mkdir()
    (server.root / "etc" / "passwd").write_bytes(b"fake passwd inside the root")
    assert retr_bytes(ftp, "/etc/passwd") == b"fake passwd inside the root"


def test_stor_traversal_stays_inside(ftp, server, outside):
    for path in ("../outside/evil.txt", "/../outside/evil.txt", "../evil.txt"):
        try:
            stor_bytes(ftp, path, b"evil")
        except ftplib.Error as e:
            assert str(e)[:3] in ("550", "553"), str(e)
    assert not (outside / "evil.txt").exists()
    assert not (server.root.parent / "evil.txt").exists()


def test_mkd_rename_delete_traversal(ftp, server, outside):
    for cmd in ("MKD ../outside/newdir", "DELE ../outside/secret.txt",
                "RMD ../outside", "RNFR ../outside/secret.txt"):
        try:
            resp = ftp.sendcmd(cmd)
        except ftplib.Error as e:
            resp = str(e)
        if cmd.startswith("RNFR") and resp.startswith("350"):
            try:
                resp = ftp.sendcmd("RNTO stolen.txt")
            except ftplib.Error as e:
                resp = str(e)
            assert not (server.root / "stolen.txt").exists() or \
                (server.root / "stolen.txt").read_bytes() != b"TOP SECRET"
    assert (outside / "secret.txt").read_bytes() == b"TOP SECRET"
    assert not (outside / "newdir").exists()
    assert outside.is_dir()


@pytest.mark.parametrize("target_kind", ["absolute", "relative"])
def test_symlink_dir_escape(ftp, server, outside, target_kind):
    target = str(outside) if target_kind == "absolute" else "../outside"
    os.symlink(target, server.root / "escape")
    assert err_code(retr_bytes, ftp, "escape/secret.txt") == 550
    try:
        stor_bytes(ftp, "escape/planted.txt", b"x")
    except ftplib.Error as e:
        assert str(e)[:3] in ("550", "553")
    assert not (outside / "planted.txt").exists()
    try:
        lines = []
        ftp.retrlines("LIST escape/", lines.append)
        assert not any("secret.txt" in x for x in lines), lines
    except ftplib.Error as e:
        assert str(e)[:3] in ("450", "550")
    try:
        ftp.cwd("escape")
        pytest.fail("CWD into a symlink that leaves the root succeeded")
    except ftplib.Error as e:
        assert str(e)[:3] == "550"
    try:
        resp = ftp.sendcmd("SIZE escape/secret.txt")
        pytest.fail(f"SIZE through an escaping symlink answered {resp}")
    except ftplib.Error as e:
        assert str(e)[:3] == "550"


def test_symlink_file_escape(ftp, server, outside):
    os.symlink(str(outside / "secret.txt"), server.root / "abs-link")
    os.symlink("../outside/secret.txt", server.root / "rel-link")
    os.symlink("/etc/passwd", server.root / "passwd")
    for name in ("abs-link", "rel-link", "passwd"):
        assert err_code(retr_bytes, ftp, name) == 550, name
    ftp.sendcmd("TYPE I")
    for name in ("abs-link", "rel-link"):
        # refused, or the link's own size: never the size of the file outside
        try:
            resp = ftp.sendcmd(f"SIZE {name}")
            assert resp != "213 10", f"SIZE through an escaping symlink: {resp}"
        except ftplib.Error as e:
            assert str(e)[:3] == "550"
    assert err_code(ftp.sendcmd, "HASH rel-link") == 550
    # Writing through the link must not touch the target. APPE writes in place: the escaping
    # link is refused (550). STOR (atomic by default) replaces the link itself by rename
    # (docs/configuration.md, atomic_uploads), so the name then holds the upload.
    assert err_code(lambda: stor_bytes(ftp, "rel-link", b"appended", cmd="APPE")) == 550
    assert (outside / "secret.txt").read_bytes() == b"TOP SECRET"
    assert stor_bytes(ftp, "rel-link", b"overwritten").startswith("226")
    assert (outside / "secret.txt").read_bytes() == b"TOP SECRET"
    assert not (server.root / "rel-link").is_symlink()
    assert (server.root / "rel-link").read_bytes() == b"overwritten"


def test_symlink_inside_root_works(ftp, server):
    (server.root / "real").mkdir()
    (server.root / "real" / "f.txt").write_bytes(b"inside")
    os.symlink("real", server.root / "alias")
    assert retr_bytes(ftp, "alias/f.txt") == b"inside"


def test_symlink_inside_root_size_matches_retr(ftp, server):
    """SIZE/MLST of a symlink to a file inside the root report what RETR delivers (clients
    resume from SIZE)."""
    (server.root / "target.txt").write_bytes(b"0123456789" * 4)
    os.symlink("target.txt", server.root / "alias.txt")
    ftp.sendcmd("TYPE I")
    data = retr_bytes(ftp, "alias.txt")
    assert data == b"0123456789" * 4
    assert ftp.sendcmd("SIZE alias.txt") == f"213 {len(data)}"


def test_rename_onto_symlink_escape(ftp, server, outside):
    os.symlink(str(outside), server.root / "esc")
    (server.root / "mine.txt").write_bytes(b"mine")
    assert ftp.sendcmd("RNFR mine.txt").startswith("350")
    assert err_code(ftp.sendcmd, "RNTO esc/mine.txt") == 550  # the link leaves the root
    assert not (outside / "mine.txt").exists()
    assert (server.root / "mine.txt").read_bytes() == b"mine"


# --- data-connection attacks ------------------------------------------------------------------

def test_port_bounce_refused(server):
    (server.root / "f.txt").write_bytes(b"bounce payload")
    victim = socket.socket()
    victim.bind(("127.0.0.2", 0))
    victim.listen(1)
    victim.settimeout(2)
    vport = victim.getsockname()[1]
    try:
        with Raw(server) as r:
            r.login()
            code, text = r.cmd(f"PORT 127,0,0,2,{vport >> 8},{vport & 255}")
            assert code in (500, 501, 504), f"PORT to a foreign address: {text}"
            code, text = r.cmd(f"EPRT |1|127.0.0.2|{vport}|")
            assert code in (500, 501, 504, 522), f"EPRT to a foreign address: {text}"
            r.send("RETR f.txt")
            code, text = r.reply()
            if code in (125, 150):
                code, text = r.reply()
            assert code >= 400, text
            with pytest.raises(socket.timeout):
                victim.accept()
    finally:
        victim.close()


def test_port_privileged_refused(server):
    with Raw(server) as r:
        r.login()
        code, text = r.cmd("PORT 127,0,0,1,0,25")
        assert code in (500, 501, 504), text
        code, text = r.cmd("EPRT |1|127.0.0.1|21|")
        assert code in (500, 501, 504, 522), text


def test_pasv_theft_refused(server):
    data = random_bytes(500_000, seed=71)
    (server.root / "loot.bin").write_bytes(data)
    with Raw(server) as r:
        r.login()
        assert r.cmd("TYPE I")[0] == 200
        code, text = r.cmd("PASV")
        assert code == 227, text
        _, port = parse_227(text)
        thief = socket.socket()
        thief.settimeout(3)
        thief.bind(("127.0.0.3", 0))
        thief.connect(("127.0.0.1", port))
        time.sleep(0.3)
        r.send("RETR loot.bin")
        legit = socket.create_connection(("127.0.0.1", port), timeout=10)
        code, text = r.reply()
        assert code in (125, 150), text
        got = recv_all(legit)
        legit.close()
        code, text = r.reply()
        assert code == 226, text
        assert got == data
        try:
            stolen = thief.recv(65536)
        except (socket.timeout, ConnectionResetError):
            stolen = b""
        thief.close()
        assert stolen == b"", "a foreign address received passive data"


def test_pasv_theft_alone_times_out_or_refuses(start_server):
    """Only the thief connects: no data to it, and the legitimate session gets an error
    (not a hang) once the data timeout passes."""
    srv = start_server(extra=["--data-timeout", "2"])
    (srv.root / "loot.bin").write_bytes(b"secret data")
    with Raw(srv, timeout=15) as r:
        r.login()
        code, text = r.cmd("EPSV")
        assert code == 229
        import re
        port = int(re.search(r"\|\|\|(\d+)\|", text).group(1))
        thief = socket.socket()
        thief.settimeout(6)
        thief.bind(("127.0.0.3", 0))
        thief.connect(("127.0.0.1", port))
        r.send("RETR loot.bin")
        code, text = r.reply()
        if code in (125, 150):
            code, text = r.reply()
        assert code == 425, text
        try:
            stolen = thief.recv(100)
        except (socket.timeout, ConnectionResetError):
            stolen = b""
        assert stolen == b""
        thief.close()
        assert r.cmd("NOOP")[0] == 200


# --- login abuse ------------------------------------------------------------------------------

def test_brute_force_disconnects(server):
    """After N failed passwords (default 3) the server closes the connection."""
    with Raw(server, timeout=15) as r:
        closed_after = None
        for attempt in range(1, 8):
            try:
                r.send(f"USER {server.user}")
                code, _ = r.reply()
                if code == 421:
                    closed_after = attempt
                    break
                assert code == 331
                r.send(f"PASS wrong{attempt}")
                code, _ = r.reply()
                assert code in (530, 421)
                if code == 421:
                    closed_after = attempt
                    break
            except (EOFError, ConnectionResetError, BrokenPipeError):
                closed_after = attempt
                break
        else:
            pass
        if closed_after is None:
            # maybe the close arrives right after the last 530
            try:
                code, _ = r.cmd("NOOP")
                assert code == 421
            except (EOFError, ConnectionResetError, BrokenPipeError):
                closed_after = 8
        assert closed_after is not None and closed_after <= 4, \
            f"still connected after {closed_after} failed logins"
    server.connect().quit()  # the legitimate user still gets in


def test_unknown_commands_before_login_disconnect(server):
    with Raw(server, timeout=10) as r:
        closed = False
        for i in range(30):
            try:
                code, text = r.cmd(f"XYZZY{i % 10}")
                if code == 421:
                    closed = True
                    break
                assert code in (500, 530), text
            except (EOFError, ConnectionResetError, BrokenPipeError):
                closed = True
                break
        assert closed, "30 unknown commands before login did not end the session"


# --- hostile bytes ----------------------------------------------------------------------------

def test_overlong_line(server):
    """A line over limits.max_line gets one 500 and is discarded to its end; the session goes
    on (the next command is answered)."""
    with Raw(server) as r:
        r.login()
        r.sock.sendall(b"NOOP " + b"A" * 100_000 + b"\r\n")
        assert r.reply() == (500, "500 Command line too long.\r\n")
        assert r.cmd("NOOP")[0] == 200
    server.connect().quit()


def test_overlong_path_argument(ftp):
    code = err_code(ftp.sendcmd, "CWD " + "d/" * 900)
    assert 500 <= code <= 553


def test_long_line_within_cap_accepted(ftp, server):
    name = "n" * 200
    stor_bytes(ftp, name, b"ok")
    assert (server.root / name).read_bytes() == b"ok"


def test_closing_reply_reaches_a_client_still_sending(server):
    """The server ends a session (too many unknown commands before login) while the client is
    still sending: the client reads every reply, the 421 last, and then an orderly end of file,
    not a reset. A plain close() with the client's bytes unread sends a reset, which also
    throws away replies not yet on the wire (the CI once lost the 421 so); the server now
    shuts its side and drops the rest of the input first (a lingering close)."""
    junk = b"".join(b"JUNK%d\r\n" % i for i in range(20000))  # ~170 KiB, never read by anyone
    with Raw(server, timeout=10) as r:
        r.sock.sendall(junk)
        replies, end = [], None
        while end is None:
            try:
                replies.append(r.reply())
            except EOFError:
                end = "closed"
            except ConnectionResetError:
                end = "reset"
    assert end == "closed", (end, replies[-2:])
    assert replies and replies[-1][0] == 421, replies[-2:]
    assert "too many unknown" in replies[-1][1].lower(), replies[-1]
    assert all(c == 500 for c, _ in replies[:-1]) and len(replies) > 1, replies[:3]
    assert server.alive()


@pytest.mark.parametrize("seed", range(4))
def test_random_bytes(server, seed):
    """64 KiB of random bytes on the control connection, before login (even seeds) or after:
    every reply is well formed (read_reply asserts it) and refuses (4xx/5xx), nothing hangs
    (a socket timeout fails the test). Before login the server closes after
    max_unknown_before_login refusals with a 421 as its last reply; after login it answers
    every line and then a NOOP. A fresh client logs in and transfers afterwards."""
    rng = random.Random(seed)
    blob = rng.randbytes(64 * 1024)
    logged_in = bool(seed % 2)
    with Raw(server, timeout=5) as r:
        if logged_in:
            r.login()
        sent_all = True
        try:
            for i in range(0, len(blob), 4096):
                r.sock.sendall(blob[i:i + 4096])
            r.sock.sendall(b"\r\nNOOP\r\n")
        except (BrokenPipeError, ConnectionResetError):
            sent_all = False  # the server closed the connection: judged below
        replies, end = [], None
        while end is None:
            try:
                code, text = r.reply()
            except EOFError:
                end = "closed"
                break
            except ConnectionResetError:
                end = "reset"  # closed with our unread bytes still queued: RST after the FIN
                break
            replies.append((code, text))
            if code == 200 and text.startswith("200 NOOP"):
                end = "noop"
            else:
                assert 400 <= code <= 599, text
    if logged_in:
        assert sent_all and end == "noop", (end, replies[-3:])
        assert len(replies) > 100, len(replies)  # a reply per random line, then the NOOP
    else:
        assert end in ("closed", "reset"), (end, replies[-3:])
        assert replies and replies[-1][0] == 421, replies[-3:]
        assert "too many unknown" in replies[-1][1].lower(), replies[-1]
        assert all(500 <= c <= 599 for c, _ in replies[:-1]), replies
    assert server.alive()
    f = server.connect()
    data = random_bytes(50_000, seed=seed)
    stor_bytes(f, f"after-{seed}.bin", data)
    assert retr_bytes(f, f"after-{seed}.bin") == data
    f.quit()


def test_telnet_and_nul_bytes(server):
    with Raw(server) as r:
        r.login()
        r.sock.sendall(b"\xff\xfb\x01\xff\xfd\x03NOOP\r\n")  # WILL ECHO, DO SGA, NOOP
        code, text = r.reply()
        assert code == 200, text
        r.sock.sendall(b"NO\x00OP\r\n")
        code, text = r.reply()
        assert code in (500, 501), text
        r.sock.sendall(b"\r\n\r\n\n")
        r.sock.sendall(b"NOOP\r\n")
        while True:
            code, text = r.reply()
            if code == 200:
                break
            assert code in (500, 501), text
    assert server.alive()


def test_bare_lf_terminated_command(server):
    """A bare LF (no CR) ends a command line like CRLF does (proto::LineAssembler, as most
    servers do; docs/protocol.md): "NOOP\\nNOOP\\r\\n" is two NOOPs, each answered 200, before
    login and after."""
    with Raw(server) as r:
        r.sock.sendall(b"NOOP\nNOOP\r\n")
        assert r.reply() == (200, "200 NOOP ok.\r\n")
        assert r.reply() == (200, "200 NOOP ok.\r\n")
        r.login()
        r.sock.sendall(b"NOOP\nPWD\n")
        assert r.reply()[0] == 200
        code, text = r.reply()
        assert code == 257 and '"/"' in text, text
    assert server.alive()


# --- vanishing clients ------------------------------------------------------------------------

def rst_close(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.mark.parametrize("direction", ["stor", "retr"])
def test_client_vanishes_mid_transfer(server, direction):
    big = random_bytes(4 << 20, seed=72)
    (server.root / "big.bin").write_bytes(big)
    other = server.connect()
    other_data = random_bytes(200_000, seed=73)
    stor_bytes(other, "other.bin", other_data)
    for _ in range(3):
        r = Raw(server)
        r.login()
        assert r.cmd("TYPE I")[0] == 200
        d = r.pasv()
        if direction == "stor":
            r.send("STOR vanish.bin")
            assert r.reply()[0] in (125, 150)
            d.sendall(big[:1 << 20])
        else:
            d.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
            r.send("RETR big.bin")
            assert r.reply()[0] in (125, 150)
            d.recv(32768)
        rst_close(d)
        rst_close(r.sock)
        r.f.close()
        # the other session keeps working during and after
        assert retr_bytes(other, "other.bin") == other_data
    time.sleep(0.5)
    assert server.alive()
    assert other.sendcmd("NOOP").startswith("200")
    assert retr_bytes(other, "big.bin") == big
    other.quit()
    server.connect().quit()


def test_data_connection_closed_early_by_client(server):
    """The client closes only the data socket mid-RETR: 426 (or 451), session usable."""
    (server.root / "big.bin").write_bytes(random_bytes(8 << 20, seed=74))
    with Raw(server) as r:
        r.login()
        assert r.cmd("TYPE I")[0] == 200
        d = r.pasv()
        d.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
        r.send("RETR big.bin")
        assert r.reply()[0] in (125, 150)
        d.recv(1000)
        rst_close(d)
        code, text = r.reply()
        assert code in (426, 451), text
        assert r.cmd("NOOP")[0] == 200


# --- limits -----------------------------------------------------------------------------------

def test_max_connections_per_ip(start_server):
    srv = start_server(extra=["--max-per-ip", "2"])
    a = srv.connect()
    b = srv.connect()
    try:
        s = socket.create_connection((srv.host, srv.port), timeout=5)
        f = s.makefile("rb")
        line = f.readline().decode()
        assert line[:3] in ("421", "530"), line
        assert "too many connections, try again later" in line.lower(), line
        s.close()
    finally:
        a.quit()
    # a freed slot can be used again (the server may need a moment to notice)
    deadline = time.monotonic() + 5
    while True:
        try:
            c = srv.connect()
            c.quit()
            break
        except (ftplib.Error, EOFError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    b.quit()


def test_idle_timeout_421(start_server):
    srv = start_server(extra=["--idle-timeout", "2"])
    with Raw(srv, timeout=10) as r:
        r.login()
        t0 = time.monotonic()
        code, text = r.reply()  # unsolicited
        elapsed = time.monotonic() - t0
        assert code == 421, text
        assert 1.0 <= elapsed <= 8, elapsed
        assert r.f.readline() == b""


def test_idle_timeout_not_during_transfer(start_server):
    """A transfer that keeps moving is not idle."""
    srv = start_server(extra=["--idle-timeout", "2"])
    with Raw(srv, timeout=10) as r:
        r.login()
        d = r.pasv()
        r.send("STOR slow.bin")
        assert r.reply()[0] in (125, 150)
        for _ in range(7):
            d.sendall(b"x" * 1000)
            time.sleep(0.5)
        d.close()
        code, text = r.reply()
        assert code == 226, text
    assert (srv.root / "slow.bin").stat().st_size == 7000


def test_data_accept_timeout(start_server):
    srv = start_server(extra=["--data-timeout", "2"])
    (srv.root / "f").write_bytes(b"f")
    with Raw(srv, timeout=12) as r:
        r.login()
        assert r.cmd("PASV")[0] == 227
        t0 = time.monotonic()
        r.send("RETR f")
        code, text = r.reply()
        if code in (125, 150):
            code, text = r.reply()
        assert code == 425, text
        assert time.monotonic() - t0 < 9
        assert r.cmd("NOOP")[0] == 200


def test_sessions_many_in_parallel(server):
    sessions = [server.connect() for _ in range(20)]
    try:
        for i, f in enumerate(sessions):
            assert f.sendcmd("NOOP").startswith("200")
    finally:
        for f in sessions:
            f.quit()
