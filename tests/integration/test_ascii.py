"""TYPE A: real line-ending conversion both ways (LF on disk, CRLF on the wire)."""
import random
import time

import pytest

from feitp_harness import Raw, recv_all


def ascii_retr(server, name: str) -> bytes:
    with Raw(server) as r:
        r.login()
        assert r.cmd("TYPE A")[0] == 200
        d = r.pasv()
        r.send(f"RETR {name}")
        assert r.reply()[0] in (125, 150)
        data = recv_all(d)
        d.close()
        code, text = r.reply()
        assert code == 226, text
    return data


def ascii_stor(server, name: str, chunks, type_cmd: str = "TYPE A") -> None:
    with Raw(server) as r:
        r.login()
        assert r.cmd(type_cmd)[0] == 200
        d = r.pasv()
        r.send(f"STOR {name}")
        assert r.reply()[0] in (125, 150)
        for c in chunks:
            d.sendall(c)
            time.sleep(0.02)
        d.close()
        code, text = r.reply()
        assert code == 226, text


def test_retr_ascii_lf_to_crlf(server):
    (server.root / "unix.txt").write_bytes(b"line one\nline two\n\nlast")
    assert ascii_retr(server, "unix.txt") == b"line one\r\nline two\r\n\r\nlast"


def test_retr_ascii_existing_crlf_not_doubled(server):
    (server.root / "dos.txt").write_bytes(b"a\r\nb\n")
    got = ascii_retr(server, "dos.txt")
    assert got in (b"a\r\nb\r\n", b"a\r\r\nb\r\n"), got
    assert b"\r\r\r" not in got


def test_stor_ascii_crlf_to_lf(server):
    ascii_stor(server, "up.txt", [b"alpha\r\nbeta\r\n", b"gamma\r\n"])
    assert (server.root / "up.txt").read_bytes() == b"alpha\nbeta\ngamma\n"


def test_stor_ascii_crlf_split_across_packets(server):
    """A CR at the end of one packet and its LF at the start of the next are one line end."""
    ascii_stor(server, "split.txt", [b"abc\r", b"\ndef\r", b"\n", b"ghi"])
    assert (server.root / "split.txt").read_bytes() == b"abc\ndef\nghi"


def test_stor_ascii_lone_cr_kept(server):
    ascii_stor(server, "cr.txt", [b"a\rb\r\nc"])
    assert (server.root / "cr.txt").read_bytes() == b"a\rb\nc"


def test_type_l8_is_binary(server):
    ascii_stor(server, "bin.txt", [b"a\r\nb\r\n"], type_cmd="TYPE L 8")
    assert (server.root / "bin.txt").read_bytes() == b"a\r\nb\r\n"


def test_big_ascii_round_trip(server):
    """Several transfer buffers' worth of lines of random lengths, both directions."""
    rng = random.Random(5)
    lines = [bytes(rng.choice(b"abcdefghij klmnop") for _ in range(rng.randrange(0, 300)))
             for _ in range(6000)]
    unix = b"\n".join(lines) + b"\n"
    dos = b"\r\n".join(lines) + b"\r\n"
    (server.root / "big.txt").write_bytes(unix)
    got = ascii_retr(server, "big.txt")
    assert len(got) == len(dos)
    assert got == dos
    # upload in odd-sized pieces so CRLF pairs straddle reads
    pieces = [dos[i:i + 4097] for i in range(0, len(dos), 4097)]
    with Raw(server) as r:
        r.login()
        assert r.cmd("TYPE A")[0] == 200
        d = r.pasv()
        r.send("STOR big-up.txt")
        assert r.reply()[0] in (125, 150)
        for p in pieces:
            d.sendall(p)
        d.close()
        assert r.reply()[0] == 226
    assert (server.root / "big-up.txt").read_bytes() == unix


def test_ascii_list_is_crlf(server):
    (server.root / "x.txt").write_bytes(b"x")
    with Raw(server) as r:
        r.login()
        assert r.cmd("TYPE A")[0] == 200
        d = r.pasv()
        r.send("LIST")
        assert r.reply()[0] in (125, 150)
        raw = recv_all(d)
        d.close()
        assert r.reply()[0] == 226
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")


def test_binary_after_ascii(ftp, server):
    data = b"\r\n\n\r\x00\xff" * 100
    (server.root / "raw.bin").write_bytes(data)
    ftp.sendcmd("TYPE A")
    ftp.sendcmd("TYPE I")
    buf = bytearray()
    ftp.retrbinary("RETR raw.bin", buf.extend)
    assert bytes(buf) == data


@pytest.mark.parametrize("cmd", ["TYPE A", "TYPE A N"])
def test_ascii_type_forms(ftp, cmd):
    assert ftp.sendcmd(cmd).startswith("200")


def test_default_type_is_ascii(server):
    """RFC 959 (3.1.1.1): ASCII is the default type. A client that never sends TYPE (ncftp
    assumes the default and converts its text files to CRLF itself) has its lines stored with
    LF, and a download without TYPE comes in CRLF; REIN brings the default back."""
    (server.root / "unix.txt").write_bytes(b"one\ntwo\n")
    with Raw(server) as r:
        r.login()
        d = r.pasv()
        r.send("STOR dos.txt")
        assert r.reply()[0] in (125, 150)
        d.sendall(b"a\r\nb\r\n")
        d.close()
        assert r.reply()[0] == 226
        assert (server.root / "dos.txt").read_bytes() == b"a\nb\n"
        assert r.cmd("TYPE I")[0] == 200
        assert r.cmd("REIN")[0] == 220
        r.login()
        d = r.pasv()
        r.send("RETR unix.txt")
        assert r.reply()[0] in (125, 150)
        assert recv_all(d) == b"one\r\ntwo\r\n"
        d.close()
        assert r.reply()[0] == 226
