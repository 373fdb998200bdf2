"""Upload safety against the real feitpd: a killed process never leaves a half-received file
under its final name nor destroys the old version (audit F3); upload temporaries are swept and
unreachable for clients, and a reload does not break an upload in progress (F5); new files and
directories get their mode from the umask (F16). The full-disk cases (F3, F4) are in
test_diskfull.py.

Every wait has a deadline; every socket has a timeout.
"""
from __future__ import annotations

import contextlib
import os
import signal
import stat
import time
from pathlib import Path

import pytest

from feitp_harness import Raw, random_bytes, raw_stor, sha256_bytes, sha256_file, stor_bytes
from runtime_helpers import children, comm, open_uploads, unnamed, wait_for, workers
from test_hooks import start_probe  # noqa: F401  (the hook_probe fixture)

pytestmark = pytest.mark.skipif(os.environ.get("FEITP_TEST_AGAINST") == "pyftpdlib",
                                reason="feitpd's own storage and process model")

PREFIX = ".feitp-upload."
CHUNK = 1 << 20


def temporaries(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob(PREFIX + "*"))


def bytes_received(srv) -> int:
    """What the workers have written of the uploads in flight: named temporaries (an
    overwrite) and unnamed files (a new name) alike."""
    return sum(u[2] for u in open_uploads(children(srv.proc.pid), srv.root))


class HalfUpload:
    """A STOR that has sent `first` bytes and keeps its data connection open."""

    def __init__(self, srv, name: str, first: bytes):
        self.raw = Raw(srv)
        self.raw.login()
        assert self.raw.cmd("TYPE I")[0] == 200
        self.data = self.raw.pasv()
        code, text = self.raw.cmd(f"STOR {name}")
        assert code in (125, 150), text
        self.data.sendall(first)

    def finish(self, rest: bytes) -> tuple[int, str]:
        self.data.sendall(rest)
        self.data.close()
        return self.raw.reply()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.data.close()
        self.raw.close()


def start_uploads(srv, old: bytes) -> list[HalfUpload]:
    """Two uploads in flight: over existing.bin (which holds `old`, so into a named temporary)
    and to new.bin (a new name, so into an unnamed O_TMPFILE file that has no directory entry at
    all); returns once the workers have written the first MiB of each."""
    (srv.root / "existing.bin").write_bytes(old)
    ups = [HalfUpload(srv, "existing.bin", random_bytes(CHUNK, seed=11)),
           HalfUpload(srv, "new.bin", random_bytes(CHUNK, seed=12))]
    wait_for(lambda: bytes_received(srv) >= 2 * CHUNK, 10.0, what="the first MiB of both uploads")
    held = open_uploads(children(srv.proc.pid), srv.root)
    assert len(unnamed(held)) == 1, held  # new.bin's
    assert len(temporaries(srv.root)) == 1, held  # existing.bin's replacement
    return ups


def assert_nothing_half_visible(srv, old: bytes) -> None:
    assert not (srv.root / "new.bin").exists(), "a half-received new file is visible"
    assert sha256_file(srv.root / "existing.bin") == sha256_bytes(old), \
        "the old version of an overwritten file was lost"


def test_kill9_workers_mid_upload_leaves_old_or_nothing(start_server):
    """F3: kill -9 of both workers mid-upload. The new file is not visible (SIZE 550), the
    overwritten one still has its complete old content, and the respawned workers sweep the
    dead worker's temporary (F5) on their first login to the home. The new name's upload
    leaves nothing at all: its unnamed file went with the worker."""
    srv = start_server(extra=["--workers", "2"])
    master = srv.proc.pid
    kids = workers(master, 2)
    old = random_bytes(300_000, seed=10)
    ups = start_uploads(srv, old)
    for pid in kids:
        os.kill(pid, signal.SIGKILL)
    for u in ups:
        u.close()
    new_kids = workers(master, 2, timeout=15.0, exclude=set(kids))
    assert set(new_kids).isdisjoint(kids)
    assert_nothing_half_visible(srv, old)
    assert len(temporaries(srv.root)) == 1  # the overwrite's, until swept
    f = srv.connect()
    with pytest.raises(Exception) as e:
        f.sendcmd("SIZE new.bin")
    assert str(e.value).startswith("550"), e.value
    assert f.sendcmd("SIZE existing.bin") == f"213 {len(old)}"
    f.quit()
    # Whichever new worker took the login swept the home: the temporary's writer is gone.
    assert temporaries(srv.root) == []
    assert [p.name for p in srv.root.iterdir()] == ["existing.bin"]


