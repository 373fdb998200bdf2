"""Names: UTF-8 (RFC 2640), spaces, quotes (257 doubling), leading spaces."""
import pytest

from feitp_harness import retr_bytes, stor_bytes

NAMES = [
    "héllo wörld.txt",
    "日本語のファイル.bin",
    "emoji 🚀 rocket.dat",
    "with  two  spaces.txt",
    "trailing.dot.",
    "semi;colon=eq.txt",
    "percent%20and#hash.txt",
    "it's a 'quote'.txt",
]


@pytest.mark.parametrize("name", NAMES)
def test_utf8_and_odd_names_round_trip(ftp, server, name):
    ftp.sendcmd("OPTS UTF8 ON")
    data = name.encode("utf-8") * 3
    stor_bytes(ftp, name, data)
    assert (server.root / name).read_bytes() == data
    assert name in ftp.nlst()
    lines = []
    ftp.retrlines("LIST", lines.append)
    assert any(line.endswith(" " + name) for line in lines), lines
    mlsd = []
    ftp.retrlines("MLSD", mlsd.append)
    assert any(line.split(" ", 1)[1] == name for line in mlsd), mlsd
    assert retr_bytes(ftp, name) == data
    assert ftp.sendcmd(f"SIZE {name}") == f"213 {len(data)}"
    assert ftp.sendcmd(f"RNFR {name}").startswith("350")
    assert ftp.sendcmd(f"RNTO renamed {name}").startswith("250")
    assert (server.root / f"renamed {name}").exists()
    assert ftp.sendcmd(f"DELE renamed {name}").startswith("250")
    assert not (server.root / f"renamed {name}").exists()


def test_utf8_directory_pwd(ftp, server):
    name = "Ünïcødé dir"
    resp = ftp.sendcmd(f"MKD {name}")
    assert resp.startswith(f'257 "/{name}"'), resp
    assert (server.root / name).is_dir()
    ftp.cwd(name)
    assert ftp.sendcmd("PWD").startswith(f'257 "/{name}"')


@pytest.mark.parametrize("name,quoted", [
    ('say "hi"', '"/say ""hi"""'),
    ('"', '"/"""'),
    ('a""b', '"/a""""b"'),
])
def test_quotes_doubled_in_257(ftp, server, name, quoted):
    resp = ftp.sendcmd(f"MKD {name}")
    assert resp.startswith(f"257 {quoted}"), resp
    assert resp[len(f"257 {quoted}"):][:1] in ("", " "), resp
    assert (server.root / name).is_dir()
    ftp.cwd(name)
    resp = ftp.sendcmd("PWD")
    assert resp.startswith(f"257 {quoted}"), resp


def test_leading_space_name(ftp, server):
    """The argument is everything after the single separating space (RFC 959)."""
    stor_bytes(ftp, " lead.txt", b"lead")
    assert (server.root / " lead.txt").read_bytes() == b"lead"
    assert not (server.root / "lead.txt").exists()


def test_space_only_dirs_nested(ftp, server):
    ftp.mkd("a b")
    ftp.mkd("a b/c d")
    stor_bytes(ftp, "a b/c d/e f.txt", b"nested")
    assert (server.root / "a b" / "c d" / "e f.txt").read_bytes() == b"nested"
    ftp.cwd("a b/c d")
    assert ftp.nlst() == ["e f.txt"]


def test_invalid_utf8_name_does_not_crash(server):
    from feitp_harness import Raw
    with Raw(server) as r:
        r.login()
        r.sock.sendall(b"MKD bad\xff\xfe\xc3name\r\n")
        code, text = r.reply()
        assert code in (257, 501, 550, 553), text
        assert r.cmd("NOOP")[0] == 200
