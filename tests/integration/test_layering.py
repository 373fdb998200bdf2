"""The layering rules of the design, checked on the sources (no server needed):
- src/proto/ includes no Asio, socket or file headers (pure functions of text and values);
- public headers under include/feitp/ mention no Asio;
- nothing in src/ includes apps/;
- src/storage/ and src/auth/ include nothing from src/session/."""
import re
from pathlib import Path

import pytest

from feitp_harness import REPO

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)
SOURCES = ("*.hpp", "*.cpp", "*.h", "*.cc", "*.ipp")

FORBIDDEN_IN_PROTO = [
    # arpa/inet.h and netinet/in.h are allowed: inet_pton/inet_ntop and in6_addr are pure
    # conversions of text and values; sockets, name resolution and files are not.
    r"^asio", r"^boost/asio", r"^sys/socket\.h$", r"^netdb\.h$", r"^ifaddrs\.h$",
    r"^sys/un\.h$", r"^fcntl\.h$", r"^unistd\.h$", r"^sys/stat\.h$", r"^dirent\.h$",
    r"^fstream$", r"^filesystem$", r"^cstdio$", r"^stdio\.h$", r"^sys/sendfile\.h$",
    r"^openssl/", r"^spdlog/",
]


def files_under(rel):
    base = REPO / rel
    out = []
    for pat in SOURCES:
        out += base.rglob(pat)
    return sorted(out)


def includes(path: Path):
    return INCLUDE_RE.findall(path.read_text(errors="replace"))


def test_sources_exist():
    assert files_under("src/proto"), "src/proto has no sources"
    assert files_under("include/feitp"), "include/feitp has no headers"


def test_proto_is_pure():
    bad = []
    for f in files_under("src/proto"):
        for inc in includes(f):
            if any(re.search(p, inc) for p in FORBIDDEN_IN_PROTO):
                bad.append(f"{f.relative_to(REPO)}: #include <{inc}>")
            if inc.startswith(("session/", "net/", "storage/", "runtime/", "obs/")):
                bad.append(f"{f.relative_to(REPO)}: #include \"{inc}\" (another layer)")
    assert not bad, "src/proto must not touch Asio, sockets or files:\n" + "\n".join(bad)


def test_public_headers_have_no_asio():
    bad = []
    for f in files_under("include/feitp"):
        text = f.read_text(errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            if re.search(r"\basio\b|asio::|<asio", line, re.I):
                bad.append(f"{f.relative_to(REPO)}:{n}: {line.strip()}")
    assert not bad, "public headers must not mention Asio:\n" + "\n".join(bad)


def test_src_does_not_include_apps():
    bad = []
    for f in files_under("src"):
        for inc in includes(f):
            if inc.startswith(("apps/", "../apps", "feitpd/", "feitp-bench/")) or "/apps/" in inc:
                bad.append(f"{f.relative_to(REPO)}: #include \"{inc}\"")
    assert not bad, "src/ must not include apps/:\n" + "\n".join(bad)


@pytest.mark.parametrize("layer", ["storage", "auth"])
def test_storage_and_auth_know_no_sessions(layer):
    bad = []
    for f in files_under(f"src/{layer}"):
        for inc in includes(f):
            if inc.startswith(("session/", "../session")):
                bad.append(f"{f.relative_to(REPO)}: #include \"{inc}\"")
    assert not bad, f"src/{layer} must know nothing of sessions:\n" + "\n".join(bad)
