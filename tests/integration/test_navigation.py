"""Directories: CWD CDUP XCWD XCUP PWD XPWD MKD XMKD RMD XRMD, with what lands on disk."""
import ftplib

import pytest


def pwd_of(resp: str) -> str:
    """The path in a 257 reply, with doubled quotes undone."""
    assert resp.startswith("257 "), resp
    body = resp[4:]
    assert body.startswith('"'), resp
    out, i = [], 1
    while i < len(body):
        c = body[i]
        if c == '"':
            if i + 1 < len(body) and body[i + 1] == '"':
                out.append('"')
                i += 2
                continue
            return "".join(out)
        out.append(c)
        i += 1
    raise AssertionError(f"unterminated path in {resp!r}")


def test_pwd_at_root(ftp):
    assert pwd_of(ftp.sendcmd("PWD")) == "/"
    assert pwd_of(ftp.sendcmd("XPWD")) == "/"


def test_cwd_cdup(ftp, server):
    (server.root / "a" / "b").mkdir(parents=True)
    assert ftp.sendcmd("CWD a").startswith("250")
    assert pwd_of(ftp.sendcmd("PWD")) == "/a"
    assert ftp.sendcmd("CWD b").startswith("250")
    assert pwd_of(ftp.sendcmd("PWD")) == "/a/b"
    resp = ftp.sendcmd("CDUP")
    assert resp[:3] in ("200", "250"), resp
    assert pwd_of(ftp.sendcmd("PWD")) == "/a"
    assert ftp.sendcmd("CWD /a/b").startswith("250")
    assert pwd_of(ftp.sendcmd("PWD")) == "/a/b"
    assert ftp.sendcmd("CWD ../..").startswith("250")
    assert pwd_of(ftp.sendcmd("PWD")) == "/"


def test_xcwd_xcup(ftp, server):
    (server.root / "x").mkdir()
    assert ftp.sendcmd("XCWD x").startswith("250")
    assert pwd_of(ftp.sendcmd("XPWD")) == "/x"
    resp = ftp.sendcmd("XCUP")
    assert resp[:3] in ("200", "250"), resp
    assert pwd_of(ftp.sendcmd("PWD")) == "/"


def test_cdup_at_root_stays(ftp):
    resp = ftp.sendcmd("CDUP")
    assert resp[:3] in ("200", "250"), resp
    assert pwd_of(ftp.sendcmd("PWD")) == "/"


def test_cwd_missing_550(ftp):
    with pytest.raises(ftplib.error_perm) as e:
        ftp.sendcmd("CWD no-such-dir")
    assert str(e.value).startswith("550")
    assert pwd_of(ftp.sendcmd("PWD")) == "/"


def test_cwd_to_file_550(ftp, server):
    (server.root / "plain.txt").write_bytes(b"x")
    with pytest.raises(ftplib.error_perm) as e:
        ftp.sendcmd("CWD plain.txt")
    assert str(e.value).startswith("550")


def test_cwd_without_arg(ftp, server):
    """CWD with no argument: 501, or (as many servers do) back to the home directory."""
    (server.root / "sub").mkdir()
    ftp.cwd("sub")
    try:
        resp = ftp.sendcmd("CWD")
    except ftplib.error_perm as e:
        resp = str(e)
    assert resp[:3] in ("501", "250"), resp
    if resp.startswith("250"):
        assert pwd_of(ftp.sendcmd("PWD")) == "/"


def test_mkd_rmd(ftp, server):
    resp = ftp.sendcmd("MKD newdir")
    assert pwd_of(resp) == "/newdir"
    assert (server.root / "newdir").is_dir()
    resp = ftp.sendcmd("XMKD /newdir/inner")
    assert pwd_of(resp) == "/newdir/inner"
    assert (server.root / "newdir" / "inner").is_dir()
    # not empty
    with pytest.raises(ftplib.error_perm) as e:
        ftp.sendcmd("RMD newdir")
    assert str(e.value).startswith("550")
    assert ftp.sendcmd("XRMD newdir/inner").startswith("250")
    assert not (server.root / "newdir" / "inner").exists()
    assert ftp.sendcmd("RMD /newdir").startswith("250")
    assert not (server.root / "newdir").exists()


def test_mkd_relative_in_subdir(ftp, server):
    (server.root / "p").mkdir()
    ftp.cwd("p")
    assert pwd_of(ftp.sendcmd("MKD q")) == "/p/q"
    assert (server.root / "p" / "q").is_dir()


def test_mkd_existing_550(ftp, server):
    (server.root / "exists").mkdir()
    with pytest.raises(ftplib.error_perm) as e:
        ftp.sendcmd("MKD exists")
    assert str(e.value).startswith("550")


def test_mkd_missing_parent_550(ftp, server):
    with pytest.raises(ftplib.error_perm) as e:
        ftp.sendcmd("MKD nothere/child")
    assert str(e.value).startswith("550")
    assert not (server.root / "nothere").exists()


def test_rmd_missing_550(ftp):
    with pytest.raises(ftplib.error_perm) as e:
        ftp.sendcmd("RMD nothere")
    assert str(e.value).startswith("550")


def test_rmd_on_file_550(ftp, server):
    (server.root / "f.txt").write_bytes(b"1")
    with pytest.raises(ftplib.error_perm) as e:
        ftp.sendcmd("RMD f.txt")
    assert str(e.value).startswith("550")
    assert (server.root / "f.txt").exists()


def test_rmd_root_refused(ftp, server):
    with pytest.raises(ftplib.error_perm) as e:
        ftp.sendcmd("RMD /")
    assert str(e.value).startswith("550")
    assert server.root.is_dir()


def test_path_normalisation(ftp, server):
    (server.root / "d1" / "d2").mkdir(parents=True)
    assert ftp.sendcmd("CWD /d1/./d2/../d2//").startswith("250")
    assert pwd_of(ftp.sendcmd("PWD")) == "/d1/d2"
