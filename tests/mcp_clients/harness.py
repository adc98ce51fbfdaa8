"""What every test file of the Python MCP client harness shares: the gateway process,
its provisioning through the admin REST API, and SDK helpers.

The fixtures themselves (``gateway``, ``anyio_backend``) are in ``conftest.py``; the
tests import the helpers from here.

A gateway is ``$AGW_BIN serve --demo`` on a free loopback port and a fresh store (a
SQLite file, or a fresh database on the Postgres server of ``$AGW_DATABASE_URL``). It is
provisioned with an owner and the agents the tests act as:

* ``full``    every card scope on WEB;
* ``reader``  only ``cards:read`` on WEB;
* ``limited`` every card scope on WEB, but 1 call per minute with a burst of 8;
* ``ops``     every card scope on OPS (only to put a card in OPS that WEB agents must not see).

Tests that need an agent of their own add one with :func:`add_agent`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Iterator

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import Implementation

ADMIN_TOKEN = "agw-python-sdk-harness-admin-token-00001"
assert len(ADMIN_TOKEN) == 40

ALL_SCOPES = [
    "cards:read",
    "cards:write",
    "comments:write",
    "labels:write",
    "assign:write",
    "blocks:write",
]
READ_TOOLS = {"list_projects", "get_project_context", "search_cards", "get_card"}
WRITE_TOOLS = {
    "create_card",
    "update_card",
    "move_card",
    "add_comment",
    "set_labels",
    "assign_card",
    "update_structured_block",
}
STATES = ["Backlog", "Todo", "In Progress", "Done", "Cancelled"]


# --------------------------------------------------------------------------------------
# The gateway under test
# --------------------------------------------------------------------------------------


@dataclass
class Agent:
    name: str
    id: str
    token: str


@dataclass
class Gateway:
    base: str
    workdir: str
    stdout_path: str
    stderr_path: str
    web: dict[str, str] = field(default_factory=dict)  # {"id", "identifier"}
    ops: dict[str, str] = field(default_factory=dict)
    owner_id: str = ""
    agents: dict[str, Agent] = field(default_factory=dict)

    @property
    def mcp_url(self) -> str:
        return f"{self.base}/mcp"

    def admin(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One admin REST call; returns (status, parsed JSON body)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        return status, (json.loads(raw) if raw else None)

    def audit(self, agent_id: str, limit: int = 500) -> list[dict[str, Any]]:
        status, page = self.admin("GET", f"/api/v1/admin/audit?agent_id={agent_id}&limit={limit}")
        assert status == 200, page
        return page["items"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fresh_postgres(url: str) -> tuple[str, str]:
    """Creates a fresh database on the server of `url`; returns (its URL, its name)."""
    name = f"agw_py_{secrets.token_hex(6)}"
    subprocess.run(
        ["psql", "-w", url, "-v", "ON_ERROR_STOP=1", "-q", "-c", f"CREATE DATABASE {name}"],
        check=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name)), name


def _drop_postgres(url: str, name: str) -> None:
    subprocess.run(
        ["psql", "-w", url, "-q", "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
        check=False,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


@contextlib.contextmanager
def run_gateway(failed: Callable[[], bool], env_extra: dict[str, str] | None = None) -> Iterator[Gateway]:
    """Starts a provisioned gateway on a fresh store, and stops it (and drops its store).

    `env_extra` adds `GATEWAY_*` settings to the process's environment. When `failed()`
    says so at the end, the tails of its stdout and stderr are printed.
    """
    binary = os.environ.get("AGW_BIN")
    if not binary:
        pytest.exit("AGW_BIN must name the agent-gateway binary", returncode=2)
    workdir = tempfile.mkdtemp(prefix="agw-py-")
    given = os.environ.get("AGW_DATABASE_URL", "").strip()
    dropped: tuple[str, str] | None = None
    if given.startswith(("postgres://", "postgresql://")):
        database_url, dbname = _fresh_postgres(given)
        dropped = (given, dbname)
    elif given:
        database_url = given
    else:
        database_url = f"sqlite://{workdir}/gateway.db"

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_BIND=f"127.0.0.1:{port}",
        GATEWAY_DATABASE_URL=database_url,
        GATEWAY_ADMIN_TOKEN=ADMIN_TOKEN,
        GATEWAY_RATE_PER_MINUTE="600",
        GATEWAY_RATE_BURST="600",
        NO_COLOR="1",
    )
    env.update(env_extra or {})
    gw = Gateway(
        base=f"http://127.0.0.1:{port}",
        workdir=workdir,
        stdout_path=os.path.join(workdir, "gateway.stdout"),
        stderr_path=os.path.join(workdir, "gateway.stderr"),
    )
    with open(gw.stdout_path, "wb") as out, open(gw.stderr_path, "wb") as err:
        proc = subprocess.Popen(
            [binary, "serve", "--demo"],
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        _wait_ready(gw, proc)
        _provision(gw)
        yield gw
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if failed():
            for path in (gw.stdout_path, gw.stderr_path):
                with open(path, errors="replace") as f:
                    tail = f.readlines()[-60:]
                print(f"\n---- {os.path.basename(path)} (last {len(tail)} lines) ----")
                print("".join(tail))
        if dropped:
            _drop_postgres(*dropped)
        shutil.rmtree(workdir, ignore_errors=True)


def _log_tail(gw: Gateway) -> str:
    text = ""
    for path in (gw.stdout_path, gw.stderr_path):
        with open(path, errors="replace") as f:
            text += f"---- {path}\n" + "".join(f.readlines()[-40:])
    return text


def _wait_ready(gw: Gateway, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the gateway exited with {proc.returncode} during start\n{_log_tail(gw)}")
        try:
            with urllib.request.urlopen(gw.base + "/readyz", timeout=2) as resp:
                ready = resp.status == 200
        except (urllib.error.URLError, OSError):
            ready = False
        if ready:
            with open(gw.stdout_path) as f:
                if "NODEDC_AGENT_TOKEN=" in f.read():
                    return
        if time.monotonic() > deadline:
            pytest.fail(f"the gateway was not ready within 90 s\n{_log_tail(gw)}")
        time.sleep(0.1)


def add_agent(gw: Gateway, name: str, project: str, scopes: list[str], **rate: int) -> Agent:
    """Creates an agent of the test owner with `scopes` on `project`; `gw.agents[name]`."""
    status, body = gw.admin(
        "POST",
        "/api/v1/admin/agents",
        {"owner_id": gw.owner_id, "name": name, "grants": [{"project_id": project, "scopes": scopes}], **rate},
    )
    assert status == 201, body
    gw.agents[name] = Agent(name=name, id=body["agent_id"], token=body["token"])
    return gw.agents[name]


def _provision(gw: Gateway) -> None:
    with open(gw.stdout_path) as f:
        seeded = re.search(r"Demo seeded: owner \S+ with projects (\S+) and (\S+);", f.read())
    assert seeded, f"no demo seed line on stdout\n{_log_tail(gw)}"
    web_ident, ops_ident = seeded.group(1), seeded.group(2)

    status, body = gw.admin("GET", "/api/v1/admin/projects")
    assert status == 200, body
    by_ident = {p["identifier"]: p for p in body["projects"]}
    gw.web = {"id": by_ident[web_ident]["id"], "identifier": web_ident}
    gw.ops = {"id": by_ident[ops_ident]["id"], "identifier": ops_ident}

    gw.owner_id = str(uuid.uuid4())
    status, body = gw.admin(
        "PUT",
        f"/api/v1/admin/users/{gw.owner_id}",
        {"display_name": "SDK Test Owner", "client_id": "sdk-tests", "codex_agents": True, "blocked": False},
    )
    assert status == 201, body

    add_agent(gw, "full", gw.web["id"], ALL_SCOPES)
    add_agent(gw, "reader", gw.web["id"], ["cards:read"])
    add_agent(gw, "limited", gw.web["id"], ALL_SCOPES, rate_per_minute=1, rate_burst=8)
    add_agent(gw, "ops", gw.ops["id"], ALL_SCOPES)


def wait_for_audit(gateway: Gateway, agent: str, wanted: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Polls the audit log until every (action, outcome) is present (reads are batched)."""
    deadline = time.monotonic() + 10
    while True:
        rows = gateway.audit(gateway.agents[agent].id)
        have = {(r["action"], r["outcome"]) for r in rows}
        if all(w in have for w in wanted) or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


