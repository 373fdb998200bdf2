"""FTPS test helpers: certificates made with the openssl CLI, ftplib.FTP_TLS clients (with and
without TLS session reuse on data connections), a raw TLS control connection."""
from __future__ import annotations

import ftplib
import socket
import ssl
import subprocess
from pathlib import Path

from feitp_harness import SOCK_TIMEOUT, parse_229, read_reply


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_cert(d: Path, name: str, cn: str, days: int = 2) -> tuple[Path, Path]:
    """A self-signed RSA-2048 certificate for `cn` (also its subjectAltName)."""
    cert, key = d / f"{name}.pem", d / f"{name}.key"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
            "-days", str(days), "-subj", f"/CN={cn}", "-addext", f"subjectAltName=DNS:{cn}", cwd=d)
    return cert, key


def make_expired_cert(d: Path) -> tuple[Path, Path]:
    """A certificate valid for one day in 2020, signed by a throwaway CA (openssl ca sets dates)."""
    ca = d / "ca"
    ca.mkdir()
    (ca / "index.txt").write_text("")
    (ca / "serial").write_text("01\n")
    (ca / "ca.cnf").write_text(
        "[ca]\ndefault_ca = d\n[d]\ndir = .\ndatabase = index.txt\nserial = serial\n"
        "new_certs_dir = .\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=test CA", cwd=ca)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "old.key", "-out", "old.csr",
            "-subj", "/CN=expired.test", cwd=ca)
    openssl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key",
            "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", "-in", "old.csr",
            "-out", "old.pem", cwd=ca)
    return ca / "old.pem", ca / "old.key"


def client_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class ReusingFTP_TLS(ftplib.FTP_TLS):
    """FTP_TLS that resumes the control connection's TLS session on data connections (what
    curl, lftp and FileZilla do; plain ftplib never does)."""

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host,
                                            session=self.sock.session)
        return conn, size


def ftps(server, reuse: bool = False, prot_p: bool = True, login: bool = True,
         context: ssl.SSLContext | None = None) -> ftplib.FTP_TLS:
    cls = ReusingFTP_TLS if reuse else ftplib.FTP_TLS
    f = cls(context=context or client_context(), timeout=SOCK_TIMEOUT, encoding="utf-8")
    f.connect(server.host, server.port, timeout=SOCK_TIMEOUT)
    if login:
        f.login(server.user, server.password)
        if prot_p:
            f.prot_p()
    return f


class RawTLS:
    """A control connection driven by hand: plain until starttls(), then TLS."""

    def __init__(self, host: str, port: int, implicit: bool = False,
                 context: ssl.SSLContext | None = None, session=None):
        self.host = host
        self.ctx = context or client_context()
        self.sock = socket.create_connection((host, port), timeout=SOCK_TIMEOUT)
        if implicit:
            self.sock = self.ctx.wrap_socket(self.sock, server_hostname=host, session=session)
        self.f = self.sock.makefile("rb")
        self.greeting = read_reply(self.f)

    def cmd(self, line: str) -> tuple[int, str]:
        self.sock.sendall(line.encode() + b"\r\n")
        return read_reply(self.f)

    def reply(self) -> tuple[int, str]:
        return read_reply(self.f)

    def starttls(self, session=None, server_hostname: str | None = None) -> None:
        code, text = self.cmd("AUTH TLS")
        assert code == 234, text
        self.f.close()
        self.sock = self.ctx.wrap_socket(self.sock, server_hostname=server_hostname or self.host,
                                         session=session)
        self.f = self.sock.makefile("rb")

    def login(self, user: str, password: str) -> None:
        assert self.cmd(f"USER {user}")[0] == 331
        code, text = self.cmd(f"PASS {password}")
        assert code == 230, text

    def epsv_port(self) -> int:
        code, text = self.cmd("EPSV")
        assert code == 229, text
        return parse_229(text)

    def close(self) -> None:
        for c in (self.f, self.sock):
            try:
                c.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
