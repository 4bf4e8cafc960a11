"""Bearer-token authentication: signed JWTs (PyJWT) -> the caller's user id.

Two kinds of token are accepted: HS256 tokens signed with JWT_SECRET (development, the
`python -m app token` command), and, when JWT_JWKS_URL is set, RS256/ES256 tokens from an
OpenID Connect provider, verified with its published keys. Both must name JWT_ISSUER and
JWT_AUDIENCE; the user id is the `sub` claim.
"""

from __future__ import annotations

import re
import time
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.core.config import Settings
from app.core.context import set_user_id
from app.core.jwks import SigningKeys
from app.errors.exceptions import Unauthorized

ALGORITHM = "HS256"
PROVIDER_ALGORITHMS = frozenset({"RS256", "ES256"})
MAX_TOKEN_LIFETIME_SECONDS = 7 * 24 * 3600  # the largest JWT_TTL_SECONDS allowed
# The user id goes into logs, Sentry and the database: keep it to a safe alphabet.
_USER_ID = re.compile(r"[A-Za-z0-9._:@-]{1,128}")

_bearer = HTTPBearer(
    auto_error=False,
    description="A JWT from `python -m app token <user>` (or your identity provider).",
)


def valid_user_id(value: object) -> bool:
    return isinstance(value, str) and _USER_ID.fullmatch(value) is not None


def create_access_token(user_id: str, settings: Settings, *, ttl_seconds: int | None = None) -> str:
    if not valid_user_id(user_id):
        raise ValueError("user id must be 1-128 characters of [A-Za-z0-9._:@-]")
    now = int(time.time())
    claims = {
        "sub": user_id,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + (ttl_seconds if ttl_seconds is not None else settings.jwt_ttl_seconds),
    }
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm=ALGORITHM)


def decode_user_id(token: str, settings: Settings) -> str:
    """The token's subject; Unauthorized for any token we did not issue or that expired."""
    claims = _verified_claims(
        token,
        settings.jwt_secret.get_secret_value(),
        ALGORITHM,
        settings,
        required=["sub", "exp", "iat", "iss", "aud"],
    )
    # A token living longer than we would ever issue was not issued by us as configured.
    if claims["exp"] - claims["iat"] > MAX_TOKEN_LIFETIME_SECONDS:
        raise Unauthorized("The bearer token is invalid.")
    return str(claims["sub"])


def _verified_claims(
    token: str, key: Any, algorithm: str, settings: Settings, *, required: list[str]
) -> dict[str, Any]:
    """The token's claims, its signature, expiry, issuer, audience and subject checked;
    Unauthorized otherwise."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": required},
            leeway=10,
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The bearer token has expired.") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("The bearer token is invalid.") from None
    if not valid_user_id(claims["sub"]):
        raise Unauthorized("The bearer token is invalid.")
    return claims


async def decode_provider_user_id(
    token: str, settings: Settings, keys: SigningKeys, *, fetch_keys: bool = True
) -> str:
    """The subject of a token signed by the identity provider (RS256/ES256, by its JWKS).

    Without `fetch_keys` only keys fetched already are used (Unauthorized otherwise), so the
    caller never waits for the provider.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise Unauthorized("The bearer token is invalid.") from None
    algorithm, kid = header.get("alg"), header.get("kid")
    if algorithm not in PROVIDER_ALGORITHMS or not (kid is None or isinstance(kid, str)):
        raise Unauthorized("The bearer token is invalid.")
    key = await keys.get(kid) if fetch_keys else keys.cached(kid)
    if key is None:
        raise Unauthorized("The bearer token's key is not known yet.")
    claims = _verified_claims(
        token, key, algorithm, settings, required=["sub", "exp", "iss", "aud"]
    )
    return str(claims["sub"])


async def verified_user_id(
    token: str, settings: Settings, keys: SigningKeys | None, *, fetch_keys: bool = True
) -> str:
    """The subject of a valid token: the identity provider's (when `keys` are configured
    and the token is signed with its algorithms), else ours (HS256)."""
    if keys is not None and _signed_by_provider(token):
        return await decode_provider_user_id(token, settings, keys, fetch_keys=fetch_keys)
    return decode_user_id(token, settings)


def _signed_by_provider(token: str) -> bool:
    try:
        return jwt.get_unverified_header(token).get("alg") in PROVIDER_ALGORITHMS
    except jwt.InvalidTokenError:
        return False


async def authenticated_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """Dependency: the caller's user id, also bound to the request context and Sentry."""
    if credentials is None:
        # RFC 6750: a request without credentials gets a challenge without an error code.
        raise Unauthorized("This operation requires a bearer token.", error=None)
    state = request.app.state
    user_id = await verified_user_id(
        credentials.credentials, state.settings, getattr(state, "signing_keys", None)
    )
    set_user_id(user_id)
    return user_id


CurrentUser = Annotated[str, Depends(authenticated_user)]
