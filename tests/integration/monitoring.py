"""Helpers for the /metrics and admin API tests: HTTP over loopback, the Prometheus text
parser, and a slow upload that runs in a thread until told to stop (or its server closes it)."""
from __future__ import annotations

import http.client as httpclient
import json
import re
import socket
import threading
import time

from feitp_harness import Raw, SOCK_TIMEOUT

TOKEN = "s3cret-admin-token-0123456789abcdef"

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$')


def http(port: int, method: str, path: str, body=None, token: str | None = None,
         headers: dict | None = None, host: str = "127.0.0.1") -> tuple[int, dict, bytes]:
    conn = httpclient.HTTPConnection(host, port, timeout=SOCK_TIMEOUT)
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode() if not isinstance(body, (bytes, str)) else body
        h.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def api(port: int, method: str, path: str, body=None, token: str = TOKEN) -> tuple[int, object]:
    status, _, data = http(port, method, path, body, token)
    return status, (json.loads(data) if data.strip() else None)


def parse_metrics(text: str) -> dict[tuple[str, frozenset], float]:
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def scrape(port: int) -> dict[tuple[str, frozenset], float]:
    status, headers, body = http(port, "GET", "/metrics")
    assert status == 200, body
    assert headers["content-type"].startswith("text/plain; version=0.0.4"), headers
    return parse_metrics(body.decode())


def metric(m: dict, name: str, **labels) -> float | None:
    return m.get((name, frozenset(labels.items())))


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.1, what: str = "condition"):
    """Polls predicate() until it returns a truthy value (which is returned)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class SlowUpload(threading.Thread):
    """STOR `path` a chunk at a time (chunk bytes every `pause` s) until stop() or until the
    server closes the connection; `closed_by_server` then tells which, `final` the last reply."""

    def __init__(self, server, path: str, chunk: int = 32768, pause: float = 0.05,
                 limit: int = 1 << 30, source: str | None = None):
        super().__init__(daemon=True)
        self.server, self.path, self.chunk, self.pause, self.limit = server, path, chunk, pause, limit
        self.source = source
        self.sent = 0
        self.started_evt = threading.Event()
        self.stop_evt = threading.Event()
        self.closed_by_server = False
        self.final: tuple[int, str] | None = None
        self.replies: list[int] = []
        self.eof = False
        self.error: BaseException | None = None

    def run(self):
        try:
            with Raw(self.server, source=self.source) as r:
                r.login()
                assert r.cmd("TYPE I")[0] == 200
                d = r.epsv()
                r.send(f"STOR {self.path}")
                code, text = r.reply()
                assert code in (125, 150), text
                self.started_evt.set()
                block = b"x" * self.chunk
                try:
                    while not self.stop_evt.is_set() and self.sent < self.limit:
                        d.sendall(block)
                        self.sent += len(block)
                        time.sleep(self.pause)
                except OSError:
                    self.closed_by_server = True
                d.close()
                if self.closed_by_server:
                    # Kicked: the server says 421 and closes; read every reply until then.
                    try:
                        while True:
                            self.replies.append(r.reply()[0])
                    except (EOFError, ConnectionResetError):
                        self.eof = True
                    except OSError:  # a timeout: the server did not close
                        pass
                else:
                    self.final = r.reply()
                    r.cmd("QUIT")
        except BaseException as e:  # reported by the test
            self.error = e
            self.started_evt.set()

    def stop(self):
        self.stop_evt.set()
        self.join(15)
