"""The gateway seen through the official Python MCP SDK (PyPI `mcp` 2.3.0).

Every MCP call below goes through the SDK's `Client` over `streamable_http_client`, with
the agent's token on an `httpx2.AsyncClient`. The SDK validates every successful tool
result against the tool's `outputSchema` and raises on a mismatch, so a tool call that
returns at all has produced schema-valid `structuredContent`.

The session fixture `gateway` (conftest.py) starts `$AGW_BIN serve --demo` on a free
loopback port and a fresh store, then uses the admin REST API to create an owner and the
agents the tests act as (see harness.py): ``full``, ``reader``, ``limited`` and ``ops``.

Run through ``run.sh``; see its header for the environment.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
import uuid
import warnings
from typing import Any

import jsonschema
import pytest
from mcp.shared.exceptions import MCPError

from harness import (
    READ_TOOLS,
    STATES,
    WRITE_TOOLS,
    Gateway,
    connect,
    key,
    new_card,
    ok,
    text_of,
    tool_error,
    wait_for_audit,
)

# --------------------------------------------------------------------------------------
# Handshake and discovery
# --------------------------------------------------------------------------------------


def test_gateway_runs_on_the_requested_store_engine(gateway: Gateway) -> None:
    with urllib.request.urlopen(gateway.base + "/readyz", timeout=10) as resp:
        ready = json.load(resp)
    wanted = "postgres" if os.environ.get("AGW_DATABASE_URL", "").startswith("postgres") else "sqlite"
    assert ready["status"] == "ready" and ready["engine"] == wanted, ready


@pytest.mark.anyio
async def test_initialize_negotiates_2025_11_25_and_returns_a_session(gateway: Gateway) -> None:
    async with connect(gateway, "full") as (client, exchanges):
        assert client.protocol_version == "2025-11-25"
        assert client.server_info is not None and client.server_info.name == "nodedc-agent-gateway"
        assert client.server_capabilities.tools is not None
        assert client.server_capabilities.resources is None and client.server_capabilities.prompts is None
        assert client.instructions and "idempotency_key" in client.instructions
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            await client.send_ping()
        await client.list_tools()

    init = [e for e in exchanges if e.rpc_method == "initialize"]
    assert len(init) == 1 and init[0].status == 200
    session_id = init[0].response_headers.get("mcp-session-id")
    assert session_id, "initialize must return Mcp-Session-Id"
    assert all(0x21 <= ord(ch) <= 0x7E for ch in session_id), "session id must be visible ASCII"
    later = [e for e in exchanges if e.rpc_method != "initialize"]
    assert later and all(e.request_headers.get("mcp-session-id") == session_id for e in later)
    assert all(e.status < 400 for e in later), [(e.method, e.rpc_method, e.status) for e in later]
    initialized = [e for e in exchanges if e.rpc_method == "notifications/initialized"]
    assert [e.status for e in initialized] == [202]
    # The client ends the session with DELETE on exit.
    assert [e.status for e in exchanges if e.method == "DELETE"] == [204]


@pytest.mark.anyio
async def test_auto_mode_speaks_the_stateless_2026_revision(gateway: Gateway) -> None:
    """The SDK's default mode probes 2026-07-28 first; the gateway serves it statelessly."""
    async with connect(gateway, "full", mode="auto") as (client, exchanges):
        assert client.protocol_version == "2026-07-28"
        projects = await ok(client, "list_projects", {})
        assert [p["identifier"] for p in projects["projects"]] == [gateway.web["identifier"]]
        k = key()
        args = {"idempotency_key": k, "project_id": gateway.web["id"], "name": f"stateless {k}"}
        first = await ok(client, "create_card", args)
        again = await ok(client, "create_card", args)
        assert first["id"] == again["id"], "idempotent replay works without sessions too"
        message = await tool_error(client, "create_card", {"idempotency_key": key(), "project_id": gateway.ops["id"], "name": "x"})
        assert gateway.web["id"] in message

    probe = exchanges[0]
    assert probe.rpc_method == "server/discover" and probe.status == 200
    assert probe.request_headers.get("mcp-protocol-version") == "2026-07-28"
    assert all(e.rpc_method != "initialize" for e in exchanges), "no handshake in this revision"
    assert all("mcp-session-id" not in e.response_headers for e in exchanges), "no sessions in this revision"
    calls = [e for e in exchanges if e.rpc_method == "tools/call"]
    assert calls and all(e.request_headers.get("mcp-name") for e in calls)


