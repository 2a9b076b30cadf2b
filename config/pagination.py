from rest_framework.pagination import LimitOffsetPagination

# Beyond these the database cannot count anyway (PostgreSQL's OFFSET/LIMIT are bigint,
# SQLite's 64-bit): a client's absurd number is clamped instead of becoming a 500.
MAX_OFFSET = 2**31


class ApiPagination(LimitOffsetPagination):
    """?limit= (default 50, at most 500) and ?offset= on every list of the REST API."""

    default_limit = 50
    max_limit = 500

    def get_offset(self, request) -> int:
        return min(super().get_offset(request), MAX_OFFSET)
