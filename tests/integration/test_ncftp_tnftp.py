"""ncftp (ncftpput, ncftpget, the interactive ncftp) and tnftp (NetBSD's ftp), as installed by
scripts/setup.sh: uploads and downloads byte for byte, recursive copies, and the text-file
behaviour that depends on the server's default TYPE (RFC 959: ASCII)."""
import hashlib
import os
import subprocess

import pytest

from feitp_harness import make_tree, run, tree_hashes, which

pytestmark = pytest.mark.skipif(not (which("ncftpput") and which("tnftp")),
                                reason="ncftp or tnftp not installed (scripts/setup.sh installs them)")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def interactive(argv: list[str], script: str, home, timeout: float = 60):
    """A client driven through its standard input, as a user at a terminal would."""
    env = dict(os.environ, HOME=str(home))
    return subprocess.run(argv, input=script, capture_output=True, text=True, timeout=timeout,
                          env=env)


def ncftp_login(server) -> list[str]:
    return ["-u", server.user, "-p", server.password, "-P", str(server.port)]


def test_ncftpput_ncftpget_binary(server, tmp_path):
    payload = os.urandom(300_000) + b"\r\n\n\r" * 100  # line ends that must not change
    (tmp_path / "blob.bin").write_bytes(payload)
    r = run(["ncftpput", *ncftp_login(server), server.host, "/", str(tmp_path / "blob.bin")],
            env=dict(os.environ, HOME=str(tmp_path)))
    assert r.returncode == 0, r.stdout + r.stderr
    assert sha((server.root / "blob.bin").read_bytes()) == sha(payload)
    down = tmp_path / "down"
    down.mkdir()
    r = run(["ncftpget", *ncftp_login(server), server.host, str(down), "/blob.bin"],
            env=dict(os.environ, HOME=str(tmp_path)))
    assert r.returncode == 0, r.stdout + r.stderr
    assert sha((down / "blob.bin").read_bytes()) == sha(payload)


def test_ncftp_recursive_both_ways(server, tmp_path):
    src = tmp_path / "src"
    expected = make_tree(src / "tree", dirs=2, subdirs=2, files=8, seed=61)
    env = dict(os.environ, HOME=str(tmp_path))
    r = run(["ncftpput", "-m", "-R", *ncftp_login(server), server.host, "/up", str(src / "tree")],
            env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert tree_hashes(server.root / "up" / "tree") == expected
    down = tmp_path / "down"
    down.mkdir()
    r = run(["ncftpget", "-R", *ncftp_login(server), server.host, str(down), "/up/tree"],
            env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert tree_hashes(down / "tree") == expected


def test_ncftp_interactive_text_file_keeps_lf(server, tmp_path):
    """ncftp sends .txt files in ASCII (its auto-ascii list) without a TYPE command when it
    believes the server is still in RFC 959's default type, converting LF to CRLF itself: the
    file on the server must have LF again, and a download gives back the local bytes."""
    text = b"first line\nsecond line\n\nlast\n"
    (tmp_path / "notes.txt").write_bytes(text)
    (tmp_path / "back").mkdir()
    r = interactive(["ncftp", *ncftp_login(server), server.host],
                    f"lcd {tmp_path}\nmkdir docs\ncd docs\nput notes.txt\nsite chmod 640 notes.txt\nquit\n",
                    home=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    stored = server.root / "docs" / "notes.txt"
    assert stored.read_bytes() == text
    assert stored.stat().st_mode & 0o777 == 0o640
    r = interactive(["ncftp", *ncftp_login(server), server.host],
                    f"lcd {tmp_path}/back\ncd docs\nget notes.txt\nquit\n", home=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "back" / "notes.txt").read_bytes() == text


def test_tnftp_url_upload_and_download(server, tmp_path):
    payload = os.urandom(200_000)
    (tmp_path / "x.bin").write_bytes(payload)
    url = f"ftp://{server.user}:{server.password}@{server.host}:{server.port}"
    r = run(["tnftp", "-n", "-u", f"{url}/x.bin", str(tmp_path / "x.bin")],
            env=dict(os.environ, HOME=str(tmp_path)))
    assert r.returncode == 0, r.stdout + r.stderr
    assert sha((server.root / "x.bin").read_bytes()) == sha(payload)
    r = run(["tnftp", "-n", "-o", str(tmp_path / "back.bin"), f"{url}/x.bin"],
            env=dict(os.environ, HOME=str(tmp_path)))
    assert r.returncode == 0, r.stdout + r.stderr
    assert sha((tmp_path / "back.bin").read_bytes()) == sha(payload)


def test_tnftp_interactive_session(server, tmp_path):
    (tmp_path / "a.bin").write_bytes(b"bin\r\ndata\n")
    (tmp_path / "t.txt").write_bytes(b"l1\nl2\n")
    script = (f"user {server.user} {server.password}\nlcd {tmp_path}\nmkdir work\ncd work\n"
              "binary\nput a.bin\nascii\nput t.txt\nbinary\nls\nget a.bin a2.bin\n"
              "rename a.bin b.bin\ndelete t.txt\nmkdir gone\nrmdir gone\nbye\n")
    r = interactive(["tnftp", "-n", "-v", "-p", server.host, str(server.port)], script, home=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    work = server.root / "work"
    assert sorted(p.name for p in work.iterdir()) == ["b.bin"], r.stdout
    assert (work / "b.bin").read_bytes() == b"bin\r\ndata\n"
    assert (tmp_path / "a2.bin").read_bytes() == b"bin\r\ndata\n"
    for code in ("257", "250", "226", "350", "221"):
        assert f"\n{code} " in r.stdout, (code, r.stdout)
    assert "\n5" not in r.stdout and "\n4" not in r.stdout, r.stdout