@pytest.mark.anyio
async def test_a_reader_is_refused_writes_in_the_stateless_revision_too(gateway: Gateway) -> None:
    async with connect(gateway, "reader", mode="auto") as (client, exchanges):
        assert client.protocol_version == "2026-07-28"
        listing = await client.list_tools()
        assert {t.name for t in listing.tools} == READ_TOOLS
        with pytest.raises(Exception):
            await client.call_tool("create_card", {"idempotency_key": key(), "project_id": gateway.web["id"], "name": "x"})
    refused = [e for e in exchanges if e.rpc_method == "tools/call"]
    assert refused and refused[-1].status == 403
    assert 'error="insufficient_scope"' in refused[-1].response_headers.get("www-authenticate", "")


@pytest.mark.anyio
async def test_full_agent_lists_exactly_the_eleven_tools_with_schemas_and_annotations(gateway: Gateway) -> None:
    async with connect(gateway, "full") as (client, exchanges):
        listing = await client.list_tools()

    tools = {t.name: t for t in listing.tools}
    assert len(listing.tools) == 11
    assert set(tools) == READ_TOOLS | WRITE_TOOLS
    assert listing.next_cursor is None
    for name, tool in tools.items():
        assert re.fullmatch(r"[a-z_]{1,64}", name)
        assert tool.title and tool.description
        assert tool.input_schema["type"] == "object"
        assert tool.output_schema is not None and tool.output_schema["type"] == "object"
        jsonschema.Draft202012Validator.check_schema(tool.input_schema)
        jsonschema.Draft202012Validator.check_schema(tool.output_schema)
        ann = tool.annotations
        assert ann is not None
        assert ann.destructive_hint is False, name
        assert ann.read_only_hint is (name in READ_TOOLS), name
        if name in WRITE_TOOLS:
            assert "idempotency_key" in tool.input_schema["required"], name

    serialized = listing.model_dump_json(by_alias=True, exclude_none=True)
    assert len(serialized.encode()) < 16 * 1024, f"tools/list is {len(serialized)} bytes"
    wire = [e for e in exchanges if e.rpc_method == "tools/list"]
    assert wire and wire[0].status == 200
    if "content-length" in wire[0].response_headers:
        assert int(wire[0].response_headers["content-length"]) < 16 * 1024


@pytest.mark.anyio
async def test_reader_agent_lists_only_the_four_read_tools(gateway: Gateway) -> None:
    async with connect(gateway, "reader") as (client, _):
        listing = await client.list_tools()
    assert {t.name for t in listing.tools} == READ_TOOLS
    assert all(t.annotations and t.annotations.read_only_hint for t in listing.tools)


@pytest.mark.anyio
async def test_list_projects_shows_only_the_granted_project(gateway: Gateway) -> None:
    async with connect(gateway, "full") as (client, _):
        projects = (await ok(client, "list_projects", {}))["projects"]
    assert [(p["id"], p["identifier"]) for p in projects] == [(gateway.web["id"], gateway.web["identifier"])]
    assert gateway.ops["id"] not in json.dumps(projects)


@pytest.mark.anyio
async def test_get_project_context_returns_states_labels_and_members(gateway: Gateway) -> None:
    async with connect(gateway, "full") as (client, _):
        ctx = await ok(client, "get_project_context", {"project_id": gateway.web["id"]})
    assert ctx["project"]["id"] == gateway.web["id"]
    assert [s["name"] for s in ctx["states"]] == STATES
    assert [s["name"] for s in ctx["states"] if s["is_default"]] == ["Todo"]
    assert {label["name"] for label in ctx["labels"]} == {"bug", "feature", "docs"}
    assert "Demo Owner" in [m["display_name"] for m in ctx["members"]]


