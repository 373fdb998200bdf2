"""ABOR mid-RETR (426 then 226), idle ABOR, Telnet IP/DM before ABOR, STAT and NOOP answered
while a transfer runs. The client stops reading the data socket so the transfer is surely in
flight (blocked on a full socket buffer) when the command arrives."""
import socket
import time

import pytest

from feitp_harness import Raw, random_bytes, recv_all, sha256_bytes

BIG = 64 * 1024 * 1024
IAC, IP, DM = b"\xff", b"\xf4", b"\xf2"


@pytest.fixture
def big_file(server):
    p = server.root / "big.bin"
    with open(p, "wb") as f:
        # mostly sparse; distinctive bytes at the start and the end
        f.write(random_bytes(1 << 20, seed=31))
        f.truncate(BIG - 4)
        f.seek(BIG - 4)
        f.write(b"TAIL")
    return p


def start_retr(r: Raw, name: str = "big.bin") -> socket.socket:
    assert r.cmd("TYPE I")[0] == 200
    d = r.pasv()
    d.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    r.send(f"RETR {name}")
    code, text = r.reply()
    assert code in (125, 150), text
    first = d.recv(65536)
    assert first, "no data arrived"
    time.sleep(0.3)  # let the server fill the socket buffers and block
    return d


@pytest.mark.parametrize("telnet", [False, True], ids=["plain", "telnet-ip-dm"])
def test_abor_mid_retr(server, big_file, telnet):
    with Raw(server) as r:
        r.login()
        d = start_retr(r)
        if telnet:
            # RFC 959 4.1.3: IAC IP, then IAC DM sent as urgent data, then ABOR
            r.sock.sendall(IAC + IP + IAC, socket.MSG_OOB)
            r.sock.sendall(DM + b"ABOR\r\n")
        else:
            r.send("ABOR")
        code1, text1 = r.reply()
        code2, text2 = r.reply()
        assert (code1, code2) == (426, 226), (text1, text2)
        # the data connection is closed by the server: draining ends at EOF well before BIG
        d.settimeout(10)
        drained = recv_all(d)
        assert len(drained) < BIG - 65536
        d.close()
        assert r.cmd("NOOP")[0] == 200
        # the session is fully usable again
        d = r.pasv()
        r.send("RETR big.bin")
        assert r.reply()[0] in (125, 150)
        got = recv_all(d)
        d.close()
        assert r.reply()[0] == 226
        assert len(got) == BIG and got[-4:] == b"TAIL"


def test_abor_idle(server):
    with Raw(server) as r:
        r.login()
        code, text = r.cmd("ABOR")
        assert code in (225, 226), text
        assert r.cmd("NOOP")[0] == 200


def test_abor_idle_with_open_passive(server):
    with Raw(server) as r:
        r.login()
        r.cmd("PASV")
        code, text = r.cmd("ABOR")
        assert code in (225, 226), text


def test_noop_and_stat_mid_transfer(server, big_file):
    with Raw(server) as r:
        r.login()
        d = start_retr(r)
        code, text = r.cmd("NOOP")
        assert code == 200, text
        code, text = r.cmd("STAT")
        assert code in (211, 213), text
        assert "big.bin" in text or "byte" in text.lower(), \
            f"STAT during a transfer should tell its progress: {text!r}"
        # the transfer itself is unharmed
        rest = recv_all(d)
        d.close()
        code, text = r.reply()
        assert code == 226, text
    assert rest[-4:] == b"TAIL"


def test_transfer_completes_after_mid_transfer_commands(server, big_file):
    expected = sha256_bytes(big_file.read_bytes())
    with Raw(server) as r:
        r.login()
        assert r.cmd("TYPE I")[0] == 200
        d = r.pasv()
        r.send("RETR big.bin")
        assert r.reply()[0] in (125, 150)
        got = bytearray(d.recv(65536))
        time.sleep(0.2)
        assert r.cmd("NOOP")[0] == 200
        got += recv_all(d)
        d.close()
        assert r.reply()[0] == 226
    assert sha256_bytes(bytes(got)) == expected


def test_abor_mid_stor(server):
    with Raw(server) as r:
        r.login()
        d = r.pasv()
        r.send("STOR partial.bin")
        assert r.reply()[0] in (125, 150)
        d.sendall(b"x" * 100_000)
        time.sleep(0.2)
        r.send("ABOR")
        codes = [r.reply()[0]]
        if codes[0] == 426:
            codes.append(r.reply()[0])
        assert codes in ([426, 226], [226], [225]), codes
        d.close()
        assert r.cmd("NOOP")[0] == 200
