"""Client text never reaches a response header unescaped: an unknown field whose name holds control
characters is reported in a valid Warning header, over a real uvicorn socket, and the write is answered.

Before, the raw name went into the header, uvicorn refused to send it after the create had committed, the
connection dropped, and the client's retry got 409.
"""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from berth.declarative.apiserver.http import WARNING_TEXT_MAX, WARNINGS_MAX, warning_header, warning_value
from tests.apiserver.conftest import pod

PODS = "/api/v1/namespaces/default/pods"
NASTY = ["bad\x01name", "line\r\nX-Injected: yes", "nul\x00", "quote\"back\\slash", "\x7f\x1b[31m", "caf\u00e9\u4e2d"]


def header_is_valid(value: str) -> bool:
    """Printable ASCII only (what RFC 9110 field values allow without obs-text), no CR/LF."""
    return all(0x20 <= ord(c) < 0x7F for c in value)


def test_control_character_field_name_gets_201_and_a_valid_warning(live_url):
    body = pod("p")
    for i, name in enumerate(NASTY):
        body["spec"][name] = i
    with httpx.Client(base_url=live_url) as client:
        r = client.post(PODS, content=json.dumps(body), headers={"content-type": "application/json"})
        assert r.status_code == 201, r.text
        warning = r.headers["warning"]
        assert header_is_valid(warning) and warning.startswith('299 - "unknown field ')
        assert "\\x01" in warning and "X-Injected" not in r.headers
        assert client.get(f"{PODS}/p").status_code == 200
        assert r.headers.get("connection", "").lower() != "close"


def test_raw_socket_reads_one_well_formed_head(live_url):
    """The response head on the wire: one Warning line, every byte printable, the connection kept open."""
    host, port = live_url.removeprefix("http://").split(":")
    body = pod("q")
    body["spec"]["x\x01\x02"] = 1
    payload = json.dumps(body).encode()
    head = (f"POST {PODS} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n").encode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + payload)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection dropped: {data!r}"
            data += chunk
        lines = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        assert lines[0].startswith(b"HTTP/1.1 201"), lines[0]
        warnings = [x for x in lines[1:] if x.lower().startswith(b"warning:")]
        assert len(warnings) == 1 and all(0x20 <= b < 0x7F for b in warnings[0])
        sock.sendall(f"GET {PODS}/q HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("text", NASTY)
def test_warning_value_escapes(text):
    value = warning_value(f'unknown field "{text}"')
    assert header_is_valid(value) and value.startswith('299 - "') and value.endswith('"')
    inner = value[len('299 - "'):-1]
    assert '"' not in inner.replace('\\"', "")


def test_warning_length_is_capped():
    assert len(warning_value("x" * 10_000)) <= WARNING_TEXT_MAX + 12
    assert len(warning_header(["\x01" * 10_000] * 100)) <= WARNINGS_MAX
