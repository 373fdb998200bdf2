"""Helpers shared by the integration tests: starting feitpd, raw FTP I/O, file fixtures.

Everything here is bounded: every socket has a timeout and every child process a deadline.
"""
from __future__ import annotations

import contextlib
import ftplib
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BINARY = REPO / "build" / "bin" / "feitpd"
SOCK_TIMEOUT = 10.0      # every control/data socket
START_TIMEOUT = 15.0     # feitpd must accept within this
STOP_TIMEOUT = 10.0      # SIGTERM grace before SIGKILL


# What a sanitizer prints when it finds something (scripts/sanitize.sh builds with ASan+UBSan or
# TSan). Any of these in a server's output fails the test that ran it.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "WARNING: ThreadSanitizer",
                     "ERROR: LeakSanitizer")


def sanitizer_report(text: str) -> str | None:
    """The sanitizer report in `text` (from its first marker line on), or None."""
    starts = [i for i in (text.find(m) for m in SANITIZER_MARKERS) if i >= 0]
    if not starts:
        return None
    start = text.rfind("\n", 0, min(starts)) + 1
    report = text[start:]
    return report if len(report) <= 20000 else report[:20000] + "\n..."


# True when the programs under test are sanitized builds (scripts/sanitize.sh sets this).
SANITIZED = bool(os.environ.get("FEITP_SANITIZER_LOG_DIR"))


def sanitizer_log_reports(seen: set[str]) -> list[str]:
    """Reports the sanitizers wrote as files since the last call: scripts/sanitize.sh sets
    log_path in ASAN_OPTIONS/TSAN_OPTIONS to $FEITP_SANITIZER_LOG_DIR/report, so that every
    sanitized program the tests start (feitpd, hook_probe, the examples, feitpd --check), not
    only the servers this harness starts, is checked. `seen` collects the files already shown."""
    d = os.environ.get("FEITP_SANITIZER_LOG_DIR")
    if not d or not os.path.isdir(d):
        return []
    out = []
    for name in sorted(os.listdir(d)):
        path = os.path.join(d, name)
        if path in seen or not os.path.isfile(path):
            continue
        seen.add(path)
        with open(path, errors="replace") as f:
            out.append(f"{path}:\n{f.read()[:20000]}")
    return out


def feitpd_binary() -> Path:
    return Path(os.environ.get("FEITPD", str(DEFAULT_BINARY)))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def random_bytes(n: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def passive_range(count: int = 40, ephemeral: bool = False) -> tuple[int, int]:
    """A random range of ports nobody listens on, below the kernel's ephemeral range (so
    client-side TIME_WAIT sockets of busy neighbours do not collide with it), or inside it when
    `ephemeral` (as an operator may choose, and as outside checks do: clients on the same machine
    then compete for the range). Bound number of tries; SO_REUSEADDR as a listening server uses it."""
    rng = random.Random()
    if ephemeral:
        # Not probed: ports there are taken and freed all the time, which is the point.
        low, high = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        lo = rng.randrange(low, high - count)
        return lo, lo + count - 1
    low, high = 10000, 32000
    for _ in range(100):
        lo = rng.randrange(low, high - count)
        ok = True
        for p in range(lo, lo + count, 5):
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", p))
                    s.listen(1)
                except OSError:
                    ok = False
                    break
        if ok:
            return lo, lo + count - 1
    raise RuntimeError("no free passive port range found")


def have_ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@dataclass
class Server:
    """A running feitpd (or, for harness checks only, pyftpdlib)."""
    host: str
    port: int
    root: Path
    user: str
    password: str
    pasv: tuple[int, int]
    log_path: Path
    argv: list[str]
    proc: subprocess.Popen | None = None
    users: dict[str, str] = field(default_factory=dict)

    @property
    def url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def url(self, path: str = "/", user: str | None = None, password: str | None = None) -> str:
        u = user or self.user
        p = password if password is not None else self.users.get(u, self.password)
        return f"ftp://{u}:{p}@{self.url_host}:{self.port}{path}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def connect(self, login: bool = True, user: str | None = None, password: str | None = None,
                timeout: float = SOCK_TIMEOUT) -> ftplib.FTP:
        ftp = ftplib.FTP(timeout=timeout, encoding="utf-8")
        ftp.connect(self.host, self.port, timeout=timeout)
        if login:
            u = user or self.user
            p = password if password is not None else self.users.get(u, self.password)
            ftp.login(u, p)
        return ftp

    def start(self, env: dict | None = None) -> None:
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env,
                                     start_new_session=True)
        logf.close()
        deadline = time.monotonic() + START_TIMEOUT
        last_err = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"feitpd exited with {self.proc.returncode} at start:\n"
                                   f"{' '.join(self.argv)}\n{self.log()}")
            try:
                family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
                with socket.socket(family, socket.SOCK_STREAM) as s:
                    s.settimeout(2)
                    s.connect((self.host, self.port))
                    banner = s.recv(512)
                    if banner.startswith(b"220"):
                        # Wait for 221: the server frees this connection's slot before it
                        # answers, so tests with max_per_ip = 1 start from zero.
                        s.sendall(b"QUIT\r\n")
                        s.recv(512)
                        return
                    last_err = f"banner {banner!r}"
            except OSError as e:
                last_err = str(e)
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"feitpd did not accept within {START_TIMEOUT}s ({last_err}):\n"
                           f"{' '.join(self.argv)}\n{self.log()}")

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode


