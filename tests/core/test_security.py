from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from httpx import AsyncClient

from app.core.config import Settings
from app.core.security import create_access_token, decode_user_id
from tests.conftest import auth

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = Settings(_env_file=None)
SECRET = SETTINGS.jwt_secret.get_secret_value()


def _token(key: str = SECRET, **overrides: object) -> str:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": "alice",
        "iss": SETTINGS.jwt_issuer,
        "aud": SETTINGS.jwt_audience,
        "iat": now,
        # Built when the tests are collected: valid for longer than a slow full run takes
        # to reach them, so only the claim under test makes the token bad.
        "exp": now + 3600,
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="HS256")


def test_round_trip() -> None:
    assert decode_user_id(create_access_token("user-1", SETTINGS), SETTINGS) == "user-1"


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        ("Bearer not.a.jwt", "invalid"),
        ("Bearer " + _token(exp=int(time.time()) - 3600), "expired"),
        (
            "Bearer " + jwt.encode({"sub": "alice"}, "another-secret-of-32-bytes-length!!"),
            "invalid",
        ),
        ("Bearer " + _token(aud="someone-else"), "invalid"),
        ("Bearer " + _token(iss="someone-else"), "invalid"),
        ("Bearer " + _token(sub=None), "invalid"),
        ("Bearer " + _token(sub="bad user\nid"), "invalid"),
        (
            "Bearer "
            + jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, key="", algorithm="none"),
            "invalid",
        ),
    ],
)
async def test_bad_tokens_are_401_with_an_invalid_token_challenge(
    client: AsyncClient, authorization: str, detail: str
) -> None:
    response = await client.get("/v1/nodes", headers={"Authorization": authorization})

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == (
        'Bearer realm="graphnode-api", error="invalid_token"'
    )
    assert detail in response.json()["detail"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic YWxpY2U6cHc="}])
async def test_missing_bearer_token_is_a_401_challenge_without_error(
    client: AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.post("/v1/nodes", json={"title": "x"}, headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="graphnode-api"'


async def test_token_is_never_logged(client: AsyncClient, logs: Any) -> None:
    headers = auth("alice")

    await client.get("/v1/nodes", headers=headers)
    await client.get("/v1/nodes", headers={"Authorization": "Bearer leaked.token.value"})
    logs.read()

    assert headers["Authorization"].split()[1] not in logs.text
    assert "leaked.token.value" not in logs.text


def test_token_command_prints_only_the_token(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "token", "alice"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    token = result.stdout.strip()
    assert result.stdout == token + "\n"
    assert result.stderr == ""
    assert decode_user_id(token, SETTINGS) == "alice"


def test_token_command_refuses_an_unsafe_user_id(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "token", "bad user"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert result.stdout == ""
    assert "user id" in result.stderr
