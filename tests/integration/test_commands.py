"""The remaining commands of issue 2, one by one: SYST HELP NOOP FEAT OPTS TYPE MODE STRU ALLO
SIZE MDTM MFMT SITE STAT HASH EPSV ALL, unknown verbs, and IPv6."""
import calendar
import ftplib
import hashlib
import os
import socket
import stat
import time

import pytest

from feitp_harness import Raw, have_ipv6_loopback, random_bytes, retr_bytes, stor_bytes


def perm_code(fn, *a):
    with pytest.raises(ftplib.Error) as e:
        fn(*a)
    return int(str(e.value)[:3])


def test_syst(ftp):
    assert ftp.sendcmd("SYST") == "215 UNIX Type: L8"


def test_noop(ftp):
    assert ftp.sendcmd("NOOP").startswith("200")


def test_help(ftp):
    resp = ftp.sendcmd("HELP")
    assert resp.startswith("214"), resp
    for verb in ("USER", "RETR", "STOR", "MLSD", "EPSV", "FEAT"):
        assert verb in resp, f"HELP does not list {verb}"
    resp = ftp.sendcmd("HELP RETR")
    assert resp.startswith("214"), resp


def test_help_lists_only_what_this_server_serves(ftp):
    """Without TLS, HELP does not list AUTH, PBSZ, PROT or CCC, and HELP on them, on LANG
    or on PRET says 502 rather than "supported": each of them is refused here (AUTH, LANG and
    PRET with 502, the other three with RFC 2228's 503, as no AUTH can come first)."""
    resp = ftp.sendcmd("HELP")
    listed = set(resp.replace("\n", " ").split())
    for verb in ("AUTH", "PBSZ", "PROT", "CCC", "LANG", "PRET"):
        assert verb not in listed, f"HELP lists {verb}: {resp}"
        with pytest.raises(ftplib.error_perm, match="^502"):
            ftp.sendcmd(f"HELP {verb}")
        with pytest.raises(ftplib.error_perm, match="^50[23]"):
            ftp.sendcmd(f"{verb} X" if verb != "CCC" else verb)
    assert ftp.sendcmd("HELP STOR").startswith("214")
    # served though not listed (like the other X digests): still "supported"
    assert ftp.sendcmd("HELP XMD5").startswith("214")


def test_help_unknown_command(ftp):
    code = None
    try:
        code = int(ftp.sendcmd("HELP FROBNICATE")[:3])
    except ftplib.error_perm as e:
        code = int(str(e)[:3])
    assert code in (214, 501, 502, 504)


def feat_lines(ftp):
    resp = ftp.sendcmd("FEAT")
    lines = resp.split("\n")
    assert lines[0].startswith("211-"), resp
    assert lines[-1].startswith("211 "), resp
    for line in lines[1:-1]:
        assert line.startswith(" ") and not line.startswith("  "), \
            f"FEAT line must start with exactly one space: {line!r}"
    return [x.strip() for x in lines[1:-1]]


def test_feat_lists_implemented_extensions(ftp):
    feats = feat_lines(ftp)
    names = {f.split(" ", 1)[0].upper() for f in feats}
    for need in ("EPRT", "EPSV", "MDTM", "MFMT", "MLST", "REST", "SIZE", "UTF8", "HOST",
                 "HASH"):
        assert need in names, f"FEAT lacks {need}: {feats}"
    assert "REST STREAM" in feats
    mlst = next(f for f in feats if f.upper().startswith("MLST "))
    for fact in ("type", "size", "modify", "perm", "unique", "unix.mode"):
        assert f"{fact}*;" in mlst.lower(), mlst
    hash_line = next(f for f in feats if f.upper().startswith("HASH "))
    algos = hash_line.split(" ", 1)[1].split(";")
    assert "SHA-256*" in algos, hash_line
    for a in ("SHA-1", "SHA-512", "MD5"):
        assert a in algos, hash_line


