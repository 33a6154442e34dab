"""Canvas LMS OAuth2 for Django: the authorization dance and fresh API tokens."""

__version__ = "2.0.0.dev0"
