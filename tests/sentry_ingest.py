"""A local Sentry ingest endpoint: receives the SDK's real envelopes over HTTP."""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sentry_sdk.envelope import Envelope


class SentryIngest:
    """Accepts envelopes on any path (DSN `/api/1/envelope/` and Spotlight's `/stream`)."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.raw: list[bytes] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        ingest = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                elif self.headers.get("Content-Encoding") == "br":
                    import brotli  # type: ignore[import-not-found]  # only if the SDK chose br

                    body = brotli.decompress(body)
                with ingest._lock:
                    ingest.raw.append(body)
                    ingest.paths.append(self.path)
                    ingest.envelopes.append(Envelope.deserialize(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def dsn(self) -> str:
        return f"http://public@127.0.0.1:{self.port}/1"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _payloads(self, item_type: str) -> list[dict[str, Any]]:
        with self._lock:
            return [
                item.payload.json
                for envelope in self.envelopes
                for item in envelope.items
                if item.type == item_type and item.payload.json is not None
            ]

    @property
    def events(self) -> list[dict[str, Any]]:
        return self._payloads("event")

    @property
    def transactions(self) -> list[dict[str, Any]]:
        return self._payloads("transaction")

    def all_bytes(self) -> bytes:
        with self._lock:
            return b"\n".join(self.raw)