def test_kill9_master_and_workers_then_restart_sweeps(start_server):
    """F3 and F5: kill -9 of the master and its workers mid-upload. Nothing half-received is
    visible; the temporaries left behind are removed when the server starts again, before
    anyone logs in."""
    srv = start_server(extra=["--workers", "2"])
    master = srv.proc.pid
    kids = workers(master, 2)
    old = b"old version\n" * 5000
    ups = start_uploads(srv, old)
    for pid in [master] + kids:
        os.kill(pid, signal.SIGKILL)
    srv.proc.wait(10)
    wait_for(lambda: all(not Path(f"/proc/{p}").exists() or comm(p) == "" for p in kids), 10.0,
             what="the workers to die")
    for u in ups:
        u.close()
    assert_nothing_half_visible(srv, old)
    left = temporaries(srv.root)
    assert len(left) == 1, left  # the overwrite's; the new name's upload left nothing
    srv.start()
    wait_for(lambda: temporaries(srv.root) == [], 10.0, what="the start-up sweep")
    assert_nothing_half_visible(srv, old)
    f = srv.connect()
    assert f.sendcmd("SIZE existing.bin") == f"213 {len(old)}"
    f.quit()


def test_temporary_prefix_is_refused(start_server):
    """F5: clients can neither read a temporary (an upload in progress, or a leftover) nor
    store, create, rename, delete or change anything under the prefix."""
    srv = start_server()
    # Named as a live process's temporary (this test's pid), so that no sweep removes it.
    boot = Path("/proc/sys/kernel/random/boot_id").read_text()[:8]
    live = PREFIX + f"{boot}-{os.getpid()}-0123456789abcdef"
    (srv.root / live).write_bytes(b"someone's upload in progress")
    f = srv.connect()
    (srv.root / "sub").mkdir()
    (srv.root / "plain.txt").write_bytes(b"plain")
    for cmd in [f"RETR /{live}", "STOR /.feitp-upload.hideme", "STOR sub/.feitp-upload.y",
                f"APPE /{live}"]:
        code, text = raw_transfer(srv, cmd)
        assert code == 550, (cmd, code, text)
    for cmd in [f"SIZE /{live}", f"MDTM /{live}", f"DELE /{live}", "MKD /.feitp-upload.dir",
                f"RMD /{live}", f"CWD /{live}", f"SITE CHMOD 644 /{live}", f"RNFR /{live}"]:
        with pytest.raises(Exception) as e:
            f.sendcmd(cmd)
        assert str(e.value)[:3] == "550", (cmd, e.value)
    assert f.sendcmd("RNFR plain.txt").startswith("350")
    with pytest.raises(Exception) as e:
        f.sendcmd("RNTO /.feitp-upload.renamed")
    assert str(e.value)[:3] == "550", e.value
    f.quit()
    assert (srv.root / live).read_bytes() == b"someone's upload in progress"
    assert (srv.root / "plain.txt").read_bytes() == b"plain"
    assert sorted(p.name for p in srv.root.iterdir()) == sorted([live, "sub", "plain.txt"])
    assert list((srv.root / "sub").iterdir()) == []


def raw_transfer(srv, cmd: str) -> tuple[int, str]:
    """Sends a transfer command after PASV; the final reply (or the refusal)."""
    with Raw(srv) as r:
        r.login()
        d = r.pasv()
        try:
            code, text = r.cmd(cmd)
            if code in (125, 150):
                d.sendall(b"data")
                d.close()
                code, text = r.reply()
            return code, text
        finally:
            d.close()


