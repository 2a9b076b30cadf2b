"""JSON from outside, made safe once, where it is parsed: both ingestion dialects and the
REST API's parser go through ``loads``, so nothing after it meets a value PostgreSQL cannot
store or a structure that exhausts the recursion limit.

The policy (docs/webhooks.md and docs/api.md say it to users):
- Nesting deeper than ``MAX_DEPTH`` is refused before the parser starts: ``json.loads``
  recurses once per level (100,000 nested arrays end in RecursionError, a 500 in DRF's
  parser), and so does everything that walks the value afterwards.
- A string, key or value, holding NUL or an unpaired surrogate (legal as ``\\u0000`` and
  ``\\ud800`` escapes) is refused, not stripped: PostgreSQL's text and jsonb cannot hold
  either, no alert platform sends them, and silently changing a ticker or a client id
  would be worse than saying no. The raw body still goes to the log, with replacement
  characters (signals.services.clean_text).
- ``NaN`` and ``Infinity`` are not JSON and stay a parse error.
- A number literal too large for a float (``1e400``, ``-1E+999``) does not become
  ``inf``: it parses to a ``NonFinite`` holding its text, which every numeric field
  rejects as its own error (invalid-quantity, ...) and ``non_finite_path`` finds in
  free-form JSON (``extras``) so that it is refused there too.
"""

import json
import math
import re
from typing import Any

MAX_DEPTH = 32

# A JSON string token (escapes included), or one bracket. Brackets inside strings do not
# nest, so strings are skipped whole.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_UNSAFE_TEXT = re.compile("[\x00\ud800-\udfff]")


class JsonRejected(ValueError):
    """Valid JSON that is refused by the policy above. ``path`` names where (``extras.a``,
    ``legs[0]``; empty for the document itself)."""

    def __init__(self, message: str, *, path: str = ""):
        super().__init__(message)
        self.message = message
        self.path = path


class TooDeep(JsonRejected):
    pass


class UnsafeText(JsonRejected):
    pass


class NonFinite:
    """A number literal beyond float range, kept as the text it was sent as."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return f"NonFinite({self.text!r})"

    def __str__(self) -> str:
        return self.text

    def __eq__(self, other) -> bool:
        return isinstance(other, NonFinite) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def _parse_float(text: str) -> float | NonFinite:
    value = float(text)
    return value if math.isfinite(value) else NonFinite(text)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def loads(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``text`` under the policy above. Raises TooDeep or UnsafeText (both
    JsonRejected), or ValueError (json.JSONDecodeError) for text that is not JSON."""
    check_depth(text, max_depth=max_depth)
    value = json.loads(text, parse_constant=_reject_constant, parse_float=_parse_float)
    # NUL and surrogates can only arrive as \u escapes (a raw control character or an
    # encoded surrogate is already a decode error), so most bodies skip the walk.
    if "\\u" in text:
        check_text(value)
    return value


def check_depth(text: str, *, max_depth: int = MAX_DEPTH) -> None:
    """Raise TooDeep if ``text`` nests arrays/objects deeper than ``max_depth``."""
    if text.count("[") + text.count("{") <= max_depth:
        return  # cannot nest deeper than it has openings: the common case costs two counts
    depth = 0
    for match in _TOKENS.finditer(text):
        lexeme = match.group()
        if lexeme in ("[", "{"):
            depth += 1
            if depth > max_depth:
                raise TooDeep(f"The JSON nests deeper than {max_depth} levels.")
        elif lexeme in ("]", "}"):
            depth -= 1


def _walk(value: Any, path: str = ""):
    """(path, value) of every node, keys reported as values at their own path.
    Iterative, and bounded anyway by the depth check."""
    stack = [(path, value)]
    while stack:
        here, node = stack.pop()
        yield here, node
        if isinstance(node, dict):
            for key, child in node.items():
                name = _UNSAFE_TEXT.sub("\ufffd", key)  # a path can be shown and logged
                where = f"{here}.{name}" if here else name
                yield where, key
                stack.append((where, child))
        elif isinstance(node, list):
            stack.extend((f"{here}[{i}]", child) for i, child in enumerate(node))


def check_text(value: Any, *, path: str = "") -> None:
    """Raise UnsafeText naming where, if a string anywhere in ``value`` (keys too) holds
    NUL or an unpaired surrogate. ``loads`` applies it to JSON; text that arrives another
    way (a query string, an Idempotency-Key header) is held to the same rule with it."""
    for here, node in _walk(value, path):
        if isinstance(node, str) and _UNSAFE_TEXT.search(node):
            raise UnsafeText(
                "Text may not contain NUL characters or unpaired surrogates.", path=here
            )


def non_finite_path(value: Any, path: str = "") -> str | None:
    """The path of the first number beyond float range in ``value`` (a NonFinite from
    ``loads``, or a float inf/nan from elsewhere), or None if there is none."""
    if not _has_non_finite(value):
        return None  # the common case, without building a path for every node
    for here, node in _walk(value, path):
        if isinstance(node, NonFinite) or (isinstance(node, float) and not math.isfinite(node)):
            return here
    return None


def _has_non_finite(value: Any) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, NonFinite) or (isinstance(node, float) and not math.isfinite(node)):
            return True
    return False


def storable(value: Any) -> Any:
    """``value`` with every number beyond float range replaced by the text it was sent as,
    so a log row can keep what a rejected request carried."""
    if isinstance(value, NonFinite):
        return value.text
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value
