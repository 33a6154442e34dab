# Developer keys kept in the database, for tools that add Canvas instances at run time.

from django.db import migrations, models

import canvas_oauth.fields


class Migration(migrations.Migration):
    dependencies = [
        ("canvas_oauth", "0004_encrypt_tokens"),
    ]

    operations = [
        migrations.CreateModel(
            name="CanvasDeveloperKey",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "domain",
                    models.CharField(
                        help_text=(
                            'The Canvas host ("canvas.example.edu"), '
                            "or an origin for a non-https Canvas."
                        ),
                        max_length=255,
                        unique=True,
                    ),
                ),
                ("client_id", models.CharField(help_text="The developer key's ID.", max_length=64)),
                (
                    "client_secret",
                    canvas_oauth.fields.EncryptedTextField(help_text="The developer key's secret."),
                ),
                (
                    "scopes",
                    models.TextField(blank=True, default="", help_text="Space-separated scopes."),
                ),
                ("enabled", models.BooleanField(default=True)),
                ("created_on", models.DateTimeField(auto_now_add=True)),
                ("updated_on", models.DateTimeField(auto_now=True)),
            ],
            options={
                "verbose_name": "Canvas developer key",
            },
        ),
    ]