def test_reload_sweeps_but_keeps_an_upload_in_progress(start_server):
    """F5: a SIGHUP reload starts workers that sweep the home, removing what dead processes
    left, while an upload that an old-generation worker is still receiving into a named
    temporary (it replaces a file) completes (226) with the right bytes."""
    srv = start_server(extra=["--workers", "2"])
    master = srv.proc.pid
    kids = workers(master, 2)
    data = random_bytes(3 * CHUNK, seed=21)
    (srv.root / "during-reload.bin").write_bytes(b"the previous version")
    up = HalfUpload(srv, "during-reload.bin", data[:CHUNK])
    try:
        wait_for(lambda: bytes_received(srv) >= CHUNK, 10.0, what="the first MiB")
        assert len(temporaries(srv.root)) == 1
        stale = srv.root / (PREFIX + "00000000-1-0000000000000000")  # an earlier boot's
        stale.write_bytes(b"left by a crash")
        os.kill(master, signal.SIGHUP)

        def new_generation():
            fresh = [k for k in children(master) if comm(k) == "feitpd-worker" and k not in kids]
            return fresh if len(fresh) >= 2 else None
        wait_for(new_generation, 20.0, what="the new generation of workers")

        def swept():
            # Each login may still reach a draining old worker; a new one sweeps the home.
            f = srv.connect()
            f.quit()
            return not stale.exists()
        wait_for(swept, 15.0, interval=0.2, what="a new worker to sweep the stale temporary")
        assert len(temporaries(srv.root)) == 1  # the live upload's temporary was kept
        code, text = up.finish(data[CHUNK:])
    finally:
        up.close()
    assert code == 226, text
    assert sha256_file(srv.root / "during-reload.bin") == sha256_bytes(data)
    assert temporaries(srv.root) == []


def mode_of(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.mark.parametrize("flag,process_umask,file_mode,dir_mode", [
    (None, 0o077, 0o644, 0o755),      # default 022, even when the process umask is narrower
    ("077", 0o000, 0o600, 0o700),     # --umask 077, even when the process umask is wider
])
def test_umask(start_server, flag, process_umask, file_mode, dir_mode):
    """F16: uploads are 0666 & ~umask and new directories 0777 & ~umask (default umask 022),
    whatever umask the daemon inherited."""
    extra = ["--umask", flag] if flag else []
    saved = os.umask(process_umask)
    try:
        srv = start_server(extra=extra)
    finally:
        os.umask(saved)
    f = srv.connect()
    stor_bytes(f, "up.bin", b"x" * 100)
    stor_bytes(f, "appended.bin", b"y" * 10, cmd="APPE")
    f.mkd("newdir")
    f.quit()
    assert mode_of(srv.root / "up.bin") == file_mode
    assert mode_of(srv.root / "appended.bin") == file_mode
    assert mode_of(srv.root / "newdir") == dir_mode


def test_bad_umask_flag_is_refused(start_server):
    """A bad --umask stops the start with one line naming the flag."""
    with pytest.raises(RuntimeError) as e:
        start_server(extra=["--umask", "0888"])
    assert "--umask: must be an octal string" in str(e.value)


def test_refused_append_keeps_another_sessions_append(start_probe):
    """F4 through check_upload: A appends to reject.log and keeps its data connection open; B
    appends to the same file (through a symlink, so that the probe's check accepts B) and gets
    226; A's upload is then refused (550). B's bytes must still be in the file: A used to cut
    the file back to its own start size."""
    probe = start_probe("--refuse-check", "reject")
    head, mine, theirs = b"o" * 100, b"a" * 10, b"b" * 1000
    log = probe.root / "reject.log"
    log.write_bytes(head)
    (probe.root / "alias.log").symlink_to("reject.log")
    with Raw(probe) as a:
        a.login()
        assert a.cmd("TYPE I")[0] == 200
        data = a.pasv()
        code, text = a.cmd("APPE reject.log")
        assert code in (125, 150), text
        data.sendall(mine)
        wait_for(lambda: log.stat().st_size == len(head) + len(mine), 10.0, what="A's bytes")
        code, text = raw_stor(probe, "alias.log", theirs, "APPE")
        assert code == 226, text
        data.close()
        code, text = a.reply()
        assert code == 550, text
    assert log.read_bytes() == head + mine + theirs
