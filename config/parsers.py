"""The REST API's one request parser: JSON through ``config.safejson``, the parse-time
policy every outside JSON document goes through (docs/api.md, "Input").

The REST API takes JSON only. DRF's default form and multipart parsers are not enabled: no
client of ours sends forms (the admin and the dashboard are Django views with their own
forms), and each extra parser would be a second way in for text that this one refuses.
"""

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from config import safejson


class SafeJSONParser(parsers.JSONParser):
    """DRF's JSONParser with the safejson policy. Nesting beyond safejson.MAX_DEPTH, NUL or
    an unpaired surrogate anywhere, NaN/Infinity and bodies over
    DATA_UPLOAD_MAX_MEMORY_SIZE are a 400 ``{"detail": ...}``; a number beyond float range
    reaches its field as a safejson.NonFinite and fails there, under the field's name."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        text = _decoded(_read_bounded(stream), encoding)
        try:
            return safejson.loads(text)
        except safejson.UnsafeText as exc:
            where = f" (at {exc.path})" if exc.path else ""
            raise ParseError(f"JSON parse error - {exc.message}{where}")
        except safejson.JsonRejected as exc:
            raise ParseError(f"JSON parse error - {exc.message}")
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}")


def _read_bounded(stream) -> bytes:
    # DRF reads the stream itself, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE (which guards
    # request.body and form parsing) would not apply to JSON bodies without this.
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if stream is None:
        return b""
    raw = stream.read() if limit is None else stream.read(limit + 1)
    if limit is not None and len(raw) > limit:
        raise ParseError(f"The request body is larger than {limit} bytes.")
    return raw


def _decoded(raw: bytes, encoding: str) -> str:
    try:
        return raw.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        raise ParseError(f"JSON parse error - the body is not valid {encoding}.")
