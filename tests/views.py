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
