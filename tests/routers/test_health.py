from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

from httpx import AsyncClient

from tests.conftest import ClientFactory, LogReader, service_url


async def test_healthz_reports_version_and_environment(client: AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "version": "graphnode-api@1.2.3-test",
        "environment": "development",
    }


async def test_readyz_is_ok_when_the_database_answers(client: AsyncClient) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok"},
        "jobs_waiting": 0,
    }


async def test_readyz_is_a_503_problem_when_the_database_is_unreachable(
    client_factory: ClientFactory, logs: LogReader
) -> None:
    # Port 9 (discard) is closed on the loopback: the connection is refused at once.
    client = await client_factory(
        database_url="postgresql+asyncpg://nobody:pw-x1@127.0.0.1:9/db",
        database_auto_migrate=False,
    )

    response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"
    body = response.json()
    assert body["type"] == "/problems/service-unavailable"
    assert body["checks"] == {"database": "unavailable", "broker": "ok"}
    (failed_check,) = logs.events("readiness.check_failed")
    assert failed_check["check"] == "database"
    assert "pw-x1" not in logs.text


async def test_readyz_against_real_postgres(
    client_factory: ClientFactory, postgres_url: str
) -> None:
    # A database of this run's own: the server's default one may hold another branch's
    # migrations, which start-up would refuse.
    client = await client_factory(database_url=postgres_url)

    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a real service until `cut()`: a broker that goes away."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0

    async def start(self, port: int = 0) -> None:
        """Listen on `port` (any free one by default; a cut proxy's to bring it back)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        self._writers += [writer, upstream_writer]

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        self._writers.clear()
        await self._server.wait_closed()

    async def resume(self) -> None:
        """Accept connections again, on the same port: the broker is back."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    def url(self, target: str) -> str:
        """`target` with its host and port replaced by this proxy's."""
        parts = urlsplit(target)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@" if credentials else ""
        return parts._replace(netloc=f"{netloc}127.0.0.1:{self.port}").geturl()


async def test_readyz_is_a_503_problem_when_the_broker_goes_away(
    client_factory: ClientFactory, logs: LogReader
) -> None:
    proxy = TcpProxy(service_url("TEST_REDIS_URL"))
    await proxy.start()
    client = await client_factory(broker_url=f"redis://127.0.0.1:{proxy.port}/0")
    assert (await client.get("/readyz")).status_code == 200

    await proxy.cut()
    response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "broker": "unavailable"}
    (failed_check,) = logs.events("readiness.check_failed")
    assert failed_check["check"] == "broker"


async def test_readyz_against_real_redis_and_rabbitmq(client_factory: ClientFactory) -> None:
    for variable in ("TEST_REDIS_URL", "TEST_AMQP_URL"):
        client = await client_factory(broker_url=service_url(variable))

        response = await client.get("/readyz")

        assert response.json()["checks"] == {"database": "ok", "broker": "ok"}, variable
