"""bench/status.py's URLs: the app's, plus a bare DRF view to compare the status endpoint with."""

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from galaxyco import urls as app_urls


class BareApi(APIView):
    """DRF with nothing to do: no credential, permission or throttle, a constant body."""

    authentication_classes = ()
    permission_classes = ()
    throttle_classes = ()

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


urlpatterns = [path("bench/bare/", BareApi.as_view()), *app_urls.urlpatterns]
handler400 = app_urls.handler400
handler403 = app_urls.handler403
handler404 = app_urls.handler404
handler500 = app_urls.handler500
