"""Views of a project that uses canvas_oauth, as the tests drive them."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse

from canvas_oauth.oauth import aget_oauth_token, get_oauth_token


def canvas_page(request):
    token = get_oauth_token(request)
    return HttpResponse(f"token length {len(token)}")


def canvas_api(request):
    token = get_oauth_token(request)
    return JsonResponse({"ok": True, "length": len(token)})


@login_required
def home(request):
    return HttpResponse("home")


def login(request):
    return HttpResponse("login page")


async def async_canvas_page(request):
    token = await aget_oauth_token(request)
    return HttpResponse(f"async token {token}")


def raise_plain_error(request):
    from canvas_oauth.exceptions import CanvasOAuthError

    raise CanvasOAuthError("Your Canvas course is not set up for this tool.")


def raise_refresh_error(request):
    from canvas_oauth.exceptions import TokenRefreshError

    raise TokenRefreshError()


def switch_user(request):
    """Call get_oauth_token, log another user in, and call it again (as login() does)."""
    from django.contrib.auth import get_user_model, login

    from canvas_oauth.exceptions import MissingTokenError

    first = get_oauth_token(request)
    login(request, get_user_model().objects.get(username=request.GET["as"]))
    try:
        second = get_oauth_token(request)
    except MissingTokenError:
        second = None
    return JsonResponse({"first": first, "second": second})
