from django.contrib.auth import views as auth_views
from django.urls import include, path

from demo_site import views

urlpatterns = [
    path("oauth/", include("canvas_oauth.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("lti/", views.lti, name="lti"),
    path("lti/same-origin/", views.lti, {"opener_policy": "same-origin"}, name="lti-same-origin"),
    path("disconnected/", views.disconnected, name="disconnected"),
    path("not-connected/", views.disconnected, {"revoked": False}, name="not-connected"),
    path("", views.home, name="home"),
]
