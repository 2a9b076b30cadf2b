"""A short way through Django's middleware for the TradersPost webhook path.

A webhook is a server-to-server POST with its credential in the URL: it has no session,
no user, no CSRF token, no flash messages and no static file, yet every request used to go
through those five middlewares (and WhiteNoise), each wrapped in Django's exception
converter, about 0.1 ms of CPU per webhook. Placed right below SecurityMiddleware (which
keeps its HTTPS redirect, HSTS, nosniff, referrer and cross-origin headers for this path
too), this middleware answers ``/trading/webhook/...`` itself, keeping what the skipped
ones do to such a request: CommonMiddleware's host validation (a disallowed Host is still
a 400), PREPEND_WWW and Content-Length, and XFrameOptionsMiddleware's header. Any other
path goes down the whole stack.

The answers are byte for byte the ones the full stack gives (tests/webhooks/
test_middleware.py). The one difference: a request that carries the dashboard's own
cookies (session, CSRF, messages) no longer gets them refreshed or expired by this
path, which never reads them.
"""

from django.core.handlers.exception import convert_exception_to_response
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.urls import resolve

PREFIX = "/trading/webhook/"


class WebhookFastPathMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.common = CommonMiddleware(get_response)
        self.xframe = XFrameOptionsMiddleware(get_response)
        # An exception in the view becomes Django's 500 (or 400, 404...) answer here, as it
        # would at the bottom of the full stack, before the headers below are added.
        self.view = convert_exception_to_response(self._view)

    def __call__(self, request):
        if not request.path_info.startswith(PREFIX):
            return self.get_response(request)
        response = self.common.process_request(request)
        if response is None:
            response = self.xframe.process_response(request, self.view(request))
        return self.common.process_response(request, response)

    @staticmethod
    def _view(request):
        match = resolve(request.path_info)
        request.resolver_match = match
        return match.func(request, *match.args, **match.kwargs)
