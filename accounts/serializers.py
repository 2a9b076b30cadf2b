"""API serializers of the accounts app, and the camelCase base every API serializer uses:
field names leave the code in camelCase, as in the seeds (accountId, filledAvgPrice)."""

import re

from django.db import connection, models
from rest_framework import serializers
from rest_framework.settings import api_settings

from accounts.models import ApiKey
from accounts.services import api_key_create
from config.api_fields import (
    Conflict,
    MoneyField,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
)
from config.rules import RuleConflict, RuleViolation


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


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
            if connection.vendor == "sqlite":
                # The embedded default keeps decimals as REAL (15 significant digits) and
                # re-quantizes them within max_digits on reading: a value that rounds up to
                # one more whole digit (99999999999.99999 -> 1e11 -> 1e12 - ...) is stored
                # but cannot be read or shown. Bounded one whole digit lower there.
                whole = field_kwargs["max_digits"] - field_kwargs["decimal_places"]
                field_kwargs["max_value"] = 10 ** (whole - 1) - 1
                field_kwargs["min_value"] = -(10 ** (whole - 1) - 1)
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
        # Not with a min_value as well: drf-spectacular then drops exclusiveMinimum.
        field_kwargs.pop("min_value", None)
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
