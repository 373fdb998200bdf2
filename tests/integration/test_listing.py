"""LIST (ls -l form, both date forms, UTC), NLST (bare names), MLSD/MLST (RFC 3659 §7)."""
import calendar
import ftplib
import os
import re
import time

import pytest

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
LIST_RE = re.compile(
    r"^(?P<mode>[-dlcbps][-rwxsStT]{9})\s+(?P<links>\d+)\s+(?P<owner>\S+)\s+(?P<group>\S+)\s+"
    r"(?P<size>\d+)\s+(?P<mon>[A-Z][a-z]{2})\s+(?P<day>\d{1,2})\s+"
    r"(?P<when>\d{2}:\d{2}|\d{4}) (?P<name>.+)$")


def list_lines(ftp, arg=None):
    lines = []
    ftp.retrlines("LIST" + (f" {arg}" if arg else ""), lines.append)
    return lines


def parse_list(lines):
    out = {}
    for line in lines:
        if line.startswith("total "):
            continue
        m = LIST_RE.match(line)
        assert m, f"LIST line not in ls -l form: {line!r}"
        out[m.group("name")] = m
    return out


@pytest.fixture
def populated(server):
    root = server.root
    (root / "file.txt").write_bytes(b"x" * 1234)
    (root / "dir").mkdir()
    (root / "dir" / "inner.txt").write_bytes(b"inner")
    (root / "with space.txt").write_bytes(b"sp")
    os.symlink("file.txt", root / "link")
    recent = int(time.time()) - 10 * 86400
    recent -= recent % 60
    os.utime(root / "file.txt", (recent, recent))
    old = calendar.timegm((2001, 2, 3, 4, 5, 6))
    (root / "old.txt").write_bytes(b"old")
    os.utime(root / "old.txt", (old, old))
    os.chmod(root / "file.txt", 0o640)
    return {"recent": recent, "old": old}


def test_list_format(ftp, server, populated):
    entries = parse_list(list_lines(ftp))
    assert set(entries) >= {"file.txt", "dir", "with space.txt", "old.txt"}
    f = entries["file.txt"]
    assert f.group("mode") == "-rw-r-----"
    assert int(f.group("size")) == 1234
    assert entries["dir"].group("mode").startswith("d")
    assert int(entries["with space.txt"].group("size")) == 2


def test_list_recent_date_utc(ftp, populated):
    f = parse_list(list_lines(ftp))["file.txt"]
    t = time.gmtime(populated["recent"])
    assert f.group("mon") == MONTHS[t.tm_mon - 1]
    assert int(f.group("day")) == t.tm_mday
    assert f.group("when") == f"{t.tm_hour:02d}:{t.tm_min:02d}", f.group(0)


def test_list_old_date_shows_year(ftp, populated):
    lines = list_lines(ftp)
    line = next(x for x in lines if x.endswith(" old.txt"))
    m = LIST_RE.match(line)
    assert m.group("mon") == "Feb" and int(m.group("day")) == 3
    assert m.group("when") == "2001"
    # the year form is "Mon DD  YYYY": two spaces before the year
    assert re.search(r"Feb +0?3  2001 old\.txt$", line), line


def test_list_symlink_arrow(ftp, populated):
    lines = list_lines(ftp)
    line = next((x for x in lines if " link -> " in x), None)
    assert line, lines
    assert line.startswith("l")
    assert line.endswith(" link -> file.txt")


def test_list_subdir_and_file_argument(ftp, populated):
    entries = parse_list(list_lines(ftp, "dir"))
    assert set(entries) == {"inner.txt"}
    one = parse_list(list_lines(ftp, "file.txt"))
    assert len(one) == 1 and next(iter(one)).endswith("file.txt")


def test_list_with_ls_flags(ftp, populated):
    entries = parse_list(list_lines(ftp, "-la"))
    assert "file.txt" in entries
    entries = parse_list(list_lines(ftp, "-la dir"))
    assert "inner.txt" in entries


def test_list_missing_550(ftp):
    with pytest.raises(ftplib.error_perm) as e:
        list_lines(ftp, "nothing-here")
    assert str(e.value)[:3] in ("450", "550")


def test_nlst_bare_names(ftp, populated):
    names = ftp.nlst()
    assert set(names) >= {"file.txt", "dir", "with space.txt", "old.txt"}
    assert all("/" not in n for n in names), names
    sub = ftp.nlst("dir")
    assert [n.rsplit("/", 1)[-1] for n in sub] == ["inner.txt"]


