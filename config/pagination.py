from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination

# Beyond these the database cannot count anyway (PostgreSQL's OFFSET/LIMIT are bigint,
# SQLite's 64-bit): a client's absurd number is clamped instead of becoming a 500.
MAX_OFFSET = 2**31


class PageParamsSerializer(serializers.Serializer):
    # A bad page parameter is a 400 like every bad filter: read as "the first page"
    # (DRF's default), ?offset=null would quietly answer something other than was asked.
    limit = serializers.IntegerField(required=False, min_value=1)
    offset = serializers.IntegerField(required=False, min_value=0)


class ApiPagination(LimitOffsetPagination):
    """?limit= (default 50, larger than 500 is read as 500) and ?offset= on every list of
    the REST API; anything but a whole number in range is a 400."""

    default_limit = 50
    max_limit = 500

    def get_limit(self, request) -> int:
        limit = self._params(request).get("limit", self.default_limit)
        return min(limit, self.max_limit)

    def get_offset(self, request) -> int:
        return min(self._params(request).get("offset", 0), MAX_OFFSET)

    def _params(self, request) -> dict:
        params = PageParamsSerializer(
            data={k: v for k, v in request.query_params.items() if k in ("limit", "offset")}
        )
        params.is_valid(raise_exception=True)
        return params.validated_data

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        minimum = {self.limit_query_param: 1, self.offset_query_param: 0}
        for parameter in parameters:
            parameter["schema"]["minimum"] = minimum[parameter["name"]]
        return parameters
