from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.xstate.xstate_node import ensure_xstate, missing_tools


@pytest.fixture(scope="session")
def xstate_root() -> Path:
    """The directory holding the real XState v5 (installed on first use); skips without node and npm,
    but fails when the CI environment variable is set."""
    reason = missing_tools()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {reason}")
        pytest.skip(reason)
    return ensure_xstate()
