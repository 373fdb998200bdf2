"""REST STREAM: REST then RETR/STOR/APPE resumes at the offset; the marker is used once."""
import pytest

from feitp_harness import Raw, random_bytes, retr_bytes, sha256_file, sha256_bytes

DATA = random_bytes(1_000_003, seed=21)


@pytest.mark.parametrize("offset", [0, 1, 65536, 999_999, 1_000_003])
def test_rest_retr(ftp, server, offset):
    (server.root / "r.bin").write_bytes(DATA)
    ftp.sendcmd("TYPE I")
    buf = bytearray()
    resp = ftp.retrbinary("RETR r.bin", buf.extend, rest=offset)
    assert resp.startswith("226"), resp
    assert bytes(buf) == DATA[offset:]


def test_rest_reply_350(ftp):
    resp = ftp.sendcmd("REST 12345")
    assert resp.startswith("350"), resp


def test_rest_is_used_once(ftp, server):
    (server.root / "r.bin").write_bytes(DATA)
    ftp.sendcmd("TYPE I")
    buf = bytearray()
    ftp.retrbinary("RETR r.bin", buf.extend, rest=500)
    assert len(buf) == len(DATA) - 500
    assert retr_bytes(ftp, "r.bin") == DATA


def test_rest_beyond_end(ftp, server):
    """REST past the end: RETR either sends nothing (226) or refuses (5xx); never data."""
    (server.root / "small.bin").write_bytes(b"0123456789")
    with Raw(server) as r:
        r.login()
        assert r.cmd("TYPE I")[0] == 200
        assert r.cmd("REST 100")[0] == 350
        d = r.pasv()
        r.send("RETR small.bin")
        code, text = r.reply()
        # docs/protocol.md: 554 for a REST offset past the end, before any data connection.
        assert code == 554, text
        d.close()


def test_rest_stor_resumes_upload(ftp, server):
    half = len(DATA) // 2
    (server.root / "u.bin").write_bytes(DATA[:half])
    import io
    resp = ftp.storbinary("STOR u.bin", io.BytesIO(DATA[half:]), rest=half)
    assert resp.startswith("226"), resp
    assert sha256_file(server.root / "u.bin") == sha256_bytes(DATA)


def test_rest_stor_overwrites_tail(ftp, server):
    (server.root / "t.bin").write_bytes(b"AAAAAAAAAA")
    import io
    ftp.storbinary("STOR t.bin", io.BytesIO(b"BBB"), rest=4)
    got = (server.root / "t.bin").read_bytes()
    # resumed write at offset 4: "AAAA" + "BBB" (+ the old tail only if not truncated)
    assert got in (b"AAAABBB", b"AAAABBBAAA"), got


def test_appe_after_partial(ftp, server):
    (server.root / "p.bin").write_bytes(DATA[:1000])
    import io
    resp = ftp.storbinary("APPE p.bin", io.BytesIO(DATA[1000:]))
    assert resp.startswith("226"), resp
    assert (server.root / "p.bin").read_bytes() == DATA


def test_size_then_resume_like_a_client(ftp, server):
    """What curl -C - and lftp do: SIZE of the remote, then REST+RETR from the local size."""
    (server.root / "c.bin").write_bytes(DATA)
    ftp.sendcmd("TYPE I")
    remote = int(ftp.sendcmd("SIZE c.bin").split()[1])
    assert remote == len(DATA)
    local = bytearray(DATA[:300_000])
    ftp.retrbinary("RETR c.bin", local.extend, rest=len(local))
    assert bytes(local) == DATA
