from django.urls import path

from canvas_oauth import views

__all__ = ["urlpatterns"]

urlpatterns = [
    path("oauth-callback", views.callback, name="canvas-oauth-callback"),
    path("authorize", views.authorize, name="canvas-oauth-authorize"),
    path("revoke", views.revoke, name="canvas-oauth-revoke"),
    path("complete", views.complete, name="canvas-oauth-complete"),
]
