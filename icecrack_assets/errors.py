"""Errors the user should see as one clear line, never as a traceback."""

from __future__ import annotations

from pathlib import Path


class IceCrackError(Exception):
    """A problem the user can fix; the CLI prints it as one line and exits non-zero."""


class InputError(IceCrackError):
    """A bad input file: the message always names the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class OutputError(IceCrackError):
    """An output that cannot be written (read-only folder, full disk): names the output, not a temp file."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
