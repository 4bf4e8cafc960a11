"""Local HTTP servers on 127.0.0.1 for tests: a recorder and a Sentry ingest endpoint."""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sentry_sdk.envelope import Envelope


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


class RecordingServer:
    """Answers every request with `200 {}` and records it (body decompressed)."""

    def __init__(self) -> None:
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                headers = {name.lower(): value for name, value in self.headers.items()}
                with server._lock:
                    server._requests.append(RecordedRequest(self.command, self.path, headers, body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = _record

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class SentryIngest(RecordingServer):
    """The SDK's real envelopes, on any path (DSN `/api/1/envelope/`, Spotlight `/stream`)."""

    @property
    def dsn(self) -> str:
        return f"http://public@127.0.0.1:{self.port}/1"

    @property
    def paths(self) -> list[str]:
        return [request.path for request in self.requests]

    def _payloads(self, item_type: str) -> list[dict[str, Any]]:
        return [
            item.payload.json
            for request in self.requests
            for item in Envelope.deserialize(request.body).items
            if item.type == item_type and item.payload.json is not None
        ]

    @property
    def events(self) -> list[dict[str, Any]]:
        return self._payloads("event")

    @property
    def transactions(self) -> list[dict[str, Any]]:
        return self._payloads("transaction")

    def all_bytes(self) -> bytes:
        return b"\n".join(request.body for request in self.requests)
