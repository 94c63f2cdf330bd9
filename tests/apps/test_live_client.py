"""The live twin's client against a real loopback server: keys per role, backoff on 429/503, 4xx returned."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from apps.live_client import LiveClient, LiveHTTPError, read_keys


class Handler(http.server.BaseHTTPRequestHandler):
    script: list[int] = []
    seen: list[tuple[str, str]] = []

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Handler.seen.append((self.path, self.headers["Authorization"]))
        code = Handler.script.pop(0) if Handler.script else 200
        body = json.dumps({"status": code}).encode()
        self.send_response(code)
        if code == 429:
            self.send_header("Retry-After", "0.01")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Handler.script, Handler.seen = [], []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_429_and_503_are_retried_with_the_role_key(server: str) -> None:
    Handler.script = [429, 503, 200]
    client = LiveClient(server, {"qa_system": "k-qa", "dispatcher": "k-d"}, backoff=0.01)
    status, body = client.call("POST", "/outcomes", "qa_system", {"completions": []})
    assert (status, body) == (200, {"status": 200})
    assert [s for s in Handler.seen] == [("/outcomes", "Bearer k-qa")] * 3
    assert client.calls["POST outcomes"] == 3 and not client.errors


def test_a_conflict_is_an_answer_and_is_counted(server: str) -> None:
    Handler.script = [409]
    client = LiveClient(server, {"dispatcher": "k-d"}, backoff=0.01)
    assert client.call("POST", "/assignments/A1/accept", "dispatcher", {})[0] == 409
    assert client.errors == {"POST assignments 409": 1} and len(Handler.seen) == 1


def test_a_service_that_keeps_failing_is_an_error(server: str) -> None:
    Handler.script = [503] * 10
    client = LiveClient(server, {"dispatcher": "k-d"}, retries=2, backoff=0.01)
    with pytest.raises(LiveHTTPError, match="503"):
        client.call("POST", "/assign", "dispatcher", {})
    assert len(Handler.seen) == 3


def test_missing_key_files_are_named(tmp_path: Path) -> None:
    (tmp_path / "qa_system.key").write_text("k\n")
    with pytest.raises(FileNotFoundError, match="dispatcher"):
        read_keys(tmp_path)
    (tmp_path / "dispatcher.key").write_text("d\n")
    assert read_keys(tmp_path) == {"qa_system": "k", "dispatcher": "d"}
