"""The inference API: a falcon 4 app (ASGI or WSGI) serving a small classifier."""

__version__ = "1.0.0"