# --------------------------------------------------------------------------------------
# Every tool
# --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_create_card_returns_a_schema_valid_card_in_the_default_state(gateway: Gateway) -> None:
    async with connect(gateway, "full") as (client, _):
        card = await new_card(gateway, client, description="Made by the **Python SDK**", priority="high", labels=["feature"])
    assert card["key"].startswith(gateway.web["identifier"] + "-")
    assert card["project_id"] == gateway.web["id"]
    assert card["state"] == "Todo"
    assert card["priority"] == "high"
    assert card["labels"] == ["feature"]
    assert card["description"] == "Made by the **Python SDK**"


@pytest.mark.anyio
async def test_get_card_returns_the_card_with_its_history(gateway: Gateway) -> None:
    async with connect(gateway, "full") as (client, _):
        created = await new_card(gateway, client)
        by_key = await ok(client, "get_card", {"card": created["key"]})
    assert by_key["id"] == created["id"]
    assert by_key["name"] == created["name"]
    assert by_key["history"] and by_key["history"][0]["field"] == "created"
    assert "full" in by_key["history"][0]["actor"]


@pytest.mark.anyio
async def test_update_card_changes_fields(gateway: Gateway) -> None:
    async with connect(gateway, "full") as (client, _):
        card = await new_card(gateway, client)
        updated = await ok(
            client,
            "update_card",
            {"card": card["key"], "name": "Renamed by the SDK", "priority": "low", "target_date": "2031-01-31", "idempotency_key": key()},
        )
        again = await ok(client, "get_card", {"card": card["key"]})
    assert updated["name"] == again["name"] == "Renamed by the SDK"
    assert updated["priority"] == "low"
    assert again["target_date"] == "2031-01-31"


@pytest.mark.anyio
async def test_move_card_changes_the_state_by_name(gateway: Gateway) -> None:
    async with connect(gateway, "full") as (client, _):
        card = await new_card(gateway, client)
        moved = await ok(client, "move_card", {"card": card["key"], "state": "In Progress", "idempotency_key": key()})
        done = await ok(client, "move_card", {"card": card["key"], "state": "Done", "idempotency_key": key()})
    assert moved["state"] == "In Progress"
    assert done["state"] == "Done"


@pytest.mark.anyio
async def test_add_comment_records_who_commented(gateway: Gateway) -> None:
    async with connect(gateway, "full") as (client, _):
        card = await new_card(gateway, client)
        comment = await ok(client, "add_comment", {"card": card["key"], "body": "Looks good *to me*", "idempotency_key": key()})
        again = await ok(client, "get_card", {"card": card["key"]})
    assert comment["body"] == "Looks good *to me*"
    assert "full" in comment["actor"] and "SDK Test Owner" in comment["actor"]
    assert [c["id"] for c in again["comments"]] == [comment["id"]]


@pytest.mark.anyio
async def test_set_labels_replaces_the_labels(gateway: Gateway) -> None:
    async with connect(gateway, "full") as (client, _):
        card = await new_card(gateway, client, labels=["feature"])
        labelled = await ok(client, "set_labels", {"card": card["key"], "labels": ["bug", "docs"], "idempotency_key": key()})
        cleared = await ok(client, "set_labels", {"card": card["key"], "labels": [], "idempotency_key": key()})
        unknown = await tool_error(client, "set_labels", {"card": card["key"], "labels": ["nope"], "idempotency_key": key()})
    assert sorted(labelled["labels"]) == ["bug", "docs"]
    assert cleared["labels"] == []
    assert "bug" in unknown and "feature" in unknown


@pytest.mark.anyio
async def test_assign_card_assigns_a_project_member_by_name(gateway: Gateway) -> None:
    async with connect(gateway, "full") as (client, _):
        card = await new_card(gateway, client)
        assigned = await ok(client, "assign_card", {"card": card["key"], "assignees": ["Demo Owner"], "idempotency_key": key()})
        found = await ok(client, "search_cards", {"assignee": "Demo Owner", "text": card["name"]})
    assert [a["display_name"] for a in assigned["assignees"]] == ["Demo Owner"]
    assert [c["key"] for c in found["cards"]] == [card["key"]]


