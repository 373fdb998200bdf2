"""lftp: mirror and mirror -R of nested folders with a few hundred small files, byte for byte.
lftp's defaults are kept (it tries AUTH TLS first and must fall back cleanly)."""
import pytest

from feitp_harness import make_tree, run, tree_dirs, tree_hashes, which

pytestmark = pytest.mark.skipif(not which("lftp"), reason="lftp not installed")

SETTINGS = "set net:max-retries 1; set net:timeout 10; set net:reconnect-interval-base 1; "


def lftp(server, script: str, timeout: float = 180, user=None, password=None):
    u = user or server.user
    p = password if password is not None else server.password
    cmd = (f"{SETTINGS}open -u {u},{p} -p {server.port} {server.host}; {script}")
    return run(["lftp", "-c", cmd], timeout=timeout)


def test_mirror_download(server, tmp_path):
    expected = make_tree(server.root / "tree", seed=51)
    assert len(expected) >= 300
    dest = tmp_path / "down"
    r = lftp(server, f"mirror /tree {dest}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert tree_hashes(dest) == expected
    assert tree_dirs(dest) == tree_dirs(server.root / "tree")


def test_mirror_upload(server, tmp_path):
    src = tmp_path / "up"
    expected = make_tree(src, seed=52)
    r = lftp(server, f"mirror -R {src} /uploaded")
    assert r.returncode == 0, r.stdout + r.stderr
    assert tree_hashes(server.root / "uploaded") == expected
    assert tree_dirs(server.root / "uploaded") == tree_dirs(src)


def test_mirror_upload_parallel(server, tmp_path):
    src = tmp_path / "par"
    expected = make_tree(src, dirs=2, subdirs=2, files=20, seed=53)
    r = lftp(server, f"mirror -R --parallel=3 {src} /par")
    assert r.returncode == 0, r.stdout + r.stderr
    assert tree_hashes(server.root / "par") == expected


def test_mirror_is_incremental(server, tmp_path):
    expected = make_tree(server.root / "inc", dirs=1, subdirs=1, files=10, seed=54)
    dest = tmp_path / "inc"
    assert lftp(server, f"mirror /inc {dest}").returncode == 0
    (server.root / "inc" / "dir0" / "added.txt").write_bytes(b"added later")
    r = lftp(server, f"mirror /inc {dest}")
    assert r.returncode == 0, r.stdout + r.stderr
    expected["dir0/added.txt"] = None
    got = tree_hashes(dest)
    assert set(got) == set(expected)
    assert (dest / "dir0" / "added.txt").read_bytes() == b"added later"


def test_get_put_ls_rm(server, tmp_path):
    (tmp_path / "local.txt").write_bytes(b"from lftp\n")
    r = lftp(server, f"put {tmp_path / 'local.txt'} -o remote.txt; ls; cat remote.txt; "
                     "mkdir newdir; mv remote.txt newdir/moved.txt; cls -1 newdir; "
                     "rm newdir/moved.txt; rmdir newdir")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "remote.txt" in r.stdout
    assert "from lftp" in r.stdout
    assert "moved.txt" in r.stdout
    assert not (server.root / "newdir").exists()


def test_resume_get(server, tmp_path):
    data = bytes(range(256)) * 4000
    (server.root / "res.bin").write_bytes(data)
    (tmp_path / "res.bin").write_bytes(data[:100_000])
    r = lftp(server, f"lcd {tmp_path}; get -c res.bin")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "res.bin").read_bytes() == data


def test_wrong_password_fails(server):
    r = lftp(server, "ls", password="wrong", timeout=60)
    assert r.returncode != 0
