"""PROXY protocol behind a real HAProxy (Debian's haproxy, started on loopback per test).

Layout of every test: feitpd listens on 127.0.0.1 and trusts PROXY headers from 127.0.0.9 only
(--proxy-protocol-from); HAProxy listens on two loopback ports in mode tcp and connects to
feitpd from source 127.0.0.9, sending a v1 header on one (`send-proxy`) and a v2 header on the
other (`send-proxy-v2`). Clients connect to HAProxy from distinct 127.0.0.x sources; their data
connections go straight to feitpd's passive ports (the documented layout, docs/operations.md),
so feitpd's passive peer check compares them with the address the header gave.
"""
from __future__ import annotations

import contextlib
import ftplib
import io
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from feitp_harness import crypt_hash, free_port, random_bytes, sha256_bytes

PROXY_SOURCE = "127.0.0.9"
USER = "alice"
PASSWORD = "s3cret-Pass"
TIMEOUT = 10.0

HAPROXY_CFG = """\
global
    maxconn 200

defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend v1
    bind 127.0.0.1:{v1}
    default_backend feitpd_v1

backend feitpd_v1
    server s1 127.0.0.1:{ftp} source {source} send-proxy

frontend v2
    bind 127.0.0.1:{v2}
    default_backend feitpd_v2

backend feitpd_v2
    server s1 127.0.0.1:{ftp} source {source} send-proxy-v2
"""

CONFIG = """\
[users.{user}]
password_hash = "{hash}"
home = "{{root}}"
permissions = "elradfmwMT"

[limits]
max_per_ip = 2
login_failure_delay_ms = 0
ban_after_failures = 2
ban_window = 60
ban_time = 60

[log]
xferlog = "{{work}}/xferlog"

[passive]
ports = "{{pasv_min}}-{{pasv_max}}"

[proxy_protocol]
timeout = 1
"""


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
    if not found:
        pytest.fail("haproxy is not installed (scripts/setup.sh installs Debian's haproxy)")
    return found


class HAProxy:
    def __init__(self, work: Path, ftp_port: int):
        self.v1 = free_port()
        self.v2 = free_port()
        self.cfg = work / "haproxy.cfg"
        self.cfg.write_text(HAPROXY_CFG.format(v1=self.v1, v2=self.v2, ftp=ftp_port, source=PROXY_SOURCE))
        self.log_path = work / "haproxy.log"
        with open(self.log_path, "wb") as logf:
            # -db: stay in the foreground; -q: quiet start-up.
            self.proc = subprocess.Popen([haproxy_binary(), "-db", "-q", "-f", str(self.cfg)],
                                         stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + TIMEOUT
        for port in (self.v1, self.v2):
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"haproxy exited with {self.proc.returncode}:\n"
                                       f"{self.log_path.read_text(errors='replace')}")
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("haproxy did not listen in time")
                time.sleep(0.05)

    def port(self, version: int) -> int:
        return self.v1 if version == 1 else self.v2

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def behind_proxy(start_server, tmp_path):
    """(feitpd, haproxy): feitpd trusting PROXY headers from HAProxy's source address only."""
    srv = start_server(users={USER: PASSWORD}, bare=True,
                       config_text=CONFIG.format(user=USER, hash=crypt_hash(PASSWORD)),
                       extra=["--proxy-protocol-from", f"{PROXY_SOURCE}/32"])
    srv.users = {USER: PASSWORD}
    proxy = HAProxy(tmp_path, srv.port)
    yield srv, proxy
    proxy.stop()


def client(proxy: HAProxy, version: int, source: str) -> ftplib.FTP:
    """An ftplib client at `source` talking through HAProxy (its data connections go to feitpd
    directly, from the same source)."""
    ftp = ftplib.FTP(timeout=TIMEOUT, source_address=(source, 0))
    ftp.connect("127.0.0.1", proxy.port(version), timeout=TIMEOUT)
    return ftp


def wait_for_text(path_or_fn, pattern: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = path_or_fn() if callable(path_or_fn) else (
            path_or_fn.read_text(errors="replace") if path_or_fn.exists() else "")
        if re.search(pattern, text, re.M):
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"{pattern!r} not found in:\n{text[-4000:]}")
        time.sleep(0.05)


