from django.contrib import admin
from django.urls import include, path

from canvas_oauth import oauth
from tests import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("oauth/", include("canvas_oauth.urls")),
    # The original app's callback, as a project may have routed it in its own URLconf.
    path("original-callback/", oauth.oauth_callback),
    path("accounts/login/", views.login),
    path("canvas/", views.canvas_page, name="canvas-page"),
    path("api/canvas/", views.canvas_api, name="canvas-api"),
    path("async/canvas/", views.async_canvas_page),
    path("raise/plain/", views.raise_plain_error),
    path("raise/refresh/", views.raise_refresh_error),
    path("switch-user/", views.switch_user),
    path("", views.home),
]
