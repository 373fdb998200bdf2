"""wget: recursive download (parses LIST in the ls -l form), passive and active."""
import pytest

from feitp_harness import make_tree, run, tree_hashes, which

pytestmark = pytest.mark.skipif(not which("wget"), reason="wget not installed")


def wget(server, dest, path="/", extra=()):
    return run(["wget", "-r", "-l", "10", "-nH", "--tries=1", "--timeout=10", "-q",
                "--ftp-user", server.user, "--ftp-password", server.password,
                "-P", str(dest), *extra,
                f"ftp://{server.url_host}:{server.port}{path}"], timeout=180)


@pytest.mark.parametrize("extra", [(), ("--no-passive-ftp",)], ids=["passive", "active"])
def test_recursive_download(server, tmp_path, extra):
    expected = make_tree(server.root / "site", dirs=3, subdirs=2, files=12, seed=61,
                         spaces=False)
    dest = tmp_path / "dl"
    r = wget(server, dest, "/site/", extra)
    assert r.returncode == 0, r.stderr
    got = tree_hashes(dest / "site")
    got = {k: v for k, v in got.items() if not k.endswith(".listing")}
    assert got == expected


def test_single_file(server, tmp_path):
    (server.root / "one.txt").write_bytes(b"single file\n")
    r = run(["wget", "--tries=1", "--timeout=10", "-q", "-O", str(tmp_path / "one.txt"),
             server.url("/one.txt")], timeout=60)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "one.txt").read_bytes() == b"single file\n"


def test_timestamps_preserved(server, tmp_path):
    import os
    p = server.root / "ts" / "dated.txt"
    p.parent.mkdir()
    p.write_bytes(b"dated")
    os.utime(p, (1_500_000_000, 1_500_000_000))
    dest = tmp_path / "ts"
    r = wget(server, dest, "/ts/")
    assert r.returncode == 0, r.stderr
    # wget takes the time from the LIST line (year form: day precision) or MDTM
    got = int((dest / "ts" / "dated.txt").stat().st_mtime)
    assert abs(got - 1_500_000_000) < 86400, got
