from django.contrib import admin
from django.urls import include, path

from bench import views

urlpatterns = [
    path("plain/", views.plain),
    path("token/", views.token),
    path("select/", views.select),
    path("soak/", views.soak),
    path("admin/", admin.site.urls),
    # A missing token sends the user to the authorize view: it must resolve.
    path("oauth/", include("canvas_oauth.urls")),
]
