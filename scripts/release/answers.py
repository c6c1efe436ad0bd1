"""Reading AWS answers: the fields the tool needs, or one clear error instead of a KeyError's traceback.

Kept apart from `release.errors` so that code which never calls AWS (`bundle`) does not import a path to exit 8.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from release.errors import UnexpectedAnswer


def required(answer: Any, key: str, operation: str) -> Any:
    """`answer[key]` of an AWS response, or `UnexpectedAnswer` (exit 8) naming the operation and the missing field."""
    if isinstance(answer, Mapping) and answer.get(key) is not None:
        return answer[key]
    shown = sorted(answer) if isinstance(answer, Mapping) else type(answer).__name__
    raise UnexpectedAnswer(f"{operation} answered without {key!r} (got {shown}): the tool cannot go on with it")
