"""Hypothesis strategies for hostile JSON (house style 17): numbers beyond float range and
beyond what the columns hold, nesting past the parse bound, NUL and lone surrogates in
keys and values, overlong strings, wrong types. Shared by both dialects' property tests.

JSON text cannot be built with json.dumps alone (it writes no 1e400 and no 100,000
levels), so such pieces are drawn as ``Raw`` markers and spliced into the encoded text."""

import json
import re

from hypothesis import strategies as st

_MARK = "\u2063raw:"
_SPLICE = re.compile(r'"\\u2063raw:((?:[^"\\]|\\.)*)"')


def raw(text: str) -> str:
    """A value that encode() writes as ``text`` itself, not as a JSON string."""
    return f"{_MARK}{text}"


def encode(body) -> bytes:
    text = json.dumps(body)  # ascii: the marker is written as \u2063
    text = _SPLICE.sub(lambda m: json.loads(f'"{m.group(1)}"'), text)
    return text.encode("utf-8", "surrogatepass")


NON_FINITE = st.sampled_from(["1e400", "-1e400", "1E+999", "-2.5e9999"]).map(raw)
HUGE = st.sampled_from(
    [1e12, 999999999999, 10**12, 10**14, 10**15, 10**30, 1.7e308, "1e14", "1E+13"]
    + ["12345678901234567890123.123456789", 123456789012345678901234567890]
)
TINY = st.sampled_from([0.000000001, "0.000000001", 1e-300, "1e-400", 5e-324, 0.1 + 0.2])
NUMBERS = (
    NON_FINITE
    | HUGE
    | TINY
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.decimals(allow_nan=False, allow_infinity=False, places=12).map(str)
    | st.integers(min_value=1, max_value=1000)
)
DEEP = st.integers(min_value=20, max_value=2000).map(lambda n: raw("[" * n + "]" * n))
UNSAFE_TEXT = st.text(
    alphabet=st.sampled_from(["A", "1", " ", ":", "\x00", "\ud800", "\udfff", "\u00e9", "\\"]),
    max_size=12,
)
LONG_TEXT = st.integers(min_value=41, max_value=3000).map(lambda n: "A" * n)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | NUMBERS | st.text(max_size=20) | UNSAFE_TEXT | LONG_TEXT | DEEP,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=12) | UNSAFE_TEXT, inner, max_size=4)
    ),
    max_leaves=12,
)

# What a storage fault or a crash leaves in a reason; an ordinary trading reason has none.
STORAGE_ERRORS = ("Internal error", "overflow", "DataError", "InvalidOperation", "out of range")


def assert_ends_ordinarily(signal_id) -> None:
    """Process an accepted signal (tasks are eager in unit tests) and check it ends
    COMPLETED, or FAILED only for ordinary trading reasons on its accounts' results."""
    from signals.models import Signal, SignalResult
    from signals.tasks import process_signal

    process_signal.delay(str(signal_id))
    signal = Signal.objects.get(pk=signal_id)
    assert signal.status in (Signal.Status.COMPLETED, Signal.Status.FAILED), signal.status
    reasons = [signal.error] + [
        r.reason for r in SignalResult.objects.filter(signal=signal) if r.status == "failed"
    ]
    for reason in reasons:
        assert not any(word in reason for word in STORAGE_ERRORS), reason