@pytest.mark.parametrize("version", [1, 2])
def test_transfers_through_haproxy_carry_the_real_address(behind_proxy, version):
    srv, proxy = behind_proxy
    source = f"127.0.0.{version + 1}"  # 127.0.0.2 (v1), 127.0.0.3 (v2)
    data = random_bytes(300_000, seed=version)
    ftp = client(proxy, version, source)
    assert ftp.getwelcome().startswith("220")
    ftp.login(USER, PASSWORD)
    ftp.storbinary("STOR up.bin", io.BytesIO(data))
    out = io.BytesIO()
    ftp.retrbinary("RETR up.bin", out.write)
    assert out.getvalue() == data
    ftp.quit()
    assert sha256_bytes((srv.root / "up.bin").read_bytes()) == sha256_bytes(data)

    # The log (login line, with the worker's pid) and the xferlog hold the client's address,
    # not HAProxy's.
    log = wait_for_text(srv.log, rf"\[info\] \[\d+\] session \d+: logged in as '{USER}' from {re.escape(source)}$")
    assert f"from {PROXY_SOURCE}" not in log
    xferlog = Path(srv.argv[srv.argv.index("--config") + 1]).parent / "xferlog"
    text = wait_for_text(xferlog, r" o r ")
    lines = text.splitlines()
    assert len(lines) == 2, lines
    assert all(f" {source} 300000 /up.bin b _ " in line for line in lines), lines


def test_curl_through_haproxy(behind_proxy, tmp_path):
    """curl: upload and download through send-proxy-v2, data connections direct."""
    srv, proxy = behind_proxy
    data = random_bytes(100_000, seed=7)
    src = tmp_path / "c.bin"
    src.write_bytes(data)
    url = f"ftp://{USER}:{PASSWORD}@127.0.0.1:{proxy.port(2)}/c.bin"
    common = ["curl", "-sS", "--max-time", "20", "--interface", "127.0.0.6"]
    subprocess.run(common + ["-T", str(src), url], check=True, timeout=30)
    got = subprocess.run(common + [url], check=True, capture_output=True, timeout=30).stdout
    assert got == data
    wait_for_text(srv.log, r"logged in as 'alice' from 127\.0\.0\.6$")


def test_per_address_cap_counts_real_clients(behind_proxy):
    """max_per_ip = 2: two clients from one real address fill its cap, a third is refused,
    while another real address behind the same proxy still gets in."""
    srv, proxy = behind_proxy
    held = [client(proxy, 2, "127.0.0.4"), client(proxy, 1, "127.0.0.4")]
    try:
        third = socket.create_connection(("127.0.0.1", proxy.port(2)), TIMEOUT, source_address=("127.0.0.4", 0))
        with third:
            third.settimeout(TIMEOUT)
            assert third.recv(200).startswith(b"421 Too many connections")
        for v in (1, 2):
            other = client(proxy, v, "127.0.0.5")
            other.login(USER, PASSWORD)
            other.quit()
    finally:
        for f in held:
            f.quit()


def test_ban_applies_to_the_real_address(behind_proxy):
    srv, proxy = behind_proxy
    for _ in range(2):
        f = client(proxy, 1, "127.0.0.7")
        with pytest.raises(ftplib.error_perm):
            f.login(USER, "wrong")
        f.close()
    wait_for_text(srv.log, r"session \d+: failed login for 'alice' from 127\.0\.0\.7: ")
    banned = socket.create_connection(("127.0.0.1", proxy.port(2)), TIMEOUT, source_address=("127.0.0.7", 0))
    with banned:
        banned.settimeout(TIMEOUT)
        assert banned.recv(200).startswith(b"421 Too many failed logins")
    ok = client(proxy, 2, "127.0.0.8")  # the proxy's other clients are not banned
    ok.login(USER, PASSWORD)
    ok.quit()


def raw_from(source: str, port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), TIMEOUT, source_address=(source, 0))
    s.settimeout(TIMEOUT)
    return s


def recv_all(s: socket.socket) -> bytes:
    out = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := s.recv(4096):
            out += chunk
    return out


