"""curl: upload, download, list, resume (-C -), active (--ftp-port), --ftp-create-dirs, -Q."""
import pytest

from feitp_harness import random_bytes, run, sha256_bytes, sha256_file, which

pytestmark = pytest.mark.skipif(not which("curl"), reason="curl not installed")

BASE = ["curl", "--silent", "--show-error", "--max-time", "60", "--connect-timeout", "5"]


def curl(*args, timeout=90):
    return run(BASE + list(args), timeout=timeout)


def test_upload_download(server, tmp_path):
    data = random_bytes(2_500_000, seed=41)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    r = curl("-T", str(src), server.url("/uploaded.bin"))
    assert r.returncode == 0, r.stderr
    assert sha256_file(server.root / "uploaded.bin") == sha256_bytes(data)
    dst = tmp_path / "dst.bin"
    r = curl("-o", str(dst), server.url("/uploaded.bin"))
    assert r.returncode == 0, r.stderr
    assert sha256_file(dst) == sha256_bytes(data)


def test_epsv_disabled_uses_pasv(server, tmp_path):
    (server.root / "p.txt").write_bytes(b"via pasv")
    r = curl("--disable-epsv", server.url("/p.txt"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "via pasv"


def test_list_and_nlst(server):
    (server.root / "one.txt").write_bytes(b"1")
    (server.root / "two dir").mkdir()
    r = curl(server.url("/"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any(x.startswith("-") and x.endswith(" one.txt") for x in lines), lines
    assert any(x.startswith("d") and x.endswith(" two dir") for x in lines), lines
    r = curl("-l", server.url("/"))
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.split("\r\n" if "\r\n" in r.stdout else "\n")[:-1]) == \
        ["one.txt", "two dir"]


def test_list_subdir_with_cwd_per_segment(server):
    (server.root / "a" / "b").mkdir(parents=True)
    (server.root / "a" / "b" / "deep.txt").write_bytes(b"deep")
    r = curl(server.url("/a/b/deep.txt"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "deep"
    r = curl("--ftp-method", "singlecwd", server.url("/a/b/deep.txt"))
    assert r.returncode == 0 and r.stdout == "deep", r.stderr
    r = curl("--ftp-method", "nocwd", server.url("/a/b/deep.txt"))
    assert r.returncode == 0 and r.stdout == "deep", r.stderr


def test_resume_download(server, tmp_path):
    data = random_bytes(1_000_000, seed=42)
    (server.root / "r.bin").write_bytes(data)
    dst = tmp_path / "r.bin"
    dst.write_bytes(data[:333_333])
    r = curl("-C", "-", "-o", str(dst), server.url("/r.bin"))
    assert r.returncode == 0, r.stderr
    assert sha256_file(dst) == sha256_bytes(data)


def test_resume_upload(server, tmp_path):
    data = random_bytes(1_000_000, seed=43)
    (server.root / "u.bin").write_bytes(data[:400_000])
    src = tmp_path / "u.bin"
    src.write_bytes(data)
    r = curl("-C", "-", "-T", str(src), server.url("/u.bin"))
    assert r.returncode == 0, r.stderr
    assert sha256_file(server.root / "u.bin") == sha256_bytes(data)


def test_append_upload(server, tmp_path):
    (server.root / "ap.txt").write_bytes(b"first,")
    src = tmp_path / "more.txt"
    src.write_bytes(b"second")
    r = curl("--append", "-T", str(src), server.url("/ap.txt"))
    assert r.returncode == 0, r.stderr
    assert (server.root / "ap.txt").read_bytes() == b"first,second"


@pytest.mark.parametrize("eprt", [True, False], ids=["eprt", "port"])
def test_active_mode(server, tmp_path, eprt):
    data = random_bytes(300_000, seed=44)
    src = tmp_path / "act.bin"
    src.write_bytes(data)
    flags = ["--ftp-port", "127.0.0.1"] + ([] if eprt else ["--disable-eprt"])
    r = curl(*flags, "-T", str(src), server.url("/act.bin"))
    assert r.returncode == 0, r.stderr
    assert sha256_file(server.root / "act.bin") == sha256_bytes(data)
    r = run(BASE + flags + ["-o", str(tmp_path / "back.bin"), server.url("/act.bin")],
            timeout=90)
    assert r.returncode == 0, r.stderr
    assert sha256_file(tmp_path / "back.bin") == sha256_bytes(data)
    r = curl(*flags, server.url("/"))
    assert r.returncode == 0 and " act.bin" in r.stdout, r.stderr


def test_create_dirs(server, tmp_path):
    src = tmp_path / "leaf.txt"
    src.write_bytes(b"leaf")
    r = curl("--ftp-create-dirs", "-T", str(src), server.url("/x/y%20z/w/leaf.txt"))
    assert r.returncode == 0, r.stderr
    assert (server.root / "x" / "y z" / "w" / "leaf.txt").read_bytes() == b"leaf"


def test_missing_file_error(server, tmp_path):
    r = curl("-o", str(tmp_path / "none"), server.url("/does-not-exist.bin"))
    assert r.returncode == 78, (r.returncode, r.stderr)  # CURLE_REMOTE_FILE_NOT_FOUND


def test_wrong_password(server):
    r = curl(server.url("/", password="not-the-password"))
    assert r.returncode == 67, (r.returncode, r.stderr)  # CURLE_LOGIN_DENIED


def test_quote_commands(server):
    (server.root / "old.txt").write_bytes(b"o")
    # before the transfer: MKD, RNFR/RNTO; after it ("-" prefix): DELE
    r = curl("-Q", "MKD made", "-Q", "RNFR old.txt", "-Q", "RNTO made/new.txt",
             "-Q", "-DELE made/new.txt", server.url("/"))
    assert r.returncode == 0, r.stderr
    assert (server.root / "made").is_dir()
    assert not (server.root / "old.txt").exists()
    assert not (server.root / "made" / "new.txt").exists()


def test_quote_command_failure_is_reported(server):
    r = curl("-Q", "DELE no-such-file", server.url("/"))
    assert r.returncode == 21, (r.returncode, r.stderr)  # CURLE_QUOTE_ERROR


def test_quote_site_chmod(server):
    (server.root / "m.txt").write_bytes(b"m")
    (server.root / "m.txt").chmod(0o644)
    r = curl("-Q", "SITE CHMOD 600 m.txt", server.url("/"))
    assert r.returncode == 0, r.stderr
    assert ((server.root / "m.txt").stat().st_mode & 0o777) == 0o600


def test_head_info_uses_size_mdtm(server):
    (server.root / "info.bin").write_bytes(b"i" * 4321)
    r = curl("-I", server.url("/info.bin"))
    assert r.returncode == 0, r.stderr
    assert "Content-Length: 4321" in r.stdout
    assert "Last-Modified:" in r.stdout


def test_ascii_download(server):
    (server.root / "t.txt").write_bytes(b"a\nb\n")
    r = run(BASE + ["--use-ascii", server.url("/t.txt")], timeout=90)
    assert r.returncode == 0, r.stderr
    # curl converts CRLF back to LF on its side; a correct result is the original text
    assert r.stdout == "a\nb\n"
