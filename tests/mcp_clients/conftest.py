"""Fixtures of the Python MCP client harness (run through ``run.sh``; see its header).

The helpers the tests call are in ``harness.py``.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from harness import Gateway, run_gateway

# Async tests run on the anyio pytest plugin (shipped with anyio), on asyncio.


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def gateway(request: pytest.FixtureRequest) -> Iterator[Gateway]:
    """The gateway most tests share, with every setting at its default but the rate
    limit (600 a minute, so that only the ``limited`` agent ever meets it)."""
    with run_gateway(lambda: bool(request.session.testsfailed)) as gw:
        yield gw