def test_trusted_network_without_header_is_closed(behind_proxy):
    srv, _ = behind_proxy
    # Something that is not a header: closed at once, no greeting.
    with raw_from(PROXY_SOURCE, srv.port) as s:
        s.sendall(b"USER alice\r\n")
        assert recv_all(s) == b""
    # Silence: closed after [proxy_protocol] timeout (1 s), no greeting.
    with raw_from(PROXY_SOURCE, srv.port) as s:
        assert recv_all(s) == b""
    # A truncated header, then nothing: the same.
    with raw_from(PROXY_SOURCE, srv.port) as s:
        s.sendall(b"PROXY TCP4 10.1.2.3 ")
        assert recv_all(s) == b""
    log = wait_for_text(srv.log, r"timed out waiting for the PROXY header")
    assert "PROXY: closing connection from 127.0.0.9: not a PROXY protocol header" in log


def test_local_command_uses_the_connection_address(behind_proxy):
    """A v2 LOCAL header (HAProxy's health checks) is consumed; the proxy's own address stands."""
    srv, _ = behind_proxy
    local = b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"
    with raw_from(PROXY_SOURCE, srv.port) as s:
        s.sendall(local)
        f = s.makefile("rb")
        assert f.readline().startswith(b"220")
        s.sendall(f"USER {USER}\r\nPASS {PASSWORD}\r\n".encode())
        assert f.readline().startswith(b"331")
        assert f.readline().startswith(b"230")
        s.sendall(b"QUIT\r\n")
        assert f.readline().startswith(b"221")
    wait_for_text(srv.log, rf"logged in as '{USER}' from {re.escape(PROXY_SOURCE)}$")


def test_header_from_untrusted_address_is_not_trusted(behind_proxy):
    """A client outside the trusted network sending a header: greeted first, its "PROXY" line
    is an unknown command, and its own address stands."""
    srv, _ = behind_proxy
    with raw_from("127.0.0.10", srv.port) as s:
        f = s.makefile("rb")
        assert f.readline().startswith(b"220")
        s.sendall(b"PROXY TCP4 10.9.9.9 127.0.0.1 5555 21\r\n")
        assert f.readline().startswith(b"500")
        s.sendall(f"USER {USER}\r\nPASS {PASSWORD}\r\nQUIT\r\n".encode())
        assert f.readline().startswith(b"331")
        assert f.readline().startswith(b"230")
        assert f.readline().startswith(b"221")
    log = wait_for_text(srv.log, rf"logged in as '{USER}' from 127\.0\.0\.10$")
    assert "10.9.9.9" not in log


def test_passive_data_connection_is_checked_against_the_real_address(behind_proxy):
    """The control connection comes through HAProxy for 127.0.0.2: a passive data connection
    from 127.0.0.2 is the client's, one from 127.0.0.3 (or from the proxy) is refused."""
    srv, proxy = behind_proxy
    (srv.root / "f.txt").write_bytes(b"payload\n")
    with raw_from("127.0.0.2", proxy.port(1)) as s:
        f = s.makefile("rb")

        def cmd(line: str) -> bytes:
            s.sendall(line.encode() + b"\r\n")
            return f.readline()

        assert f.readline().startswith(b"220")
        assert cmd(f"USER {USER}").startswith(b"331")
        assert cmd(f"PASS {PASSWORD}").startswith(b"230")
        assert cmd("TYPE I").startswith(b"200")
        reply = cmd("EPSV")
        assert reply.startswith(b"229"), reply
        port = int(re.search(rb"\|\|\|(\d+)\|", reply).group(1))
        s.sendall(b"RETR f.txt\r\n")
        # Others reach the port first: each is closed at once, and the session keeps waiting.
        for source in ("127.0.0.3", PROXY_SOURCE):
            with socket.create_connection(("127.0.0.1", port), TIMEOUT, source_address=(source, 0)) as d:
                d.settimeout(TIMEOUT)
                assert recv_all(d) == b""
        with socket.create_connection(("127.0.0.1", port), TIMEOUT, source_address=("127.0.0.2", 0)) as d:
            d.settimeout(TIMEOUT)
            assert recv_all(d) == b"payload\n"
        assert f.readline().startswith(b"150")
        assert f.readline().startswith(b"226")
    log = wait_for_text(srv.log, r"refused data connection from 127\.0\.0\.3 \(control peer is 127\.0\.0\.2\)")
    assert f"refused data connection from {PROXY_SOURCE} (control peer is 127.0.0.2)" in log
