"""Run small dense linear algebra on one BLAS thread.

The density method multiplies and solves 100-300 wide matrices thousands of times; a multi-threaded
BLAS spends more time waking its threads than computing, and on a loaded machine 10-30 times more
(measured: a stationary density evaluation took 0.95 s with 2 OpenBLAS threads beside another busy
process, 0.10 s with one).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from threadpoolctl import ThreadpoolController

F = TypeVar("F", bound=Callable)
_controller: ThreadpoolController | None = None


def single_blas_thread(func: F) -> F:
    """Decorator: run ``func`` with every loaded BLAS limited to one thread (threadpoolctl)."""

    @functools.wraps(func)
    def wrapper(*args: object, **kwargs: object) -> object:
        global _controller
        if _controller is None:  # created lazily: it only sees the BLAS libraries loaded so far
            _controller = ThreadpoolController()
        with _controller.limit(limits=1, user_api="blas"):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
