"""The errors a service raises; the CLI maps them to exit codes 2 (bad input), 3 (blocked) and 1."""
from __future__ import annotations


class BadInput(ValueError):
    """Input is malformed or names something that does not exist; nothing was written."""


class Blocked(Exception):
    """A workflow guard refused; `reasons` says why, one per failed guard."""

    def __init__(self, reasons: list[str] | tuple[str, ...]):
        self.reasons = list(reasons)
        super().__init__("; ".join(self.reasons))


class StaleCase(Blocked):
    """The case changed since the caller read it (optimistic locking)."""


class PermissionDenied(Exception):
    """The acting user's role or school scope does not allow this."""
