import hashlib
import hmac
import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import ApiKey, Membership, Organization, Role, User
from config.rules import refuse

API_KEY_PREFIX = "tr"
API_KEY_PREFIX_DRAWS = 5
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
    key = ApiKey(
        organization=organization,
        name=name,
        scopes=list(scopes if scopes is not None else ApiKey.ALL_SCOPES),
        mode=mode,
        created_by=created_by,
    )
    api_key_validate(key=key)
    # The 8-hex prefix is the lookup key, unique over every tenant: among 2**32 values two
    # keys collide with even odds by about 77,000 keys, so a collision draws again rather
    # than surfacing the unique constraint as a 500.
    for attempt in range(API_KEY_PREFIX_DRAWS):
        key.prefix = secrets.token_hex(4)
        raw = f"{API_KEY_PREFIX}_{key.prefix}_{secrets.token_urlsafe(32)}"
        key.digest = secret_digest(raw)
        try:
            with transaction.atomic():
                key.save()
            return key, raw
        except IntegrityError:
            if (
                attempt == API_KEY_PREFIX_DRAWS - 1
                or not ApiKey.objects.filter(prefix=key.prefix).exists()
            ):
                raise
    raise AssertionError("unreachable")


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


# --- Members ---------------------------------------------------------------------------


def _owner_count(organization: Organization) -> int:
    return Membership.objects.filter(organization=organization, role=Role.OWNER).count()


def _check_owner_rule(*, membership: Membership, new_role: str | None, by: Membership) -> None:
    """Only an owner grants or takes the owner role, and an organization keeps at least
    one owner (so nobody can lock everyone out of its settings)."""
    touches_owner = membership.role == Role.OWNER or new_role == Role.OWNER
    if touches_owner and by.role != Role.OWNER:
        raise ValidationError({"role": "Only an owner can change an owner or make one."})
    demotes_owner = membership.role == Role.OWNER and new_role != Role.OWNER
    if demotes_owner and _owner_count(membership.organization) <= 1:
        raise ValidationError({"role": "The last owner cannot be removed or demoted."})


def membership_set_role(*, membership: Membership, role: str, by: Membership) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": "Not a role."})
    with transaction.atomic():
        # Locked so two owners demoting each other at once cannot leave none.
        list(Membership.objects.select_for_update().filter(organization=membership.organization))
        _check_owner_rule(membership=membership, new_role=role, by=by)
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def membership_remove(*, membership: Membership, by: Membership) -> None:
    with transaction.atomic():
        list(Membership.objects.select_for_update().filter(organization=membership.organization))
        _check_owner_rule(membership=membership, new_role=None, by=by)
        membership.delete()


def member_invite(
    *, organization: Organization, email: str, role: str, by: Membership, base_url: str
) -> Membership:
    """Add ``email`` to the organization with ``role``. Someone new gets an account with
    no password and a mail with a link to choose one (the link is the proof that the
    address is theirs, so it counts as verified); someone known gets a notice."""
    # Imported here: allauth's forms need a ready app registry, and this module is
    # imported before that (accounts.auth, by the REST framework's settings).
    from accounts.invitations import invitation_send

    email = User.objects.normalize_email(email).lower()
    if role == Role.OWNER and by.role != Role.OWNER:
        raise ValidationError({"role": "Only an owner can make an owner."})
    with transaction.atomic():
        user, created = User.objects.get_or_create(email=email)
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        membership, added = Membership.objects.get_or_create(
            organization=organization, user=user, defaults={"role": role}
        )
        if not added:
            raise ValidationError({"email": "Already a member of this organization."})
    invitation_send(membership=membership, new_user=created, base_url=base_url)
    return membership
