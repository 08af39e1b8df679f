"""``keyglide demo``: a keyboard suggestion strip in a local web page (see ``server``)."""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
