"""A full disk: an upload that does not fit gets 452 or 552 and leaves no file that looks
complete; the server keeps serving. The root is a small tmpfs (needs root / CAP_SYS_ADMIN)."""
import subprocess

import pytest

from feitp_harness import crypt_hash, random_bytes, raw_stor, retr_bytes, stor_bytes

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


def assert_no_complete_file(path, data):
    if path.exists():
        got = path.read_bytes()
        assert len(got) < len(data), "a full-disk upload left a file of the full size"


@pytest.mark.parametrize("cmd", ["STOR", "APPE"])
def test_upload_past_full_disk(start_server, small_fs, cmd):
    srv = start_server(root=small_fs)
    data = random_bytes(3 * SIZE_LIMIT, seed=81)
    code, text = raw_stor(srv, "big.bin", data, cmd)
    assert code in (452, 552), text
    f = srv.connect()
    assert_no_complete_file(small_fs / "big.bin", data)
    # the session and the server go on: free the space, then a small upload fits
    assert f.sendcmd("NOOP").startswith("200")
    if (small_fs / "big.bin").exists():
        assert f.sendcmd("DELE big.bin").startswith("250")
    stor_bytes(f, "small.bin", b"s" * 10_000)
    assert retr_bytes(f, "small.bin") == b"s" * 10_000
    f.quit()


def test_full_disk_other_sessions_unaffected(start_server, small_fs):
    srv = start_server(root=small_fs)
    (small_fs / "keep.txt").write_bytes(b"keep")
    other = srv.connect()
    code, text = raw_stor(srv, "fill.bin", random_bytes(2 * SIZE_LIMIT, seed=82))
    assert code in (452, 552), text
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
    assert code in (452, 552), text
    f = srv.connect()
    # atomic: the old file is untouched and no temporary file is left behind
    assert (small_fs / "target.bin").read_bytes() == b"previous version"
    assert sorted(p.name for p in small_fs.iterdir()) == ["target.bin"]
    stor_bytes(f, "new.bin", b"fits")
    assert (small_fs / "new.bin").read_bytes() == b"fits"
    assert sorted(p.name for p in small_fs.iterdir()) == ["new.bin", "target.bin"]
    f.quit()