def test_feat_advertises_nothing_unimplemented(ftp, server):
    """Every advertised command answers with something other than 500/502."""
    (server.root / "t.txt").write_bytes(b"t")
    probes = {
        "SIZE": "SIZE t.txt", "MDTM": "MDTM t.txt", "MLST": "MLST t.txt",
        "EPSV": "EPSV", "UTF8": "OPTS UTF8 ON", "HASH": "HASH t.txt",
        "MFMT": "MFMT 20200101000000 t.txt", "REST": "REST 0", "TVFS": "NOOP",
        "LANG": "LANG EN", "CLNT": "CLNT test", "PRET": "PRET RETR t.txt",
        "XCRC": "XCRC t.txt", "XMD5": "XMD5 t.txt", "XSHA256": "XSHA256 t.txt",
        "XSHA1": "XSHA1 t.txt", "XSHA512": "XSHA512 t.txt",
        "SITE": "SITE HELP", "AUTH": None, "PBSZ": None, "PROT": None,
    }
    for feat in feat_lines(ftp):
        name = feat.split(" ", 1)[0].upper()
        probe = probes.get(name)
        if not probe:
            continue
        try:
            resp = ftp.sendcmd(probe)
        except ftplib.Error as e:
            resp = str(e)
        assert resp[:3] not in ("500", "502"), f"FEAT says {feat} but {probe!r} -> {resp}"
        if name == "EPSV":
            # drop the listener we just opened
            ftp.sendcmd("NOOP")


def test_opts_utf8(ftp):
    assert ftp.sendcmd("OPTS UTF8 ON").startswith("200")


def test_opts_unknown(ftp):
    assert perm_code(ftp.sendcmd, "OPTS FROB ON") in (501, 504)


@pytest.mark.parametrize("arg", ["A", "I", "L 8", "A N", "a", "i"])
def test_type_accepted(ftp, arg):
    assert ftp.sendcmd(f"TYPE {arg}").startswith("200")


@pytest.mark.parametrize("arg", ["E", "L 7", "A T"])
def test_type_unsupported_504(ftp, arg):
    assert perm_code(ftp.sendcmd, f"TYPE {arg}") == 504


@pytest.mark.parametrize("arg", ["X", "Z 9"])
def test_type_bad_501_or_504(ftp, arg):
    assert perm_code(ftp.sendcmd, f"TYPE {arg}") in (501, 504)


def test_mode_stru(ftp):
    assert ftp.sendcmd("MODE S").startswith("200")
    assert perm_code(ftp.sendcmd, "MODE B") == 504
    assert perm_code(ftp.sendcmd, "MODE C") == 504
    assert ftp.sendcmd("STRU F").startswith("200")
    assert perm_code(ftp.sendcmd, "STRU R") == 504
    assert perm_code(ftp.sendcmd, "STRU P") == 504


def test_allo(ftp):
    resp = ftp.sendcmd("ALLO 1000")
    assert resp[:3] in ("200", "202"), resp


def test_size(ftp, server):
    (server.root / "sz.bin").write_bytes(b"z" * 777)
    ftp.sendcmd("TYPE I")
    assert ftp.sendcmd("SIZE sz.bin") == "213 777"
    assert perm_code(ftp.sendcmd, "SIZE missing") == 550
    (server.root / "sd").mkdir()
    assert perm_code(ftp.sendcmd, "SIZE sd") == 550


def test_mdtm(ftp, server):
    p = server.root / "m.txt"
    p.write_bytes(b"m")
    t = calendar.timegm((2019, 7, 8, 9, 10, 11))
    os.utime(p, (t, t))
    assert ftp.sendcmd("MDTM m.txt") == "213 20190708091011"
    assert perm_code(ftp.sendcmd, "MDTM missing") == 550


def test_mfmt(ftp, server):
    p = server.root / "mf.txt"
    p.write_bytes(b"m")
    resp = ftp.sendcmd("MFMT 20150203040506 mf.txt")
    assert resp.startswith("213"), resp
    assert "Modify=20150203040506;" in resp, resp
    assert resp.rstrip().endswith("mf.txt"), resp
    assert int(os.stat(p).st_mtime) == calendar.timegm((2015, 2, 3, 4, 5, 6))
    assert ftp.sendcmd("MDTM mf.txt") == "213 20150203040506"


def test_mfmt_bad_time_501(ftp, server):
    (server.root / "mf2.txt").write_bytes(b"m")
    assert perm_code(ftp.sendcmd, "MFMT 2015-02-03 mf2.txt") == 501
    assert perm_code(ftp.sendcmd, "MFMT 20150203040506 missing.txt") == 550


def test_site_help(ftp):
    resp = ftp.sendcmd("SITE HELP")
    assert resp.startswith("214"), resp
    assert "CHMOD" in resp.upper()


