"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest
import torch

from snninit_plugins.plugins import get_strategies


@pytest.fixture(autouse=True)
def one_torch_thread():  # noqa: ANN201
    """One intra-op thread per test, restored after it: these small ops run 2-10x slower with two threads on a
    busy 2-core host (thread wake-ups); results were checked identical with 1 and 2."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def general():  # noqa: ANN201
    """One "general" strategy instance per test module (its plan cache is shared: same layers, same plans)."""
    return get_strategies()["general"]()
