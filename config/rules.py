"""What a write may store, decided once: each app's services hold the rules and every
writer goes through them (the REST API's serializers, the admin's forms, the dashboard to
come), so the API cannot accept what the admin refuses or the other way round.

A service refuses with ``RuleViolation`` (field name -> messages, model field names): a
Django ValidationError, so an admin form shows it on its field, and the API's serializers
(accounts.serializers.CamelModelSerializer) turn it into DRF's 400 under the API's
camelCase names, or a 409 in the same shape for a ``RuleConflict`` (the request is fine,
what is stored stands in its way). Numeric ranges are declared as ``Range`` values next to the service that
enforces them, and the API's serializers read the same declarations to state them in the
OpenAPI schema.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction


class RuleViolation(ValidationError):
    """A write a service refuses: {field name: [messages]} ("__all__" for the whole)."""


class RuleConflict(RuleViolation):
    """Refused because of what is already stored (a name taken, a plan's limit reached),
    not because of the request alone: the API answers 409 instead of 400."""


def refuse(errors: dict[str, str | list[str]], *, conflict: bool = False) -> None:
    if errors:
        raise (RuleConflict if conflict else RuleViolation)(errors)


@dataclass(frozen=True)
class Range:
    """Bounds of a number field. ``above`` is an exclusive minimum (``> 0``), ``minimum``
    and ``maximum`` inclusive ones. Integers, so the schema shows them as numbers."""

    minimum: int | None = None
    above: int | None = None
    maximum: int | None = None

    def error(self, value) -> str | None:
        if value is None:
            return None
        value = Decimal(value)
        if self.above is not None and value <= self.above:
            return f"Must be greater than {self.above}."
        if self.minimum is not None and value < self.minimum:
            return f"Must be at least {self.minimum}."
        if self.maximum is not None and value > self.maximum:
            return f"Must be at most {self.maximum}."
        return None


def range_errors(instance, ranges: dict[str, Range]) -> dict[str, str]:
    errors = {}
    for name, bounds in ranges.items():
        message = bounds.error(getattr(instance, name))
        if message is not None:
            errors[name] = message
    return errors


def text_list_errors(value, *, name: str) -> dict[str, str]:
    """A JSON list field must hold strings only (the admin edits it as free JSON)."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return {name: "Must be a list of strings."}
    return {}


def save_or_refuse(instance: models.Model, *, conflict: dict[str, str]) -> None:
    """Save ``instance``; a unique constraint lost to a concurrent writer (the check before
    it passed for both) is refused like the check would have, not a 500."""
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        raise RuleConflict(conflict)


def assign(instance: models.Model, fields: Iterable[tuple[str, object]]) -> None:
    for name, value in fields:
        setattr(instance, name, value)
