"""Rate limits per caller on the `limits` library, advertised as in the IETF draft.

The caller is the user of a valid bearer token, otherwise the client address (behind a
proxy, run uvicorn with `--proxy-headers` so that is the real client). `/v1/ai` and below
count against the stricter AI policy, everything else against the default one; probes,
the docs and the problem type pages are not limited. Every limited response carries
`RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers: a quoted
policy name with `q`/`w`, and `r` remaining / `t` seconds to the reset); over the limit
the answer is a 429 `rate-limited` problem with `Retry-After` equal to `t`.

The limiter sits at the edge, before routing, authentication and the body: a throttled
caller costs one storage round trip and a small response. The token is verified here
(it is not trusted unverified: a forged `sub` would get a fresh count); a verified token
is remembered for `VERIFIED_TOKEN_SECONDS`, so a client reusing its token pays for one
verification a minute here, not one per request. That only picks the count: the route's
own authentication still verifies every request in full.

If the storage (Redis) fails, requests are served unlimited (fail open): a limiter
outage must not become an API outage. One warning is logged when it goes away and one
line when it is back; in between the storage is retried every `STORAGE_RETRY_SECONDS`,
not on every request.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import structlog
from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError
from starlette.datastructures import State
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.config import Settings
from app.core.security import verified_user_id
from app.errors.exceptions import RateLimited, Unauthorized
from app.http.problems import handle_app_error

log = structlog.get_logger(__name__)

STORAGE_RETRY_SECONDS = 5.0
# A Redis that stops answering must not hold requests for long: past this the request is
# served unlimited like with a refused connection.
STORAGE_TIMEOUT_SECONDS = 0.5
VERIFIED_TOKEN_SECONDS = 60.0
_VERIFIED_TOKENS_MAX = 10_000
AI_PATH = "/v1/ai"
_EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs", "/redoc"})
_EXEMPT_PREFIXES = ("/docs/", "/redoc/", "/problems")
_BEARER_PREFIX = b"bearer "


@dataclass(frozen=True, slots=True)
class RatePolicy:
    """One quota policy: its name in the headers and its limit."""

    name: str
    item: RateLimitItem

    @property
    def policy_field(self) -> bytes:
        """The `RateLimit-Policy` member: `"default";q=600;w=60`."""
        window = self.item.get_expiry()
        return f'"{self.name}";q={self.item.amount};w={window}'.encode("ascii")

    def limit_field(self, remaining: int, reset_seconds: int) -> bytes:
        """The `RateLimit` member: `"default";r=599;t=60`."""
        return f'"{self.name}";r={remaining};t={reset_seconds}'.encode("ascii")


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    remaining: int
    reset_seconds: int


def is_exempt(path: str) -> bool:
    return path in _EXEMPT_PATHS or path.startswith(_EXEMPT_PREFIXES)


def is_ai(path: str) -> bool:
    return path == AI_PATH or path.startswith(AI_PATH + "/")


def build_storage(url: str) -> Storage:
    """The async storage for a RATE_LIMIT_STORAGE_URL (memory:// or redis://...)."""
    if url.startswith("memory://"):
        return MemoryStorage(wrap_exceptions=True)
    # redis-py (already a dependency through taskiq-redis) rather than coredis.
    return RedisStorage(
        "async+" + url,
        wrap_exceptions=True,
        implementation="redispy",
        socket_timeout=STORAGE_TIMEOUT_SECONDS,
        socket_connect_timeout=STORAGE_TIMEOUT_SECONDS,
    )


class CallerRateLimiter:
    """Counts hits per caller and policy; fails open (None) while the storage is down."""

    def __init__(self, settings: Settings) -> None:
        self.default = RatePolicy("default", settings.default_rate_limit)
        self.ai = RatePolicy("ai", settings.ai_rate_limit)
        self._strategy = FixedWindowRateLimiter(build_storage(settings.rate_limit_storage_url))
        self._storage_down = False
        self._retry_at = 0.0

    async def hit(self, policy: RatePolicy, caller: str) -> Verdict | None:
        if self._storage_down and time.monotonic() < self._retry_at:
            return None
        try:
            allowed = await self._strategy.hit(policy.item, policy.name, caller)
            stats = await self._strategy.get_window_stats(policy.item, policy.name, caller)
        except StorageError as exc:
            self._retry_at = time.monotonic() + STORAGE_RETRY_SECONDS
            if not self._storage_down:
                self._storage_down = True
                log.warning(
                    "rate_limit.storage_unavailable",
                    error_type=type(exc.storage_error).__name__,
                    retry_seconds=STORAGE_RETRY_SECONDS,
                )
            return None
        if self._storage_down:
            self._storage_down = False
            log.info("rate_limit.storage_recovered")
        reset_seconds = max(0, math.ceil(stats.reset_time - time.time()))
        return Verdict(allowed=allowed, remaining=stats.remaining, reset_seconds=reset_seconds)


def _bearer_token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            if value[: len(_BEARER_PREFIX)].lower() == _BEARER_PREFIX:
                token: bytes = value[len(_BEARER_PREFIX) :]
                return token.strip().decode("latin-1")
            return None
    return None


class RateLimitMiddleware:
    """Pure-ASGI rate limiting; 429s are answered here, as Problem Details."""

    def __init__(
        self, app: ASGIApp, limiter: CallerRateLimiter, settings: Settings, state: State
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.settings = settings
        self.state = state  # the application's: its signing keys once the lifespan has run
        # token -> (user id, monotonic time until which it is trusted); bounded.
        self._verified: dict[str, tuple[str, float]] = {}

    async def _user_id(self, token: str) -> str | None:
        now = time.monotonic()
        known = self._verified.get(token)
        if known is not None and known[1] > now:
            return known[0]
        keys = getattr(self.state, "signing_keys", None)
        try:
            # Never waits for the identity provider: a key the route has not fetched yet
            # leaves the request counted by address.
            user_id = await verified_user_id(token, self.settings, keys, fetch_keys=False)
        except Unauthorized:
            return None  # counted by address; the route answers 401 itself
        if len(self._verified) >= _VERIFIED_TOKENS_MAX:
            self._verified.clear()
        self._verified[token] = (user_id, now + VERIFIED_TOKEN_SECONDS)
        return user_id

    async def caller(self, scope: Scope) -> str:
        token = _bearer_token(scope)
        user_id = await self._user_id(token) if token else None
        if user_id is not None:
            return "user:" + user_id
        client = scope.get("client")
        return "address:" + (client[0] if client else "unknown")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        policy = self.limiter.ai if is_ai(scope["path"]) else self.limiter.default
        verdict = await self.limiter.hit(policy, await self.caller(scope))
        if verdict is None:
            await self.app(scope, receive, send)
            return
        fields = [
            (b"ratelimit-policy", policy.policy_field),
            (b"ratelimit", policy.limit_field(verdict.remaining, verdict.reset_seconds)),
        ]
        if not verdict.allowed:
            error = RateLimited(
                f"More than {policy.item.amount} requests in {policy.item.get_expiry()} "
                f"seconds; retry in {verdict.reset_seconds} seconds.",
                retry_after=verdict.reset_seconds,
            )
            response = await handle_app_error(Request(scope), error)
            response.raw_headers.extend(fields)
            await response(scope, receive, send)
            return

        async def send_with_fields(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *fields]
            await send(message)

        await self.app(scope, receive, send_with_fields)
