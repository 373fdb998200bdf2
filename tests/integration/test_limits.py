"""Quotas, bandwidth limits and virtual hosts (docs/accounts.md): real feitpd, real clients
(ftplib, curl), files and bytes checked on disk.

Quotas: 552 the moment an upload would pass the quota, the partial upload gone (the old file
intact on an overwrite), SITE QUOTA exact, two sessions on two workers racing, the usage found
again after a restart. Rates: bytes over time measured at the client within 5% of the limit
(per session, per user over two sessions on two workers, whole server), and a throttled client
that stops reading leaves the others alone. HOST: roots, banners and users per host, 504, 503."""
import ftplib
import io
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest

from feitp_harness import Raw, crypt_hash, parse_229, random_bytes, recv_all, retr_bytes, stor_bytes

PASSWORD = "quota-pw"

QUOTA_CONFIG = '''
[server]
workers = WORKERS

[passive]
ports = "{pasv_min}-{pasv_max}"

[users.quinn]
password_hash = "HASH"
home = "{root}"
permissions = "elradfmwMT"
quota_bytes = 100000
quota_files = 4
'''


def error_code(fn, *a):
    with pytest.raises(ftplib.Error) as e:
        fn(*a)
    return int(str(e.value)[:3])


def stor_code(f, name, data, cmd="STOR") -> int:
    """The final reply code of an upload. A refused upload may be cut off while the client is
    still sending (the server closes the data connection at 552): the reply is read then."""
    try:
        f.storbinary(f"{cmd} {name}", io.BytesIO(data))
        return 226
    except ftplib.Error as e:
        return int(str(e)[:3])
    except (BrokenPipeError, ConnectionResetError):
        try:
            f.getresp()
            return 226
        except ftplib.Error as e:
            return int(str(e)[:3])


def site_quota(f) -> tuple[int, int, int, int]:
    """(bytes used, bytes limit, files used, files limit) from SITE QUOTA."""
    resp = f.sendcmd("SITE QUOTA")
    m = re.fullmatch(r"200 Quota: bytes=(\d+)/(\d+) files=(\d+)/(\d+)", resp)
    assert m, resp
    return tuple(int(x) for x in m.groups())


