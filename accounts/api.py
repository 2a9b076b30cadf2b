"""/api/v1/api-keys/: list (never the digest), create (the raw key, once), revoke."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.models import ApiKey
from accounts.permissions import MANAGE, TenantScopedMixin, acting_user, request_tenant
from accounts.serializers import ApiKeyCreatedSerializer, ApiKeySerializer
from accounts.services import api_key_revoke


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """The API key, in the X-API-Key header or (as UTM documents it) the apiKey query
    parameter; either one authenticates."""

    target_class = "accounts.auth.ApiKeyAuthentication"
    name = ["ApiKeyHeader", "ApiKeyQuery"]

    def get_security_requirement(self, auto_schema):
        return [{"ApiKeyHeader": []}, {"ApiKeyQuery": []}]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            {"type": "apiKey", "in": "query", "name": "apiKey"},
        ]


class ApiKeyViewSet(
    TenantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    model = ApiKey
    serializer_class = ApiKeySerializer
    access_by_action = {"list": MANAGE, "retrieve": MANAGE}

    def get_queryset(self):
        return super().get_queryset().order_by("-created_at")

    @extend_schema(request=ApiKeySerializer, responses={201: ApiKeyCreatedSerializer})
    def create(self, request):
        serializer = ApiKeySerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        key = serializer.save(
            organization=request_tenant(request).organization, created_by=acting_user(request)
        )
        return Response(ApiKeyCreatedSerializer(key).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None}, description="Revoke the key.")
    def destroy(self, request, pk=None):
        api_key_revoke(key=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: ApiKeySerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        key = self.get_object()
        api_key_revoke(key=key)
        return Response(ApiKeySerializer(key).data)