@pytest.mark.anyio
async def test_update_structured_block_sets_a_named_block(gateway: Gateway) -> None:
    async with connect(gateway, "full") as (client, _):
        card = await new_card(gateway, client)
        first = await ok(
            client,
            "update_structured_block",
            {"card": card["key"], "block": "plan", "content": "1. write\n2. test", "idempotency_key": key()},
        )
        second = await ok(
            client,
            "update_structured_block",
            {"card": card["key"], "block": "plan", "content": "1. ship", "idempotency_key": key()},
        )
    assert {"name": "plan", "content": "1. write\n2. test"} in first["blocks"]
    assert [b for b in second["blocks"] if b["name"] == "plan"] == [{"name": "plan", "content": "1. ship"}]


@pytest.mark.anyio
async def test_search_cards_paginates_with_next_cursor(gateway: Gateway) -> None:
    token = "pagetoken" + uuid.uuid4().hex[:10]
    async with connect(gateway, "full") as (client, _):
        made = [(await new_card(gateway, client, name=f"{token} #{i}"))["key"] for i in range(5)]
        first = await ok(client, "search_cards", {"text": token, "limit": 2})
        second = await ok(client, "search_cards", {"text": token, "limit": 2, "cursor": first["next_cursor"]})
        third = await ok(client, "search_cards", {"text": token, "limit": 2, "cursor": second["next_cursor"]})
        in_project = await ok(client, "search_cards", {"text": token, "project_id": gateway.web["id"], "state": "Todo"})
    pages = [first, second, third]
    assert [len(p["cards"]) for p in pages] == [2, 2, 1]
    assert "next_cursor" in first and "next_cursor" in second and "next_cursor" not in third
    seen = [c["key"] for p in pages for c in p["cards"]]
    assert seen == list(reversed(made)), "newest first, no card twice"
    assert sorted(c["key"] for c in in_project["cards"]) == sorted(made)


# --------------------------------------------------------------------------------------
# Idempotency and input errors
# --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_same_idempotency_key_and_arguments_replay_the_first_card(gateway: Gateway) -> None:
    name = "replaytoken" + uuid.uuid4().hex[:10]
    args = {"project_id": gateway.web["id"], "name": name, "idempotency_key": key()}
    async with connect(gateway, "full") as (client, _):
        first = await ok(client, "create_card", args)
        second = await ok(client, "create_card", dict(args))
        found = await ok(client, "search_cards", {"text": name})
    assert second["id"] == first["id"] and second["key"] == first["key"]
    assert [c["id"] for c in found["cards"]] == [first["id"]], "only one card was made"


@pytest.mark.anyio
async def test_same_idempotency_key_with_different_arguments_is_refused(gateway: Gateway) -> None:
    k = key()
    async with connect(gateway, "full") as (client, _):
        await ok(client, "create_card", {"project_id": gateway.web["id"], "name": "first use of a key", "idempotency_key": k})
        message = await tool_error(
            client, "create_card", {"project_id": gateway.web["id"], "name": "something else", "idempotency_key": k}
        )
    assert "already used" in message and "new key" in message


@pytest.mark.anyio
async def test_write_without_idempotency_key_is_refused(gateway: Gateway) -> None:
    async with connect(gateway, "full") as (client, _):
        message = await tool_error(client, "create_card", {"project_id": gateway.web["id"], "name": "no key"})
    assert "idempotency_key" in message


@pytest.mark.anyio
async def test_unknown_state_is_refused_with_the_valid_state_names(gateway: Gateway) -> None:
    async with connect(gateway, "full") as (client, _):
        card = await new_card(gateway, client)
        on_move = await tool_error(client, "move_card", {"card": card["key"], "state": "Shipped", "idempotency_key": key()})
        on_create = await tool_error(
            client, "create_card", {"project_id": gateway.web["id"], "name": "bad state", "state": "Shipped", "idempotency_key": key()}
        )
    for message in (on_move, on_create):
        assert "Shipped" in message
        assert all(state in message for state in STATES), message


@pytest.mark.anyio
async def test_invalid_arguments_are_a_tool_error_naming_the_problem(gateway: Gateway) -> None:
    async with connect(gateway, "full") as (client, _):
        message = await tool_error(client, "get_card", {"card": "WEB-1", "colour": "red"})
    assert "colour" in message


