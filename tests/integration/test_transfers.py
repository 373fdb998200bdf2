"""Transfers in every data-connection mode: RETR STOR APPE STOU DELE RNFR RNTO, PASV EPSV PORT
EPRT, big and empty files, files past 4 GiB."""
import ftplib
import io
import os
import re
import socket

import pytest

from feitp_harness import (
    Raw, parse_227, random_bytes, recv_all, retr_bytes, sha256_bytes, sha256_file, stor_bytes,
)

MODES = ["pasv", "epsv", "port", "eprt"]


def open_data(r: Raw, mode: str):
    """Prepares a data connection in `mode`; returns a function that yields the connected
    socket after the transfer command was sent."""
    if mode == "pasv":
        d = r.pasv()
        return lambda: d
    if mode == "epsv":
        d = r.epsv()
        return lambda: d
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    lst.settimeout(10)
    port = lst.getsockname()[1]
    if mode == "port":
        code, text = r.cmd(f"PORT 127,0,0,1,{port >> 8},{port & 255}")
    else:
        code, text = r.cmd(f"EPRT |1|127.0.0.1|{port}|")
    assert code == 200, text

    def accept():
        c, _ = lst.accept()
        lst.close()
        c.settimeout(10)
        return c
    return accept


@pytest.mark.parametrize("mode", MODES)
def test_stor_retr_each_mode(server, mode):
    data = random_bytes(3 * 1024 * 1024 + 17, seed=MODES.index(mode) + 1)
    with Raw(server) as r:
        r.login()
        assert r.cmd("TYPE I")[0] == 200
        get = open_data(r, mode)
        r.send("STOR up.bin")
        code, text = r.reply()
        assert code in (125, 150), text
        d = get()
        d.sendall(data)
        d.close()
        code, text = r.reply()
        assert code == 226, text
        assert sha256_file(server.root / "up.bin") == sha256_bytes(data)

        get = open_data(r, mode)
        r.send("RETR up.bin")
        code, text = r.reply()
        assert code in (125, 150), text
        d = get()
        got = recv_all(d)
        d.close()
        code, text = r.reply()
        assert code == 226, text
        assert sha256_bytes(got) == sha256_bytes(data)


def test_ftplib_active_mode(server):
    f = server.connect()
    f.set_pasv(False)
    data = random_bytes(200_000, seed=3)
    stor_bytes(f, "active.bin", data)
    assert retr_bytes(f, "active.bin") == data
    assert "active.bin" in f.nlst()
    f.quit()


@pytest.mark.parametrize("size", [0, 1, 4096, 65537])
def test_sizes(ftp, server, size):
    data = random_bytes(size, seed=size)
    resp = stor_bytes(ftp, f"s{size}", data)
    assert resp.startswith("226"), resp
    assert (server.root / f"s{size}").read_bytes() == data
    assert retr_bytes(ftp, f"s{size}") == data
    assert ftp.sendcmd("TYPE I").startswith("200")
    assert ftp.sendcmd(f"SIZE s{size}") == f"213 {size}"


def test_stor_overwrites(ftp, server):
    (server.root / "o.txt").write_bytes(b"old content that is longer")
    stor_bytes(ftp, "o.txt", b"new")
    assert (server.root / "o.txt").read_bytes() == b"new"


def test_appe(ftp, server):
    stor_bytes(ftp, "a.txt", b"hello ")
    resp = stor_bytes(ftp, "a.txt", b"world", cmd="APPE")
    assert resp.startswith("226"), resp
    assert (server.root / "a.txt").read_bytes() == b"hello world"


def test_appe_creates(ftp, server):
    stor_bytes(ftp, "fresh.txt", b"abc", cmd="APPE")
    assert (server.root / "fresh.txt").read_bytes() == b"abc"


def test_stou_unique_names(server):
    (server.root / "taken").write_bytes(b"x")
    names = []
    with Raw(server) as r:
        r.login()
        for i in range(2):
            d = r.pasv()
            r.send("STOU")
            code, text = r.reply()
            assert code in (125, 150), text
            m = re.search(r"FILE: (\S.*?)\s*$", text)
            assert m, f"STOU preliminary reply names no file (RFC 1123 4.1.2.9): {text!r}"
            d.sendall(f"unique {i}".encode())
            d.close()
            code, text = r.reply()
            assert code == 226, text
            names.append(m.group(1))
    assert names[0] != names[1]
    for i, n in enumerate(names):
        assert (server.root / n.lstrip("/")).read_bytes() == f"unique {i}".encode()
    assert (server.root / "taken").read_bytes() == b"x"


def test_retr_missing_550(ftp):
    with pytest.raises(ftplib.error_perm) as e:
        retr_bytes(ftp, "missing.bin")
    assert str(e.value).startswith("550")


def test_retr_directory_550(ftp, server):
    (server.root / "adir").mkdir()
    with pytest.raises(ftplib.error_perm) as e:
        retr_bytes(ftp, "adir")
    assert str(e.value).startswith("550")


