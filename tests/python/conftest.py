"""Helpers for the Python package's tests: the package is imported from the build
(PYTHONPATH=build/python, set by scripts/test.sh, or the venv of scripts/python-env.sh), and
servers that fork or must get signals run as child processes of their own."""
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import feitp  # noqa: F401 - fails early when the package is not built

# Child processes import the same build, whatever their working directory.
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(feitp.__file__)))
os.environ["PYTHONPATH"] = os.pathsep.join([PACKAGE_DIR] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])


class ServerProcess:
    def __init__(self, proc, port, log):
        self.proc, self.port, self.log = proc, port, log

    def stop(self, sig=signal.SIGINT, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("server did not stop within %d s of signal %d" % (timeout, sig))
        return self.proc.returncode

    def output(self):
        with open(self.log, errors="replace") as f:
            return f.read()


@pytest.fixture
def run_script(tmp_path):
    """Runs a Python program that prints "PORT <n>" once it listens; returns a ServerProcess."""
    started = []

    def run(code, args=(), name="server.py", pattern=r"PORT (\d+)", module=False):
        log = tmp_path / ("%s.log" % name)
        if module:
            cmd = [sys.executable, "-m"] + list(args)
        else:
            script = tmp_path / name
            script.write_text(textwrap.dedent(code))
            cmd = [sys.executable, str(script)] + list(args)
        out = open(log, "w")
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=str(tmp_path),
                                env=dict(os.environ, PYTHONUNBUFFERED="1"))
        sp = ServerProcess(proc, 0, log)
        started.append(sp)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            m = re.search(pattern, sp.output())
            if m:
                sp.port = int(m.group(1))
                return sp
            if proc.poll() is not None:
                raise AssertionError("server exited (%d):\n%s" % (proc.returncode, sp.output()))
            time.sleep(0.05)
        raise AssertionError("server did not start:\n" + sp.output())

    yield run
    for sp in started:
        if sp.proc.poll() is None:
            sp.proc.kill()
            sp.proc.wait()


def wait_for(predicate, timeout=20, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)
