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


# --- Rules hold on the real path (audit F1) ----------------------------------------------------

REAL_PATH_CONFIG = '''
[server]
workers = 1

[passive]
ports = "{pasv_min}-{pasv_max}"

[users.gina]
password_hash = "HASH_G"
home = "{root}"
permissions = "elradfmwMT"

[users.gina.directories]
"/data/archive" = "elr"
'''


@pytest.fixture
def archive(start_server, tmp_path):
    """A user with every letter except below /data/archive (elr); /shortcut is a symlink that an
    operator made into the archive, /data/archive/record.txt the protected file."""
    root = tmp_path / "real-root"
    (root / "data" / "archive").mkdir(parents=True)
    (root / "data" / "archive" / "record.txt").write_bytes(b"record")
    (root / "data" / "free.txt").write_bytes(b"free")
    (root / "mine").mkdir()
    os.symlink("data/archive", root / "shortcut")
    text = REAL_PATH_CONFIG.replace("HASH_G", crypt_hash("gina-pw"))
    srv = start_server(users={"gina": "gina-pw"}, config_text=text, bare=True, root=root)
    f = srv.connect(user="gina", password="gina-pw")
    yield srv, f
    f.close()


def record(srv):
    return srv.root / "data" / "archive" / "record.txt"


def test_f1_rename_parent_of_protected_area_refused(archive):
    """F1: RNFR /data + RNTO /moved would carry /data/archive out from under its rule, so that
    DELE /moved/archive/record.txt could remove it. Renaming a directory that contains a more
    restricted area needs that area's letters ('f' here): 550, and nothing moves."""
    srv, f = archive
    try:
        f.sendcmd("RNFR /data")
        c = code(f.sendcmd, "RNTO /moved")
    except ftplib.error_perm as e:
        c = int(str(e)[:3])
    assert c == 550
    assert (srv.root / "data" / "archive").is_dir()
    assert not (srv.root / "moved").exists()
    assert code(f.sendcmd, "DELE /moved/archive/record.txt") == 550
    assert record(srv).read_bytes() == b"record"
    # A sibling without a restricted area inside still renames.
    assert f.sendcmd("RNFR /mine").startswith("350")
    assert f.sendcmd("RNTO /yours").startswith("250")
    assert (srv.root / "yours").is_dir()


def test_f1_rmd_of_protected_area_or_parent_refused(archive):
    """F1: RMD of a directory that is, or contains, a restricted area needs the area's 'd'."""
    srv, f = archive
    (srv.root / "data" / "archive" / "record.txt").unlink()  # empty: rmdir itself would succeed
    assert code(f.sendcmd, "RMD /data/archive") == 550
    assert (srv.root / "data" / "archive").is_dir()
    (srv.root / "data" / "free.txt").unlink()
    assert code(f.sendcmd, "RMD /data") == 550  # not empty anyway; refused before that
    assert (srv.root / "data" / "archive").is_dir()


def test_f1_symlink_into_protected_area_carries_its_rules(archive):
    """F1: a symlink shortcut -> data/archive made on disk: DELE /shortcut/record.txt must be
    refused like DELE /data/archive/record.txt, and the file stays. Writes through it too."""
    srv, f = archive
    assert code(f.sendcmd, "DELE /data/archive/record.txt") == 550
    assert code(f.sendcmd, "DELE /shortcut/record.txt") == 550
    assert record(srv).read_bytes() == b"record"
    assert code(stor_bytes, f, "/shortcut/record.txt", b"overwritten") == 550
    assert code(stor_bytes, f, "/shortcut/new.txt", b"new") == 550
    assert code(f.sendcmd, "MKD /shortcut/sub") == 550
    assert code(f.sendcmd, "RNFR /shortcut/record.txt") == 550
    assert code(f.sendcmd, "MFMT 20000101000000 /shortcut/record.txt") == 550
    assert code(f.sendcmd, "SITE CHMOD 600 /shortcut/record.txt") == 550
    assert record(srv).read_bytes() == b"record"
    assert not (srv.root / "data" / "archive" / "new.txt").exists()
    assert not (srv.root / "data" / "archive" / "sub").exists()
    # Reading through the link is allowed (the area has 'r'), and the link itself, which lives
    # in / where the user has every letter, may be renamed and removed.
    assert retr_bytes(f, "/shortcut/record.txt") == b"record"
    assert f.sendcmd("RNFR /shortcut").startswith("350")
    assert f.sendcmd("RNTO /link2").startswith("250")
    assert code(f.sendcmd, "DELE /link2/record.txt") == 550
    assert f.sendcmd("DELE /link2").startswith("250")
    assert record(srv).read_bytes() == b"record"


def test_f1_rnto_into_protected_area_refused(archive):
    """F1: RNTO into a restricted area needs the area's 'f' for the target, also when the target
    is reached through a symlink, or when the moved directory would become the area's parent."""
    srv, f = archive
    (srv.root / "mv.txt").write_bytes(b"mv")
    assert f.sendcmd("RNFR /mv.txt").startswith("350")
    assert code(f.sendcmd, "RNTO /shortcut/mv.txt") == 550
    assert (srv.root / "mv.txt").read_bytes() == b"mv"
    assert not (srv.root / "data" / "archive" / "mv.txt").exists()


def test_f1_rnto_over_a_protected_area_refused(start_server, tmp_path):
    """F1: a directory moved to where a restricted area's parent would be needs the area's 'f'
    (the moved tree would otherwise bring its own /data/archive)."""
    root = tmp_path / "over-root"
    (root / "mine" / "archive").mkdir(parents=True)
    (root / "mine" / "archive" / "forged.txt").write_bytes(b"forged")
    text = REAL_PATH_CONFIG.replace("HASH_G", crypt_hash("gina-pw"))
    srv = start_server(users={"gina": "gina-pw"}, config_text=text, bare=True, root=root)
    f = srv.connect(user="gina", password="gina-pw")
    assert f.sendcmd("RNFR /mine").startswith("350")
    assert code(f.sendcmd, "RNTO /data") == 550
    assert not (root / "data").exists()
    f.quit()


