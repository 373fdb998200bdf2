"""Helpers for the multi-process runtime tests: the master's workers (from /proc), which worker
holds a given client connection, bounded waits, raw greetings.

Linux only (reads /proc). Every wait has a deadline.
"""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from feitp_harness import crypt_hash

RUNTIME_CONFIG = """
[server]
banner = "{banner}"
workers = {workers}
shutdown_grace = {grace}

[limits]
max_per_ip = {max_per_ip}
max_login_attempts = {max_login_attempts}
login_failure_delay_ms = 0
ban_after_failures = {ban_after}
ban_window = 60
ban_time = {ban_time}

[users.{user}]
password_hash = "{password_hash}"
home = "{{root}}"
permissions = "elradfmwMT"
"""


def runtime_config(banner: str = "feitp runtime test", workers: int = 2, grace: int = 20,
                   max_per_ip: int = 0, max_login_attempts: int = 3, ban_after: int = 0,
                   ban_time: int = 60, user: str = "alice", password: str = "s3cret-Pass") -> str:
    """Config text for start_server(config_text=...) (its own braces already doubled)."""
    return RUNTIME_CONFIG.format(user=user, password_hash=crypt_hash(password),
                                 banner=banner, workers=workers, grace=grace,
                                 max_per_ip=max_per_ip, max_login_attempts=max_login_attempts,
                                 ban_after=ban_after, ban_time=ban_time)


def wait_for(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Polls predicate() until it returns a truthy value (returned) or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            pass
    return sorted(out)


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def open_uploads(pids: list[int], root: Path) -> list[tuple[int, str, int]]:
    """The files beneath `root` that the processes `pids` hold open for writing, as (pid,
    name, size): a named upload temporary, or an unnamed one (O_TMPFILE, whose /proc link
    reads "DIR/#INODE (deleted)"). Only the upload descriptors are write-only here."""
    prefix = str(root.resolve()) + "/"
    out = []
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
                info = (Path(f"/proc/{pid}/fdinfo") / fd.name).read_text()
                flags = int(info.split("flags:")[1].split()[0], 8)
                size = os.stat(fd).st_size
            except (OSError, IndexError, ValueError):
                continue
            if target.startswith(prefix) and flags & os.O_ACCMODE == os.O_WRONLY:
                out.append((pid, target[len(prefix):], size))
    return out


def unnamed(uploads: list[tuple[int, str, int]]) -> list[tuple[int, str, int]]:
    """The uploads of open_uploads() that have no name in the directory (O_TMPFILE)."""
    return [u for u in uploads if u[1].endswith(" (deleted)") and "#" in u[1]]


def uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


def workers(master: int, count: int, timeout: float = 10.0, exclude: set[int] | None = None) -> list[int]:
    """Waits until the master has exactly `count` live children (none in `exclude`) and
    returns them."""
    exclude = exclude or set()

    def ready():
        kids = [k for k in children(master) if comm(k) == "feitpd-worker"]
        if len(kids) == count and not (set(kids) & exclude):
            return kids
        return None
    return wait_for(ready, timeout, what=f"{count} workers of master {master}")


def _socket_inodes(pid: int) -> set[int]:
    out = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        entries = list(fd_dir.iterdir())
    except OSError:
        return out
    for fd in entries:
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            out.add(int(link[8:-1]))
    return out


def _tcp_table() -> list[tuple[str, int, str, int, str, int]]:
    """(local ip hex, local port, remote ip hex, remote port, state, inode) for IPv4 TCP."""
    rows = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        lip, lport = parts[1].split(":")
        rip, rport = parts[2].split(":")
        rows.append((lip, int(lport, 16), rip, int(rport, 16), parts[3], int(parts[9])))
    return rows


def listening_sockets(pid: int, port: int) -> int:
    """How many listening sockets on `port` the process holds."""
    inodes = _socket_inodes(pid)
    return sum(1 for (_, lport, _, _, st, ino) in _tcp_table()
               if st == "0A" and lport == port and ino in inodes)


def owner(sock: socket.socket, server_port: int, pids: list[int], timeout: float = 2.0) -> int | None:
    """The worker (among pids) holding the server side of a client connection, or None."""
    client_port = sock.getsockname()[1]

    def look():
        inode = None
        for (_, lport, _, rport, _, ino) in _tcp_table():
            if lport == server_port and rport == client_port and ino != 0:
                inode = ino
                break
        if inode is None:
            return None
        for pid in pids:
            if inode in _socket_inodes(pid):
                return pid
        return None
    try:
        return wait_for(look, timeout, what="the worker of a connection")
    except AssertionError:
        return None


def greet(host: str, port: int, source: str | None = None, timeout: float = 5.0):
    """Opens a control connection and reads the first reply line: (socket, code, text).
    code is 0 when the server closed without a reply."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source:
        s.bind((source, 0))
    s.connect((host, port))
    f = s.makefile("rb")
    line = f.readline().decode("utf-8", "replace")
    f.close()
    if not line:
        return s, 0, ""
    return s, int(line[:3]), line.strip()


def send_line(s: socket.socket, line: str) -> str:
    """Sends one command and returns the first line of the reply ('' on EOF)."""
    s.sendall(line.encode() + b"\r\n")
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(1)
        if not chunk:
            break
        buf += chunk
    return buf.decode("utf-8", "replace").strip()