def test_site_chmod(ftp, server):
    p = server.root / "c.txt"
    p.write_bytes(b"c")
    os.chmod(p, 0o644)
    resp = ftp.sendcmd("SITE CHMOD 600 c.txt")
    assert resp.startswith("200"), resp
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    assert perm_code(ftp.sendcmd, "SITE CHMOD 600 missing.txt") == 550
    assert perm_code(ftp.sendcmd, "SITE CHMOD xyz c.txt") == 501
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600


def test_site_unknown(ftp):
    assert perm_code(ftp.sendcmd, "SITE FROBNICATE") in (500, 501, 502, 504)


def test_stat_idle(ftp):
    resp = ftp.sendcmd("STAT")
    assert resp.startswith("211"), resp
    assert "\n" in resp, "STAT without argument is a multi-line 211 reply"


def test_unknown_command_500(ftp):
    assert perm_code(ftp.sendcmd, "FROBNICATE now") == 500
    assert ftp.sendcmd("NOOP").startswith("200")


def test_missing_argument_501(ftp):
    for cmd in ("RETR", "STOR", "DELE", "MKD", "RNFR", "SIZE", "MDTM"):
        code = perm_code(ftp.sendcmd, cmd)
        assert code == 501, f"{cmd} without argument -> {code}"


def test_rest_bad_argument_501(ftp):
    assert perm_code(ftp.sendcmd, "REST abc") == 501
    assert perm_code(ftp.sendcmd, "REST -5") == 501
    assert ftp.sendcmd("REST 10").startswith("350")
    assert ftp.sendcmd("REST 0").startswith("350")


@pytest.mark.parametrize("algo,fn", [(None, "sha256"), ("SHA-256", "sha256"), ("SHA-1", "sha1"),
                                     ("SHA-512", "sha512"), ("MD5", "md5")])
def test_hash(ftp, server, algo, fn):
    data = random_bytes(300_000, seed=11)
    (server.root / "h.bin").write_bytes(data)
    if algo:
        resp = ftp.sendcmd(f"OPTS HASH {algo}")
        assert resp.startswith("200") and algo in resp, resp
    resp = ftp.sendcmd("HASH h.bin")
    # 213 <algo> <start>-<end> <hash> <name>
    parts = resp.split(" ", 4)
    assert parts[0] == "213", resp
    assert parts[1] == (algo or "SHA-256"), resp
    assert parts[2] == f"0-{len(data)}", resp
    assert parts[3].lower() == hashlib.new(fn, data).hexdigest(), resp
    # the name as sent, or its absolute form
    assert parts[4] in ("h.bin", "/h.bin"), resp


def test_opts_hash_query_and_bad(ftp):
    resp = ftp.sendcmd("OPTS HASH")
    assert resp.startswith("200") and "SHA-256" in resp, resp
    assert perm_code(ftp.sendcmd, "OPTS HASH CRC-99") == 501
    assert "SHA-256" in ftp.sendcmd("OPTS HASH")


def test_hash_missing_and_directory(ftp, server):
    (server.root / "hd").mkdir()
    assert perm_code(ftp.sendcmd, "HASH missing.bin") == 550
    assert perm_code(ftp.sendcmd, "HASH hd") == 550


def test_hash_range_with_rest(ftp, server):
    """REST is a restart marker for a transfer (RFC 3659 section 5), not a HASH range (the HASH
    draft has RANG for that): HASH after REST hashes the whole file and leaves the marker armed,
    so the next RETR still restarts at it (TYPE and PASV in between leave it too), and that RETR
    consumes it. This is what ProFTPD's mod_digest and vsftpd do (docs/protocol.md)."""
    data = random_bytes(10_000, seed=12)
    (server.root / "hr.bin").write_bytes(data)
    assert ftp.sendcmd("REST 1000").startswith("350")
    resp = ftp.sendcmd("HASH hr.bin")
    assert resp == f"213 SHA-256 0-{len(data)} {hashlib.sha256(data).hexdigest()} hr.bin", resp
    assert retr_bytes(ftp, "hr.bin") == data[1000:]
    assert retr_bytes(ftp, "hr.bin") == data


