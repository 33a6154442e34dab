from django.apps import AppConfig

__all__ = ["CanvasOAuthConfig"]


class CanvasOAuthConfig(AppConfig):
    name = "canvas_oauth"
    verbose_name = "Canvas OAuth"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from canvas_oauth import checks, compat, receivers  # noqa: F401 -- registers on import

        compat.install()
