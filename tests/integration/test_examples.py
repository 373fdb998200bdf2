"""The examples, built out of tree against an installed copy of feitp (cmake --install into a
temporary prefix, then each examples/<name> configured alone with find_package(feitp CONFIG)),
started, and driven with curl. Also: the pkg-config file builds a program."""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from feitp_harness import REPO, Raw, feitpd_binary, random_bytes
from runtime_helpers import open_uploads, wait_for

EXAMPLES = ("upload_log", "reject_executables", "memory_server")
USER, PASSWORD = "carol", "ex-Pass-1"
BUILD_TIMEOUT = 600


def build_dir() -> Path:
    return feitpd_binary().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """Installs the build into a temporary prefix and builds every example against it."""
    if shutil.which("cmake") is None:
        pytest.skip("cmake not available")
    base = tmp_path_factory.mktemp("install")
    prefix = base / "prefix"
    r = subprocess.run(["cmake", "--install", str(build_dir()), "--prefix", str(prefix)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (prefix / "lib" / "libfeitp.a").exists()
    assert (prefix / "include" / "feitp" / "feitp.hpp").exists()
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    procs = {}
    for name in EXAMPLES:
        b = base / f"build-{name}"
        log = open(base / f"{name}.log", "w")
        # configure and build, the examples in parallel
        cmd = (f"cmake -S {REPO / 'examples' / name} -B {b} {' '.join(generator)} "
               f"-DCMAKE_PREFIX_PATH={prefix} -DCMAKE_BUILD_TYPE=Release && cmake --build {b}")
        procs[name] = (subprocess.Popen(["/bin/sh", "-c", cmd], stdout=log, stderr=subprocess.STDOUT), b, log)
    out = {"prefix": prefix, "base": base}
    deadline = time.monotonic() + BUILD_TIMEOUT
    for name, (proc, b, log) in procs.items():
        proc.wait(max(1, deadline - time.monotonic()))
        log.close()
        text = (base / f"{name}.log").read_text()
        assert proc.returncode == 0, f"{name} did not build against the installed package:\n{text}"
        # it really used the installed package, not the source tree
        cache = (b / "CMakeCache.txt").read_text()
        assert f"feitp_DIR:PATH={prefix}" in cache, cache
        out[name] = b / name
    return out


class Running:
    def __init__(self, argv: list[str], work: Path):
        self.log_path = work / "stdout.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        self.port = 0
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not self.port:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited: {self.log()}")
            m = re.search(r"listening on port (\d+)", self.log())
            if m:
                self.port = int(m.group(1))
            time.sleep(0.02)
        assert self.port, self.log()
        self.host = "127.0.0.1"
        self.user, self.password, self.users = USER, PASSWORD, {USER: PASSWORD}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def url(self, path: str = "/", password: str = PASSWORD) -> str:
        return f"ftp://{USER}:{password}@127.0.0.1:{self.port}{path}"

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


@pytest.fixture
def run_example(installed, tmp_path):
    started: list[Running] = []

    def _run(name: str, root: Path | None = None) -> Running:
        argv = [str(installed[name]), "--listen", "127.0.0.1:0", "--user", f"{USER}:{PASSWORD}"]
        if root is not None:
            argv += ["--root", str(root)]
        work = tmp_path / f"run-{name}-{len(started)}"
        work.mkdir()
        r = Running(argv, work)
        started.append(r)
        return r

    yield _run
    for r in started:
        code = r.stop()
        print(f"--- {r.proc.args[0]} (exit {code}):\n{r.log()[-4000:]}")
        assert code == 0, "the example did not stop cleanly on SIGTERM"


def curl(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", "--max-time", "20", *args], capture_output=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_upload_log(run_example, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    srv = run_example("upload_log", root)
    src = tmp_path / "report.bin"
    data = random_bytes(250_000, seed=41)
    src.write_bytes(data)
    r = curl("-T", str(src), srv.url("/report.bin"))
    assert r.returncode == 0, r.stderr
    assert (root / "report.bin").read_bytes() == data
    # an upload cut short: ABOR in the middle
    with Raw(SimpleNamespace(host="127.0.0.1", port=srv.port, user=USER, password=PASSWORD,
                             users={USER: PASSWORD})) as raw:
        raw.login(USER, PASSWORD)
        assert raw.cmd("TYPE I")[0] == 200
        d = raw.pasv()
        raw.send("STOR cut.bin")
        assert raw.reply()[0] in (125, 150)
        d.sendall(b"x" * 70_000)
        # Uploads are atomic by default: the bytes of a new name land in an unnamed file that
        # only the server's descriptor reaches, not under cut.bin.
        wait_for(lambda: any(u[2] >= 70_000 for u in open_uploads([srv.proc.pid], root)), 10.0,
                 what="the first 70,000 bytes of cut.bin")
        assert not (root / "cut.bin").exists()
        raw.send("ABOR")
        assert (raw.reply()[0], raw.reply()[0]) == (426, 226)
        d.close()
    deadline = time.monotonic() + 10
    while len(json_lines(srv.log())) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = json_lines(srv.log())
    assert len(lines) == 2, srv.log()
    done, cut = lines
    assert (done["user"], done["path"], done["bytes"], done["complete"]) == (USER, "/report.bin", 250_000, True)
    assert isinstance(done["seconds"], float) and done["seconds"] >= 0
    assert (cut["path"], cut["bytes"], cut["complete"], cut["outcome"]) == ("/cut.bin", 70_000, False, "aborted")


def test_reject_executables(run_example, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    srv = run_example("reject_executables", root)
    exe = tmp_path / "setup.exe"
    exe.write_bytes(b"MZ\x90\x00\x03" + random_bytes(100_000, seed=42))
    r = curl("-v", "-T", str(exe), srv.url("/setup.exe"))
    assert r.returncode != 0
    assert re.search(rb"< 550 ", r.stderr), r.stderr
    assert not (root / "setup.exe").exists()
    # an executable in disguise is caught by its content, not its name
    r = curl("-T", str(exe), srv.url("/holiday.jpg"))
    assert r.returncode != 0 and not (root / "holiday.jpg").exists()
    # everything else is accepted
    txt = tmp_path / "notes.txt"
    txt.write_bytes(b"MY notes, not MZ\n" * 100)
    r = curl("-T", str(txt), srv.url("/notes.txt"))
    assert r.returncode == 0, r.stderr
    assert (root / "notes.txt").read_bytes() == txt.read_bytes()
    assert sorted(p.name for p in root.iterdir()) == ["notes.txt"]


def test_memory_server(run_example, tmp_path):
    srv = run_example("memory_server")
    files = {}
    for i in range(3):
        p = tmp_path / f"f{i}.bin"
        p.write_bytes(random_bytes(10_000 * (i + 1), seed=50 + i))
        files[p.name] = p.read_bytes()
        r = curl("--ftp-create-dirs", "-T", str(p), srv.url(f"/dir/{p.name}"))
        assert r.returncode == 0, r.stderr
    r = curl(srv.url("/dir/f1.bin"))
    assert r.returncode == 0 and r.stdout == files["f1.bin"]
    # SITE STATS: a 200 reply with the number of files
    r = curl("-v", "-Q", "SITE STATS", srv.url("/"))
    assert r.returncode == 0, r.stderr
    m = re.search(rb"< 200 Files stored: (\d+)", r.stderr)
    assert m and int(m.group(1)) == 3, r.stderr
    # only the user given on the command line gets in
    r = curl(srv.url("/dir/f1.bin", password="wrong"))
    assert r.returncode == 67, (r.returncode, r.stderr)  # CURLE_LOGIN_DENIED
    r = subprocess.run(["curl", "-sS", "--max-time", "20", f"ftp://someone:{PASSWORD}@127.0.0.1:{srv.port}/"],
                       capture_output=True, timeout=30)
    assert r.returncode == 67
    # nothing on disk: the files live in memory
    assert not any(Path(os.getcwd()).glob("dir/f*.bin"))


def test_pkg_config_file_builds_a_program(installed, tmp_path):
    if shutil.which("pkg-config") is None:
        pytest.skip("pkg-config not available")
    env = dict(os.environ, PKG_CONFIG_PATH=str(installed["prefix"] / "lib" / "pkgconfig"))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "feitp"], capture_output=True,
                           text=True, env=env, timeout=30)
    assert flags.returncode == 0, flags.stderr
    assert f"-I{installed['prefix']}/include" in flags.stdout or "/include" in flags.stdout
    src = tmp_path / "tiny.cpp"
    src.write_text("""#include <feitp/feitp.hpp>
int main() {
  feitp::Options o;
  o.listen = {"127.0.0.1:0"};
  feitp::Server s(o);
  s.set_storage_factory(std::make_shared<feitp::MemoryStorageFactory>());
  s.bind();
  return s.ports().at(0) != 0 ? 0 : 1;
}
""")
    exe = tmp_path / "tiny"
    r = subprocess.run(f"c++ -std=c++20 {src} -o {exe} $(pkg-config --cflags --libs feitp)", shell=True,
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert subprocess.run([str(exe)], timeout=30).returncode == 0


def test_a_program_that_forgets_its_authenticator_is_told_at_construction(installed, tmp_path):
    """Issue 11: an out-of-tree program built against the installed package that forgets its
    authenticator gets a clear error from Server::Builder::build(), before it serves anything;
    a server made with the constructor is told by run()."""
    if shutil.which("pkg-config") is None:
        pytest.skip("pkg-config not available")
    env = dict(os.environ, PKG_CONFIG_PATH=str(installed["prefix"] / "lib" / "pkgconfig"))
    src = tmp_path / "forgetful.cpp"
    src.write_text("""#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <feitp/feitp.hpp>
int main(int argc, char** argv) {
  feitp::Options o;
  o.listen = {"127.0.0.1:0"};
  try {
    if (argc > 1 && std::strcmp(argv[1], "constructor") == 0) {
      feitp::Server s(o);
      s.set_storage_factory(std::make_shared<feitp::MemoryStorageFactory>());
      s.run();
    } else {
      auto s = feitp::Server::Builder(o).storage_factory(std::make_shared<feitp::MemoryStorageFactory>()).build();
      s->run();
    }
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "%s\\n", e.what());
    return 3;
  }
  return 0;
}
""")
    exe = tmp_path / "forgetful"
    r = subprocess.run(f"c++ -std=c++20 {src} -o {exe} $(pkg-config --cflags --libs feitp)", shell=True,
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 3
    assert r.stderr == "feitp::Server: no authenticator: call Builder::authenticator() before build()\n"
    r = subprocess.run([str(exe), "constructor"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 3
    assert r.stderr.startswith("feitp::Server::run: no authenticator: call set_authenticator()"), r.stderr
