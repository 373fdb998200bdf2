"""A full disk: an upload that does not fit gets 452 (ENOSPC; 552 would be a quota), leaves nothing under a new name
and the old content under an existing one (audit F3), never cuts into another session's
append (F4); the server keeps serving. The root is a small tmpfs (needs root / CAP_SYS_ADMIN)."""
import subprocess

import pytest

from feitp_harness import (Raw, crypt_hash, random_bytes, raw_stor, retr_bytes, sha256_bytes,
                           sha256_file, stor_bytes)
from runtime_helpers import wait_for

# The tmpfs: bigger than the 1 MiB after which binary uploads move with splice(), so a disk
# that fills up is met on that path too.
SIZE_LIMIT = 4 << 20


@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE_LIMIT},mode=0755", "tmpfs",
                        str(mnt)], capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True, timeout=20)


@pytest.mark.parametrize("cmd", ["STOR", "APPE"])
def test_upload_past_full_disk(start_server, small_fs, cmd):
    """F3: a new file that does not fit leaves nothing under its name (STOR: the temporary
    goes; APPE: the file it created, which no one else wrote to, goes) and the space is free."""
    srv = start_server(root=small_fs)
    data = random_bytes(3 * SIZE_LIMIT, seed=81)
    code, text = raw_stor(srv, "big.bin", data, cmd)
    assert code == 452, text  # ENOSPC; 552 is for EDQUOT
    f = srv.connect()
    assert sorted(p.name for p in small_fs.iterdir()) == []
    # the session and the server go on: a small upload fits
    assert f.sendcmd("NOOP").startswith("200")
    stor_bytes(f, "small.bin", b"s" * 10_000)
    assert retr_bytes(f, "small.bin") == b"s" * 10_000
    f.quit()


def test_overwrite_past_full_disk_keeps_the_old_file(start_server, small_fs):
    """F3: with the defaults, a STOR over an existing file that hits ENOSPC answers 452/552
    and the old file is intact byte for byte (it was truncated to 0 bytes before)."""
    srv = start_server(root=small_fs)
    old = random_bytes(900, seed=84)
    (small_fs / "keep.txt").write_bytes(old)
    code, text = raw_stor(srv, "keep.txt", random_bytes(3 * SIZE_LIMIT, seed=85))
    assert code == 452, text  # ENOSPC; 552 is for EDQUOT
    assert (small_fs / "keep.txt").read_bytes() == old
    assert sorted(p.name for p in small_fs.iterdir()) == ["keep.txt"]


def test_failed_append_keeps_another_sessions_append(start_server, small_fs):
    """F4: A appends 10 bytes and keeps going; B appends 1000 bytes and gets 226; A then hits
    ENOSPC (452/552). B's acknowledged bytes must still be in the file (A used to truncate
    the file back to its own start size, 100 bytes)."""
    srv = start_server(root=small_fs)
    head, mine, theirs = b"o" * 100, b"a" * 10, b"b" * 1000
    log = small_fs / "log.txt"
    log.write_bytes(head)
    with Raw(srv) as a:
        a.login()
        assert a.cmd("TYPE I")[0] == 200
        data = a.pasv()
        code, text = a.cmd("APPE log.txt")
        assert code in (125, 150), text
        data.sendall(mine)
        wait_for(lambda: log.stat().st_size == len(head) + len(mine), 10.0, what="A's first bytes")
        code, text = raw_stor(srv, "log.txt", theirs, "APPE")
        assert code == 226, text
        try:
            filler = random_bytes(1 << 20, seed=86)
            for _ in range(3 * SIZE_LIMIT // len(filler)):
                data.sendall(filler)
        except OSError:
            pass  # the server closes the data connection when the disk is full
        data.close()
        code, text = a.reply()
        assert code == 452, text  # ENOSPC; 552 is for EDQUOT
    got = log.read_bytes()
    assert got[:len(head) + len(mine) + len(theirs)] == head + mine + theirs
    assert sorted(p.name for p in small_fs.iterdir()) == ["log.txt"]


def test_full_disk_other_sessions_unaffected(start_server, small_fs):
    srv = start_server(root=small_fs)
    (small_fs / "keep.txt").write_bytes(b"keep")
    other = srv.connect()
    code, text = raw_stor(srv, "fill.bin", random_bytes(2 * SIZE_LIMIT, seed=82))
    assert code == 452, text  # ENOSPC; 552 is for EDQUOT
    assert retr_bytes(other, "keep.txt") == b"keep"
    other.quit()


ATOMIC = '''
[server]
workers = 1

[passive]
ports = "{pasv_min}-{pasv_max}"

[storage]
atomic_uploads = true

[users.gina]
password_hash = "HASH"
home = "{root}"
permissions = "elradfmwMT"
'''


def test_full_disk_atomic_upload_leaves_nothing(start_server, small_fs):
    srv = start_server(users={"gina": "gina-pw"}, root=small_fs, bare=True,
                       config_text=ATOMIC.replace("HASH", crypt_hash("gina-pw")))
    (small_fs / "target.bin").write_bytes(b"previous version")
    code, text = raw_stor(srv, "target.bin", random_bytes(3 * SIZE_LIMIT, seed=83))
    assert code == 452, text  # ENOSPC; 552 is for EDQUOT
    f = srv.connect()
    # atomic: the old file is untouched and no temporary file is left behind
    assert (small_fs / "target.bin").read_bytes() == b"previous version"
    assert sorted(p.name for p in small_fs.iterdir()) == ["target.bin"]
    stor_bytes(f, "new.bin", b"fits")
    assert (small_fs / "new.bin").read_bytes() == b"fits"
    assert sorted(p.name for p in small_fs.iterdir()) == ["new.bin", "target.bin"]
    f.quit()
