"""Permissions: read-only users (elr) get 550 on every change; per-directory overrides from the
config file; anonymous is read-only."""
import ftplib
import io
import os

import pytest

from feitp_harness import crypt_hash, retr_bytes, stor_bytes


def code(fn, *a):
    with pytest.raises(ftplib.Error) as e:
        fn(*a)
    return int(str(e.value)[:3])


@pytest.fixture
def ro(start_server):
    srv = start_server(write=False)
    (srv.root / "file.txt").write_bytes(b"read me")
    (srv.root / "dir").mkdir()
    f = srv.connect()
    yield srv, f
    f.close()


def test_read_only_can_read(ro):
    srv, f = ro
    assert retr_bytes(f, "file.txt") == b"read me"
    assert "file.txt" in f.nlst()
    f.cwd("dir")
    f.cwd("/")
    lines = []
    f.retrlines("MLSD", lines.append)
    perm = next(x for x in lines if x.endswith(" file.txt")).split("perm=")[1].split(";")[0]
    assert "r" in perm and "w" not in perm and "d" not in perm and "f" not in perm, perm


@pytest.mark.parametrize("action", ["STOR", "APPE", "STOU", "DELE", "MKD", "RMD", "RNFR",
                                    "CHMOD", "MFMT"])
def test_read_only_refused(ro, action):
    srv, f = ro
    before = sorted(os.listdir(srv.root))
    if action in ("STOR", "APPE"):
        c = code(f.storbinary, f"{action} file.txt", io.BytesIO(b"overwrite"))
    elif action == "STOU":
        c = code(f.storbinary, "STOU", io.BytesIO(b"new"))
    elif action == "DELE":
        c = code(f.sendcmd, "DELE file.txt")
    elif action == "MKD":
        c = code(f.sendcmd, "MKD newdir")
    elif action == "RMD":
        c = code(f.sendcmd, "RMD dir")
    elif action == "RNFR":
        c = code(f.sendcmd, "RNFR file.txt")
    elif action == "CHMOD":
        c = code(f.sendcmd, "SITE CHMOD 777 file.txt")
    else:
        c = code(f.sendcmd, "MFMT 20000101000000 file.txt")
    assert c == 550, f"{action} by a read-only user -> {c}"
    assert sorted(os.listdir(srv.root)) == before
    assert (srv.root / "file.txt").read_bytes() == b"read me"


def test_anonymous_read_only(start_server):
    srv = start_server(write=True, anonymous=True)
    (srv.root / "pub.txt").write_bytes(b"pub")
    f = srv.connect(user="anonymous", password="me@example.com")
    assert retr_bytes(f, "pub.txt") == b"pub"
    assert code(stor_bytes, f, "up.txt", b"x") == 550
    assert code(f.sendcmd, "MKD d") == 550
    assert code(f.sendcmd, "DELE pub.txt") == 550
    f.quit()
    assert not (srv.root / "up.txt").exists()
    # the --write user on the same server can write
    g = srv.connect(user=srv.user, password=srv.password)
    stor_bytes(g, "up.txt", b"x")
    g.quit()
    assert (srv.root / "up.txt").exists()


OVERRIDE_CONFIG = '''
[server]
workers = 1

[passive]
ports = "{pasv_min}-{pasv_max}"

[users.erin]
password_hash = "HASH_E"
home = "{root}"
permissions = "elr"

[users.erin.directories]
"/incoming" = "elrwm"

[users.frank]
password_hash = "HASH_F"
home = "{root}"
permissions = "elradfmwMT"

[users.frank.directories]
"/archive" = "elr"
'''


@pytest.fixture
def overrides(start_server, tmp_path):
    text = (OVERRIDE_CONFIG.replace("HASH_E", crypt_hash("erin-pw"))
            .replace("HASH_F", crypt_hash("frank-pw")))
    root = tmp_path / "shared-root"
    (root / "incoming").mkdir(parents=True)
    (root / "archive").mkdir()
    (root / "archive" / "keep.txt").write_bytes(b"keep")
    (root / "top.txt").write_bytes(b"top")
    srv = start_server(users={"erin": "erin-pw", "frank": "frank-pw"}, config_text=text,
                       bare=True, root=root)
    return srv


def test_directory_override_grants(overrides):
    srv = overrides
    f = srv.connect(user="erin", password="erin-pw")
    stor_bytes(f, "/incoming/drop.txt", b"dropped")
    assert (srv.root / "incoming" / "drop.txt").read_bytes() == b"dropped"
    f.cwd("/incoming")
    stor_bytes(f, "relative.txt", b"rel")
    f.mkd("sub")
    stor_bytes(f, "sub/deeper.txt", b"deep")  # overrides apply below the directory too
    assert (srv.root / "incoming" / "sub" / "deeper.txt").exists()
    assert code(f.sendcmd, "DELE drop.txt") == 550  # 'd' not granted there
    f.cwd("/")
    assert code(stor_bytes, f, "top.txt", b"no") == 550
    assert code(stor_bytes, f, "/elsewhere.txt", b"no") == 550
    assert (srv.root / "top.txt").read_bytes() == b"top"
    f.quit()


def test_directory_override_restricts(overrides):
    srv = overrides
    f = srv.connect(user="frank", password="frank-pw")
    stor_bytes(f, "frank.txt", b"f")
    assert f.sendcmd("DELE frank.txt").startswith("250")
    assert retr_bytes(f, "/archive/keep.txt") == b"keep"
    assert code(f.sendcmd, "DELE /archive/keep.txt") == 550
    assert code(stor_bytes, f, "/archive/new.txt", b"n") == 550
    assert code(f.sendcmd, "RNFR /archive/keep.txt") == 550
    assert (srv.root / "archive" / "keep.txt").read_bytes() == b"keep"
    assert not (srv.root / "archive" / "new.txt").exists()
    f.quit()


def test_rename_into_protected_dir_refused(overrides):
    srv = overrides
    f = srv.connect(user="frank", password="frank-pw")
    stor_bytes(f, "mv.txt", b"m")
    assert f.sendcmd("RNFR mv.txt").startswith("350")
    assert code(f.sendcmd, "RNTO /archive/mv.txt") == 550
    assert not (srv.root / "archive" / "mv.txt").exists()
    f.quit()
