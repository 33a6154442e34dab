from django.contrib import admin
from django.urls import path

from bench import views

urlpatterns = [
    path("plain/", views.plain),
    path("token/", views.token),
    path("select/", views.select),
    path("admin/", admin.site.urls),
]
