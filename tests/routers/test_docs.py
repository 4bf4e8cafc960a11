from __future__ import annotations

import re

import pytest
from httpx import AsyncClient

# Every asset a page loads: stylesheets, scripts, icons.
_ASSET = re.compile(r'(?:href|src)="([^"]+)"')
_CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_every_asset_from_the_app_itself(
    client: AsyncClient, page: str
) -> None:
    response = await client.get(page)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assets = _ASSET.findall(response.text)
    assert any(asset.endswith(".js") for asset in assets)
    assert "/openapi.json" in response.text
    for asset in assets:
        assert asset.startswith("/"), asset  # nothing from another origin (no CDN)
        loaded = await client.get(asset)

        assert loaded.status_code == 200, asset
        suffix = asset[asset.rindex(".") :]
        assert loaded.headers["content-type"].split(";")[0] in _CONTENT_TYPES[suffix], asset
        assert len(loaded.content) > 1000, asset


async def test_docs_reference_no_other_origin(client: AsyncClient) -> None:
    for page in ("/docs", "/redoc"):
        html = (await client.get(page)).text

        assert "cdn." not in html
        assert "https://" not in html
        assert "fonts.googleapis" not in html


async def test_swagger_ui_oauth2_redirect_page_is_served(client: AsyncClient) -> None:
    response = await client.get("/docs/oauth2-redirect")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


async def test_a_missing_docs_asset_is_a_404_problem(client: AsyncClient) -> None:
    response = await client.get("/docs/assets/nothing.js")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
