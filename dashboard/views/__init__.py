"""Thin views: validate the form, call a service or selector of the owning app, render.
Access is decided by dashboard.access.dashboard_view; ids in URLs are <uuid:...>."""

from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404


def found(selector, **kwargs):
    """The selector's object, or a 404: another organization's object looks the same as
    one that does not exist."""
    try:
        return selector(**kwargs)
    except ObjectDoesNotExist as exc:
        raise Http404("Not found.") from exc
