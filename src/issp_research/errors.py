"""The one error type for mistakes a person can cause and fix.

Every expected mistake (a bad file, a bad parameter, a missing column, an unknown code) is raised as
an :class:`IsspError` that names where it is, which rule it broke and how to fix it. The command
line and the build print it as one message without a traceback; anything else is a bug.
"""

from __future__ import annotations


class IsspError(Exception):
    """A mistake in the inputs, reported as where / what rule / how to fix."""

    def __init__(
        self,
        message: str,
        *,
        file: object | None = None,
        row: object | None = None,
        column: str | None = None,
        rule: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.message = message
        self.file = None if file is None else str(file)
        self.row = row
        self.column = column
        self.rule = rule
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [part for part in (
            self.file,
            None if self.row is None else f"row {self.row}",
            None if self.column is None else f"column '{self.column}'",
        ) if part]
        text = (", ".join(where) + ": " if where else "") + self.message
        if self.rule:
            text += f" [rule: {self.rule}]"
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text