def test_nlst_crlf(server, populated):
    from feitp_harness import Raw, recv_all
    with Raw(server) as r:
        r.login()
        d = r.pasv()
        r.send("NLST")
        assert r.reply()[0] in (125, 150)
        raw = recv_all(d)
        d.close()
        assert r.reply()[0] == 226
    assert raw.endswith(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"file.txt\r\n" in raw


def test_empty_dir_listing(ftp, server):
    (server.root / "empty").mkdir()
    assert [x for x in list_lines(ftp, "empty") if not x.startswith("total")] == []
    assert ftp.nlst("empty") == []


def parse_facts(line):
    facts_part, _, name = line.partition(" ")
    facts = {}
    for f in facts_part.rstrip(";").split(";"):
        k, _, v = f.partition("=")
        facts[k.lower()] = v
    return facts, name


def test_mlsd(ftp, server, populated):
    lines = []
    ftp.retrlines("MLSD", lines.append)
    entries = {}
    for line in lines:
        facts, name = parse_facts(line)
        entries[name] = facts
    assert entries["file.txt"]["type"] == "file"
    assert entries["file.txt"]["size"] == "1234"
    t = time.gmtime(populated["recent"])
    assert entries["file.txt"]["modify"][:14] == time.strftime("%Y%m%d%H%M%S", t)
    assert entries["file.txt"]["unix.mode"] == "0640"
    assert entries["dir"]["type"] == "dir"
    assert "e" in entries["dir"]["perm"] and "l" in entries["dir"]["perm"]
    assert "r" in entries["file.txt"]["perm"]
    # --write user: may store and delete
    assert "w" in entries["file.txt"]["perm"] and "d" in entries["file.txt"]["perm"]
    assert entries["with space.txt"]["size"] == "2"
    uniques = [e["unique"] for n, e in entries.items() if "unique" in e and
               e.get("type") in ("file", "dir")]
    assert len(uniques) == len(set(uniques)) and uniques
    for name, facts in entries.items():
        if facts["type"] in ("cdir", "pdir"):
            continue
        assert "/" not in name
    assert {n for n, e in entries.items() if e["type"] not in ("cdir", "pdir")} >= {
        "file.txt", "dir", "with space.txt", "old.txt"}


def test_mlsd_on_file_is_error(ftp, populated):
    with pytest.raises(ftplib.error_perm) as e:
        ftp.retrlines("MLSD file.txt", lambda _: None)
    assert str(e.value)[:3] in ("501", "550")


def test_mlst(ftp, populated):
    resp = ftp.sendcmd("MLST file.txt")
    lines = resp.split("\n")
    assert lines[0].startswith("250-"), resp
    assert lines[-1].startswith("250 "), resp
    assert len(lines) == 3, resp
    body = lines[1]
    assert body.startswith(" "), "MLST fact line must start with one space (RFC 3659 7.2)"
    facts, name = parse_facts(body[1:])
    assert name == "/file.txt"
    assert facts["type"] == "file" and facts["size"] == "1234"


def test_mlst_dir_and_missing(ftp, populated):
    resp = ftp.sendcmd("MLST /dir")
    facts, name = parse_facts(resp.split("\n")[1][1:])
    assert facts["type"] == "dir" and name == "/dir"
    with pytest.raises(ftplib.error_perm) as e:
        ftp.sendcmd("MLST nowhere")
    assert str(e.value).startswith("550")


def test_opts_mlst_selects_facts(ftp, populated):
    resp = ftp.sendcmd("OPTS MLST type;size;")
    assert resp.startswith("200"), resp
    assert "type;size;" in resp
    resp = ftp.sendcmd("MLST file.txt")
    facts, _ = parse_facts(resp.split("\n")[1][1:])
    assert set(facts) == {"type", "size"}
    feat = ftp.sendcmd("FEAT")
    line = next(x for x in feat.split("\n") if x.strip().upper().startswith("MLST"))
    assert "type*;" in line and "size*;" in line and "modify;" in line, line


def test_stat_path(ftp, populated):
    resp = ftp.sendcmd("STAT dir")
    assert resp[:3] in ("211", "212", "213"), resp
    assert "inner.txt" in resp
