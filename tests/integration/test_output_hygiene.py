"""Output hygiene (audit F17): a reply that echoes the client's text (a path, a name) never carries
a raw control character, and the text log never records one from the client: CR could forge a
reply line or a log line, ESC drives the terminal of whoever reads them. They appear as \\xNN."""
import os
import re
import time

import pytest

from feitp_harness import Raw

CONTROL = re.compile(rb"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]")


def raw_reply_bytes(r: Raw, line: bytes) -> bytes:
    """Sends one command and returns the whole reply exactly as received (possibly multi-line)."""
    r.send(line)
    first = r.f.readline()
    out = first
    if first[3:4] == b"-":
        end = first[:3] + b" "
        while True:
            nxt = r.f.readline()
            assert nxt, "connection closed inside a multi-line reply"
            out += nxt
            if nxt.startswith(end):
                break
    return out


def assert_clean(reply: bytes):
    """Every line ends with CRLF and holds no other control character (no bare CR, no ESC, TAB)."""
    assert reply.endswith(b"\r\n"), reply
    for line in reply[:-2].split(b"\r\n"):
        assert b"\r" not in line and b"\n" not in line, reply
        assert not CONTROL.search(line), reply


def test_f17_mlst_with_cr_is_escaped(server):
    """F17: MLST /c<CR>d echoed the path with a raw CR in '250-Listing' and the facts line."""
    (server.root / "c\rd").mkdir()
    with Raw(server) as r:
        r.login()
        reply = raw_reply_bytes(r, b"MLST /c\rd")
        assert reply.startswith(b"250-"), reply
        assert_clean(reply)
        assert b"/c\\x0dd" in reply, reply


def test_f17_stat_with_cr_is_escaped(server):
    """F17: STAT path echoed the path with a raw CR in '213-Status of'."""
    (server.root / "s\rt").mkdir()
    (server.root / "s\rt" / "inner.txt").write_bytes(b"x")
    with Raw(server) as r:
        r.login()
        reply = raw_reply_bytes(r, b"STAT /s\rt")
        assert reply.startswith(b"213-"), reply
        assert_clean(reply)
        assert b"inner.txt" in reply, reply


def test_f17_mkd_with_esc_and_tab_is_escaped(server):
    """F17: MKD esc<ESC>[31mred answered 257 "/esc<ESC>[31mred" with the raw ESC (and TAB)."""
    with Raw(server) as r:
        r.login()
        reply = raw_reply_bytes(r, b"MKD esc\x1b[31mred\tx")
        assert reply.startswith(b"257 "), reply
        assert_clean(reply)
        assert b"\\x1b[31mred\\x09x" in reply, reply
        assert (server.root / "esc\x1b[31mred\tx").is_dir()  # the name itself is kept on disk
        cwd = raw_reply_bytes(r, b"CWD esc\x1b[31mred\tx")
        assert cwd.startswith(b"250"), cwd
        assert_clean(raw_reply_bytes(r, b"PWD"))


def test_f17_log_has_no_raw_control_chars_from_user_name(server):
    """F17: the failed-login line logged the USER name verbatim: a CR plus ESC[2K could forge or
    hide a log line. The text log must show them escaped."""
    with Raw(server) as r:
        r.send(b"USER evil\r[fake] accepted\x1b[2K")
        code, _ = r.reply()
        assert code == 331
        r.send(b"PASS wrong")
        code, _ = r.reply()
        assert code == 530
    deadline = time.monotonic() + 5
    text = b""
    while time.monotonic() < deadline:
        text = server.log_path.read_bytes()
        if b"failed login" in text:
            break
        time.sleep(0.1)
    assert b"failed login" in text, text
    line = next(x for x in text.split(b"\n") if b"failed login" in x)
    assert b"\x1b" not in text and b"\r" not in text, line
    assert b"evil\\x0d[fake] accepted\\x1b[2K" in line, line