# --- SITE CHMOD keeps the owner's access (audit F2) ---------------------------------------------

def test_f2_chmod_root_refused(server, ftp):
    """F2: SITE CHMOD 000 / would lock the user (and the server) out of the home: 550."""
    before = os.stat(server.root).st_mode & 0o7777
    assert code(ftp.sendcmd, "SITE CHMOD 000 /") == 550
    assert os.stat(server.root).st_mode & 0o7777 == before
    ftp.cwd("/")
    assert ftp.nlst() is not None


def test_f2_chmod_keeps_owner_bits(server, ftp):
    """F2: a directory keeps owner rwx and a file owner rw whatever mode is asked for."""
    (server.root / "dir").mkdir()
    (server.root / "f.txt").write_bytes(b"x")
    assert ftp.sendcmd("SITE CHMOD 000 /dir").startswith("200")
    assert os.stat(server.root / "dir").st_mode & 0o777 == 0o700
    assert ftp.sendcmd("SITE CHMOD 000 /f.txt").startswith("200")
    assert os.stat(server.root / "f.txt").st_mode & 0o777 == 0o600
    assert ftp.sendcmd("SITE CHMOD 751 /dir").startswith("200")
    assert os.stat(server.root / "dir").st_mode & 0o777 == 0o751
    assert ftp.sendcmd("SITE CHMOD 444 /f.txt").startswith("200")
    assert os.stat(server.root / "f.txt").st_mode & 0o777 == 0o644
    assert retr_bytes(ftp, "/f.txt") == b"x"


def test_f2_chmod_special_bits_refused(server, ftp):
    """F2/F23: setuid, setgid and sticky bits are refused (504), not silently dropped."""
    (server.root / "f.txt").write_bytes(b"x")
    os.chmod(server.root / "f.txt", 0o640)
    for mode in ("4755", "2755", "1777"):
        assert code(ftp.sendcmd, f"SITE CHMOD {mode} /f.txt") == 504
    assert os.stat(server.root / "f.txt").st_mode & 0o7777 == 0o640
    assert ftp.sendcmd("SITE CHMOD 0644 /f.txt").startswith("200")


ANON_M_CONFIG = '''
[server]
workers = 1

[passive]
ports = "{pasv_min}-{pasv_max}"

[anonymous]
home = "{root}"
permissions = "elrM"
allow_write = true
'''


def test_f2_anonymous_never_gets_chmod(start_server):
    """F2 (vsftpd's rule): anonymous users never get SITE CHMOD, even when granted 'M'."""
    srv = start_server(users={}, config_text=ANON_M_CONFIG, bare=True)
    (srv.root / "pub.txt").write_bytes(b"pub")
    os.chmod(srv.root / "pub.txt", 0o644)
    f = srv.connect(user="anonymous", password="me@example.com")
    assert code(f.sendcmd, "SITE CHMOD 777 /pub.txt") == 550
    f.quit()
    assert os.stat(srv.root / "pub.txt").st_mode & 0o777 == 0o644


# --- Anonymous write access needs an explicit opt-in (audit F18) ---------------------------------

ANON_WRITE_CONFIG = '''
[anonymous]
home = "{root}"
permissions = "elr"
EXTRA
[anonymous.directories]
"/incoming" = "elrw"
'''


def test_f18_anonymous_write_refused_without_opt_in(tmp_path):
    """F18: --check refuses an [anonymous] section that grants a write letter (here 'w' below
    /incoming) unless allow_write = true; with it, --check passes and warns."""
    from feitp_harness import feitpd_binary, run
    p = tmp_path / "anon.toml"
    p.write_text(ANON_WRITE_CONFIG.replace("{root}", str(tmp_path)).replace("EXTRA", ""))
    r = run([str(feitpd_binary()), "--check", "--config", str(p)], timeout=30)
    assert r.returncode != 0
    err = r.stderr
    assert "anonymous" in err and "allow_write" in err, err
    p.write_text(ANON_WRITE_CONFIG.replace("{root}", str(tmp_path))
                 .replace("EXTRA", "allow_write = true"))
    r = run([str(feitpd_binary()), "--check", "--config", str(p)], timeout=30)
    assert r.returncode == 0, r.stderr
    assert "warning" in r.stderr and "anonymous" in r.stderr and '"w"' in r.stderr, r.stderr


def test_f18_quick_start_anonymous_stays_read_only(start_server):
    """F18: --user NAME:PW --write --anonymous keeps anonymous read-only and starts."""
    srv = start_server(write=True, anonymous=True)
    f = srv.connect(user="anonymous", password="me@example.com")
    assert code(stor_bytes, f, "up.txt", b"x") == 550
    f.quit()
    assert not (srv.root / "up.txt").exists()


# --- MFMT on a symlink that leads outside the root (audit F23) ----------------------------------

def test_f23_mfmt_on_escaping_symlink_refused(server, ftp, tmp_path):
    """F23: MFMT on a symlink that leads outside the root is refused like MDTM (550), and
    neither the link nor the outside file changes."""
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"secret")
    os.symlink(outside, server.root / "out")
    link_before = os.lstat(server.root / "out").st_mtime
    target_before = os.stat(outside).st_mtime
    assert code(ftp.sendcmd, "MDTM /out") == 550
    assert code(ftp.sendcmd, "MFMT 20000101000000 /out") == 550
    assert os.lstat(server.root / "out").st_mtime == link_before
    assert os.stat(outside).st_mtime == target_before