def disk_usage(root):
    files = [p for p in root.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def quota_server(start_server, workers=1, root=None):
    text = QUOTA_CONFIG.replace("HASH", crypt_hash(PASSWORD)).replace("WORKERS", str(workers))
    return start_server(users={"quinn": PASSWORD}, config_text=text, bare=True, root=root)


def test_quota_bytes_552_and_partial_removed(start_server):
    srv = quota_server(start_server)
    (srv.root / "old.bin").write_bytes(b"o" * 30000)
    f = srv.connect()
    assert site_quota(f) == (30000, 100000, 1, 4)  # measured at the first login
    stor_bytes(f, "a.bin", random_bytes(50000, seed=2))
    assert site_quota(f) == (80000, 100000, 2, 4)
    # 30000 more would pass 100000: refused while the bytes arrive, nothing left behind.
    big = random_bytes(30000, seed=3)
    assert stor_code(f, "b.bin", big) == 552
    assert not (srv.root / "b.bin").exists()
    assert [p.name for p in srv.root.iterdir() if p.name.startswith(".feitp-upload")] == []
    assert site_quota(f) == (80000, 100000, 2, 4)
    # An overwrite counts only what it adds: old.bin (30000) replaced by 45000 fits (95000),
    # by 60000 does not, and then the old content stays.
    old = (srv.root / "old.bin").read_bytes()
    assert stor_code(f, "old.bin", random_bytes(60000, seed=4)) == 552
    assert (srv.root / "old.bin").read_bytes() == old
    new = random_bytes(45000, seed=5)
    stor_bytes(f, "old.bin", new)
    assert (srv.root / "old.bin").read_bytes() == new
    assert site_quota(f) == (95000, 100000, 2, 4)
    # APPE past the quota: 552, and the file keeps what it had (the append's bytes are given
    # back: usage matches the disk).
    assert stor_code(f, "a.bin", random_bytes(20000, seed=6), "APPE") == 552
    used, _, files, _ = site_quota(f)
    assert (used, files) == disk_usage(srv.root)
    # Deletes give back.
    f.delete("a.bin")
    assert site_quota(f) == (disk_usage(srv.root)[0], 100000, 1, 4)
    f.quit()


def test_quota_files_and_rename(start_server):
    srv = quota_server(start_server)
    f = srv.connect()
    for i in range(4):
        stor_bytes(f, f"f{i}.txt", b"x" * 10)
    assert stor_code(f, "f4.txt", b"y") == 552
    assert not (srv.root / "f4.txt").exists()
    assert site_quota(f) == (40, 100000, 4, 4)
    # Overwriting an existing file is not a new file.
    stor_bytes(f, "f0.txt", b"z" * 20)
    assert site_quota(f) == (50, 100000, 4, 4)
    # A rename over another file frees that one.
    f.rename("f1.txt", "f2.txt")
    assert site_quota(f) == (40, 100000, 3, 4)
    assert disk_usage(srv.root) == (40, 3)
    stor_bytes(f, "f5.txt", b"w")
    assert site_quota(f) == (41, 100000, 4, 4)
    f.quit()


def test_quota_none_reported(start_server):
    srv = start_server()
    f = srv.connect()
    assert f.sendcmd("SITE QUOTA") == "200 Quota: none."
    assert "QUOTA" in f.sendcmd("SITE HELP")
    f.quit()


def test_quota_race_two_workers(start_server):
    """Two sessions of one user on two workers upload at once, each alone within the quota,
    together over it: at most the quota is kept, the usage matches the disk."""
    srv = quota_server(start_server, workers=2)
    data = [random_bytes(70000, seed=10), random_bytes(70000, seed=11)]
    results = [None, None]

    def upload(i):
        f = srv.connect()
        results[i] = stor_code(f, f"race{i}.bin", data[i])
        f.quit()

    # The two connections may land on one worker; the race is the same there, and both
    # counting in one table is what the shared memory makes true for two.
    threads = [threading.Thread(target=upload, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == [226, 552], results
    kept = [p for p in srv.root.iterdir() if p.is_file()]
    assert len(kept) == 1 and kept[0].read_bytes() == data[int(kept[0].name[4])]
    f = srv.connect()
    assert site_quota(f) == (70000, 100000, 1, 4)
    f.quit()


def test_quota_survives_restart(start_server, tmp_path):
    root = tmp_path / "home"
    root.mkdir()
    (root / "sub").mkdir()
    srv = quota_server(start_server, workers=2, root=root)
    f = srv.connect()
    stor_bytes(f, "sub/one.bin", random_bytes(12345, seed=20))
    stor_bytes(f, "two.bin", random_bytes(2345, seed=21))
    before = site_quota(f)
    f.quit()
    assert before == (14690, 100000, 2, 4)
    srv.stop()
    srv.start()
    f = srv.connect()
    assert site_quota(f) == before
    assert stor_code(f, "three.bin", random_bytes(90000, seed=22)) == 552
    f.quit()


# --- bandwidth ---------------------------------------------------------------------------------

RATE = 1 << 20  # 1 MiB/s
SECONDS = 5


RATE_CONFIG = '''
[server]
workers = 2

[passive]
ports = "{pasv_min}-{pasv_max}"

[limits]
LIMITS

[users.rita]
password_hash = "HASH"
home = "{root}"
permissions = "elradfmwMT"
USERKEYS
'''


def rate_server(start_server, limits="", userkeys=""):
    text = (RATE_CONFIG.replace("HASH", crypt_hash(PASSWORD)).replace("LIMITS", limits)
            .replace("USERKEYS", userkeys))
    return start_server(users={"rita": PASSWORD}, config_text=text, bare=True)


def timed_download(srv, name, out):
    f = srv.connect()
    buf = io.BytesIO()
    start = time.monotonic()
    f.retrbinary(f"RETR {name}", buf.write, blocksize=65536)
    out.append((buf.tell(), time.monotonic() - start))
    f.quit()


def timed_upload(srv, name, data, out):
    f = srv.connect()
    start = time.monotonic()
    f.storbinary(f"STOR {name}", io.BytesIO(data), blocksize=65536)
    out.append((len(data), time.monotonic() - start))
    f.quit()


def assert_rate(nbytes, seconds, rate):
    measured = nbytes / seconds
    assert abs(measured - rate) <= 0.05 * rate, f"{measured:.0f} B/s against {rate} B/s"


def test_session_download_rate(start_server):
    srv = rate_server(start_server, limits=f"session_download_rate = {RATE}")
    (srv.root / "big.bin").write_bytes(random_bytes(RATE * SECONDS, seed=30))
    out = []
    timed_download(srv, "big.bin", out)
    assert out[0][0] == RATE * SECONDS
    assert_rate(*out[0], RATE)


def test_user_upload_rate_over_two_sessions(start_server):
    """Two sessions of one user (two workers) share the user's rate."""
    srv = rate_server(start_server, userkeys=f"upload_rate = {RATE}")
    data = random_bytes(RATE * SECONDS // 2, seed=31)
    out = []
    threads = [threading.Thread(target=timed_upload, args=(srv, f"u{i}.bin", data, out)) for i in range(2)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    elapsed = time.monotonic() - start
    assert len(out) == 2
    for i in range(2):
        assert (srv.root / f"u{i}.bin").read_bytes() == data
    assert_rate(2 * len(data), elapsed, RATE)


def test_global_download_rate_and_stopped_reader(start_server):
    """The server-wide rate holds over two clients; a client that stops reading holds no one
    up: the other's download still runs at the rate."""
    srv = rate_server(start_server, limits=f"download_rate = {RATE}")
    (srv.root / "big.bin").write_bytes(random_bytes(RATE * SECONDS, seed=32))
    # The stuck client: starts a download and never reads its data connection.
    stuck = Raw(srv)
    stuck.login("rita", PASSWORD)
    stuck.cmd("TYPE I")
    code, text = stuck.cmd("EPSV")
    assert code == 229, text
    # A small receive window, so that its buffers fill at once and it is stuck from then on.
    data_sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    data_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    data_sock.settimeout(10)
    data_sock.connect((srv.host, parse_229(text)))
    stuck.send("RETR big.bin")
    assert stuck.reply()[0] == 150
    time.sleep(1.5)
    out = []
    timed_download(srv, "big.bin", out)
    assert out[0][0] == RATE * SECONDS
    # The stuck one took at most its socket buffers' worth; the other had the rest.
    assert_rate(*out[0], RATE)
    data_sock.close()
    stuck.close()


def test_curl_session_upload_rate(start_server):
    if shutil.which("curl") is None:
        pytest.fail("curl is not installed (scripts/setup.sh installs it)")
    srv = rate_server(start_server, limits=f"session_upload_rate = {RATE}")
    src = srv.root.parent / "src.bin"
    src.write_bytes(random_bytes(RATE * SECONDS, seed=33))
    start = time.monotonic()
    subprocess.run(["curl", "-sS", "--max-time", "60", "-T", str(src),
                    srv.url("/curl.bin", "rita", PASSWORD)], check=True, timeout=70)
    elapsed = time.monotonic() - start
    assert (srv.root / "curl.bin").read_bytes() == src.read_bytes()
    assert_rate(RATE * SECONDS, elapsed, RATE)


# --- virtual hosts -----------------------------------------------------------------------------

HOSTS_CONFIG = '''
[server]
workers = 1

[passive]
ports = "{pasv_min}-{pasv_max}"

[anonymous]
enabled = true
home = "{root}"

[[hosts]]
name = "alpha.example"
banner = "Welcome to alpha."
root = "{work}/alpha"

[[hosts]]
name = "beta.example"
banner = "Welcome to beta."
root = "{work}/beta"

[users.amy]
password_hash = "HASH_A"
home = "{work}/amy"
permissions = "elradfmwMT"
host = "alpha.example"

[users.dan]
password_hash = "HASH_D"
home = "{root}"
permissions = "elr"
'''


@pytest.fixture
def hosts(start_server, tmp_path):
    text = HOSTS_CONFIG.replace("HASH_A", crypt_hash("amy-pw")).replace("HASH_D", crypt_hash("dan-pw"))
    srv = start_server(users={"dan": "dan-pw"}, config_text=text, bare=True)
    work = srv.root.parent
    for name in ("alpha", "beta", "amy"):
        (work / name).mkdir(exist_ok=True)
    (work / "alpha" / "where.txt").write_bytes(b"alpha")
    (work / "beta" / "where.txt").write_bytes(b"beta")
    (srv.root / "where.txt").write_bytes(b"default")
    return srv


def test_host_selects_root_and_banner(hosts):
    for name, expect in (("alpha.example", b"alpha"), ("BETA.example", b"beta"), (None, b"default")):
        f = hosts.connect(login=False)
        if name:
            resp = f.sendcmd(f"HOST {name}")
            assert resp == f"220 Welcome to {expect.decode()}."
        f.login("anonymous", "guest@example.com")
        assert retr_bytes(f, "where.txt") == expect
        f.quit()


def test_host_users(hosts):
    # amy belongs to alpha: logs in there, nowhere else.
    f = hosts.connect(login=False)
    f.sendcmd("HOST alpha.example")
    f.login("amy", "amy-pw")
    stor_bytes(f, "mine.txt", b"amy")
    f.quit()
    assert (hosts.root.parent / "amy" / "mine.txt").read_bytes() == b"amy"
    for host in ("beta.example", None):
        f = hosts.connect(login=False)
        if host:
            f.sendcmd(f"HOST {host}")
        assert error_code(f.login, "amy", "amy-pw") == 530
        f.close()
    # dan has no host: the default host's user, unknown on alpha.
    f = hosts.connect(login=False)
    f.login("dan", "dan-pw")
    f.quit()
    f = hosts.connect(login=False)
    f.sendcmd("HOST alpha.example")
    assert error_code(f.login, "dan", "dan-pw") == 530
    f.close()


def test_host_errors(hosts):
    with Raw(hosts) as r:
        assert r.cmd("HOST nowhere.example")[0] == 504
        assert r.cmd("USER anonymous")[0] == 331
        assert r.cmd("HOST alpha.example")[0] == 503  # after USER (RFC 7151)
        assert r.cmd("PASS guest@example.com")[0] == 230
        assert r.cmd("HOST alpha.example")[0] == 503  # after login
    with Raw(hosts) as r:
        assert r.cmd("HOST")[0] == 501
        assert r.cmd("HOST alpha.example")[0] == 220
        assert r.cmd("HOST beta.example")[0] == 220  # before USER it may change its mind
        r.login("anonymous", "guest@example.com")
        d = r.epsv()
        assert r.cmd("RETR where.txt")[0] == 150
        assert recv_all(d) == b"beta"
        d.close()
        assert r.reply()[0] == 226
