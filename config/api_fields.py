"""The REST API's field types: each takes exactly the JSON type the OpenAPI schema names
(DRF's own fields also read "10" as 10 and 0 as false, which the schema does not allow),
and states in the schema what it enforces. CamelModelSerializer (accounts/serializers.py)
builds model fields with them; the drf-spectacular extensions below register on import.

The extensions call ``AutoSchema._map_serializer_field(..., bypass_extensions=True)`` for
the field's own schema before adding to it: a private method (pinned drf-spectacular
0.30.0) that its documentation shows for exactly this. If an upgrade changes it,
tests/api/test_openapi_schema.py::test_schema_states_what_the_server_enforces fails."""

from decimal import Context, Decimal, InvalidOperation

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import exceptions, serializers, status

from config.safejson import NonFinite


class StrictCharField(serializers.CharField):
    """Text only: DRF's CharField also takes numbers (``{"name": 0}`` becomes "0"), which
    the schema, saying ``string``, does not allow."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


# Text with something other than whitespace in it: DRF strips what Python's str.strip does
# (ECMA's \s, which schema validators use, plus \x1c-\x1f and \x85), and refuses the rest
# as blank.
NOT_BLANK = r"[^\s\x1c-\x1f\x85]"


class StrictCharFieldSchema(OpenApiSerializerFieldExtension):
    target_class = StrictCharField

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        writable = direction == "request" and not self.target.read_only
        if writable and not self.target.allow_blank and self.target.trim_whitespace:
            schema["pattern"] = NOT_BLANK
        return schema


class StrictBooleanField(serializers.BooleanField):
    """true or false only: DRF's BooleanField also reads 0, 1, "yes", "on"..."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only: DRF's IntegerField also reads true, 10.0 and "10"."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


# A double carries about 16 significant digits; a value this close to one with the
# column's decimal places is that value as a float could carry it (0.1 + 0.2).
FLOAT_NOISE = Decimal(2) ** -50


class MoneyField(serializers.DecimalField):
    """A JSON number stored in one of our DecimalField(max_digits=20, decimal_places=8)
    columns. More decimals than the column keeps are refused, unless they are float noise
    (0.30000000000000004 is 0.3), which is rounded away as the UTM dialect does. ``above``,
    when set, is an exclusive minimum (``> 0``), which DRF's min_value cannot say."""

    default_error_messages = {"above": "Must be greater than {above}."}

    def __init__(self, *args, above: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.above = above

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float | NonFinite):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if self.above is not None and value <= self.above:
            self.fail("above", above=self.above)
        return value

    def validate_precision(self, value: Decimal) -> Decimal:
        step = Decimal(1).scaleb(-self.decimal_places)
        if value.as_tuple().exponent < -self.decimal_places:
            try:
                rounded = value.quantize(step, context=Context(prec=self.max_digits))
            except InvalidOperation:
                self.fail("max_digits", max_digits=self.max_digits)
            if abs(value - rounded) > abs(value) * FLOAT_NOISE:
                self.fail("max_decimal_places", max_decimal_places=self.decimal_places)
            value = rounded
        return super().validate_precision(value)


class MoneyFieldSchema(OpenApiSerializerFieldExtension):
    target_class = MoneyField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if direction == "request":
            # Only for what clients send: a validator checking 0.1 against multipleOf 1e-8
            # in floating point says no, so answers would "violate" their own schema.
            schema["multipleOf"] = float(Decimal(1).scaleb(-self.target.decimal_places))
        if self.target.above is not None:
            schema |= {"minimum": self.target.above, "exclusiveMinimum": True}
        return schema


class Conflict(exceptions.APIException):
    """409, with the fields in the way listed as a 400 lists them."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflicts with what is stored."
    default_code = "conflict"
