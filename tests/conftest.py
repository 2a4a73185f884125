"""Suite-wide hygiene shared by every test under tests/."""

import asyncio

import pytest


@pytest.fixture(autouse=True)
def _no_leaked_running_event_loop():
    """After a (synchronous) test no event loop can be running in the main thread; one that a
    library left marked as running (a stopped run_sync, a Dask client) would make later tests
    fail (Playwright's sync API, nbval's kernel shutdown), so it is cleared."""
    yield
    if asyncio._get_running_loop() is not None:
        asyncio._set_running_loop(None)
