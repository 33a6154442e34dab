"""The views the benches load: throughput compares the first three, the soak uses ``soak``."""

import hashlib

from django.http import HttpResponse

from canvas_oauth.oauth import get_oauth_token


def plain(request):
    # Touches request.user like any view of a logged-in user would (session + user query).
    return HttpResponse(f"user {request.user.pk}", content_type="text/plain")


def token(request):
    access_token = get_oauth_token(request)
    return HttpResponse(f"user {request.user.pk} {len(access_token)}", content_type="text/plain")


def select(request):
    # The floor: plain, plus one raw indexed SELECT of the token row (no ORM, no decryption).
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, access_token, refresh_token, expires, scopes"
            " FROM canvas_oauth_canvasoauth2token WHERE user_id = %s AND domain = %s",
            [request.user.pk, "canvas.example.edu"],
        )
        row = cursor.fetchone()
    return HttpResponse(f"user {request.user.pk} {len(row[1])}", content_type="text/plain")


def soak(request):
    # The user and a digest of the token: the soak's load generator checks that the token
    # is one Canvas issued to this user, without the token itself crossing the wire again.
    access_token = get_oauth_token(request)
    digest = hashlib.sha256(access_token.encode()).hexdigest()[:16]
    return HttpResponse(f"{request.user.pk} {digest}", content_type="text/plain")