def test_epsv_all(server):
    (server.root / "e.txt").write_bytes(b"epsv all")
    with Raw(server) as r:
        r.login()
        code, text = r.cmd("EPSV ALL")
        assert code == 200, text
        for cmd in ("PASV", "PORT 127,0,0,1,200,10", "EPRT |1|127.0.0.1|51210|"):
            code, text = r.cmd(cmd)
            assert 500 <= code <= 599, f"{cmd} after EPSV ALL -> {text}"
        d = r.epsv()
        r.send("RETR e.txt")
        assert r.reply()[0] in (125, 150)
        got = d.recv(100)
        d.close()
        assert got == b"epsv all"
        assert r.reply()[0] == 226


def test_epsv_protocol_argument(server):
    with Raw(server) as r:
        r.login()
        assert r.cmd("EPSV 1")[0] == 229
        code, text = r.cmd("EPSV 2")
        assert code == 522, text  # IPv4 control connection: only protocol 1
        code, text = r.cmd("EPRT |3|127.0.0.1|5000|")
        assert code == 522, text


def test_port_bad_syntax_501(ftp):
    assert perm_code(ftp.sendcmd, "PORT 1,2,3") == 501
    assert perm_code(ftp.sendcmd, "PORT 127,0,0,1,300,1") == 501
    assert perm_code(ftp.sendcmd, "EPRT garbage") == 501


ipv6 = pytest.mark.skipif(not have_ipv6_loopback(), reason="no IPv6 loopback (::1) here")


@ipv6
def test_ipv6_session(start_server):
    srv = start_server(host="::1")
    f = srv.connect()
    data = random_bytes(100_000, seed=6)
    stor_bytes(f, "v6.bin", data)  # ftplib uses EPSV on IPv6
    assert retr_bytes(f, "v6.bin") == data
    assert "v6.bin" in f.nlst()
    f.set_pasv(False)  # EPRT |2|::1|port|
    assert retr_bytes(f, "v6.bin") == data
    f.quit()
    assert (srv.root / "v6.bin").read_bytes() == data


@ipv6
def test_ipv6_epsv_2_and_pasv(start_server):
    srv = start_server(host="::1")
    with Raw(srv) as r:
        r.login()
        code, text = r.cmd("EPSV 2")
        assert code == 229, text
        code, text = r.cmd("EPSV 1")
        assert code == 522, text
        code, text = r.cmd("PASV")
        # PASV cannot express an IPv6 address: refused, never a 227 with an IPv4 lie
        assert 400 <= code <= 599, text


def test_listen_on_two_addresses(start_server):
    # Both ports picked while both are bound, so they differ (one picked after the other was
    # closed could be the same port again, and feitpd refuses an address it cannot bind alone).
    with socket.socket() as first, socket.socket() as second:
        first.bind(("127.0.0.1", 0))
        second.bind(("127.0.0.1", 0))
        port1, port2 = first.getsockname()[1], second.getsockname()[1]
    srv = start_server(port=port1, extra=["--listen", f"127.0.0.1:{port2}"])
    srv.connect().quit()
    f = ftplib.FTP(timeout=10)
    f.connect("127.0.0.1", port2)
    f.login(srv.user, srv.password)
    f.quit()


def test_command_lines_of_every_length_in_one_segment_and_split(server):
    """The plain control loop reads a command into a 32-byte buffer first and the rest of a
    longer one at once: lines just under, at and over that size, a 246-byte one, several in
    one segment and one split byte by byte are each answered once, in order."""
    names = ["d" * k for k in (19, 20, 21, 22, 23, 60, 240)]  # "MKD " + name + CRLF: 25..246
    with Raw(server) as r:
        r.login()
        r.sock.sendall(b"".join(f"MKD {n}\r\n".encode() for n in names))
        for n in names:
            code, text = r.reply()
            assert code == 257, (len(n), text)
        r.sock.sendall(b"".join(f"RMD {n}\r\n".encode() for n in names) + b"NOOP\r\n")
        for n in names:
            assert r.reply()[0] == 250, len(n)
        assert r.reply()[0] == 200
        line = f"MKD {'s' * 40}\r\n".encode()
        for i in range(len(line)):
            r.sock.sendall(line[i:i + 1])
            time.sleep(0.002)
        code, text = r.reply()
        assert code == 257, text
        assert r.cmd("NOOP")[0] == 200
    assert sorted(p.name for p in server.root.iterdir()) == ["s" * 40]