# --------------------------------------------------------------------------------------
# Grants, scopes, forbidden operations, rate limits
# --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_ungranted_project_is_refused_for_context_and_create(gateway: Gateway) -> None:
    async with connect(gateway, "full") as (client, _):
        on_context = await tool_error(client, "get_project_context", {"project_id": gateway.ops["id"]})
        on_create = await tool_error(
            client, "create_card", {"project_id": gateway.ops["id"], "name": "sneaky", "idempotency_key": key()}
        )
        on_search = await tool_error(client, "search_cards", {"project_id": gateway.ops["id"]})
    for message in (on_context, on_create, on_search):
        assert "not granted" in message
        assert gateway.web["identifier"] in message, "the refusal names the projects that are granted"


@pytest.mark.anyio
async def test_cards_of_ungranted_projects_never_appear_in_search(gateway: Gateway) -> None:
    token = "opstoken" + uuid.uuid4().hex[:10]
    async with connect(gateway, "ops") as (client, _):
        ops_card = await ok(client, "create_card", {"project_id": gateway.ops["id"], "name": token, "idempotency_key": key()})
        assert [c["id"] for c in (await ok(client, "search_cards", {"text": token}))["cards"]] == [ops_card["id"]]
    async with connect(gateway, "full") as (client, _):
        web_card = await new_card(gateway, client, name=token + " web")
        by_text = await ok(client, "search_cards", {"text": token})
        everything: list[dict[str, Any]] = []
        page: dict[str, Any] = {"limit": 100}
        while True:
            found = await ok(client, "search_cards", page)
            everything += found["cards"]
            if "next_cursor" not in found:
                break
            page = {"limit": 100, "cursor": found["next_cursor"]}
        refused = await tool_error(client, "get_card", {"card": ops_card["key"]})
    assert [c["id"] for c in by_text["cards"]] == [web_card["id"]]
    assert everything and all(c["project_id"] == gateway.web["id"] for c in everything)
    assert ops_card["id"] not in {c["id"] for c in everything}
    assert "outside the projects" in refused and gateway.web["identifier"] in refused
    assert token not in refused, "a refusal does not leak the card"


@pytest.mark.anyio
async def test_reader_calling_create_card_gets_http_403_insufficient_scope(gateway: Gateway) -> None:
    async with connect(gateway, "reader") as (client, exchanges):
        with pytest.raises(MCPError) as raised:
            await client.call_tool(
                "create_card", {"project_id": gateway.web["id"], "name": "reader write", "idempotency_key": key()}
            )
        # The session survives a refused call.
        assert (await ok(client, "list_projects", {}))["projects"]
    assert "cards:write" in raised.value.message
    assert raised.value.data == {"scope": "cards:write"}
    refused = [e for e in exchanges if e.rpc_method == "tools/call" and e.status == 403]
    assert len(refused) == 1
    challenge = refused[0].response_headers.get("www-authenticate", "")
    assert challenge.startswith("Bearer ") and 'error="insufficient_scope"' in challenge
    assert 'scope="cards:write"' in challenge


@pytest.mark.anyio
async def test_delete_card_does_not_exist_and_says_deleting_is_never_possible(gateway: Gateway) -> None:
    async with connect(gateway, "full") as (client, _):
        message = await tool_error(client, "delete_card", {"card": "WEB-1"})
        archive = await tool_error(client, "archive_card", {"card": "WEB-1"})
    assert "never possible" in message and "delet" in message
    assert "never possible" in archive


@pytest.mark.anyio
async def test_unknown_tool_is_a_json_rpc_invalid_params_error(gateway: Gateway) -> None:
    async with connect(gateway, "full") as (client, _):
        with pytest.raises(MCPError) as raised:
            await client.call_tool("frobnicate", {})
    assert raised.value.code == -32602
    assert "frobnicate" in raised.value.message and "list_projects" in raised.value.message


