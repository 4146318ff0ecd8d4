"""The one error the policy loader raises: every problem found, each with file, line and key path."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a policy file."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.key}: {self.message}"


class PolicyError(Exception):
    """A policy that cannot be used. `problems` lists each one; the message has one line per problem."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems) or "invalid policy")

    @classmethod
    def single(cls, file: str, message: str, *, line: int | None = None, key: str = "(file)") -> PolicyError:
        return cls([Problem(file=file, line=line, key=key, message=message)])
