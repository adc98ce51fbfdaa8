"""Reporting mode (issue 15) seen through the official Python MCP SDK: the three session
tools (`start_work_session`, `update_work_session`, `finish_work_session`, scope
`sessions:write`), checked against what the gateway saw — the card's history, the audit
log, the admin REST views of sessions and the live status.

Every test acts as an agent of its own (an agent has one open session at a time, and the
``full`` agent is revoked by the last test of test_gateway.py), made through the admin
REST API with :func:`reporter`.

Two gateways:

* the suite's shared ``gateway`` (default ``GATEWAY_SESSION_STALE_SECS``, 300 s) runs the
  flows whose sessions must stay live however slowly the machine runs — the whole flow,
  the stop notice, writes refused while a stop is pending: with a short interval, a pause
  of a second or two between two calls on a busy machine would make the session stale, or
  let the sweep end a stopping session before the client saw the notice;
* ``quick_gateway`` (this module's, ``GATEWAY_SESSION_STALE_SECS=2``) runs the two tests
  that wait out the interval: stale after silence, and a stopped session ended by the
  sweep. A separate process because the interval is a process setting, and keeping the
  shared gateway on the default keeps every other test independent of it.

Waiting is always a bounded poll of the REST API (`eventually`), never an assertion on
elapsed time.

Three tests guard gateway bugs this flow found (and that are fixed): a retried finish that
could not be replayed, the stop notice dropped from the stateless revision's `_meta`, and
session prose held to the 512-byte one-line limit of ids.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Callable, Iterator

import pytest
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, Implementation

from harness import (
    ALL_SCOPES,
    READ_TOOLS,
    WRITE_TOOLS,
    Agent,
    Gateway,
    add_agent,
    connect,
    key,
    new_card,
    ok,
    run_gateway,
    text_of,
    tool_error,
)

SESSION_TOOLS = {"start_work_session", "update_work_session", "finish_work_session"}
REPORTING_SCOPES = ALL_SCOPES + ["sessions:write"]
STOP_META = "nodedc.agent-gateway/stop_request"
QUICK_STALE_SECS = 2


@pytest.fixture(scope="module")
def quick_gateway(request: pytest.FixtureRequest) -> Iterator[Gateway]:
    """A second gateway whose open sessions turn stale after 2 s of silence."""
    with run_gateway(
        lambda: bool(request.session.testsfailed),
        {"GATEWAY_SESSION_STALE_SECS": str(QUICK_STALE_SECS)},
    ) as gw:
        yield gw


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def reporter(gw: Gateway, prefix: str, scopes: list[str] = REPORTING_SCOPES) -> Agent:
    """A fresh agent of the test owner on WEB (every card scope and `sessions:write`)."""
    return add_agent(gw, f"{prefix}-{uuid.uuid4().hex[:6]}", gw.web["id"], scopes)


def get(gw: Gateway, path: str) -> Any:
    status, body = gw.admin("GET", path)
    assert status == 200, f"GET {path}: {status} {body}"
    return body


def session_of(gw: Gateway, session: str) -> dict[str, Any]:
    return get(gw, f"/api/v1/admin/work-sessions/{session}")


def eventually(what: str, probe: Callable[[], Any], done: Callable[[Any], bool], bound: float = 30.0) -> Any:
    """Calls `probe` until `done` holds of its answer (bounded; polls every 0.1 s)."""
    deadline = time.monotonic() + bound
    while True:
        seen = probe()
        if done(seen):
            return seen
        assert time.monotonic() < deadline, f"{what} never happened within {bound} s; last seen: {seen}"
        time.sleep(0.1)


def agent_status(gw: Gateway, agent: Agent) -> dict[str, Any]:
    status = get(gw, "/api/v1/admin/status")
    [mine] = [a for a in status["agents"] if a["id"] == agent.id]
    return mine


def listed(gw: Gateway, query: str) -> list[str]:
    """Ids of the sessions `GET /api/v1/admin/work-sessions?{query}` lists."""
    return [s["id"] for s in get(gw, f"/api/v1/admin/work-sessions?{query}")["items"]]


async def call(client: Any, tool: str, arguments: dict[str, Any]) -> CallToolResult:
    """A tool call that must succeed, returned whole (content, structuredContent, _meta)."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, f"{tool} failed: {text_of(result)}"
    assert isinstance(result.structured_content, dict)
    return result


