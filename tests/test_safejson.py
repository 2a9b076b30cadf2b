import json

import pytest

from config import safejson
from config.safejson import NonFinite, TooDeep, UnsafeText


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('{"ticker": "A\\u0000"}', "ticker"),
        ('{"extras": {"note": "\\ud800"}}', "extras.note"),
        ('{"legs": [1, "\\udfff"]}', "legs[1]"),
        ('{"k\\u0000": 1}', "k\ufffd"),
    ],
)
def test_nul_and_lone_surrogates_are_refused_with_their_path(text, path):
    with pytest.raises(UnsafeText) as caught:
        safejson.loads(text)
    assert caught.value.path == path


def test_surrogate_pairs_and_ordinary_escapes_pass():
    assert safejson.loads('{"t": "\\ud83d\\ude00 \\u00e9"}') == {"t": "\U0001f600 \u00e9"}


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_nesting_beyond_the_bound_is_refused_before_parsing(depth):
    with pytest.raises(TooDeep):
        safejson.loads("[" * depth + "]" * depth)


def test_nesting_at_the_bound_parses_and_brackets_in_strings_do_not_count():
    deep = "[" * 32 + "]" * 32
    assert json.loads(deep) == safejson.loads(deep)
    text = json.dumps({"s": "[" * 500, "t": '{\\"' * 100})
    assert safejson.loads(text) == json.loads(text)


@pytest.mark.parametrize("literal", ["1e400", "-1e400", "1E+999", "-2.5e9999"])
def test_numbers_beyond_float_range_keep_their_text(literal):
    value = safejson.loads(f'{{"quantity": {literal}, "extras": {{"a": [{literal}]}}}}')
    assert value["quantity"] == NonFinite(literal)
    assert safejson.non_finite_path(value["extras"], "extras") == "extras.a[0]"
    assert safejson.storable(value) == {"quantity": literal, "extras": {"a": [literal]}}
    json.dumps(safejson.storable(value), allow_nan=False)  # storable in PostgreSQL's JSON


@pytest.mark.parametrize("text", ["NaN", '{"a": Infinity}', '{"a": -Infinity}', "{", ""])
def test_what_is_not_json_stays_a_parse_error(text):
    with pytest.raises(ValueError) as caught:
        safejson.loads(text)
    assert not isinstance(caught.value, safejson.JsonRejected)


def test_finite_values_are_untouched():
    text = '{"q": 1.5, "n": -3, "big": 123456789012345678901234567890, "s": "x"}'
    value = safejson.loads(text)
    assert value == json.loads(text)
    assert safejson.non_finite_path(value) is None


@pytest.mark.parametrize(
    "value, path",
    [({"symbol": ["AA\x00PL"]}, "symbol"), ({"a\x00": "x"}, "a\ufffd"), (["ok", "\ud800"], "[1]")],
)
def test_check_text_refuses_text_that_did_not_come_as_json(value, path):
    with pytest.raises(safejson.UnsafeText) as refused:
        safejson.check_text(value)
    assert refused.value.path.startswith(path)


def test_check_text_passes_ordinary_text():
    safejson.check_text({"symbol": ["AAPL", "\U0001f4c8 \u00e9"]})
