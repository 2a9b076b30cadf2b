import hashlib
import hmac
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import ApiKey, Membership, Organization, Role, User
from config.rules import refuse

API_KEY_PREFIX = "tr"
# last_used_at is a convenience for people, not an audit log: write it at most this often
# so a busy key does not turn every request into an extra UPDATE.
API_KEY_LAST_USED_RESOLUTION = timedelta(minutes=1)


def secret_digest(raw: str) -> str:
    """SHA-256 hex digest of a high-entropy secret (API key, webhook password). No salt or
    stretching is needed: the secrets are random, not chosen by people."""
    return hashlib.sha256(raw.encode()).hexdigest()


def secret_matches(raw: str, digest: str) -> bool:
    return hmac.compare_digest(secret_digest(raw), digest)


def organization_create(*, name: str, owner: User, slug: str | None = None) -> Organization:
    base = slugify(slug or name)[:50] or "org"
    candidate, n = base, 1
    while Organization.objects.filter(slug=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    with transaction.atomic():
        org = Organization.objects.create(name=name, slug=candidate)
        Membership.objects.create(organization=org, user=owner, role=Role.OWNER)
    return org


def organization_suspend(*, organization: Organization) -> None:
    Organization.objects.filter(pk=organization.pk).update(
        status=Organization.Status.SUSPENDED, suspended_at=timezone.now()
    )
    organization.refresh_from_db(fields=["status", "suspended_at"])


def organization_reactivate(*, organization: Organization) -> None:
    Organization.objects.filter(pk=organization.pk).update(
        status=Organization.Status.ACTIVE, suspended_at=None
    )
    organization.refresh_from_db(fields=["status", "suspended_at"])


def api_key_validate(*, key: ApiKey) -> None:
    """A key needs at least one known scope (one with none could do nothing, and would
    look like a key with all of them to someone reading the list). Scopes are kept
    deduplicated, in ApiKey.ALL_SCOPES's order."""
    scopes = key.scopes if isinstance(key.scopes, list) else None
    if not scopes or not all(scope in ApiKey.ALL_SCOPES for scope in scopes):
        refuse({"scopes": f"At least one of {', '.join(ApiKey.ALL_SCOPES)}."})
    key.scopes = [scope for scope in ApiKey.ALL_SCOPES if scope in scopes]


def api_key_create(
    *,
    organization: Organization,
    name: str,
    scopes: list[str] | None = None,
    mode: str = ApiKey.Mode.PAPER,
    created_by: User | None = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its raw value, which is never stored or shown again."""
    prefix = secrets.token_hex(4)
    raw = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        organization=organization,
        name=name,
        prefix=prefix,
        digest=secret_digest(raw),
        scopes=list(scopes if scopes is not None else ApiKey.ALL_SCOPES),
        mode=mode,
        created_by=created_by,
    )
    api_key_validate(key=key)
    key.save()
    return key, raw


def api_key_parse_prefix(raw: str) -> str | None:
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or not _is_issued_prefix(parts[1]):
        return None
    return parts[1]


def _is_issued_prefix(prefix: str) -> bool:
    # Exactly what api_key_create issues (8 lowercase hex digits), so nothing else, a NUL
    # that PostgreSQL would refuse to compare say, ever reaches the lookup.
    return len(prefix) == 8 and all(c in "0123456789abcdef" for c in prefix)


def api_key_authenticate(*, raw: str) -> ApiKey | None:
    """The active key matching ``raw`` (compared in constant time), or None."""
    prefix = api_key_parse_prefix(raw or "")
    if prefix is None:
        return None
    key = ApiKey.objects.select_related("organization").filter(prefix=prefix).first()
    if key is None or not secret_matches(raw, key.digest) or not key.is_active:
        return None
    _api_key_touch(key)
    return key


def _api_key_touch(key: ApiKey) -> None:
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > API_KEY_LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now


def api_key_revoke(*, key: ApiKey) -> None:
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    key.refresh_from_db(fields=["revoked_at"])
