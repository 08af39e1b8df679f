"""``keyglide demo``: a keyboard suggestion strip in a local web page.

A small HTTP server from the standard library (``ThreadingHTTPServer``) serves the page
(``index.html``, ``demo.css``, ``demo.js``, shipped with the package) and a JSON API:

``GET /api/info``
    The langdb answering: language, data version, format, engine; with a store, the
    installed versions of the language and which one is active; ``layouts``, the names of
    the keyboard layouts the page can use.
``GET /api/layout?name=qwerty``
    One shipped keyboard layout (``keyglide.Layout.named``): ``{"name", "title", "keys":
    [{"char", "x", "y", "width", "height", "alternates"}]}``, key centres and sizes in the
    layout's coordinates (key widths, y down).
``POST /api/predict`` ``{"text": str, "k": int, "layout": str, "touches": list}``
    The strip after a keystroke, ``LangDB.suggest``: ``{"suggestions": [{"word", "score"}],
    "prefix": str | null, "replace": int, "typed": str | null, "correction": {"word",
    "score"} | null, "confidence": int | null, "autocorrect": bool, "server_us": float,
    "data_version": str}``. ``text`` is the text before the cursor; ``prefix`` (and
    ``typed``) is the folded word being typed (``null``: the next word is predicted) and
    ``replace`` how many characters (code points) at the end of ``text`` a chosen suggestion
    replaces: the word being typed as written, 0 for a next word. The suggestions include
    corrections of typos; ``correction`` is the best whole word to replace the typed one
    with, and ``autocorrect`` says whether a space (or punctuation) should replace it.
    ``k`` defaults to 3 and ``layout`` (``qwerty``, ``azerty`` or ``qwertz``) to
    ``qwerty``. ``touches``, optional, holds where the last characters of ``text`` were
    touched: ``[x, y]`` in the layout's coordinates, or ``null`` for a character typed
    otherwise, the last entry for the last character (code point); those of the word being
    typed are used, and its characters without an entry count as typed at their key's centre.
``POST /api/activate`` ``{"version": str}``
    With a store only: ``Store.activate`` the version and switch the predictor to it.

Every error is a JSON object ``{"error": message}`` with a 4xx status (5xx for a failure of
the server itself) and never stops the server. Bodies are JSON (``Content-Type:
application/json``, which a page of another origin cannot send without the server's
consent) of at most ``MAX_BODY`` bytes. By default the server listens on loopback only and
answers only requests addressed to a loopback name.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

import keyglide
from keyglide import text as contract
from keyglide.demo import DEFAULT_HOST, DEFAULT_PORT
from keyglide.errors import KeyglideError, NotInstalled
from keyglide.keyboard import MAX_COORDINATE, NAMED_LAYOUTS

MAX_BODY = 64 * 1024
DEFAULT_K = 3
DEFAULT_LAYOUT = "qwerty"
# Errors that mean the client went away (closed or reset the connection): not the server's
# failure, so nothing is logged and nothing more is sent.
CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)

STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/demo.css": ("demo.css", "text/css; charset=utf-8"),
    "/demo.js": ("demo.js", "text/javascript; charset=utf-8"),
}
# Which methods each path answers; anything else is 405 (a known path) or 404.
ROUTES = {**{path: ("GET", "HEAD") for path in STATIC}, "/api/info": ("GET", "HEAD")}
ROUTES |= {"/api/layout": ("GET", "HEAD")}
ROUTES |= {"/api/predict": ("POST",), "/api/activate": ("POST",)}

# Nothing but this server: no external resource can load even if the page asked for one.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class DemoError(Exception):
    """A request the demo refuses: an HTTP status and a message for the JSON body."""

    def __init__(self, status: HTTPStatus, message: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def replace_length(text: str) -> int:
    """How many code points at the end of ``text`` (the text before the cursor) a chosen
    suggestion replaces: the word being typed as written — the contract's prefix, with the
    single joiner that may end it — or 0 when the text asks for the next word."""
    if contract.cursor(text).prefix is None:
        return 0
    start = contract.spans(text)[-1][0]
    return len(text) - start


def check_layout(name: Any, what: str) -> str:
    """``name`` if it names a shipped layout, else a 400 saying which ones there are."""
    if not isinstance(name, str) or name not in NAMED_LAYOUTS:
        choices = ", ".join(f'"{n}"' for n in NAMED_LAYOUTS)
        raise DemoError(HTTPStatus.BAD_REQUEST, f"{what} must be one of {choices}")
    return name


def check_touches(touches: Any, text: str) -> list[tuple[float, float] | None] | None:
    """The request's ``touches``: a list of ``[x, y]`` (finite numbers within the layout's
    bounds) or ``null``, no longer than ``text`` (one per code point at its end)."""
    if touches is None:
        return None
    message = '"touches" must be a list of [x, y] points or null, one per character'
    if not isinstance(touches, list):
        raise DemoError(HTTPStatus.BAD_REQUEST, message)
    if len(touches) > len(text):
        raise DemoError(
            HTTPStatus.BAD_REQUEST,
            f'"touches" has {len(touches)} entries but "text" only {len(text)} characters: '
            "give one per character at the end of the text",
        )
    out: list[tuple[float, float] | None] = []
    for point in touches:
        if point is None:
            out.append(None)
            continue
        if (
            not isinstance(point, list)
            or len(point) != 2
            or not all(type(v) in (int, float) for v in point)
        ):
            raise DemoError(HTTPStatus.BAD_REQUEST, f"{message}, not {json.dumps(point)[:80]}")
        x, y = point
        if not all(abs(v) <= MAX_COORDINATE for v in (x, y)):  # NaN compares false
            raise DemoError(
                HTTPStatus.BAD_REQUEST,
                f'"touches": a point\'s coordinates must be finite and within '
                f"±{MAX_COORDINATE:g}, not {json.dumps(point)[:80]}",
            )
        out.append((float(x), float(y)))
    return out


class Demo:
    """What the server answers from: a langdb file, or the active version of one language
    of a store (followed on every call, so a switch from anywhere shows at once)."""

    def __init__(
        self,
        *,
        db: str | None = None,
        store: str | None = None,
        language: str | None = None,
        engine: str = "auto",
    ) -> None:
        if (store is None) != (language is None):
            raise ValueError("give the store and the language together")
        if store is not None and db is not None:
            raise ValueError("give either a langdb file or a store, not both")
        self.store = keyglide.Store(store) if store is not None else None
        self.language = language
        if self.store is not None:
            self.predictor: Any = keyglide.open_store(
                self.store.root, language, engine=engine, check_every_call=True
            )
        else:
            self.predictor = keyglide.open(db, engine=engine)
        self._activate_lock = threading.Lock()

    def close(self) -> None:
        self.predictor.close()

    def info(self) -> dict[str, Any]:
        info = self.predictor.info
        out = {
            "language": info["language"],
            "data_version": info["data_version"],
            "format": info["format"],
            "engine": info["engine"],
            "path": info["path"],
            "keyglide": keyglide.__version__,
            "layouts": list(NAMED_LAYOUTS),
            "store": None,
        }
        if self.store is not None:
            language = self.predictor.language
            versions = [
                {"version": e.version, "state": e.state}
                for e in self.store.list()
                if e.language == language
            ]
            out["store"] = {
                "root": self.store.root,
                "language": language,
                "active": info["store"]["version"],
                "versions": versions,
                "reload_error": info["store"]["reload_error"],
            }
        return out

    def predict(self, body: dict[str, Any]) -> dict[str, Any]:
        text = body.get("text")
        if not isinstance(text, str):
            raise DemoError(HTTPStatus.BAD_REQUEST, '"text" must be a string')
        k = body.get("k", DEFAULT_K)
        if type(k) is not int or not 0 <= k <= keyglide.MAX_K:
            raise DemoError(
                HTTPStatus.BAD_REQUEST, f'"k" must be an integer from 0 to {keyglide.MAX_K}'
            )
        layout = check_layout(body.get("layout", DEFAULT_LAYOUT), '"layout"')
        touches = check_touches(body.get("touches"), text)
        prefix = contract.cursor(text).prefix
        replace = replace_length(text)
        word_touches = None
        # One point per character of the word being typed, as written: the last entries.
        if touches is not None and prefix is not None and len(prefix) == replace:
            given = touches[-replace:] if replace else []
            word_touches = [None] * (replace - len(given)) + given
        started = time.perf_counter_ns()
        strip = self.predictor.suggest(text, touches=word_touches, layout=layout, k=k)
        elapsed = time.perf_counter_ns() - started
        correction = strip.correction
        return {
            "suggestions": [{"word": s.word, "score": s.score} for s in strip.suggestions],
            "prefix": prefix,
            "replace": replace,
            "typed": strip.typed,
            "correction": None
            if correction is None
            else {"word": correction.word, "score": correction.score},
            "confidence": strip.confidence,
            "autocorrect": bool(strip.autocorrect),
            "server_us": round(elapsed / 1000, 1),
            "data_version": self._data_version(),
        }

    def layout(self, query: dict[str, list[str]]) -> dict[str, Any]:
        names = query.get("name", [DEFAULT_LAYOUT])
        name = check_layout(names[0] if len(names) == 1 else None, "?name= (given once)")
        layout = keyglide.Layout.named(name)
        return {
            "name": name,
            "title": layout.name,
            "keys": [
                {
                    "char": key.char,
                    "x": key.x,
                    "y": key.y,
                    "width": key.width,
                    "height": key.height,
                    "alternates": key.alternates,
                }
                for key in layout.keys
            ],
        }

    def activate(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.store is None:
            raise DemoError(
                HTTPStatus.CONFLICT,
                "the demo serves a langdb file, not a store: start it with --store ROOT "
                "--lang LANG to switch versions",
            )
        version = body.get("version")
        if not isinstance(version, str):
            raise DemoError(HTTPStatus.BAD_REQUEST, '"version" must be a string')
        with self._activate_lock:
            try:
                self.store.activate(self.predictor.language, version)
            except NotInstalled as e:
                raise DemoError(HTTPStatus.NOT_FOUND, str(e)) from e
            except KeyglideError as e:
                raise DemoError(HTTPStatus.BAD_REQUEST, str(e)) from e
            self.predictor.reload()
        return self.info()

    def _data_version(self) -> str | None:
        if self.store is not None:
            return self.predictor.version
        return self.predictor.info["data_version"]


class Handler(BaseHTTPRequestHandler):
    server: DemoServer
    server_version = "keyglide-demo"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = 30  # a client that stops sending loses its connection, not a thread forever

    def setup(self) -> None:
        super().setup()
        # The headers and the body go out in two writes: without this, Nagle's algorithm
        # holds the body back until the client's delayed ACK (about 40 ms per request).
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def __getattr__(self, name: str):
        # Any other method (PUT, DELETE, OPTIONS, ...): the same routing, so 405 or 404.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def _handle(self) -> None:
        try:
            try:
                self._route()
            except DemoError as e:
                self._send_json({"error": str(e)}, e.status, e.headers)
            except CLIENT_GONE:
                raise
            except Exception as e:  # a bug must not stop the server: report it, keep serving
                self.log_error("internal error: %r", e)
                self._send_json({"error": f"internal error: {type(e).__name__}: {e}"}, 500)
        except CLIENT_GONE:  # the client left: nobody to answer
            self.close_connection = True

    def _route(self) -> None:
        path, _, query = self.path.split("#", 1)[0].partition("?")
        self._check_host()
        methods = ROUTES.get(path)
        if methods is None:
            if self.command == "POST":
                self._discard_body()
            raise DemoError(HTTPStatus.NOT_FOUND, f"no such path: {path}")
        if self.command not in methods:
            if self.command == "POST":
                self._discard_body()
            raise DemoError(
                HTTPStatus.METHOD_NOT_ALLOWED,
                f"{path} answers {' and '.join(methods)}, not {self.command}",
                {"Allow": ", ".join(methods)},
            )
        demo = self.server.demo
        if path in STATIC:
            name, content_type = STATIC[path]
            self._send(self.server.static[name], content_type)
        elif path == "/api/info":
            self._send_json(demo.info())
        elif path == "/api/layout":
            self._send_json(demo.layout(parse_qs(query, keep_blank_values=True)))
        elif path == "/api/predict":
            self._send_json(demo.predict(self._json_body()))
        elif path == "/api/activate":
            self._send_json(demo.activate(self._json_body()))

    def _check_host(self) -> None:
        """Behind a loopback address, only requests addressed to it (a page of another
        site reaching this server through its own DNS name is refused)."""
        if self.server.allow_remote:
            return
        host = self.headers.get("Host", "")
        if host.startswith("["):
            name = host[1 : host.find("]")] if "]" in host else host
        else:
            name = host.rsplit(":", 1)[0]
        if not is_loopback(name):
            self.close_connection = True
            raise DemoError(
                HTTPStatus.FORBIDDEN, f"requests must be addressed to loopback, not {host!r}"
            )

    def _discard_body(self) -> None:
        size = _content_length(self.headers.get("Content-Length"))
        if size is not None and size <= MAX_BODY:
            self.rfile.read(size)
        else:
            self.close_connection = True

    def _json_body(self) -> dict[str, Any]:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise DemoError(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length")
        length = self.headers.get("Content-Length")
        if length is None:
            self.close_connection = True
            raise DemoError(HTTPStatus.LENGTH_REQUIRED, "a Content-Length is required")
        size = _content_length(length)
        if size is None:
            self.close_connection = True
            raise DemoError(HTTPStatus.BAD_REQUEST, f"bad Content-Length: {length!r}")
        if size > MAX_BODY:
            self.close_connection = True  # the body is not read: the connection cannot go on
            shown = size if size < 10**18 else f"over {10**18 - 1}"
            raise DemoError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"the body is {shown} bytes; the limit is {MAX_BODY}",
            )
        raw = self.rfile.read(size)
        if len(raw) != size:
            self.close_connection = True
            raise DemoError(HTTPStatus.BAD_REQUEST, "the body ended before its Content-Length")
        content_type = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if content_type != "application/json":
            raise DemoError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "the body must be application/json")
        try:
            body = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise DemoError(HTTPStatus.BAD_REQUEST, f"the body is not UTF-8: {e.reason}") from e
        except json.JSONDecodeError as e:
            raise DemoError(HTTPStatus.BAD_REQUEST, f"the body is not JSON: {e}") from e
        except RecursionError:
            raise DemoError(HTTPStatus.BAD_REQUEST, "the body's JSON is nested too deep") from None
        except ValueError as e:  # an integer of more digits than Python converts
            raise DemoError(HTTPStatus.BAD_REQUEST, f"the body's JSON cannot be read: {e}") from e
        if not isinstance(body, dict):
            raise DemoError(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
        return body

    def send_error(self, code: int, message: str | None = None, explain: str | None = None):
        # Requests too broken to route (a bad request line, huge headers): JSON as well.
        self.close_connection = True
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = ""
        with contextlib.suppress(*CLIENT_GONE):  # a client that left needs no answer
            self._send_json({"error": message or phrase}, code)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except CLIENT_GONE:  # reading the request: the client left, nothing to report
            self.close_connection = True

    def _send_json(self, data: Any, status: int = 200, headers: dict | None = None) -> None:
        body = json.dumps(data, ensure_ascii=True, allow_nan=False).encode("ascii")
        self._send(body, "application/json", status, headers)

    def _send(
        self, body: bytes, content_type: str, status: int = 200, headers: dict | None = None
    ) -> None:
        self.send_response(int(status))
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in {**SECURITY_HEADERS, **(headers or {})}.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def log_error(self, format: str, *args: Any) -> None:
        super().log_message(format, *args)  # errors always go to stderr


def _content_length(value: str | None) -> int | None:
    """A Content-Length header's value: ASCII digits only (``str.isdigit`` and ``int``
    accept other digits, such as ``²`` or ``٣``), else None. Any number of digits: a value
    too large to convert is larger than any body the demo reads."""
    if value is None or not value.isascii() or not value.isdigit():
        return None
    digits = value.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else 10**18


class DemoServer(ThreadingHTTPServer):
    """The demo's HTTP server: one thread per connection, daemon threads."""

    daemon_threads = True
    request_queue_size = 64

    def handle_error(self, request, client_address) -> None:
        # A client that left early is not an error of the server: no traceback for it.
        if isinstance(sys.exc_info()[1], CLIENT_GONE):
            return
        super().handle_error(request, client_address)

    def __init__(
        self,
        demo: Demo,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        allow_remote: bool = False,
        verbose: bool = False,
    ) -> None:
        if not allow_remote and not is_loopback(host):
            raise ValueError(
                f"--host {host} is not a loopback address: the demo would be reachable from "
                "other machines; pass --allow-remote to do that on purpose"
            )
        self.demo = demo
        self.allow_remote = allow_remote
        self.verbose = verbose
        self.static = {
            name: resources.files(__package__).joinpath(name).read_bytes()
            for name, _ in STATIC.values()
        }
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host.strip("[]"), port), Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}/"


def serve(
    demo: Demo,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    allow_remote: bool = False,
    verbose: bool = False,
) -> None:
    """Serve the demo until interrupted (Ctrl-C), printing its URL first."""
    if allow_remote and not is_loopback(host):
        print(
            f"keyglide: warning: serving on {host}: anyone who can reach this machine can use "
            "the demo" + (" and switch the store's active version" if demo.store else ""),
            file=sys.stderr,
        )
    with DemoServer(demo, host, port, allow_remote=allow_remote, verbose=verbose) as server:
        print(f"keyglide demo: {server.url} (Ctrl-C to stop)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
