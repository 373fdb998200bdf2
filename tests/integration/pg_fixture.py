"""A real PostgreSQL (Debian's postgresql-15) in a temporary folder on a free loopback port, for
the account-store tests and bench/compare.sh. PostgreSQL refuses to run as root: as root, the
cluster belongs to the system user `nobody` and every pg_ctl runs as that user (runuser).

    python3 tests/integration/pg_fixture.py start DIR   -> prints the conninfo
    python3 tests/integration/pg_fixture.py stop DIR
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

PG_USER = "nobody"


def pg_bin() -> Path | None:
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(d, "initdb"), os.X_OK):
            return Path(d)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    def __init__(self, base: Path | None = None):
        self.bin = pg_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (scripts/setup.sh installs postgresql)")
        self.base = Path(base) if base else Path(tempfile.mkdtemp(prefix="feitp-pg-", dir="/tmp"))
        self.base.mkdir(parents=True, exist_ok=True)
        self.data = self.base / "data"
        self.log = self.base / "postgres.log"
        self.port_file = self.base / "port"
        self.port = int(self.port_file.read_text()) if self.port_file.exists() else _free_port()
        self.as_root = os.geteuid() == 0

    @property
    def conninfo(self) -> str:
        return f"postgresql://feitp@127.0.0.1:{self.port}/postgres"

    def _run(self, argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
        if self.as_root:
            argv = ["runuser", "-u", PG_USER, "--"] + argv
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, cwd="/")

    def init(self) -> None:
        if self.as_root:
            pw = pwd.getpwnam(PG_USER)
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
        os.chmod(self.base, 0o755)
        self.port_file.write_text(str(self.port))
        r = self._run([str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "feitp",
                       "--no-sync", "-E", "UTF8", "--locale=C"], timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"initdb failed: {r.stdout}{r.stderr}")

    def start(self) -> None:
        opts = (f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
                f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        r = self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                       "-o", opts, "-w", "-t", "60", "start"], timeout=90)
        if r.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {r.stdout}{r.stderr}\n{self.log_text()}")

    def stop(self, mode: str = "fast") -> None:
        if not (self.data / "postmaster.pid").exists():
            return
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60",
                   "stop"], timeout=90)

    def sql(self, statement: str) -> str:
        """Runs one statement with psql as the database's user (an operator's edit by hand)."""
        r = self._run([str(self.bin / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                       "-h", "127.0.0.1", "-p", str(self.port), "-U", "feitp", "-d", "postgres",
                       "-c", statement])
        if r.returncode != 0:
            raise RuntimeError(f"psql failed: {r.stderr}")
        return r.stdout

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "stop"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    pg = Postgres(Path(sys.argv[2]))
    if sys.argv[1] == "start":
        if not pg.data.exists():
            pg.init()
        pg.start()
        print(pg.conninfo)
    else:
        pg.stop()
