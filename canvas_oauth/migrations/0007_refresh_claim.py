# A refresh claims its row instead of locking it for the call to Canvas (canvas_oauth.claims).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("canvas_oauth", "0006_token_scopes_not_recorded"),
    ]

    operations = [
        migrations.AddField(
            model_name="canvasoauth2token",
            name="refresh_claim",
            field=models.CharField(blank=True, default="", editable=False, max_length=32),
        ),
        migrations.AddField(
            model_name="canvasoauth2token",
            name="refresh_claimed_until",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
