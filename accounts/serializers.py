"""API serializers of the accounts app, and the camelCase base every API serializer uses:
field names leave the code in camelCase, as in the seeds (accountId, filledAvgPrice)."""

import re
from decimal import Context, Decimal, InvalidOperation

from django.db import models
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import exceptions, serializers, status
from rest_framework.settings import api_settings

from accounts.models import ApiKey
from accounts.services import api_key_create
from config.rules import RuleConflict, RuleViolation
from config.safejson import NonFinite


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


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


class CamelModelSerializer(serializers.ModelSerializer):
    """Declare Meta.fields in snake_case; they are exposed (and validated, and reported in
    errors) under their camelCase names.

    Writes go through the app's services (config/rules.py): a subclass's create/update
    calls them, and a RuleViolation they raise becomes DRF's 400 here, under the API's
    names. ``Meta.ranges`` (the service's own Range declarations) bound the number fields
    the schema shows, so a client learns the rule from the schema. Fields take exactly the
    JSON type the schema names (no "1" for 1, no 0 for false)."""

    serializer_field_mapping = serializers.ModelSerializer.serializer_field_mapping | {
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.BooleanField: StrictBooleanField,
        models.IntegerField: StrictIntegerField,
        models.PositiveIntegerField: StrictIntegerField,
        models.DecimalField: MoneyField,
    }

    def build_standard_field(self, field_name, model_field):
        field_class, field_kwargs = super().build_standard_field(field_name, model_field)
        if issubclass(field_class, serializers.DecimalField):
            field_kwargs["coerce_to_string"] = False  # numbers as numbers, as the seeds do
        bounds = getattr(self.Meta, "ranges", {}).get(field_name)
        if bounds is not None:
            field_class = _bounded(field_class, field_kwargs, bounds)
        return field_class, field_kwargs

    def save(self, **kwargs):
        try:
            return super().save(**kwargs)
        except RuleConflict as conflict:
            raise Conflict(self._api_errors(conflict))
        except RuleViolation as violation:
            raise serializers.ValidationError(self._api_errors(violation))

    def _api_errors(self, violation: RuleViolation) -> dict:
        names = {field.source: name for name, field in self.fields.items()}
        names["__all__"] = api_settings.NON_FIELD_ERRORS_KEY
        return {
            names.get(field, camel(field)): messages
            for field, messages in violation.message_dict.items()
        }

    def get_fields(self):
        renamed = {}
        for name, field in super().get_fields().items():
            if camel(name) != name and field.source is None:
                field.source = name
            if isinstance(field, serializers.SerializerMethodField) and not field.method_name:
                field.method_name = f"get_{name}"
            renamed[camel(name)] = field
        return renamed

    def __getattr__(self, name: str):
        # DRF looks for validate_<field name>, which is camelCase here; let the methods
        # keep their Python names (validate_allowed_ips for allowedIps).
        if name.startswith("validate_"):
            snake = re.sub(r"(?<!^)([A-Z])", r"_\1", name[len("validate_") :]).lower()
            if "validate_" + snake != name:
                return getattr(self, "validate_" + snake)
        raise AttributeError(name)

    @property
    def organization(self):
        return self.context["organization"]


def _bounded(field_class, field_kwargs: dict, bounds):
    if bounds.above is not None and not issubclass(field_class, MoneyField):
        raise TypeError("An exclusive minimum is only declared for decimal fields.")
    if bounds.minimum is not None:
        field_kwargs["min_value"] = bounds.minimum
    if bounds.maximum is not None:
        field_kwargs["max_value"] = bounds.maximum
    if bounds.above is not None:
        field_kwargs["above"] = bounds.above
    return field_class


class OrgRelatedField(serializers.PrimaryKeyRelatedField):
    """A client-supplied id, looked up only among the request's organization's rows: another
    tenant's id is reported exactly like an id that does not exist."""

    def get_queryset(self):
        queryset = super().get_queryset()
        organization = self.context.get("organization")
        if organization is None:
            return queryset.none()
        return queryset.for_org(organization)


class ApiKeySerializer(CamelModelSerializer):
    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "scopes", "mode", "created_at", "last_used_at"]
        fields += ["revoked_at", "is_active"]
        read_only_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]

    is_active = serializers.BooleanField(read_only=True)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=ApiKey.Scope.choices),
        required=False,
        min_length=1,  # stated for the schema (minItems); the rule is api_key_validate's
        max_length=len(ApiKey.ALL_SCOPES) * 2,
        help_text="Default: all scopes (read, signals:write, manage). At least one.",
    )

    def create(self, validated_data: dict) -> ApiKey:
        key, raw = api_key_create(**validated_data)
        key.key = raw  # shown once, in the create answer (ApiKeyCreatedSerializer)
        return key


class ApiKeyCreatedSerializer(ApiKeySerializer):
    """The answer to a create: the only time the raw key is ever shown."""

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]

    key = serializers.CharField(read_only=True, help_text="The raw key. Shown once, store it.")
