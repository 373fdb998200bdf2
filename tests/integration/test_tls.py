"""FTPS (RFC 4217): explicit (AUTH TLS) and implicit TLS with real clients (curl, lftp, wget,
Python's ftplib.FTP_TLS) and a raw TLS client for the hostile cases. Certificates are made with
the openssl CLI for each module run."""
from __future__ import annotations

import ftplib
import io
import socket
import ssl
import subprocess
import time

import pytest

from feitp_harness import (SOCK_TIMEOUT, feitpd_binary, free_port, random_bytes, read_reply,
                           sha256_bytes, sha256_file)
from tls_helpers import (RawTLS, client_context, ftps, make_cert, make_expired_cert)

MiB = 1 << 20


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    cert, key = make_cert(d, "server", "localhost")
    other_cert, other_key = make_cert(d, "other", "other.test")
    return {"cert": cert, "key": key, "other_cert": other_cert, "other_key": other_key, "dir": d}


def tls_flags(certs, implicit_port: int | None = None) -> list[str]:
    flags = ["--tls-cert", str(certs["cert"]), "--tls-key", str(certs["key"])]
    if implicit_port:
        flags += ["--implicit-tls-listen", f"127.0.0.1:{implicit_port}"]
    return flags


def wait_for_log(server, needle: str, timeout: float = 10.0, count: int = 1) -> str:
    """The server's log once it holds `needle` at least `count` times.

    A session logs its summary as it ends, after the client has seen the QUIT reply, so a test
    that counts summaries waits for all of them (a slow build, such as ASan, writes them late)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = server.log()
        if text.count(needle) >= count:
            return text
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} not {count} times in the server log:\n{server.log()[-4000:]}")


def curl(*args: str, timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", "-k", "--max-time", str(timeout - 5), *args],
                          capture_output=True, timeout=timeout)


# --- commands and replies ---------------------------------------------------------------------

def test_feat_and_security_command_replies(start_server, certs):
    srv = start_server(extra=tls_flags(certs))
    with RawTLS(srv.host, srv.port) as r:
        code, text = r.cmd("FEAT")
        assert code == 211
        for item in (" AUTH TLS\r\n", " PBSZ\r\n", " PROT\r\n"):
            assert item in text
        assert r.cmd("PBSZ 0")[0] == 503          # before AUTH
        assert r.cmd("PROT P")[0] == 503
        assert r.cmd("AUTH KERBEROS_V4")[0] == 504
        r.starttls()
        assert r.cmd("AUTH TLS")[0] == 503        # already
        code, text = r.cmd("PROT P")               # before PBSZ
        assert code == 503 and "PBSZ" in text
        assert r.cmd("PBSZ x")[0] == 501
        assert r.cmd("PBSZ 0") == (200, "200 PBSZ=0\r\n")
        assert r.cmd("PROT S")[0] == 536
        assert r.cmd("PROT E")[0] == 536
        assert r.cmd("PROT Q")[0] == 504
        assert r.cmd("PROT C")[0] == 200
        assert r.cmd("PROT P")[0] == 200
        r.login(srv.user, srv.password)
        # REIN keeps the control connection protected; the data protection starts over.
        assert r.cmd("REIN")[0] == 220
        assert r.cmd("PROT P")[0] == 503
        r.login(srv.user, srv.password)
        assert r.cmd("QUIT")[0] == 221


def test_without_certificate_no_ftps(start_server):
    srv = start_server()
    with RawTLS(srv.host, srv.port) as r:
        code, text = r.cmd("FEAT")
        assert "AUTH" not in text and "PBSZ" not in text
        assert r.cmd("AUTH TLS")[0] == 502


def test_auth_ssl_is_tls(start_server, certs):
    srv = start_server(extra=tls_flags(certs))
    with RawTLS(srv.host, srv.port) as r:
        code, _ = r.cmd("AUTH SSL")
        assert code == 234
        r.sock = r.ctx.wrap_socket(r.sock, server_hostname="localhost")
        r.f = r.sock.makefile("rb")
        assert r.sock.version() in ("TLSv1.2", "TLSv1.3")
        r.login(srv.user, srv.password)


# --- real clients -----------------------------------------------------------------------------

def test_curl_explicit_10mib_each_way(start_server, certs, tmp_path):
    srv = start_server(extra=tls_flags(certs))
    data = random_bytes(10 * MiB, seed=7)
    src = tmp_path / "up.bin"
    src.write_bytes(data)
    r = curl("--ssl-reqd", "-T", str(src), srv.url("/big.bin"))
    assert r.returncode == 0, r.stderr
    assert sha256_file(srv.root / "big.bin") == sha256_bytes(data)
    out = tmp_path / "down.bin"
    r = curl("--ssl-reqd", srv.url("/big.bin"), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert sha256_file(out) == sha256_bytes(data)
    # curl resumes the control connection's session on its data connections.
    wait_for_log(srv, "(1 resumed)")


@pytest.mark.parametrize("mode", [["--disable-epsv"], []], ids=["PASV", "EPSV"])
def test_curl_passive_modes(start_server, certs, tmp_path, mode):
    # (Active modes: curl 7.88's active FTPS fails on its own side, "sa_addr inet_ntop()
    # failed"; PORT and EPRT are covered with ftplib below.)
    srv = start_server(extra=tls_flags(certs))
    payload = random_bytes(300_000, seed=3)
    (srv.root / "f.bin").write_bytes(payload)
    out = tmp_path / "f.bin"
    r = curl("--ssl-reqd", "-v", *mode, srv.url("/f.bin"), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == payload
    assert (b"> PASV" if mode else b"> EPSV") in r.stderr
    assert b"> PROT P" in r.stderr


def test_curl_implicit_ftps(start_server, certs, tmp_path):
    port = free_port()
    srv = start_server(extra=tls_flags(certs, implicit_port=port))
    (srv.root / "hello.txt").write_bytes(b"hello over implicit TLS\n")
    url = f"ftps://{srv.user}:{srv.password}@127.0.0.1:{port}/hello.txt"
    r = curl(url)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"hello over implicit TLS\n"
    src = tmp_path / "u.bin"
    src.write_bytes(random_bytes(200_000, seed=5))
    r = curl("-T", str(src), f"ftps://{srv.user}:{srv.password}@127.0.0.1:{port}/u.bin")
    assert r.returncode == 0, r.stderr
    assert (srv.root / "u.bin").read_bytes() == src.read_bytes()


@pytest.mark.parametrize("reuse", [False, True], ids=["ftplib", "ftplib-session-reuse"])
def test_ftplib_twelve_transfers_on_one_session(start_server, certs, reuse):
    srv = start_server(extra=tls_flags(certs))
    f = ftps(srv, reuse=reuse)
    for i in range(12):
        data = random_bytes(50_000 + i * 1000, seed=i)
        if i % 2 == 0:
            assert f.storbinary(f"STOR f{i}.bin", io.BytesIO(data)).startswith("226")
            assert (srv.root / f"f{i}.bin").read_bytes() == data
        else:
            (srv.root / f"f{i}.bin").write_bytes(data)
            buf = bytearray()
            assert f.retrbinary(f"RETR f{i}.bin", buf.extend).startswith("226")
            assert bytes(buf) == data
    f.quit()
    resumed = 12 if reuse else 0
    wait_for_log(srv, f"data connections under TLS: 12 ({resumed} resumed)")


# Sizes around a record (16 KiB) and around a data connection's write buffer (16 records): each
# arrives whole, and ftplib's unwrap() after every RETR waits for the server's close_notify, so
# a close_notify left in the write buffer would time the test out.
@pytest.mark.parametrize("reuse", [False, True], ids=["ftplib", "ftplib-session-reuse"])
def test_retr_sizes_around_record_and_buffer_bounds(start_server, certs, reuse):
    srv = start_server(extra=tls_flags(certs))
    sizes = [1, 16384, 16385, 16 * 16384, 16 * 16384 + 1, 5 * MiB + 3]
    for i, n in enumerate(sizes):
        (srv.root / f"s{i}.bin").write_bytes(random_bytes(n, seed=100 + i))
    f = ftps(srv, reuse=reuse)
    for i, n in enumerate(sizes):
        buf = bytearray()
        assert f.retrbinary(f"RETR s{i}.bin", buf.extend, blocksize=1 << 20).startswith("226")
        assert len(buf) == n
        assert sha256_bytes(bytes(buf)) == sha256_file(srv.root / f"s{i}.bin")
    f.quit()


def test_retr_to_a_slow_reader_arrives_whole(start_server, certs):
    """The client's socket fills up and stays full for a while: the server waits, then sends the
    rest, and every byte arrives once and in order."""
    srv = start_server(extra=tls_flags(certs))
    data = random_bytes(8 * MiB + 5, seed=7)
    (srv.root / "slow.bin").write_bytes(data)
    f = ftps(srv, reuse=True)
    f.voidcmd("TYPE I")
    conn = f.transfercmd("RETR slow.bin")
    buf = bytearray()
    for _ in range(6):  # let the server's writes block on a full socket several times
        time.sleep(0.3)
        buf += conn.recv(4096)
    while chunk := conn.recv(1 << 20):
        buf += chunk
    conn.unwrap()  # the server's close_notify came after the last byte
    conn.close()
    assert f.voidresp().startswith("226")
    assert bytes(buf) == data
    f.quit()


def test_abor_mid_retr_under_tls_then_the_session_goes_on(start_server, certs):
    """ABOR while a PROT P download is blocked on a full socket: 426 then 226, the data
    connection ends, and the next transfers on the same session are whole."""
    srv = start_server(extra=tls_flags(certs))
    big = random_bytes(64 * MiB, seed=9)
    (srv.root / "big.bin").write_bytes(big)
    small = random_bytes(300_000, seed=10)
    (srv.root / "small.bin").write_bytes(small)
    f = ftps(srv, reuse=True)
    f.voidcmd("TYPE I")
    conn = f.transfercmd("RETR big.bin")
    assert conn.recv(65536)
    time.sleep(0.3)  # the server fills the socket buffers and blocks
    f.putcmd("ABOR")
    replies = [f.getline()[:3], f.getline()[:3]]
    assert replies == ["426", "226"], replies
    got = 0
    conn.settimeout(10)
    try:
        while chunk := conn.recv(1 << 20):
            got += len(chunk)
    except (ssl.SSLError, OSError):
        pass  # the layer may end without close_notify: the transfer was aborted
    conn.close()
    assert got < len(big) - MiB
    assert f.voidcmd("NOOP").startswith("200")
    for _ in range(2):
        buf = bytearray()
        assert f.retrbinary("RETR small.bin", buf.extend).startswith("226")
        assert bytes(buf) == small
    f.quit()


class EprtFTP_TLS(ftplib.FTP_TLS):
    """Active mode with EPRT on IPv4 (ftplib itself sends EPRT only for IPv6)."""

    def makeport(self):
        sock = socket.create_server(("127.0.0.1", 0), backlog=1)
        self.sendeprt("127.0.0.1", sock.getsockname()[1])
        sock.settimeout(SOCK_TIMEOUT)
        return sock


@pytest.mark.parametrize("eprt", [False, True], ids=["PORT", "EPRT"])
def test_ftplib_active_modes(start_server, certs, eprt):
    srv = start_server(extra=tls_flags(certs))
    (srv.root / "a.txt").write_bytes(b"active\n")
    f = (EprtFTP_TLS if eprt else ftplib.FTP_TLS)(context=client_context(), timeout=SOCK_TIMEOUT)
    f.connect(srv.host, srv.port)
    f.login(srv.user, srv.password)
    f.prot_p()
    f.set_pasv(False)
    assert "a.txt" in f.nlst()
    buf = bytearray()
    f.retrbinary("RETR a.txt", buf.extend)
    assert bytes(buf) == b"active\n"
    data = random_bytes(400_000, seed=2)
    assert f.storbinary("STOR b.bin", io.BytesIO(data)).startswith("226")
    assert (srv.root / "b.bin").read_bytes() == data
    f.quit()
    wait_for_log(srv, "data connections under TLS: 3 (0 resumed)")


def test_lftp_mirror_both_ways(start_server, certs, tmp_path):
    srv = start_server(extra=tls_flags(certs))
    local = tmp_path / "local"
    (local / "sub").mkdir(parents=True)
    files = {"a.bin": random_bytes(120_000, seed=1), "sub/b.txt": b"b\n" * 1000}
    for name, data in files.items():
        (local / name).write_bytes(data)
    back = tmp_path / "back"
    script = (f"set ftp:ssl-force true; set ftp:ssl-protect-data true; "
              f"set ssl:verify-certificate no; set net:max-retries 1; set net:timeout 10; "
              f"open -u {srv.user},{srv.password} ftp://127.0.0.1:{srv.port}; "
              f"mirror -R {local} /up; mirror /up {back}; bye")
    r = subprocess.run(["lftp", "-c", script], capture_output=True, timeout=90)
    assert r.returncode == 0, r.stderr
    for name, data in files.items():
        assert (srv.root / "up" / name).read_bytes() == data
        assert (back / name).read_bytes() == data
    wait_for_log(srv, "TLS TLSv1.3")


def test_wget_ftps(start_server, certs, tmp_path):
    srv = start_server(extra=tls_flags(certs))
    (srv.root / "w.bin").write_bytes(random_bytes(100_000, seed=9))
    r = subprocess.run(["wget", "-q", "--no-check-certificate", "-O", str(tmp_path / "w.bin"),
                        f"ftps://{srv.user}:{srv.password}@127.0.0.1:{srv.port}/w.bin"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "w.bin").read_bytes() == (srv.root / "w.bin").read_bytes()
    wait_for_log(srv, "data connections under TLS: 1")


# --- policy -----------------------------------------------------------------------------------

def test_tls_required_refuses_clear_login_and_clear_data(start_server, certs):
    srv = start_server(extra=tls_flags(certs) + ["--tls-required"])
    with RawTLS(srv.host, srv.port) as r:
        code, text = r.cmd(f"USER {srv.user}")
        assert code == 530 and "TLS" in text
        r.starttls()
        r.login(srv.user, srv.password)
        assert r.cmd("PBSZ 0")[0] == 200
        assert r.cmd("PROT C")[0] == 534
        r.epsv_port()
        assert r.cmd("LIST")[0] == 521
    f = ftps(srv)
    assert f.nlst() == []


# --- CCC (RFC 4217 section 12.4) ------------------------------------------------------------

def test_ccc_replies(start_server, certs):
    srv = start_server(extra=tls_flags(certs))
    with RawTLS(srv.host, srv.port) as r:
        assert r.cmd("CCC")[0] == 503            # nothing to clear
        r.starttls()
        code, text = r.cmd("CCC")                 # the password must not follow in clear
        assert code == 503 and "login" in text
        r.login(srv.user, srv.password)
        assert r.cmd("CCC")[0] == 200
        # The server's close_notify comes next; ours back, then the connection is clear text
        # again (curl's "active" CCC mode, and what ftplib's unwrap() does).
        plain = r.sock.unwrap()
        plain.sendall(b"NOOP\r\n")
        f = plain.makefile("rb")
        assert read_reply(f)[0] == 200
        plain.sendall(b"PBSZ 0\r\n")            # no protection to negotiate any more
        assert read_reply(f)[0] == 503
        plain.sendall(b"QUIT\r\n")
        assert read_reply(f)[0] == 221
    wait_for_log(srv, "(control cleared by CCC)")


def test_ccc_command_in_the_same_segment_as_close_notify_is_not_lost(start_server, certs):
    """After CCC, a client may send its close_notify and its next clear-text command in one
    segment. The server reads TLS records ahead; the command after the close_notify must not be
    swallowed by the TLS layer."""
    srv = start_server(extra=tls_flags(certs))
    sock = socket.create_connection((srv.host, srv.port), timeout=SOCK_TIMEOUT)
    try:
        f = sock.makefile("rb")
        assert read_reply(f)[0] == 220
        sock.sendall(b"AUTH TLS\r\n")
        assert read_reply(f)[0] == 234
        # TLS over memory BIOs: the test decides what goes into each send().
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = client_context().wrap_bio(inc, out, server_hostname=srv.host)

        def pump(step):
            while True:
                try:
                    result = step()
                    if out.pending:
                        sock.sendall(out.read())
                    return result
                except ssl.SSLWantReadError:
                    if out.pending:
                        sock.sendall(out.read())
                    data = sock.recv(65536)
                    assert data, "connection closed"
                    inc.write(data)

        def tls_cmd(line: str) -> tuple[int, str]:
            pump(lambda: tls.write(line.encode() + b"\r\n"))
            buf = b""
            while not buf.endswith(b"\r\n") or buf.split(b"\r\n")[-2][3:4] == b"-":
                buf += pump(lambda: tls.read(4096))
            return int(buf[:3]), buf.decode()

        pump(tls.do_handshake)
        assert tls_cmd(f"USER {srv.user}")[0] == 331
        assert tls_cmd(f"PASS {srv.password}")[0] == 230
        assert tls_cmd("CCC")[0] == 200
        # Wait for the server's close_notify, then answer it and send NOOP in one segment.
        try:
            while pump(lambda: tls.read(4096)):
                pass
        except ssl.SSLZeroReturnError:
            pass
        tls.unwrap()
        assert not tls.pending()
        sock.sendall(out.read() + b"NOOP\r\n")
        f = sock.makefile("rb")
        assert read_reply(f)[0] == 200
        sock.sendall(b"QUIT\r\n")
        assert read_reply(f)[0] == 221
    finally:
        sock.close()


def test_ccc_refused_where_tls_is_required(start_server, certs):
    srv = start_server(extra=tls_flags(certs) + ["--tls-required"])
    with RawTLS(srv.host, srv.port) as r:
        r.starttls()
        r.login(srv.user, srv.password)
        code, text = r.cmd("CCC")
        assert code == 534, text
        assert r.cmd("NOOP")[0] == 200            # still under TLS


@pytest.mark.parametrize("ccc_mode", ["passive", "active"])
def test_curl_ccc_transfers_stay_protected(start_server, certs, tmp_path, ccc_mode):
    """curl --ftp-ssl-ccc: in "passive" mode (its default) it never answers the server's
    close_notify and sends its next command in clear text; in "active" mode it sends its own
    close_notify first. Both upload, list and download with PROT P data connections."""
    srv = start_server(extra=tls_flags(certs))
    data = random_bytes(2 * MiB, seed=11)
    src = tmp_path / "up.bin"
    src.write_bytes(data)
    mode = ["--ftp-ssl-ccc", "--ftp-ssl-ccc-mode", ccc_mode]
    r = curl("--ssl-reqd", "-v", *mode, "-T", str(src), srv.url("/ccc.bin"))
    assert r.returncode == 0, r.stderr
    assert b"> CCC" in r.stderr and b"< 200 Control connection in clear text" in r.stderr
    assert sha256_file(srv.root / "ccc.bin") == sha256_bytes(data)
    out = tmp_path / "down.bin"
    r = curl("--ssl-reqd", *mode, srv.url("/ccc.bin"), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert sha256_file(out) == sha256_bytes(data)
    r = curl("--ssl-reqd", *mode, "-l", srv.url("/"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [b"ccc.bin"]
    log = wait_for_log(srv, "(control cleared by CCC)")
    assert log.count("CCC: control connection in clear text") == 3


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_ftplib_ccc_then_protected_transfers(start_server, certs, version):
    """ftplib's ccc() unwraps: its close_notify and the server's cross (in TLS 1.3 the alert
    is an encrypted record), then the control connection is clear text and PROT P stays."""
    srv = start_server(extra=tls_flags(certs))
    ctx = client_context()
    ctx.minimum_version = ctx.maximum_version = getattr(ssl.TLSVersion, version)
    f = ftps(srv, context=ctx)
    assert f.sock.version() == version.replace("_", ".")
    assert f.ccc().startswith("200")
    data = random_bytes(500_000, seed=12)
    assert f.storbinary("STOR f.bin", io.BytesIO(data)).startswith("226")
    got = io.BytesIO()
    f.retrbinary("RETR f.bin", got.write)
    assert got.getvalue() == data
    assert f.nlst() == ["f.bin"]
    f.quit()
    assert (srv.root / "f.bin").read_bytes() == data


def test_data_session_required_refuses_full_handshake(start_server, certs):
    cfg = (f'[tls]\ncert = "{certs["cert"]}"\nkey = "{certs["key"]}"\n'
           'data_session = "required"\n')
    srv = start_server(config_text=cfg)
    (srv.root / "x.txt").write_bytes(b"x\n")
    f = ftps(srv, reuse=False)
    with pytest.raises((ftplib.error_perm, ssl.SSLError, OSError)):
        f.retrbinary("RETR x.txt", lambda b: None)
    f.close()
    wait_for_log(srv, "TLS session not resumed")
    f = ftps(srv, reuse=True)
    buf = bytearray()
    f.retrbinary("RETR x.txt", buf.extend)
    assert bytes(buf) == b"x\n"
    f.quit()


# --- hostile clients --------------------------------------------------------------------------

def test_foreign_session_on_data_connection_refused(start_server, certs):
    srv = start_server(extra=tls_flags(certs))
    (srv.root / "secret.txt").write_bytes(b"secret\n")
    ctx = client_context()  # one client context, as a client with a shared session cache
    victim = RawTLS(srv.host, srv.port, context=ctx)
    victim.starttls()
    victim.login(srv.user, srv.password)
    stolen = victim.sock.session
    assert stolen is not None
    with RawTLS(srv.host, srv.port, context=ctx) as thief:
        thief.starttls()
        thief.login(srv.user, srv.password)
        assert thief.cmd("PBSZ 0")[0] == 200
        assert thief.cmd("PROT P")[0] == 200
        port = thief.epsv_port()
        d = socket.create_connection((srv.host, port), timeout=SOCK_TIMEOUT)
        thief.sock.sendall(b"RETR secret.txt\r\n")
        assert thief.reply()[0] == 150
        with pytest.raises((ssl.SSLError, OSError)):
            s = ctx.wrap_socket(d, server_hostname=srv.host, session=stolen)
            s.recv(100)
        code, text = thief.reply()
        assert code == 522, text
    victim.close()


def test_handshake_never_completes_is_closed_while_others_are_served(start_server, certs):
    port = free_port()
    cfg = (f'[tls]\ncert = "{certs["cert"]}"\nkey = "{certs["key"]}"\nhandshake_timeout = 2\n'
           f'implicit_listen = "127.0.0.1:{port}"\n')
    srv = start_server(config_text=cfg)
    silent = socket.create_connection((srv.host, port), timeout=15)
    explicit_silent = RawTLS(srv.host, srv.port)
    assert explicit_silent.cmd("AUTH TLS")[0] == 234
    explicit_silent.sock.settimeout(15)
    # Meanwhile another client logs in and transfers.
    f = ftps(srv)
    assert f.storbinary("STOR ok.bin", io.BytesIO(b"ok" * 1000)).startswith("226")
    f.quit()
    assert silent.recv(100) == b""               # closed by the server
    assert explicit_silent.sock.recv(100) == b""
    silent.close()
    explicit_silent.close()


def test_garbage_instead_of_client_hello(start_server, certs):
    srv = start_server(extra=tls_flags(certs))
    with RawTLS(srv.host, srv.port) as r:
        assert r.cmd("AUTH TLS")[0] == 234
        r.sock.sendall(b"GET / HTTP/1.0\r\n\r\n" + bytes(range(256)) * 4)
        try:
            rest = r.sock.recv(4096)
            # A TLS alert at most, never an FTP reply.
            assert not rest.startswith(b"5") and not rest.startswith(b"2")
            assert r.sock.recv(4096) == b""
        except ConnectionResetError:
            pass
    f = ftps(srv)
    f.quit()


def test_plain_command_after_auth_tls_is_not_run(start_server, certs):
    cfg = f'[tls]\ncert = "{certs["cert"]}"\nkey = "{certs["key"]}"\nhandshake_timeout = 2\n'
    srv = start_server(config_text=cfg)
    with RawTLS(srv.host, srv.port) as r:
        # A pipelined command after AUTH TLS (command injection) is dropped, never answered in
        # clear: the server waits for a ClientHello, and closes after the handshake timeout.
        r.sock.sendall(b"AUTH TLS\r\nUSER alice\r\n")
        assert r.reply()[0] == 234
        r.sock.settimeout(15)
        assert r.sock.recv(4096) == b""
    wait_for_log(srv, "TLS handshake with 127.0.0.1 failed")


def test_upload_dropped_without_close_notify_is_426_and_never_visible(start_server, certs):
    srv = start_server(extra=tls_flags(certs))
    (srv.root / "keep.bin").write_bytes(b"old version\n")
    for name in ("new.bin", "keep.bin"):
        with RawTLS(srv.host, srv.port) as r:
            r.starttls()
            r.login(srv.user, srv.password)
            assert r.cmd("PBSZ 0")[0] == 200
            assert r.cmd("PROT P")[0] == 200
            assert r.cmd("TYPE I")[0] == 200
            port = r.epsv_port()
            d = socket.create_connection((srv.host, port), timeout=SOCK_TIMEOUT)
            r.sock.sendall(f"STOR {name}\r\n".encode())
            assert r.reply()[0] == 150
            s = r.ctx.wrap_socket(d, server_hostname=srv.host, session=r.sock.session)
            assert s.session_reused
            s.sendall(random_bytes(2 * MiB, seed=11))
            # TCP FIN without close_notify: SSLSocket.shutdown drops the TLS layer.
            s.shutdown(socket.SHUT_RDWR)
            s.close()
            code, text = r.reply()
            assert code == 426, text
    assert not (srv.root / "new.bin").exists()
    assert (srv.root / "keep.bin").read_bytes() == b"old version\n"
    assert sorted(p.name for p in srv.root.iterdir()) == ["keep.bin"]


# --- certificates at start ----------------------------------------------------------------------

def run_check(*flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(feitpd_binary()), "--check", "--user", "a:b", "--root", "/tmp", *flags],
                          capture_output=True, text=True, timeout=30)


def test_check_refuses_expired_and_mismatched_certificates(certs):
    old_cert, old_key = make_expired_cert(certs["dir"])
    r = run_check("--tls-cert", str(old_cert), "--tls-key", str(old_key))
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "expired" in r.stderr and str(old_cert) in r.stderr
    r = run_check("--tls-cert", str(certs["cert"]), "--tls-key", str(certs["other_key"]))
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "does not match" in r.stderr
    r = run_check("--tls-cert", str(certs["cert"]), "--tls-key", str(certs["key"]))
    assert r.returncode == 0, r.stderr
    r = run_check("--tls-required")
    assert r.returncode == 1 and "certificate" in r.stderr


# --- resumption across workers, certificates per host, reload ---------------------------------

def test_reconnects_resume_on_any_worker(start_server, certs):
    srv = start_server(extra=tls_flags(certs) + ["--workers", "2"])
    ctx = client_context()
    session = None
    resumed = 0
    rounds = 40
    for _ in range(rounds):
        with RawTLS(srv.host, srv.port, context=ctx) as r:
            r.starttls(session=session)
            resumed += r.sock.session_reused
            r.login(srv.user, srv.password)   # the tickets arrive with the replies
            session = r.sock.session
            assert r.cmd("QUIT")[0] == 221
    # Every reconnect but the first resumes, whichever worker the kernel picked.
    assert resumed == rounds - 1
    # Both workers served: each numbers its sessions from 1, so an id shows up twice.
    log = wait_for_log(srv, "TLS TLSv1.3", count=rounds)
    import re
    ids = re.findall(r"session (\d+): TLS TLSv1", log)
    assert len(ids) == rounds and len(set(ids)) < rounds, ids


def served_subject(sock: ssl.SSLSocket) -> str:
    pem = ssl.DER_cert_to_PEM_cert(sock.getpeercert(binary_form=True))
    r = subprocess.run(["openssl", "x509", "-noout", "-subject"], input=pem, capture_output=True,
                       text=True, timeout=30)
    return r.stdout.strip()


def test_host_and_sni_pick_the_certificate(start_server, certs):
    cfg = (f'[tls]\ncert = "{certs["cert"]}"\nkey = "{certs["key"]}"\n'
           f'[[tls.host]]\nname = "other.test"\ncert = "{certs["other_cert"]}"\n'
           f'key = "{certs["other_key"]}"\n')
    srv = start_server(config_text=cfg)
    with RawTLS(srv.host, srv.port) as r:          # no SNI (an address), no HOST: the default
        r.starttls()
        assert served_subject(r.sock) == "subject=CN = localhost"
    with RawTLS(srv.host, srv.port) as r:          # SNI
        r.starttls(server_hostname="other.test")
        assert served_subject(r.sock) == "subject=CN = other.test"
        r.login(srv.user, srv.password)
    with RawTLS(srv.host, srv.port) as r:          # HOST (RFC 7151) before AUTH
        assert r.cmd("HOST OTHER.test")[0] == 220
        r.starttls()
        assert served_subject(r.sock) == "subject=CN = other.test"
        r.login(srv.user, srv.password)
        assert r.cmd("PBSZ 0")[0] == 200 and r.cmd("PROT P")[0] == 200
        port = r.epsv_port()
        d = socket.create_connection((srv.host, port), timeout=SOCK_TIMEOUT)
        r.sock.sendall(b"NLST\r\n")
        assert r.reply()[0] == 150
        s = r.ctx.wrap_socket(d, server_hostname=srv.host, session=r.sock.session)
        assert served_subject(s) == "subject=CN = other.test" and s.session_reused
        s.recv(100)
        s.close()
        assert r.reply()[0] == 226


def test_sighup_reloads_certificate_without_failed_transfers(start_server, certs, tmp_path):
    import shutil
    import signal
    import threading
    live_cert, live_key = tmp_path / "live.pem", tmp_path / "live.key"
    shutil.copy(certs["cert"], live_cert)
    shutil.copy(certs["key"], live_key)
    cfg = f'[tls]\ncert = "{live_cert}"\nkey = "{live_key}"\n'
    srv = start_server(config_text=cfg)
    failures: list[str] = []
    done = 0
    stop = threading.Event()

    def load():
        nonlocal done
        payload = random_bytes(64_000, seed=4)
        while not stop.is_set():
            try:
                f = ftps(srv, reuse=True)
                f.storbinary("STOR load.bin", io.BytesIO(payload))
                buf = bytearray()
                f.retrbinary("RETR load.bin", buf.extend)
                assert bytes(buf) == payload
                f.quit()
                done += 1
            except Exception as e:  # noqa: BLE001 - every failure is counted
                failures.append(repr(e))

    workers = [threading.Thread(target=load) for _ in range(3)]
    for w in workers:
        w.start()
    try:
        time.sleep(0.5)
        # A broken certificate first: the reload is refused, the old one keeps serving.
        live_cert.write_text("not a certificate\n")
        srv.proc.send_signal(signal.SIGHUP)
        wait_for_log(srv, "reload failed")
        shutil.copy(certs["other_cert"], live_cert)
        shutil.copy(certs["other_key"], live_key)
        srv.proc.send_signal(signal.SIGHUP)
        wait_for_log(srv, "reload done")
        time.sleep(0.5)
    finally:
        stop.set()
        for w in workers:
            w.join(30)
    assert not failures, failures[:3]
    assert done > 0
    assert "tls.cert" in srv.log().split("reload failed", 1)[1].splitlines()[0]
    with RawTLS(srv.host, srv.port) as r:
        r.starttls()
        assert served_subject(r.sock) == "subject=CN = other.test"
