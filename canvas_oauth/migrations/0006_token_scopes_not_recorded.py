# Tell a token whose scopes were never recorded (NULL: made by hand, as the original app's
# model was used in fixtures and imports) from one granted no scopes ("").

from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor


def unknown_to_empty(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Before the column is NOT NULL again, "not recorded" becomes "none granted"."""
    Token = apps.get_model("canvas_oauth", "CanvasOAuth2Token")
    Token.objects.using(schema_editor.connection.alias).filter(scopes=None).update(scopes="")


class Migration(migrations.Migration):
    dependencies = [
        ("canvas_oauth", "0005_developer_keys"),
    ]

    operations = [
        migrations.AlterField(
            model_name="canvasoauth2token",
            name="scopes",
            field=models.TextField(
                blank=True,
                default=None,
                help_text="Space-separated scopes the token was granted; empty if not recorded.",
                null=True,
            ),
        ),
        migrations.RunPython(migrations.RunPython.noop, unknown_to_empty, elidable=True),
    ]