def writes_by_target(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Audit rows (oldest first) counted by target, in first-seen order — the shape of a
    session's `observed.writes`."""
    out: list[dict[str, Any]] = []
    for r in rows:
        target = r["target"] or r["project_id"]
        for w in out:
            if w["target"] == target:
                w["writes"] += 1
                break
        else:
            out.append({"target": target, "writes": 1})
    return out


# --------------------------------------------------------------------------------------
# Discovery
# --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_session_tools_are_listed_and_callable_only_with_sessions_write(gateway: Gateway) -> None:
    with_scope = reporter(gateway, "lister")
    without = reporter(gateway, "plain", ALL_SCOPES)
    async with connect(gateway, with_scope.name) as (client, _):
        listing = await client.list_tools()
    async with connect(gateway, without.name) as (client, exchanges):
        plain = await client.list_tools()
        with pytest.raises(MCPError) as raised:
            await client.call_tool("start_work_session", {"idempotency_key": key(), "card": "WEB-1", "intent": "x"})

    tools = {t.name: t for t in listing.tools}
    assert set(tools) == READ_TOOLS | WRITE_TOOLS | SESSION_TOOLS
    for name in SESSION_TOOLS:
        tool = tools[name]
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is False and tool.annotations.destructive_hint is False, name
        assert "idempotency_key" in tool.input_schema["required"], name
        assert tool.output_schema is not None and tool.output_schema["type"] == "object", name
    assert set(tools["update_work_session"].input_schema["properties"]["kind"]["enum"]) == {"thought", "action", "elicitation"}
    assert set(tools["finish_work_session"].input_schema["properties"]["outcome"]["enum"]) == {
        "completed",
        "failed",
        "abandoned",
    }
    assert len(listing.model_dump_json(by_alias=True, exclude_none=True).encode()) < 16 * 1024

    assert {t.name for t in plain.tools} == READ_TOOLS | WRITE_TOOLS
    assert raised.value.data == {"scope": "sessions:write"}
    refused = [e for e in exchanges if e.rpc_method == "tools/call"]
    assert [e.status for e in refused] == [403]
    assert 'scope="sessions:write"' in refused[0].response_headers.get("www-authenticate", "")


# --------------------------------------------------------------------------------------
# The whole flow, checked against the card, the audit log and the status
# --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_reported_session_is_checked_against_what_the_gateway_saw(gateway: Gateway) -> None:
    """start → update → a real write → elicitation → finish with a comment; then the
    session's observed writes are exactly the agent's audit rows that name it."""
    agent = reporter(gateway, "flow")
    me = Implementation(name="nodedc-sdk-flow", version="7.1.3")
    async with connect(gateway, agent.name, client_info=me) as (client, _):
        card = await new_card(gateway, client, name="Fix the login")  # before the session
        k = card["key"]

        started = await call(
            client,
            "start_work_session",
            {"idempotency_key": key(), "card": k.lower(), "intent": " fix  the   login ", "plan": ["reproduce", "fix"]},
        )
        s = started.structured_content
        sid = s["id"]
        assert s["card"] == k, "the card is resolved to its key"
        assert s["intent"] == "fix the login", "the intent is one line"
        assert s["state"] == "in_progress"
        assert s["plan"] == [{"step": "reproduce", "done": False}, {"step": "fix", "done": False}]
        assert s["superseded"] is None
        assert started.meta is None, "no stop notice without a stop"
        assert sid in text_of(started)

        updated = await ok(
            client,
            "update_work_session",
            {
                "idempotency_key": key(),
                "session": sid,
                "kind": "action",
                "note": "reproduced",
                "plan": [{"step": "reproduce", "done": True}, {"step": "fix"}],
            },
        )
        assert updated["state"] == "in_progress"
        assert updated["plan"] == [{"step": "reproduce", "done": True}, {"step": "fix", "done": False}]

        # A real write: the card's history names the session.
        moved = await ok(client, "move_card", {"idempotency_key": key(), "card": k, "state": "In Progress"})
        last = moved["history"][-1]
        assert (last["field"], last["new"]) == ("state", "In Progress")
        assert last["work_session"] == sid
        assert last["actor"] == f"{agent.name} (on behalf of SDK Test Owner)"
        assert moved["history"][0]["field"] == "created" and moved["history"][0].get("work_session") is None

        # A read and a denial, observed too.
        await ok(client, "get_card", {"card": k})
        denied = await tool_error(client, "create_card", {"idempotency_key": key(), "project_id": gateway.ops["id"], "name": "x"})
        assert "not granted" in denied

        asked = await ok(
            client, "update_work_session", {"idempotency_key": key(), "session": sid, "kind": "elicitation", "note": "which browser?"}
        )
        assert asked["state"] == "awaiting"
        assert session_of(gateway, sid)["state"] == "awaiting"
        resumed = await ok(
            client, "update_work_session", {"idempotency_key": key(), "session": sid, "kind": "thought", "note": "Firefox, per the owner"}
        )
        assert resumed["state"] == "in_progress", "the next report ends awaiting"
        assert listed(gateway, f"agent_id={agent.id}&state=open") == [sid]

        finish_args = {
            "idempotency_key": key(),
            "session": sid,
            "outcome": "completed",
            "summary": "Login fixed in Firefox.",
            "comment": True,
        }
        finished = await call(client, "finish_work_session", finish_args)
        f = finished.structured_content
        assert (f["state"], f["outcome"], f["summary"]) == ("completed", "completed", "Login fixed in Firefox.")
        assert f["ended_at"] is not None
        assert isinstance(f["comment_id"], str) and f["comment_error"] is None
        assert f"Summary posted as comment {f['comment_id']}" in text_of(finished)
        # (A retried finish replays this answer: see test_a_retried_finish_replays_the_first_answer.)

        after = await ok(client, "get_card", {"card": k})  # after the session: in none
        late = await tool_error(client, "update_work_session", {"idempotency_key": key(), "session": sid, "kind": "thought", "note": "late"})

    # The comment is on the card, posted by the agent.
    [comment] = after["comments"]
    assert comment["id"] == f["comment_id"]
    assert sid in comment["body"] and "Login fixed in Firefox." in comment["body"]
    assert comment["actor"] == f"{agent.name} (on behalf of SDK Test Owner)"
    assert "already ended" in late and "start_work_session" in late

    # The session as the admin sees it. Reads and denials are audited in batches (by a
    # pool of writers): poll until the rows of both reads and of the denial are in.
    def all_in(rows: list[dict[str, Any]]) -> bool:
        outcomes = [(r["action"], r["outcome"]) for r in rows]
        return outcomes.count(("get_card", "allowed")) == 2 and outcomes.count(("create_card", "denied")) == 1

    rows = eventually("the audit rows of every call", lambda: gateway.audit(agent.id), all_in)
    rows.sort(key=lambda r: r["id"])  # oldest first
    detail = session_of(gateway, sid)
    assert detail["state"] == "completed" and detail["comment_id"] == f["comment_id"]
    assert [a["kind"] for a in detail["activities"]] == ["started", "action", "elicitation", "thought", "finished"]
    assert detail["reported"] == {"thoughts": 1, "actions": 1, "elicitations": 1}

    in_session = [r for r in rows if r["work_session_id"] == sid]
    outside = [r for r in rows if r["work_session_id"] != sid]
    assert all(r["work_session_id"] is None for r in outside)
    # Outside it: the card made before, the start's intent (written before the session
    # existed), the read after it and the refused late report.
    assert sorted((r["action"], r["outcome"]) for r in outside if r["action"] != "update_work_session") == sorted(
        [("create_card", "intent"), ("create_card", "allowed"), ("start_work_session", "intent"), ("get_card", "allowed")]
    ), outside
    assert sorted(r["outcome"] for r in outside if r["action"] == "update_work_session") == ["failed", "intent"], outside
    # Observed writes = the agent's audit rows naming the session that are allowed, carry
    # an idempotency key, and are not the session reports themselves.
    writes = [
        r
        for r in in_session
        if r["outcome"] == "allowed" and r["idempotency_key"] and "work_session" not in r["action"]
    ]
    assert [(r["action"], r["target"]) for r in writes] == [("move_card", k), ("add_comment", k)]
    assert writes[1]["idempotency_key"] == f"work-session-{sid}-summary", "the summary went through add_comment"
    assert detail["observed"]["writes"] == writes_by_target(writes) == [{"target": k, "writes": 2}]
    work = [r for r in in_session if r["outcome"] != "intent" and "work_session" not in r["action"]]
    assert detail["observed"] == {
        "calls": len(work),
        "reads": sum(r["outcome"] == "allowed" and not r["idempotency_key"] for r in work),
        "writes": [{"target": k, "writes": 2}],
        "denials": sum(r["outcome"] == "denied" for r in work),
        "rate_limited": 0,
        "failures": 0,
    }
    assert (detail["observed"]["calls"], detail["observed"]["reads"], detail["observed"]["denials"]) == (4, 1, 1)
    assert detail["comparison"] == (
        f"reported: 1 action, 1 thought, 1 elicitation; observed: 2 writes on {k}, 1 read, 1 denial"
    )
    # `calls` are those rows, intents left out, oldest first.
    assert [c["id"] for c in detail["calls"]] == [r["id"] for r in in_session if r["outcome"] != "intent"]

    # The list and its filters.
    assert listed(gateway, f"agent_id={agent.id}&state=completed&card={k}") == [sid]
    assert listed(gateway, f"agent_id={agent.id}&state=open") == []

    # The live status: the SDK's clientInfo, no open session, the calls counted.
    status = get(gateway, "/api/v1/admin/status")
    assert status["thresholds"]["stale_secs"] == 300, "the shared gateway keeps the default"
    [mine] = [a for a in status["agents"] if a["id"] == agent.id]
    assert (mine["client"]["name"], mine["client"]["version"]) == (me.name, me.version)
    assert mine["liveness"] == "active" and mine["session"] is None
    tool_calls = len({r["request_id"] for r in rows})
    assert mine["counters"]["calls"] >= tool_calls and mine["counters"]["denials"] >= 1, mine


@pytest.mark.anyio
async def test_a_second_start_ends_the_open_session_and_sessions_are_their_agents_own(gateway: Gateway) -> None:
    agent = reporter(gateway, "restarter")
    other = reporter(gateway, "other")
    async with connect(gateway, agent.name) as (client, _):
        card = await new_card(gateway, client)
        first_args = {"idempotency_key": key(), "card": card["key"], "intent": "one"}
        first = await ok(client, "start_work_session", first_args)
        replay = await ok(client, "start_work_session", dict(first_args))
        assert replay["id"] == first["id"], "a replayed start is the same session"
        second = await call(client, "start_work_session", {"idempotency_key": key(), "card": card["key"], "intent": "two"})
        assert second.structured_content["superseded"] == first["id"]
        assert f"{first['id']} was ended as abandoned" in text_of(second)
    async with connect(gateway, other.name) as (client, _):
        theirs = await tool_error(
            client, "update_work_session", {"idempotency_key": key(), "session": second.structured_content["id"], "kind": "thought", "note": "mine?"}
        )
    assert "not this agent's" in theirs

    old = session_of(gateway, first["id"])
    assert (old["state"], old["outcome"]) == ("stopped", "abandoned") and old["ended_at"]
    assert [a["kind"] for a in old["activities"]] == ["started", "superseded"]
    assert listed(gateway, f"agent_id={agent.id}&state=open") == [second.structured_content["id"]]
    assert listed(gateway, f"agent_id={agent.id}") == [second.structured_content["id"], first["id"]], "newest first"


@pytest.mark.anyio
async def test_a_retried_finish_replays_the_first_answer(gateway: Gateway) -> None:
    agent = reporter(gateway, "retrier")
    async with connect(gateway, agent.name) as (client, _):
        card = await new_card(gateway, client)
        sid = (await ok(client, "start_work_session", {"idempotency_key": key(), "card": card["key"], "intent": "x"}))["id"]
        finish = {"idempotency_key": key(), "session": sid, "outcome": "completed", "summary": "done", "comment": True}
        first = await ok(client, "finish_work_session", finish)
        try:
            again: dict[str, Any] | MCPError = await ok(client, "finish_work_session", dict(finish))  # e.g. after a lost answer
        except MCPError as refused:  # raised out of the client's task group, it would be wrapped
            again = refused
        card_after = await ok(client, "get_card", {"card": card["key"]})
    if isinstance(again, MCPError):
        raise again
    assert again == first
    assert [c["id"] for c in card_after["comments"]] == [first["comment_id"]], "the summary is posted once"


@pytest.mark.anyio
async def test_a_summary_of_a_few_lines_is_accepted_and_posted(gateway: Gateway) -> None:
    agent = reporter(gateway, "verbose")
    summary = "Fixed the login.\n\n- reproduced in Firefox\n- patched the cookie path\n" + "Details: " + "x" * 600
    async with connect(gateway, agent.name) as (client, _):
        card = await new_card(gateway, client)
        sid = (await ok(client, "start_work_session", {"idempotency_key": key(), "card": card["key"], "intent": "fix"}))["id"]
        finished = await ok(
            client,
            "finish_work_session",
            {"idempotency_key": key(), "session": sid, "outcome": "completed", "summary": summary, "comment": True},
        )
    assert finished["summary"] == summary and finished["comment_id"]


# --------------------------------------------------------------------------------------
# Stop requests
# --------------------------------------------------------------------------------------


def assert_stop_notice(result: CallToolResult, session: str, card: str, meta: bool = True) -> None:
    """The stop notice, as the SDK hands it over: first in the text the model reads, and
    (when `meta`) under the gateway's `_meta` key for the client program."""
    text = text_of(result)
    assert text.startswith("STOP REQUESTED"), text
    message = text.split("\n\n", 1)[0]
    assert session in message and card in message
    assert "cannot stop a program on the developer's machine" in message
    assert "finish_work_session" in message
    # The result itself is intact below the notice.
    assert json.dumps(result.structured_content, sort_keys=True) in {
        json.dumps(json.loads(line), sort_keys=True) for line in text.splitlines() if line.startswith("{")
    }
    if meta:
        notice = (result.meta or {}).get(STOP_META)
        assert notice == {"session": session, "card": card, "message": message}, f"_meta: {result.meta}"


def no_stop_notice(result: CallToolResult) -> bool:
    return "STOP REQUESTED" not in text_of(result) and STOP_META not in (result.meta or {})


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_the_sdk_client_sees_the_stop_notice_until_it_finishes(gateway: Gateway, mode: str) -> None:
    """A stop asked by an admin reaches the client in both protocol revisions (2025-11-25
    sessions and the stateless 2026-07-28): every successful result carries it, in the text
    and in `_meta`, until the agent finishes the session.

    In the stateless revision `_meta` is checked by its own test below."""
    meta = mode == "legacy"
    agent = reporter(gateway, f"stoppable-{mode}")
    me = Implementation(name=f"nodedc-sdk-{mode}", version="0.0.1")
    async with connect(gateway, agent.name, mode=mode, client_info=me) as (client, _):
        card = await new_card(gateway, client)
        k = card["key"]
        started = await call(client, "start_work_session", {"idempotency_key": key(), "card": k, "intent": "refactor"})
        sid = started.structured_content["id"]
        status, stopping = gateway.admin("POST", f"/api/v1/admin/work-sessions/{sid}/stop", {"reason": "wrong branch"})
        assert status == 200, stopping
        assert stopping["state"] == "stopping"
        assert (stopping["stop"]["requested_by"], stopping["stop"]["reason"]) == ("admin", "wrong branch")

        read = await call(client, "get_card", {"card": k})
        assert_stop_notice(read, sid, k, meta)
        assert read.structured_content["key"] == k
        # Writes still work (the agent's setting is off by default), and carry it too.
        write = await call(client, "add_comment", {"idempotency_key": key(), "card": k, "body": "wrapping up"})
        assert_stop_notice(write, sid, k, meta)
        report = await call(client, "update_work_session", {"idempotency_key": key(), "session": sid, "kind": "thought", "note": "stopping now"})
        assert report.structured_content["state"] == "stopping"
        assert_stop_notice(report, sid, k, meta)
        # A new session cannot escape the stop.
        escape = await tool_error(client, "start_work_session", {"idempotency_key": key(), "card": k, "intent": "again"})
        assert sid in escape and "finish" in escape

        finished = await call(
            client,
            "finish_work_session",
            {"idempotency_key": key(), "session": sid, "outcome": "abandoned", "summary": "Stopped as asked.", "comment": True},
        )
        f = finished.structured_content
        assert (f["state"], f["outcome"]) == ("stopped", "abandoned")
        assert f["stop"]["reason"] == "wrong branch"
        assert f["comment_id"] and f["comment_error"] is None
        assert no_stop_notice(finished)
        after = await call(client, "get_card", {"card": k})
        assert no_stop_notice(after), "the notice ends with the session"

    detail = session_of(gateway, sid)
    assert [a["kind"] for a in detail["activities"]] == ["started", "stop_requested", "thought", "finished"]
    stops = [r for r in get(gateway, "/api/v1/admin/audit?limit=500")["items"] if r["action"] == "admin.work_session.stop"]
    assert [r["target"] for r in stops if r["target"] == sid] == [sid], "the stop request is audited"
    assert all(c["action"] != "admin.work_session.stop" for c in detail["calls"]), "not counted as the agent's work"
    # The client is known in either revision (initialize's clientInfo, or the stateless _meta).
    client = agent_status(gateway, agent)["client"]
    assert (client["name"], client["version"]) == (me.name, me.version)


@pytest.mark.anyio
async def test_the_stop_notice_is_in_meta_in_the_stateless_revision_too(gateway: Gateway) -> None:
    agent = reporter(gateway, "stoppable-meta")
    async with connect(gateway, agent.name, mode="auto") as (client, _):
        assert client.protocol_version == "2026-07-28"
        card = await new_card(gateway, client)
        sid = (await ok(client, "start_work_session", {"idempotency_key": key(), "card": card["key"], "intent": "x"}))["id"]
        status, body = gateway.admin("POST", f"/api/v1/admin/work-sessions/{sid}/stop", {"reason": "meta"})
        assert status == 200, body
        read = await call(client, "get_card", {"card": card["key"]})
    assert_stop_notice(read, sid, card["key"], meta=True)


@pytest.mark.anyio
async def test_with_stop_refuses_writes_a_pending_stop_refuses_tracker_writes_and_the_summary_comment(
    gateway: Gateway,
) -> None:
    agent = reporter(gateway, "strict")
    status, body = gateway.admin("PUT", f"/api/v1/admin/agents/{agent.id}/reporting", {"stop_refuses_writes": True})
    assert status == 200, body
    async with connect(gateway, agent.name) as (client, _):
        card = await new_card(gateway, client)
        k = card["key"]
        sid = (await ok(client, "start_work_session", {"idempotency_key": key(), "card": k, "intent": "tidy up"}))["id"]
        # No stop pending: the setting changes nothing.
        await ok(client, "add_comment", {"idempotency_key": key(), "card": k, "body": "before the stop"})
        status, body = gateway.admin("POST", f"/api/v1/admin/work-sessions/{sid}/stop", {"reason": "not now"})
        assert status == 200 and body["state"] == "stopping", body

        async def refused_write() -> str | None:
            result = await client.call_tool("add_comment", {"idempotency_key": key(), "card": k, "body": "after the stop"})
            return text_of(result) if result.is_error else None

        # The stop is in force on this replica at once; bounded all the same.
        deadline = time.monotonic() + 10
        slipped = 0
        while (refusal := await refused_write()) is None:
            slipped += 1
            assert time.monotonic() < deadline, "writes were never refused while the stop was pending"
        assert refusal.startswith("STOP REQUESTED") and "refuses tracker writes" in refusal
        # Reads are not refused, and carry the notice.
        assert_stop_notice(await call(client, "get_card", {"card": k}), sid, k)

        finished = await ok(
            client,
            "finish_work_session",
            {"idempotency_key": key(), "session": sid, "outcome": "abandoned", "summary": "Left as it was.", "comment": True},
        )
        # The summary comment goes through the ordinary write path, so it is refused too,
        # and the session ends anyway, with the summary kept.
        assert (finished["state"], finished["summary"]) == ("stopped", "Left as it was.")
        assert finished["comment_id"] is None
        assert finished["comment_error"] and "refuses tracker writes" in finished["comment_error"]
        # Finished: no stop pending, writes work again.
        await ok(client, "add_comment", {"idempotency_key": key(), "card": k, "body": "after the session"})
        after = await ok(client, "get_card", {"card": k})

    assert [c["body"] for c in after["comments"]] == ["before the stop"] + ["after the stop"] * slipped + ["after the session"]
    detail = session_of(gateway, sid)
    assert detail["comment_id"] is None
    assert detail["observed"]["denials"] >= 2, "the refused write and the refused summary"
    denied = [r for r in detail["calls"] if r["outcome"] == "denied"]
    assert denied and all(r["action"] == "add_comment" and "refuses tracker writes" in r["reason"] for r in denied)


# --------------------------------------------------------------------------------------
# Silence: stale, and the sweep (a gateway with a 2 s stale interval)
# --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_silent_session_turns_stale_and_any_call_brings_it_back(quick_gateway: Gateway) -> None:
    gw = quick_gateway
    agent = reporter(gw, "sleepy")
    async with connect(gw, agent.name) as (client, _):
        card = await new_card(gw, client)
        sid = (await ok(client, "start_work_session", {"idempotency_key": key(), "card": card["key"], "intent": "think hard"}))["id"]

        # Silent past the interval: stale in the session, the list and the live status.
        stale = eventually("the session turning stale", lambda: session_of(gw, sid), lambda s: s["state"] == "stale")
        assert stale["ended_at"] is None, "stale is a view of an open session, not an end"
        assert listed(gw, f"agent_id={agent.id}&state=stale") == [sid]
        assert listed(gw, f"agent_id={agent.id}&state=open") == [sid]
        status = get(gw, "/api/v1/admin/status")
        assert status["thresholds"]["stale_secs"] == QUICK_STALE_SECS
        [mine] = [a for a in status["agents"] if a["id"] == agent.id]
        assert mine["liveness"] == "stale", mine
        assert (mine["session"]["id"], mine["session"]["state"]) == (sid, "stale")
        assert status["totals"]["stale"] >= 1

        # Any call brings it back: a read (its audit row rides the next batch), in the
        # session and in the live status.
        await ok(client, "get_card", {"card": card["key"]})
        back = eventually(
            "the session coming back after a read",
            lambda: agent_status(gw, agent),
            lambda a: a["liveness"] == "active" and a["session"]["state"] == "in_progress",
        )
        assert back["session"]["id"] == sid and back["session"]["last_call_at"] is not None
        # ...and so does a report, at once.
        eventually("the session turning stale again", lambda: session_of(gw, sid), lambda s: s["state"] == "stale")
        report = await ok(client, "update_work_session", {"idempotency_key": key(), "session": sid, "kind": "action", "note": "awake"})
        assert report["state"] == "in_progress"


@pytest.mark.anyio
async def test_a_stopped_session_that_stays_silent_is_ended_by_the_sweep(quick_gateway: Gateway) -> None:
    gw = quick_gateway
    agent = reporter(gw, "silent")
    async with connect(gw, agent.name) as (client, _):
        card = await new_card(gw, client)
        k = card["key"]
        sid = (await ok(client, "start_work_session", {"idempotency_key": key(), "card": k, "intent": "long job"}))["id"]
        status, body = gw.admin("POST", f"/api/v1/admin/work-sessions/{sid}/stop", {"reason": "owner is away"})
        assert status == 200, body

        ended = eventually("the sweep ending the session", lambda: session_of(gw, sid), lambda s: s["state"] == "stopped")
        assert ended["ended_at"] is not None and ended["outcome"] is None
        assert ended["stop"]["reason"] == "owner is away"
        assert [a["kind"] for a in ended["activities"]] == ["started", "stop_requested", "stopped"]
        assert listed(gw, f"agent_id={agent.id}&state=open") == []

        # Ended: the notice is gone, and reports on it are refused.
        after = await call(client, "get_card", {"card": k})
        assert no_stop_notice(after)
        late = await tool_error(client, "finish_work_session", {"idempotency_key": key(), "session": sid, "outcome": "abandoned", "summary": "late"})
        assert "already ended" in late
