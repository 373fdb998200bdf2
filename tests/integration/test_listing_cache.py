"""Listings of big directories are cached, and a change made by anyone shows at once.

feitpd keeps the formatted LIST/NLST/MLSD text of directories with many entries and reuses it
while the directory is unchanged (an inotify version per directory). These tests change a cached
directory behind the server's back (plain file system calls from this process, and uploads
through another session or worker) and check that the very next listing shows the change.
"""
import io
import os
import time

import pytest
from feitp_harness import crypt_hash

ENTRIES = 300  # well above the size from which listings are cached


def names(ftp, path="big"):
    return set(os.path.basename(n) for n in ftp.nlst(path))


def list_sizes(ftp, path="big"):
    out = {}
    lines = []
    ftp.retrlines(f"LIST {path}", lines.append)
    for line in lines:
        parts = line.split(None, 8)
        if len(parts) == 9:
            out[parts[8]] = (parts[0], int(parts[4]))
    return out


def mlsd_facts(ftp, path="big"):
    return {name: facts for name, facts in ftp.mlsd(path, ["size", "modify", "perm", "type"])}


@pytest.fixture(params=[1, 2], ids=["one-worker", "two-workers"])
def big(request, start_server):
    srv = start_server(extra=["--workers", str(request.param)])
    d = srv.root / "big"
    d.mkdir()
    for i in range(ENTRIES):
        (d / f"f{i:04d}.txt").write_bytes(b"x" * i)
    return srv


def test_repeated_listings_agree(big):
    ftp = big.connect()
    first = list_sizes(ftp)
    assert len(first) == ENTRIES
    for _ in range(3):
        assert list_sizes(ftp) == first
    assert names(ftp) == set(first)
    ftp.quit()


def test_external_changes_show_at_once(big):
    ftp = big.connect()
    d = big.root / "big"
    list_sizes(ftp), names(ftp), mlsd_facts(ftp)  # fill the cache for every form

    (d / "new.txt").write_bytes(b"new")
    assert list_sizes(ftp)["new.txt"][1] == 3
    assert "new.txt" in names(ftp)
    assert mlsd_facts(ftp)["new.txt"]["size"] == "3"

    with open(d / "f0010.txt", "ab") as f:  # in place: the directory itself does not change
        f.write(b"y" * 1000)
    assert list_sizes(ftp)["f0010.txt"][1] == 1010
    assert mlsd_facts(ftp)["f0010.txt"]["size"] == "1010"

    with open(d / "f0011.txt", "r+b") as f:  # same size, new content and time
        f.write(b"z")
    os.utime(d / "f0011.txt", (1_000_000_000, 1_000_000_000))
    assert mlsd_facts(ftp)["f0011.txt"]["modify"] == "20010909014640"

    os.chmod(d / "f0012.txt", 0o600)
    assert list_sizes(ftp)["f0012.txt"][0] == "-rw-------"

    os.unlink(d / "f0013.txt")
    assert "f0013.txt" not in list_sizes(ftp)
    assert "f0013.txt" not in names(ftp)

    os.rename(d / "f0014.txt", d / "renamed.txt")
    after = names(ftp)
    assert "renamed.txt" in after and "f0014.txt" not in after
    ftp.quit()


def test_changes_through_other_sessions_show_at_once(big):
    # With two workers the second connection usually lands on the other process, whose cache
    # and watches are its own.
    reader = big.connect()
    assert list_sizes(reader)["f0020.txt"][1] == 20
    for i in range(4):
        writer = big.connect()
        writer.storbinary("STOR big/f0020.txt", io.BytesIO(b"w" * (5000 + i)))
        writer.storbinary(f"STOR big/up{i}.bin", io.BytesIO(b"u" * 7))
        writer.delete(f"big/f{30 + i:04d}.txt")
        writer.quit()
        sizes = list_sizes(reader)
        assert sizes["f0020.txt"][1] == 5000 + i
        assert sizes[f"up{i}.bin"][1] == 7
        assert f"f{30 + i:04d}.txt" not in sizes
    reader.quit()


TWO_USERS = """
[server]
workers = 1

[passive]
ports = "{pasv_min}-{pasv_max}"

[users.reader]
password_hash = "HASH_R"
home = "{root}"
permissions = "elr"

[users.owner]
password_hash = "HASH_O"
home = "{root}"
permissions = "elradfmwMT"
"""


def test_mlsd_perm_facts_are_per_user(start_server, tmp_path):
    # Both users list the same directory (one cache entry per directory state): each must see
    # the permission facts of their own account.
    text = (TWO_USERS.replace("HASH_R", crypt_hash("reader-pw"))
            .replace("HASH_O", crypt_hash("owner-pw")))
    root = tmp_path / "shared"
    (root / "big").mkdir(parents=True)
    for i in range(ENTRIES):
        (root / "big" / f"f{i:04d}").write_bytes(b"")
    srv = start_server(users={"reader": "reader-pw", "owner": "owner-pw"}, config_text=text,
                       bare=True, root=root)
    for _ in range(2):
        for user, writable in (("owner", True), ("reader", False)):
            f = srv.connect(user=user, password=f"{user}-pw")
            perm = {n: fa["perm"] for n, fa in f.mlsd("big", ["perm"])}["f0001"]
            assert ("w" in perm) == writable, (user, perm)
            f.quit()


def subdir_modify(ftp):
    return {n: f["modify"] for n, f in ftp.mlsd("big", ["modify"])}["sub"]


@pytest.mark.parametrize("cache", [True, False], ids=["cache-on", "cache-off"])
def test_subdirectory_time_within_documented_bound(start_server, cache):
    # Creating a file inside big/sub changes sub's own time without an event on big's watch:
    # with the cache that may show up to 2 s late (the documented bound); without it, at once.
    srv = start_server(config_text="[storage]\nlisting_cache = %s\n" % ("true" if cache else "false"))
    d = srv.root / "big"
    d.mkdir()
    for i in range(ENTRIES):
        (d / f"f{i:04d}").write_bytes(b"")
    (d / "sub").mkdir()
    os.utime(d / "sub", (1_000_000_000, 1_000_000_000))
    ftp = srv.connect()
    assert subdir_modify(ftp) == "20010909014640"
    (d / "sub" / "inside.txt").write_bytes(b"x")
    if cache:
        time.sleep(2.5)
    assert subdir_modify(ftp) != "20010909014640"
    ftp.quit()