def test_stor_into_missing_dir_550(ftp, server):
    with pytest.raises(ftplib.error_perm) as e:
        stor_bytes(ftp, "nodir/x.bin", b"data")
    assert str(e.value)[:3] in ("550", "553")
    assert not (server.root / "nodir").exists()


def test_dele(ftp, server):
    (server.root / "gone.txt").write_bytes(b"bye")
    assert ftp.sendcmd("DELE gone.txt").startswith("250")
    assert not (server.root / "gone.txt").exists()
    with pytest.raises(ftplib.error_perm) as e:
        ftp.sendcmd("DELE gone.txt")
    assert str(e.value).startswith("550")


def test_dele_directory_550(ftp, server):
    (server.root / "dd").mkdir()
    with pytest.raises(ftplib.error_perm) as e:
        ftp.sendcmd("DELE dd")
    assert str(e.value).startswith("550")
    assert (server.root / "dd").is_dir()


def test_rename(ftp, server):
    (server.root / "from.txt").write_bytes(b"move me")
    (server.root / "sub").mkdir()
    assert ftp.sendcmd("RNFR from.txt").startswith("350")
    assert ftp.sendcmd("RNTO sub/to.txt").startswith("250")
    assert not (server.root / "from.txt").exists()
    assert (server.root / "sub" / "to.txt").read_bytes() == b"move me"
    # directories too
    assert ftp.sendcmd("RNFR sub").startswith("350")
    assert ftp.sendcmd("RNTO sub2").startswith("250")
    assert (server.root / "sub2" / "to.txt").exists()


def test_rnto_without_rnfr_503(ftp):
    with pytest.raises(ftplib.error_perm) as e:
        ftp.sendcmd("RNTO x")
    assert str(e.value).startswith("503")


def test_rnfr_then_other_command_resets(ftp, server):
    (server.root / "r.txt").write_bytes(b"r")
    assert ftp.sendcmd("RNFR r.txt").startswith("350")
    assert ftp.sendcmd("NOOP").startswith("200")
    with pytest.raises(ftplib.error_perm) as e:
        ftp.sendcmd("RNTO s.txt")
    assert str(e.value).startswith("503")
    assert (server.root / "r.txt").exists()


def test_rnfr_missing_550(ftp):
    with pytest.raises(ftplib.error_perm) as e:
        ftp.sendcmd("RNFR nothing")
    assert str(e.value).startswith("550")


def test_pasv_reply_format_and_range(server):
    with Raw(server) as r:
        r.login()
        code, text = r.cmd("PASV")
        assert code == 227
        assert re.match(r"227 Entering Passive Mode \(\d+,\d+,\d+,\d+,\d+,\d+\)", text), text
        host, port = parse_227(text)
        assert host == "127.0.0.1"
        assert server.pasv[0] <= port <= server.pasv[1], (port, server.pasv)
        code, text = r.cmd("EPSV")
        assert code == 229
        assert re.match(r"229 Entering Extended Passive Mode \(\|\|\|\d+\|\)", text), text
        port = int(re.search(r"\|\|\|(\d+)\|", text).group(1))
        assert server.pasv[0] <= port <= server.pasv[1]


def test_transfer_without_data_connection_setup(server):
    """RETR with no PORT/PASV: 425 (or 503), never a hang."""
    (server.root / "f").write_bytes(b"x")
    with Raw(server) as r:
        r.login()
        code, text = r.cmd("RETR f")
        if code in (125, 150):
            code, text = r.reply()
        assert code in (425, 503), text
        assert r.cmd("NOOP")[0] == 200


def test_many_sequential_transfers_one_session(ftp, server):
    for i in range(40):
        data = f"file number {i}\n".encode() * (i + 1)
        stor_bytes(ftp, f"seq{i}.txt", data)
        assert retr_bytes(ftp, f"seq{i}.txt") == data
    assert len(list(server.root.glob("seq*.txt"))) == 40


def test_concurrent_sessions(server):
    sessions = [server.connect() for _ in range(5)]
    try:
        for i, f in enumerate(sessions):
            stor_bytes(f, f"c{i}.bin", random_bytes(50_000, seed=i))
        for i, f in enumerate(sessions):
            other = (i + 1) % len(sessions)
            assert retr_bytes(f, f"c{other}.bin") == random_bytes(50_000, seed=other)
    finally:
        for f in sessions:
            f.quit()


def test_file_past_4gib(ftp, server):
    """A sparse 4 GiB + 1 MiB file: SIZE, and REST past 4 GiB then RETR the tail."""
    size = (4 << 30) + (1 << 20)
    path = server.root / "huge.bin"
    with open(path, "wb") as fh:
        fh.truncate(size)
        fh.seek(size - 16)
        fh.write(b"0123456789abcdef")
    try:
        ftp.sendcmd("TYPE I")
        assert ftp.sendcmd("SIZE huge.bin") == f"213 {size}"
        offset = size - 100
        buf = bytearray()
        ftp.retrbinary("RETR huge.bin", buf.extend, rest=offset)
        assert len(buf) == 100
        assert bytes(buf[-16:]) == b"0123456789abcdef"
        assert bytes(buf[:84]) == b"\0" * 84
    finally:
        os.unlink(path)
