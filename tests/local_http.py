"""Local HTTP servers on 127.0.0.1 for tests: a recorder and a Sentry ingest endpoint."""

from __future__ import annotations

import gzip
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from sentry_sdk.envelope import Envelope


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


class Trickle:
    """A response body sent one byte every `interval` seconds."""

    def __init__(self, body: bytes, interval: float) -> None:
        self.body = body
        self.interval = interval

    def __len__(self) -> int:
        return len(self.body)

    def chunks(self) -> Iterator[bytes]:
        for index in range(len(self.body)):
            time.sleep(self.interval)
            yield self.body[index : index + 1]


class RecordingServer:
    """Records every request (body decompressed); answers with `respond()`, `200 {}` here."""

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
                request = RecordedRequest(self.command, self.path, headers, body)
                with server._lock:
                    server._requests.append(request)
                status, extra_headers, payload = server.respond(request)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in extra_headers.items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    for chunk in payload.chunks() if isinstance(payload, Trickle) else [payload]:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up: what a trickle test expects

            do_GET = do_POST = do_PUT = _record

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def respond(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes | Trickle]:
        return 200, {}, b"{}"

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

    @property
    def transaction_traces(self) -> list[dict[str, Any]]:
        """The `trace` envelope header (the dynamic sampling context) of each transaction."""
        envelopes = [Envelope.deserialize(request.body) for request in self.requests]
        return [
            envelope.headers["trace"]
            for envelope in envelopes
            if any(item.type == "transaction" for item in envelope.items)
        ]

    def all_bytes(self) -> bytes:
        return b"\n".join(request.body for request in self.requests)


class FakeLLM(RecordingServer):
    """An OpenAI-compatible `/v1/chat/completions` on 127.0.0.1 that misbehaves on request.

    `mode`: ok, slow (sleeps `delay` seconds), error (500), rate-limited (429 with
    `Retry-After` unless `retry_after` is None), garbage (200 with a body that is not a
    completion), bad-gzip (200 claiming a gzip body that is not), trickle (a completion
    sent one byte every `delay` seconds), refused (401).
    `script`, when set, gives the mode of each successive request instead.
    """

    def __init__(self) -> None:
        super().__init__()
        self.mode = "ok"
        self.script: list[str] = []
        self.delay = 2.0
        self.retry_after: str | None = "7"
        self.answer = "Graphs connect things [1]."

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def respond(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes | Trickle]:
        mode = self.script.pop(0) if self.script else self.mode
        if mode == "slow":
            time.sleep(self.delay)
        if mode == "error":
            return 500, {}, b'{"error": {"message": "upstream internal detail sk-leak"}}'
        if mode == "rate-limited":
            headers = {} if self.retry_after is None else {"Retry-After": self.retry_after}
            return 429, headers, b'{"error": "slow down"}'
        if mode == "garbage":
            return 200, {}, b"<html>upstream proxy page</html>"
        if mode == "bad-gzip":
            return 200, {"Content-Encoding": "gzip"}, b"this is not gzip sk-leak"
        if mode == "refused":
            return 401, {}, b'{"error": "bad key"}'
        completion = {"choices": [{"message": {"role": "assistant", "content": self.answer}}]}
        body = json.dumps(completion).encode()
        return 200, {}, Trickle(body, self.delay) if mode == "trickle" else body


class FakeSentryAPI(RecordingServer):
    """Enough of Sentry's web API for sentry-cli's release and deploy commands."""

    def __init__(self) -> None:
        super().__init__()
        self.repository_url = "https://github.com/example/graphnode-api"
        self.fail_path: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def respond(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        if self.fail_path is not None and self.fail_path in request.path:
            return 500, {}, b'{"detail": "Internal Error"}'
        body: object
        if "/repos/" in request.path:
            body = [
                {
                    "id": "1",
                    "name": "example/graphnode-api",
                    "url": self.repository_url,
                    "provider": {"id": "integrations:github", "name": "GitHub"},
                    "status": "active",
                    "dateCreated": "2026-01-01T00:00:00Z",
                }
            ]
        elif "/deploys/" in request.path:
            body = {
                "id": "1",
                "environment": "production",
                "dateStarted": None,
                "dateFinished": "2026-01-01T00:00:00Z",
                "name": None,
                "url": None,
            }
        else:
            body = {
                "version": "x",
                "url": None,
                "dateCreated": "2026-01-01T00:00:00Z",
                "dateReleased": None,
                "lastEvent": None,
                "newGroups": 0,
                "projects": [{"slug": "api", "name": "api"}],
                "ref": None,
                "shortVersion": "x",
                "commitCount": 0,
                "deployCount": 0,
                "lastCommit": None,
                "lastDeploy": None,
                "authors": [],
            }
        status = 201 if request.method == "POST" else 200
        return status, {}, json.dumps(body).encode()


class JWKSProvider(RecordingServer):
    """An OpenID Connect provider's JWKS endpoint on 127.0.0.1, with real RSA/EC keys.

    `sign(...)` issues a token with one of its keys; `rotate()` replaces the keys (new
    `kid`s); `down = True` makes the endpoint answer 503.
    """

    issuer = "https://idp.example.test/"
    audience = "graphnode-api"

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.rotate()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/.well-known/jwks.json"

    def rotate(self) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.keys: dict[str, Any] = {
            f"rsa-{suffix}": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            f"ec-{suffix}": ec.generate_private_key(ec.SECP256R1()),
        }

    def kid(self, algorithm: str) -> str:
        prefix = "rsa-" if algorithm == "RS256" else "ec-"
        return next(kid for kid in self.keys if kid.startswith(prefix))

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, private in self.keys.items():
            algorithm = RSAAlgorithm if kid.startswith("rsa-") else ECAlgorithm
            jwk = algorithm.to_jwk(private.public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig"})
        return {"keys": keys}

    def sign(
        self,
        subject: str = "idp-user",
        *,
        algorithm: str = "RS256",
        kid: str | None = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload = {
            "sub": subject,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + 300,
            **claims,
        }
        payload = {name: value for name, value in payload.items() if value is not None}
        kid = kid or self.kid(algorithm)
        key = self.keys.get(kid) or self.keys[self.kid(algorithm)]
        return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid})

    def respond(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        if self.down:
            return 503, {}, b'{"error": "maintenance"}'
        return 200, {}, json.dumps(self.jwks()).encode()


def wait_for_http(
    process: subprocess.Popen[bytes],
    url: str,
    *,
    timeout: float = 30,
    request_timeout: float = 1,
    log: Path | None = None,
) -> httpx.Response:
    """The first answer from `url` while `process` (which serves it) starts; fails with the
    process's output (its `log` file, else its stdout pipe) if it exits first, or after
    `timeout` seconds."""

    def output() -> str:
        if log is not None:
            return log.read_text()[-3000:]
        return process.stdout.read().decode() if process.stdout else ""

    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=request_timeout)
        except httpx.TransportError:
            assert process.poll() is None, output()
            assert time.monotonic() < deadline, f"nothing answered at {url}"
            time.sleep(0.2)
