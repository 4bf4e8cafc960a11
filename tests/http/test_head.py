from __future__ import annotations

from httpx import AsyncClient

from app.main import create_app
from tests.conftest import ClientFactory, LogReader, SettingsFactory, asgi_request, auth
from tests.worker.test_jobs_in_process import wait_for_job

ALICE = auth("alice")


async def _create_node(client: AsyncClient) -> dict[str, str]:
    response = await client.post("/v1/nodes", json={"title": "t", "body": "b"}, headers=ALICE)
    assert response.status_code == 201
    node: dict[str, str] = response.json()
    return node


async def test_head_on_a_node_has_the_status_and_headers_of_get_and_no_body(
    client: AsyncClient,
) -> None:
    node = await _create_node(client)

    get = await client.get(f"/v1/nodes/{node['id']}", headers=ALICE)
    head = await client.head(f"/v1/nodes/{node['id']}", headers=ALICE)

    assert head.status_code == get.status_code == 200
    assert head.content == b""
    for name in ("etag", "content-length", "content-type"):
        assert head.headers[name] == get.headers[name], name


async def test_head_sends_no_body_at_the_asgi_level(
    client_factory: ClientFactory, settings_factory: SettingsFactory
) -> None:
    app = create_app(settings_factory())
    client = await client_factory(app)
    node = await _create_node(client)
    token = ALICE["Authorization"].encode()

    messages = await asgi_request(
        app, "HEAD", f"/v1/nodes/{node['id']}", headers=[(b"authorization", token)]
    )

    start = messages[0]
    assert start["status"] == 200
    headers = dict(start["headers"])
    assert int(headers[b"content-length"]) > 0
    assert headers[b"etag"].startswith(b'"')
    assert all(not m.get("body") for m in messages[1:])


async def test_head_works_on_lists_jobs_and_probes(client: AsyncClient) -> None:
    await _create_node(client)
    job = await client.post(
        "/v1/ai/jobs", json={"kind": "extract-graph", "text": "Graphs link nodes."}, headers=ALICE
    )
    assert job.status_code == 202
    # Finished first: a job that changes state between the GET and the HEAD changes length.
    await wait_for_job(client, job.headers["location"], ALICE)

    for path in ("/v1/nodes", "/v1/nodes?limit=1", job.headers["location"], "/healthz"):
        get = await client.get(path, headers=ALICE)
        head = await client.head(path, headers=ALICE)

        assert head.status_code == get.status_code == 200, path
        assert head.content == b"", path
        assert head.headers["content-length"] == get.headers["content-length"], path


async def test_head_keeps_error_statuses_and_conditional_answers(client: AsyncClient) -> None:
    node = await _create_node(client)
    tag = (await client.get(f"/v1/nodes/{node['id']}", headers=ALICE)).headers["etag"]

    missing = await client.head("/v1/nodes/00000000-0000-0000-0000-000000000000", headers=ALICE)
    anonymous = await client.head("/v1/nodes")
    not_modified = await client.head(
        f"/v1/nodes/{node['id']}", headers={**ALICE, "If-None-Match": tag}
    )

    assert (missing.status_code, missing.content) == (404, b"")
    assert (anonymous.status_code, anonymous.content) == (401, b"")
    assert "www-authenticate" in anonymous.headers
    assert not_modified.status_code == 304


async def test_head_on_a_route_without_get_is_405_and_allow_names_head_with_get(
    client: AsyncClient,
) -> None:
    response = await client.head("/v1/edges", headers=ALICE)
    allowed = await client.put("/v1/nodes", headers=ALICE)

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert allowed.headers["allow"] == "GET, HEAD, POST"


async def test_the_access_log_keeps_the_method_and_route_of_a_head_request(
    client: AsyncClient, logs: LogReader
) -> None:
    node = await _create_node(client)

    await client.head(f"/v1/nodes/{node['id']}", headers=ALICE)

    (line,) = [line for line in logs.events("http.request") if line["method"] != "POST"]
    assert line["method"] == "HEAD"
    assert line["route"] == "/v1/nodes/{node_id}"


async def test_openapi_has_no_head_operations(client: AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()

    assert all("head" not in item for item in schema["paths"].values())
