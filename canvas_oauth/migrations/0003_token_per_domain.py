# One token per (user, Canvas domain), with the Canvas user it acts for.

import django.db.models.deletion
from django.apps.registry import Apps
from django.conf import settings
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

import canvas_oauth.conf


def require_domain(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Refuse to start, before any schema change, when stored rows would get no domain.

    MySQL commits each schema change at once, so failing later would leave it half done.
    """
    Token = apps.get_model("canvas_oauth", "CanvasOAuth2Token")
    if Token.objects.using(schema_editor.connection.alias).exists() and not (
        canvas_oauth.conf.default_domain()
    ):
        raise RuntimeError(
            "canvas_oauth: set CANVAS_OAUTH_CANVAS_DOMAIN before migrating, so that the "
            "stored tokens can be assigned to their Canvas instance."
        )


def set_domain(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Give rows from the single-domain era the configured domain and scopes.

    They were obtained under the settings in force now, so their scopes are those.
    """
    Token = apps.get_model("canvas_oauth", "CanvasOAuth2Token")
    rows = Token.objects.using(schema_editor.connection.alias).filter(domain="")
    if not rows.exists():
        return
    domain = canvas_oauth.conf.default_domain()
    rows.update(domain=domain, scopes=" ".join(canvas_oauth.conf.settings.scopes or []))


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("canvas_oauth", "0002_alter_canvasoauth2token_options"),
    ]

    operations = [
        migrations.RunPython(require_domain, migrations.RunPython.noop, elidable=True),
        migrations.AddField(
            model_name="canvasoauth2token",
            name="domain",
            field=models.CharField(default="", max_length=255),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="canvasoauth2token",
            name="domain",
            field=models.CharField(
                default=canvas_oauth.conf.default_domain,
                help_text="The Canvas instance: a host, or an origin for a non-https Canvas.",
                max_length=255,
            ),
        ),
        migrations.AlterField(
            model_name="canvasoauth2token",
            name="user",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="canvas_oauth2_tokens",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="canvasoauth2token",
            name="expires",
            field=models.DateTimeField(
                blank=True,
                help_text="When the access token expires; empty if never.",
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="canvasoauth2token",
            name="refresh_token",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="canvasoauth2token",
            name="scopes",
            field=models.TextField(blank=True, default="", help_text="Space-separated scopes."),
        ),
        migrations.AddField(
            model_name="canvasoauth2token",
            name="canvas_user_id",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="canvasoauth2token",
            name="canvas_user_global_id",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="canvasoauth2token",
            name="canvas_user_name",
            field=models.CharField(blank=True, default="", max_length=255),
        ),
        migrations.AddConstraint(
            model_name="canvasoauth2token",
            constraint=models.UniqueConstraint(
                fields=("user", "domain"), name="canvas_oauth_unique_user_domain"
            ),
        ),
        migrations.RunPython(set_domain, migrations.RunPython.noop, elidable=True),
    ]