# --------------------------------------------------------------------------------------
# SDK helpers
# --------------------------------------------------------------------------------------


@dataclass
class Exchange:
    """One HTTP exchange as the SDK's httpx2 client saw it."""

    method: str
    status: int
    request_headers: dict[str, str]
    response_headers: dict[str, str]
    rpc_method: str | None


@contextlib.asynccontextmanager
async def connect(
    gw: Gateway, agent: str, mode: str = "legacy", client_info: Implementation | None = None
) -> AsyncIterator[tuple[Client, list[Exchange]]]:
    """An SDK client acting as `agent`, and the HTTP exchanges it makes.

    `client_info` is what the client says it is (`initialize`'s clientInfo, or the
    stateless revision's `_meta`); the SDK's own default when not given.
    """
    exchanges: list[Exchange] = []

    async def record(response: httpx2.Response) -> None:
        rpc_method = None
        if response.request.method == "POST":
            with contextlib.suppress(Exception):
                rpc_method = json.loads(response.request.content).get("method")
        exchanges.append(
            Exchange(
                method=response.request.method,
                status=response.status_code,
                request_headers={k.lower(): v for k, v in response.request.headers.items()},
                response_headers={k.lower(): v for k, v in response.headers.items()},
                rpc_method=rpc_method,
            )
        )

    async with httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {gw.agents[agent].token}"},
        timeout=httpx2.Timeout(30.0, read=60.0),
        event_hooks={"response": [record]},
    ) as http:
        transport = streamable_http_client(gw.mcp_url, http_client=http)
        async with Client(transport, mode=mode, client_info=client_info) as client:
            yield client, exchanges


def key() -> str:
    """A fresh idempotency key."""
    return f"sdk-{uuid.uuid4()}"


def text_of(result: Any) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", None) == "text")


async def ok(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Calls a tool that must succeed; returns its (SDK-validated) structuredContent."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, f"{tool} failed: {text_of(result)}"
    assert isinstance(result.structured_content, dict)
    # The text block carries the same JSON (MCP: SHOULD also return it as text).
    assert json.dumps(result.structured_content, sort_keys=True) in {
        json.dumps(json.loads(line), sort_keys=True)
        for line in text_of(result).splitlines()
        if line.startswith("{")
    }
    return result.structured_content


async def tool_error(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    """Calls a tool that must fail with isError; returns the text the model would read."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} unexpectedly succeeded: {result.structured_content}"
    assert result.structured_content is None
    message = text_of(result)
    assert message
    return message


async def new_card(gw: Gateway, client: Client, name: str | None = None, **fields: Any) -> dict[str, Any]:
    args = {"project_id": gw.web["id"], "name": name or f"SDK card {uuid.uuid4().hex[:8]}", "idempotency_key": key()}
    args.update(fields)
    return await ok(client, "create_card", args)