def build_argv(*, host: str, port: int, root: Path, users: dict[str, str], write: bool,
               anonymous: bool, pasv: tuple[int, int], extra: list[str],
               config: Path | None, bare: bool = False) -> list[str]:
    if os.environ.get("FEITP_TEST_AGAINST") == "pyftpdlib":
        # Harness self-check only: pyftpdlib's quick server with the first user.
        (u, p), = list(users.items())[:1]
        argv = ["/usr/bin/python3", "-m", "pyftpdlib", "-i", host, "-p", str(port),
                "-d", str(root), "-u", u, "-P", p, "-r", f"{pasv[0]}-{pasv[1]}"]
        if write:
            argv.append("-w")
        return argv
    listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    argv = [str(feitpd_binary()), "--listen", listen]
    if bare:
        # everything else comes from the config file
        argv += ["--config", str(config)] + extra
        return argv
    argv += ["--root", str(root), "--passive-ports", f"{pasv[0]}-{pasv[1]}"]
    for u, p in users.items():
        argv += ["--user", f"{u}:{p}"]
    if write:
        argv.append("--write")
    if anonymous:
        argv.append("--anonymous")
    if config is not None:
        argv += ["--config", str(config)]
    if os.environ.get("FEITP_TEST_WORKERS"):
        argv += ["--workers", os.environ["FEITP_TEST_WORKERS"]]
    argv += extra
    return argv


# ---------------------------------------------------------------------------------------------
# Raw control-connection helpers (for what ftplib hides: exact codes, replies mid-transfer).

REPLY_RE = re.compile(r"^(\d{3})([ -])")


def read_reply(f) -> tuple[int, str]:
    """Reads one (possibly multi-line) reply from a socket file; returns (code, full text)."""
    line = f.readline()
    if not line:
        raise EOFError("control connection closed")
    text = line.decode("utf-8", "replace")
    m = REPLY_RE.match(text)
    if not m:
        raise AssertionError(f"malformed reply line {text!r}")
    code = int(m.group(1))
    lines = [text]
    if m.group(2) == "-":
        end = f"{m.group(1)} "
        while True:
            line = f.readline()
            if not line:
                raise EOFError("control connection closed inside a multi-line reply")
            t = line.decode("utf-8", "replace")
            lines.append(t)
            if t.startswith(end):
                break
    return code, "".join(lines)


