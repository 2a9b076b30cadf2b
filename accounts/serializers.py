"""API serializers of the accounts app, and the camelCase base every API serializer uses:
field names leave the code in camelCase, as in the seeds (accountId, filledAvgPrice)."""

import re

from rest_framework import serializers

from accounts.models import ApiKey


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


class CamelModelSerializer(serializers.ModelSerializer):
    """Declare Meta.fields in snake_case; they are exposed (and validated, and reported in
    errors) under their camelCase names."""

    def build_standard_field(self, field_name, model_field):
        field_class, field_kwargs = super().build_standard_field(field_name, model_field)
        if issubclass(field_class, serializers.DecimalField):
            field_kwargs["coerce_to_string"] = False  # numbers as numbers, as the seeds do
        return field_class, field_kwargs

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
        allow_empty=False,
        help_text="Default: all scopes (read, signals:write, manage).",
    )


class ApiKeyCreatedSerializer(ApiKeySerializer):
    """The answer to a create: the only time the raw key is ever shown."""

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]

    key = serializers.CharField(read_only=True, help_text="The raw key. Shown once, store it.")
