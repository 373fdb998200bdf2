"""python3 -m feitp, driven with curl: pyftpdlib's flags, serving the current folder."""
import signal
import subprocess

PORT_LINE = r"feitp serving .* on [0-9.]+:(\d+)"


def curl(*args):
    return subprocess.run(["curl", "-sS", "--max-time", "20"] + list(args), capture_output=True, timeout=30)


def test_serves_current_folder_anonymously_read_only(run_script, tmp_path):
    (tmp_path / "readme.txt").write_bytes(b"read me\n")
    srv = run_script(None, ["feitp", "-i", "127.0.0.1", "-p", "0"], module=True, pattern=PORT_LINE)
    r = curl("ftp://127.0.0.1:%d/" % srv.port, "-l")
    assert r.returncode == 0, r.stderr
    assert "readme.txt" in r.stdout.decode().split()
    r = curl("ftp://127.0.0.1:%d/readme.txt" % srv.port)
    assert r.stdout == b"read me\n"
    up = tmp_path / "up.txt"
    up.write_bytes(b"nope")
    r = curl("-T", str(up), "ftp://127.0.0.1:%d/uploaded.txt" % srv.port)
    assert r.returncode != 0  # 550: anonymous is read-only without -w
    assert not (tmp_path / "uploaded.txt").exists()
    assert srv.stop(signal.SIGINT) == 0  # Ctrl-C stops cleanly


def test_user_write_range_and_workers(run_script, tmp_path):
    share = tmp_path / "share"
    share.mkdir()
    srv = run_script(None, ["feitp", "-i", "127.0.0.1", "-p", "0", "-w", "-d", str(share), "-u", "joe",
                            "-P", "pw", "-r", "41000-41999", "-n", "127.0.0.1", "-W", "2", "-D"],
                     module=True, pattern=PORT_LINE)
    up = tmp_path / "data.bin"
    up.write_bytes(b"d" * 70000)
    r = curl("-T", str(up), "ftp://joe:pw@127.0.0.1:%d/data.bin" % srv.port)
    assert r.returncode == 0, r.stderr
    assert (share / "data.bin").read_bytes() == b"d" * 70000
    r = curl("-v", "--ftp-pasv", "--disable-epsv", "ftp://joe:pw@127.0.0.1:%d/data.bin" % srv.port)
    assert r.stdout == b"d" * 70000
    line = [l for l in r.stderr.decode().splitlines() if "227" in l][0]
    nums = [int(x) for x in line.split("(")[1].split(")")[0].split(",")]
    assert nums[:4] == [127, 0, 0, 1] and 41000 <= nums[4] * 256 + nums[5] <= 41999
    assert curl("ftp://127.0.0.1:%d/" % srv.port).returncode != 0  # no anonymous with -u
    assert srv.stop(signal.SIGTERM) == 0