@pytest.mark.anyio
async def test_limited_agent_is_rate_limited_once_its_burst_is_spent(gateway: Gateway) -> None:
    # Every message the agent sends counts against its burst of 8 (initialize, the
    # stream, tools/list, notifications): whatever the SDK sends on its own, the burst
    # runs out within eight tool calls, and each call before that succeeded.
    allowed = 0
    async with connect(gateway, "limited") as (client, _):
        for _ in range(8):
            result = await client.call_tool("list_projects", {})
            if result.is_error:
                message = text_of(result)
                break
            allowed += 1
        else:
            pytest.fail("eight quick calls never met the rate limit of a burst of 8")
        write = await tool_error(client, "create_card", {"project_id": gateway.web["id"], "name": "x", "idempotency_key": key()})
    assert 1 <= allowed < 8
    assert "Rate limit" in message and "Retry" in message
    assert re.search(r"Retry after \d+ s", message)
    assert "same idempotency_key" in write
    rows = wait_for_audit(gateway, "limited", [("list_projects", "allowed"), ("list_projects", "denied")])
    outcomes = [r["outcome"] for r in rows if r["action"] == "list_projects"]
    assert outcomes.count("allowed") == allowed and outcomes.count("denied") == 1
    assert all("Rate limit" in r["reason"] for r in rows if r["outcome"] == "denied")


# --------------------------------------------------------------------------------------
# Audit and revocation
# --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_audit_log_has_rows_for_allowed_and_denied_calls(gateway: Gateway) -> None:
    k = key()
    async with connect(gateway, "full") as (client, _):
        card = await ok(client, "create_card", {"project_id": gateway.web["id"], "name": "audited", "idempotency_key": k})
        await tool_error(client, "delete_card", {"card": card["key"]})
        await tool_error(client, "create_card", {"project_id": gateway.ops["id"], "name": "audited", "idempotency_key": key()})
        await ok(client, "get_card", {"card": card["key"]})
    async with connect(gateway, "reader") as (client, _):
        await ok(client, "list_projects", {})
        with pytest.raises(MCPError):
            await client.call_tool("create_card", {"project_id": gateway.web["id"], "name": "no", "idempotency_key": key()})

    full = wait_for_audit(
        gateway,
        "full",
        [("create_card", "allowed"), ("delete_card", "denied"), ("create_card", "denied"), ("get_card", "allowed")],
    )
    created = [r for r in full if r["action"] == "create_card" and r["idempotency_key"] == k]
    # The intent, durable before the tracker was called, then the outcome, same request.
    assert sorted(r["outcome"] for r in created) == ["allowed", "intent"], full
    assert created[0]["request_id"] == created[1]["request_id"]
    created = [r for r in created if r["outcome"] == "allowed"]
    assert created[0]["outcome"] == "allowed"
    assert created[0]["project_id"] == gateway.web["id"]
    assert created[0]["owner_id"] == gateway.owner_id
    deleted = [r for r in full if r["action"] == "delete_card"]
    assert deleted and all(r["outcome"] == "denied" and "never possible" in r["reason"] for r in deleted)
    ungranted = [r for r in full if r["action"] == "create_card" and r["project_id"] == gateway.ops["id"]]
    assert ungranted and all(r["outcome"] == "denied" for r in ungranted)
    assert any(r["action"] == "get_card" and r["outcome"] == "allowed" and r["target"] == card["key"] for r in full)

    reader = wait_for_audit(gateway, "reader", [("list_projects", "allowed"), ("create_card", "denied")])
    assert ("list_projects", "allowed") in {(r["action"], r["outcome"]) for r in reader}
    scope_denials = [r for r in reader if r["action"] == "create_card"]
    assert scope_denials and all(r["outcome"] == "denied" and "cards:write" in r["reason"] for r in scope_denials)



@pytest.mark.anyio
async def test_revoking_the_full_agent_makes_its_next_call_fail_with_401(gateway: Gateway) -> None:
    """Kept last in this file (pytest runs in file order): the other tests act as "full"."""
    async with connect(gateway, "full") as (client, exchanges):
        assert (await ok(client, "list_projects", {}))["projects"]
        status, body = gateway.admin("POST", f"/api/v1/admin/agents/{gateway.agents['full'].id}/revoke", {"reason": "SDK test"})
        assert status == 200 and body["status"] == "revoked", body
        with pytest.raises(MCPError) as raised:
            await client.call_tool("list_projects", {})
        refused = [e for e in exchanges if e.rpc_method == "tools/call" and e.status == 401]
        assert len(refused) == 1
        assert 'error="invalid_token"' in refused[0].response_headers.get("www-authenticate", "")
    assert "revoked" in raised.value.message

    # A new connection is refused at initialize.
    with pytest.raises(Exception):
        async with connect(gateway, "full"):
            pass