class Raw:
    """A bare control connection: send exact bytes, read exact replies."""

    def __init__(self, server: Server, timeout: float = SOCK_TIMEOUT, source: str | None = None):
        family = socket.AF_INET6 if ":" in server.host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if source:
            self.sock.bind((source, 0))
        self.sock.connect((server.host, server.port))
        self.f = self.sock.makefile("rb")
        self.server = server
        self.greeting = read_reply(self.f)

    def send(self, line: str | bytes) -> None:
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.sock.sendall(line + b"\r\n")

    def reply(self) -> tuple[int, str]:
        return read_reply(self.f)

    def cmd(self, line: str | bytes) -> tuple[int, str]:
        self.send(line)
        return self.reply()

    def login(self, user: str | None = None, password: str | None = None) -> None:
        u = user or self.server.user
        p = password if password is not None else self.server.users.get(u, self.server.password)
        code, text = self.cmd(f"USER {u}")
        assert code == 331, text
        code, text = self.cmd(f"PASS {p}")
        assert code == 230, text

    def pasv(self) -> socket.socket:
        """PASV, then connect the data socket (from the control socket's local address)."""
        code, text = self.cmd("PASV")
        assert code == 227, text
        port = parse_227(text)[1]
        d = socket.create_connection((self.server.host, port), timeout=SOCK_TIMEOUT)
        return d

    def epsv(self) -> socket.socket:
        code, text = self.cmd("EPSV")
        assert code == 229, text
        port = parse_229(text)
        family = socket.AF_INET6 if ":" in self.server.host else socket.AF_INET
        d = socket.socket(family, socket.SOCK_STREAM)
        d.settimeout(SOCK_TIMEOUT)
        d.connect((self.server.host, port))
        return d

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.f.close()
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def parse_227(text: str) -> tuple[str, int]:
    m = re.search(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", text)
    assert m, f"no address in 227 reply {text!r}"
    n = [int(x) for x in m.groups()]
    return f"{n[0]}.{n[1]}.{n[2]}.{n[3]}", n[4] * 256 + n[5]


def parse_229(text: str) -> int:
    m = re.search(r"\((.)\1\1(\d+)\1\)", text)
    assert m, f"malformed 229 reply {text!r}"
    return int(m.group(2))


def recv_all(sock: socket.socket, limit: int = 1 << 30) -> bytes:
    chunks = []
    total = 0
    while total < limit:
        b = sock.recv(1 << 16)
        if not b:
            break
        chunks.append(b)
        total += len(b)
    return b"".join(chunks)


def retr_bytes(ftp: ftplib.FTP, path: str) -> bytes:
    buf = bytearray()
    ftp.retrbinary(f"RETR {path}", buf.extend)
    return bytes(buf)


def stor_bytes(ftp: ftplib.FTP, path: str, data: bytes, cmd: str = "STOR") -> str:
    import io
    return ftp.storbinary(f"{cmd} {path}", io.BytesIO(data))


def raw_stor(server: "Server", path: str, data: bytes, cmd: str = "STOR",
             user: str | None = None, password: str | None = None) -> tuple[int, str]:
    """Uploads over a bare connection and returns the final reply, even when the server
    closes the data connection early (as it should on a full disk or a refusal)."""
    with Raw(server) as r:
        r.login(user, password)
        assert r.cmd("TYPE I")[0] == 200
        d = r.pasv()
        r.send(f"{cmd} {path}")
        code, text = r.reply()
        if code not in (125, 150):
            d.close()
            return code, text
        try:
            for i in range(0, len(data), 1 << 16):
                d.sendall(data[i:i + (1 << 16)])
        except OSError:
            pass
        d.close()
        return r.reply()


def code_of(exc_or_resp) -> int:
    s = str(exc_or_resp.args[0]) if isinstance(exc_or_resp, Exception) else str(exc_or_resp)
    return int(s[:3])


def run(argv: list[str], timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    """Runs a client program with a deadline; output captured as text."""
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, **kw)


def make_tree(base: Path, dirs: int = 4, subdirs: int = 3, files: int = 25, seed: int = 7,
              spaces: bool = True) -> dict[str, str]:
    """Nested folders of small files; returns {relative path: sha256}."""
    rng = random.Random(seed)
    out = {}
    for d in range(dirs):
        for s in range(subdirs + 1):
            rel = Path(f"dir{d}") if s == 0 else Path(f"dir{d}") / (
                f"sub {s}" if spaces and s == 1 else f"sub{s}")
            (base / rel).mkdir(parents=True, exist_ok=True)
            for i in range(files if s else 3):
                name = f"file {i}.dat" if spaces and i % 10 == 0 else f"f{i}.bin"
                data = rng.randbytes(rng.randrange(0, 4096))
                (base / rel / name).write_bytes(data)
                out[str(rel / name)] = sha256_bytes(data)
    (base / "empty-dir").mkdir(exist_ok=True)
    big = rng.randbytes(1 << 20)
    (base / "big.bin").write_bytes(big)
    out["big.bin"] = sha256_bytes(big)
    return out


def tree_hashes(base: Path) -> dict[str, str]:
    out = {}
    for p in base.rglob("*"):
        if p.is_file() and not p.is_symlink():
            out[str(p.relative_to(base))] = sha256_file(p)
    return out


def tree_dirs(base: Path) -> set[str]:
    return {str(p.relative_to(base)) for p in base.rglob("*") if p.is_dir()}


def crypt_hash(password: str) -> str:
    """A sha512-crypt hash made on the test side (independent of feitpd --hash-password)."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA512))


def which(name: str) -> str | None:
    return shutil.which(name)
