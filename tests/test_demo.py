"""``keyglide demo``: the HTTP API, its errors, concurrency and the store switch, without a
browser (``test_demo_browser.py`` drives the page in a real one)."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import keyglide
import pytest
from demo_support import build_langdb, running
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keyglide import cli
from keyglide.demo.server import MAX_BODY, Demo, DemoServer, replace_length


@pytest.fixture(scope="module")
def dbs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("demo-langdbs")
    return {"1.0.0": build_langdb(d, 1, "1.0.0"), "2.0.0": build_langdb(d, 2, "2.0.0")}


@pytest.fixture
def server(dbs):
    with running(Demo(db=dbs["1.0.0"])) as server:
        yield server


@pytest.fixture
def store(tmp_path, dbs) -> keyglide.Store:
    store = keyglide.Store(tmp_path / "store")
    store.install(dbs["1.0.0"])
    store.install(dbs["2.0.0"])
    store.activate("xx", "1.0.0")
    return store


@pytest.fixture
def store_server(store):
    with running(Demo(store=store.root, language="xx")) as server:
        yield server


def request(server, method, path, body=None, headers=None, raw=None):
    """(status, headers, decoded JSON or text) of one request on a new connection."""
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    all_headers = {"Content-Type": "application/json"} if data is not None else {}
    all_headers.update(headers or {})
    try:
        conn.request(method, path, body=data, headers=all_headers)
        response = conn.getresponse()
        payload = response.read()
    finally:
        conn.close()
    content_type = response.getheader("Content-Type", "")
    decoded = json.loads(payload) if content_type == "application/json" else payload.decode()
    return response.status, response, decoded


def predict(server, text, k=3):
    status, _, data = request(server, "POST", "/api/predict", {"text": text, "k": k})
    assert status == 200, data
    return data


def as_pairs(suggestions):
    return [(s.word, s.score) for s in suggestions]


def strip_of(data):
    """The strip fields of a /api/predict answer, as a keyglide.Strip compares."""
    correction = data["correction"]
    return (
        data["typed"],
        [(s["word"], s["score"]) for s in data["suggestions"]],
        None if correction is None else (correction["word"], correction["score"]),
        data["confidence"],
        data["autocorrect"],
    )


def expected_strip(strip):
    return (
        strip.typed,
        as_pairs(strip.suggestions),
        None if strip.correction is None else (strip.correction.word, strip.correction.score),
        strip.confidence,
        strip.autocorrect,
    )


# --- the page ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, kind", [("/", "text/html"), ("/demo.css", "text/css"), ("/demo.js", "text/javascript")]
)
def test_the_page_and_its_files(server, path, kind):
    status, response, body = request(server, "GET", path)
    assert status == 200
    assert response.getheader("Content-Type").startswith(kind)
    assert "default-src 'self'" in response.getheader("Content-Security-Policy")
    assert "http://" not in body and "https://" not in body  # nothing fetched from elsewhere
    if path == "/":
        assert 'id="strip"' in body and "<textarea" in body and 'src="demo.js"' in body


def test_info(server, dbs):
    status, _, info = request(server, "GET", "/api/info")
    assert status == 200
    with keyglide.open(dbs["1.0.0"]) as db:
        expected = db.info
    assert info["language"] == "xx" and info["data_version"] == "1.0.0"
    assert info["format"] == expected["format"] and info["engine"] == expected["engine"]
    assert info["store"] is None
    assert info["layouts"] == ["qwerty", "azerty", "qwertz"]


@pytest.mark.parametrize("name", ["qwerty", "azerty", "qwertz"])
def test_a_layout_for_the_on_screen_keyboard(server, name):
    status, _, data = request(server, "GET", f"/api/layout?name={name}")
    assert status == 200
    layout = keyglide.Layout.named(name)
    assert data["name"] == name and data["title"] == layout.name
    assert [
        (k["char"], k["x"], k["y"], k["width"], k["height"], k["alternates"]) for k in data["keys"]
    ] == [(k.char, k.x, k.y, k.width, k.height, k.alternates) for k in layout.keys]


def test_the_layout_defaults_to_qwerty_and_names_are_checked(server):
    status, _, data = request(server, "GET", "/api/layout")
    assert status == 200 and data["name"] == "qwerty"
    for query in ("?name=dvorak", "?name=", "?name=qwerty&name=azerty", "?name=QWERTY"):
        status, _, data = request(server, "GET", "/api/layout" + query)
        assert status == 400, query
        assert "qwerty" in data["error"] and "azerty" in data["error"], data
    status, response, _ = request(server, "POST", "/api/layout", {"name": "qwerty"})
    assert status == 405 and response.getheader("Allow") == "GET, HEAD"


# --- predictions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, prefix, replace",
    [
        ("I would like to ", None, 0),
        ("see you tom", "tom", 3),
        ("See You TOM", "tom", 3),
        ("", None, 0),
        ("we will see you.", None, 0),
        ("we can", "can", 3),
        ("don'", "don'", 4),
        ("well-kn", "well-kn", 7),
        ("a café naï", "naï", 3),
        ("x 𝒜b", "𝒜b", 2),  # one code point outside the BMP: two UTF-16 units in the page
    ],
)
def test_predict_answers_as_the_api(server, dbs, text, prefix, replace):
    data = predict(server, text)
    with keyglide.open(dbs["1.0.0"]) as db:
        expected = db.suggest(text, k=3)
    assert strip_of(data) == expected_strip(expected)
    assert data["prefix"] == prefix and data["typed"] == prefix
    assert data["replace"] == replace
    assert data["data_version"] == "1.0.0"
    assert isinstance(data["server_us"], float) and data["server_us"] >= 0


def test_the_corpus_gives_three_suggestions(server):
    words = [s["word"] for s in predict(server, "see you ")["suggestions"]]
    assert len(words) == 3 and "today" in words
    assert predict(server, "see you tom")["suggestions"][0]["word"] == "tomorrow"


@pytest.mark.parametrize(
    "text, typed, correction",
    [
        ("teh", "teh", "the"),
        ("Teh", "teh", "the"),
        ("see you tomorow", "tomorow", "tomorrow"),
        ("walk the dgo", "dgo", "dog"),
        ("thank yuo", "yuo", "you"),
    ],
)
def test_a_typo_comes_with_its_autocorrection(server, dbs, text, typed, correction):
    data = predict(server, text)
    assert data["typed"] == typed and data["replace"] == len(text.split()[-1])
    assert data["autocorrect"] is True
    assert data["correction"]["word"] == correction
    assert isinstance(data["confidence"], int) and data["confidence"] > 0
    # The strip holds what a space would leave: the page marks it.
    assert correction in [s["word"] for s in data["suggestions"]]
    with keyglide.open(dbs["1.0.0"]) as db:
        assert strip_of(data) == expected_strip(db.suggest(text, k=3))


@pytest.mark.parametrize("text", ["the", "see you soon", "see you ", "", "we will see you."])
def test_no_autocorrection_without_a_typo(server, text):
    data = predict(server, text)
    assert data["autocorrect"] is False
    if data["typed"] is None:  # the next word: nothing to correct
        assert data["correction"] is None and data["confidence"] is None


def test_the_layout_changes_the_decoding(server, dbs):
    # On AZERTY, z is next to a: "wznt" is "want" mistyped; on QWERTY it is too far.
    with keyglide.open(dbs["1.0.0"]) as db:
        for layout in ("qwerty", "azerty", "qwertz"):
            status, _, data = request(
                server, "POST", "/api/predict", {"text": "I wznt", "layout": layout}
            )
            assert status == 200
            assert strip_of(data) == expected_strip(db.suggest("I wznt", layout=layout))
    assert predict(server, "I wznt")["autocorrect"] is False  # qwerty by default
    status, _, data = request(
        server, "POST", "/api/predict", {"text": "I wznt", "layout": "azerty"}
    )
    assert data["autocorrect"] is True and data["correction"]["word"] == "want"


def test_touches_are_those_at_the_end_of_the_text(server, dbs):
    # "sew" for "see": the w touched on its edge next to the e is a slip, on its far edge
    # a meant w.
    near, far = [1.95, 0.75], [1.05, 0.75]
    with keyglide.open(dbs["1.0.0"]) as db:
        expected_near = expected_strip(db.suggest("I sew", touches=[None, None, tuple(near)]))
        expected_far = expected_strip(db.suggest("I sew", touches=[None, None, tuple(far)]))
        expected_none = expected_strip(db.suggest("I sew"))
    assert expected_near[4] is True and expected_far[4] is False  # the point matters

    def ask(touches):
        body = {"text": "I sew", "touches": touches}
        status, _, data = request(server, "POST", "/api/predict", body)
        assert status == 200, data
        return strip_of(data)

    assert ask([near]) == expected_near  # the characters before count as typed at their keys
    assert ask([[2.0, 2.25], [2.5, 0.75], near]) == expected_near
    assert ask([None, None, None, None, far]) == expected_far  # "I " too: not the word's
    assert ask([[9.0, 9.0], None, [2.0, 2.25], [2.5, 0.75], far]) == expected_far
    assert ask([]) == ask(None) == ask([None]) == expected_none
    # After a space the next word is predicted: the touches are not used.
    status, _, data = request(
        server, "POST", "/api/predict", {"text": "I sew ", "touches": [None, near, None]}
    )
    assert status == 200 and data["typed"] is None


def test_k_defaults_to_three_and_zero_is_allowed(server):
    status, _, data = request(server, "POST", "/api/predict", {"text": "see you "})
    assert status == 200 and len(data["suggestions"]) == 3
    assert predict(server, "see you ", k=0)["suggestions"] == []
    assert len(predict(server, "see you ", k=keyglide.MAX_K)["suggestions"]) > 3


def test_replace_length_is_the_word_being_typed_as_written():
    assert replace_length("see you Tom") == 3
    assert replace_length("see you Tom ") == 0
    assert replace_length("see you Tom.") == 0
    assert replace_length("Tom’") == 4  # the joiner belongs to the prefix
    assert replace_length("Tom--") == 0
    assert replace_length("...") == 0


def test_a_lone_surrogate_is_just_text(server):
    raw = b'{"text": "see you \\ud800tom", "k": 3}'
    status, _, data = request(server, "POST", "/api/predict", raw=raw)
    assert status == 200 and data["prefix"] == "tom" and data["replace"] == 3


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"text": "a", "k": -1}, 400, '"k" must be'),
        ({"text": "a", "k": keyglide.MAX_K + 1}, 400, '"k" must be'),
        ({"text": "a", "k": "3"}, 400, '"k" must be'),
        ({"text": "a", "k": 1.5}, 400, '"k" must be'),
        ({"text": "a", "k": True}, 400, '"k" must be'),
        ({"k": 3}, 400, '"text" must be a string'),
        ({"text": None}, 400, '"text" must be a string'),
        ({"text": ["a"]}, 400, '"text" must be a string'),
        ([1, 2], 400, "JSON object"),
        ("text", 400, "JSON object"),
        ({"text": "teh", "layout": "dvorak"}, 400, '"layout" must be one of "qwerty", '),
        ({"text": "teh", "layout": None}, 400, '"layout" must be one of'),
        ({"text": "teh", "layout": ["qwerty"]}, 400, '"layout" must be one of'),
        ({"text": "teh", "touches": "abc"}, 400, '"touches" must be a list'),
        ({"text": "teh", "touches": {"x": 1}}, 400, '"touches" must be a list'),
        ({"text": "teh", "touches": [[1.0]]}, 400, '"touches" must be a list'),
        ({"text": "teh", "touches": [[1, 2, 3]]}, 400, '"touches" must be a list'),
        ({"text": "teh", "touches": [[1, "2"]]}, 400, '"touches" must be a list'),
        ({"text": "teh", "touches": [[True, 2]]}, 400, '"touches" must be a list'),
        ({"text": "teh", "touches": [{"x": 1, "y": 2}]}, 400, '"touches" must be a list'),
        ({"text": "teh", "touches": [1, 2]}, 400, '"touches" must be a list'),
        ({"text": "teh", "touches": [[1e9, 0]]}, 400, "finite and within"),
        ({"text": "teh", "touches": [[0, -5000]]}, 400, "finite and within"),
        ({"text": "teh", "touches": [None] * 4}, 400, '"touches" has 4 entries'),
    ],
)
def test_bad_predict_requests(server, body, status, message):
    got, _, data = request(server, "POST", "/api/predict", body)
    assert got == status and message in data["error"]


@pytest.mark.parametrize(
    "raw, message",
    [
        (b'{"text": "a"', "not JSON"),
        (b"", "not JSON"),
        (b'{"text": "\xff\xfe"}', "not UTF-8"),
        (b"{'text': 'a'}", "not JSON"),
    ],
)
def test_invalid_json_or_utf8_is_400(server, raw, message):
    status, _, data = request(server, "POST", "/api/predict", raw=raw)
    assert status == 400 and message in data["error"]
    assert predict(server, "see ")["suggestions"]  # and the server goes on


@pytest.mark.parametrize("value", [b"NaN", b"Infinity", b"-Infinity", b"1" + b"0" * 400])
def test_a_touch_beyond_any_layout_is_400(server, value):
    # Python's JSON reads NaN and Infinity, and integers of any size up to its digit limit.
    raw = b'{"text": "teh", "touches": [[1, ' + value + b"]]}"
    status, _, data = request(server, "POST", "/api/predict", raw=raw)
    assert status == 400 and "finite and within" in data["error"]


def test_a_body_over_the_limit_is_413_and_the_server_goes_on(server):
    raw = json.dumps({"text": "a" * MAX_BODY}).encode()
    status, response, data = request(server, "POST", "/api/predict", raw=raw)
    assert status == 413 and str(MAX_BODY) in data["error"]
    assert response.getheader("Connection") == "close"
    # The limit is on the bytes: the largest body that fits is answered.
    fits = json.dumps({"text": "see you " * ((MAX_BODY - 20) // 8)}).encode()
    assert len(fits) <= MAX_BODY
    status, _, data = request(server, "POST", "/api/predict", raw=fits)
    assert status == 200 and data["prefix"] is None


def test_other_errors(server):
    status, _, data = request(server, "GET", "/nothing")
    assert status == 404 and "/nothing" in data["error"]
    status, _, data = request(server, "POST", "/api/nothing", {"text": "a"})
    assert status == 404
    status, response, data = request(server, "GET", "/api/predict")
    assert status == 405 and response.getheader("Allow") == "POST"
    status, response, _ = request(server, "DELETE", "/")
    assert status == 405 and response.getheader("Allow") == "GET, HEAD"
    status, _, _ = request(server, "PUT", "/api/predict", {"text": "a"})
    assert status == 405
    status, _, data = request(
        server, "POST", "/api/predict", raw=b'{"text": "a"}', headers={"Content-Type": "text/plain"}
    )
    assert status == 415  # what a form or a page of another site could send without asking
    status, _, data = request(server, "GET", "/api/info", headers={"Host": "evil.example:8765"})
    assert status == 403 and "loopback" in data["error"]
    status, _, data = request(server, "POST", "/api/activate", {"version": "2.0.0"})
    assert status == 409 and "--store" in data["error"]
    status, _, _ = request(server, "HEAD", "/")
    assert status == 200


def test_a_request_without_a_length_is_refused(server):
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.putrequest("POST", "/api/predict")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    conn.send(b'5\r\n{"a":\r\n0\r\n\r\n')
    response = conn.getresponse()
    assert response.status == 411
    conn.close()
    assert predict(server, "see ")["suggestions"]


def test_garbage_and_a_half_sent_body_do_not_stop_the_server(server):
    import socket

    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(b"\x00\x01 garbage \xff\r\n\r\n")
        assert b'"error"' in s.recv(1000)
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\n" + b"X: " + b"y" * 70000 + b"\r\n\r\n")
        assert s.recv(1000).startswith(b"HTTP/1.1 431 ")
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(
            b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
            b'\r\nContent-Length: 100\r\n\r\n{"text"'
        )
        s.shutdown(socket.SHUT_WR)
        assert b" 400 " in s.recv(200)
    assert predict(server, "see ")["suggestions"]


def test_only_loopback_unless_allowed(dbs):
    demo = Demo(db=dbs["1.0.0"])
    try:
        with pytest.raises(ValueError, match="--allow-remote"):
            DemoServer(demo, "0.0.0.0", 0)
    finally:
        demo.close()


def test_the_command_refuses_bad_arguments(capsys, dbs):
    assert cli.main(["demo", "--db", str(dbs["1.0.0"]), "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("keyglide: error: --host 0.0.0.0 is not a loopback address")
    assert err.count("\n") == 1
    assert cli.main(["demo", "--store", "somewhere"]) == 2
    assert "go together" in capsys.readouterr().err
    assert cli.main(["demo", "--db", str(dbs["1.0.0"]), "--port", "70000"]) == 2
    assert cli.main(["demo", "--db", "/nonexistent.langdb", "--port", "0"]) == 3
    assert capsys.readouterr().err.startswith("keyglide: error: ")


# --- concurrency ------------------------------------------------------------------------------


def test_many_concurrent_requests(server, dbs):
    texts = ["see you ", "see you tom", "I would like to ", "we w", "thank you ", "", "teh"]
    with keyglide.open(dbs["1.0.0"]) as db:
        expected = {t: expected_strip(db.suggest(t, k=3)) for t in texts}
    failures = []

    def client(n: int) -> None:
        for i in range(40):
            t = texts[(n + i) % len(texts)]
            try:
                got = strip_of(predict(server, t))
                if got != expected[t]:
                    failures.append((t, got))
            except Exception as e:  # noqa: BLE001 - collected and reported below
                failures.append((t, repr(e)))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, failures[:3]


# --- the store --------------------------------------------------------------------------------


def test_the_store_lists_versions_and_switches(store_server, store, dbs):
    status, _, info = request(store_server, "GET", "/api/info")
    assert status == 200
    assert info["store"]["active"] == "1.0.0" and info["data_version"] == "1.0.0"
    assert [v["version"] for v in info["store"]["versions"]] == ["1.0.0", "2.0.0"]
    answers = {}
    for version in ("1.0.0", "2.0.0"):
        with keyglide.open(dbs[version]) as db:
            answers[version] = as_pairs(db.predict("see you ", k=3))
    assert answers["1.0.0"] != answers["2.0.0"]  # the switch is visible

    status, _, info = request(store_server, "POST", "/api/activate", {"version": "2.0.0"})
    assert status == 200 and info["store"]["active"] == "2.0.0"
    assert info["data_version"] == "2.0.0"
    assert store.active("xx").version == "2.0.0"  # through Store.activate
    data = predict(store_server, "see you ")
    assert data["data_version"] == "2.0.0"
    assert [(s["word"], s["score"]) for s in data["suggestions"]] == answers["2.0.0"]

    # Activated from elsewhere (another process, the CLI): the demo follows on its next call.
    store.activate("xx", "1.0.0")
    data = predict(store_server, "see you ")
    assert data["data_version"] == "1.0.0"
    assert [(s["word"], s["score"]) for s in data["suggestions"]] == answers["1.0.0"]


def test_activating_what_is_not_there(store_server, store):
    status, _, data = request(store_server, "POST", "/api/activate", {"version": "9.9.9"})
    assert status == 404 and "9.9.9" in data["error"]
    status, _, data = request(store_server, "POST", "/api/activate", {"version": "../x"})
    assert status == 400
    status, _, data = request(store_server, "POST", "/api/activate", {"version": 2})
    assert status == 400 and '"version"' in data["error"]
    assert store.active("xx").version == "1.0.0"


def test_switching_under_load(store_server, store):
    stop = threading.Event()
    failures = []

    def client() -> None:
        while not stop.is_set():
            try:
                data = predict(store_server, "see you ")
                assert data["data_version"] in ("1.0.0", "2.0.0") and data["suggestions"]
            except Exception as e:  # noqa: BLE001 - collected and reported below
                failures.append(repr(e))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(20):
            version = ("2.0.0", "1.0.0")[i % 2]
            status, _, info = request(store_server, "POST", "/api/activate", {"version": version})
            assert status == 200 and info["store"]["active"] == version
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not failures, failures[:3]


# --- the command ------------------------------------------------------------------------------


def test_the_command_serves_on_a_free_port(dbs):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "keyglide.cli", "demo", "--db", str(dbs["1.0.0"]), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("keyglide demo: http://127.0.0.1:"), line + process.stderr.read()
        url = line.split()[2]
        port = int(url.rsplit(":", 1)[1].strip("/"))
        assert port != 0
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/api/info")
        response = conn.getresponse()
        assert response.status == 200 and json.loads(response.read())["data_version"] == "1.0.0"
        conn.close()
    finally:
        process.terminate()
        process.wait(10)


# --- client errors and clients that leave -----------------------------------------------------


@pytest.mark.parametrize(
    "raw, message",
    [
        (b'{"text": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested too deep"),
        (b'{"text": "a", "k": ' + b"7" * 5000 + b"}", "cannot be read"),
        (b'{"text": "a", "k": -' + b"1" * 4301 + b"}", "cannot be read"),
    ],
)
def test_json_python_cannot_read_is_a_client_error(server, raw, message):
    assert len(raw) <= MAX_BODY
    status, _, data = request(server, "POST", "/api/predict", raw=raw)
    assert status == 400 and message in data["error"]
    assert predict(server, "see ")["suggestions"]  # and the server goes on


def raw_exchange(server, head: bytes, body: bytes = b"") -> bytes:
    """Send a request as bytes; the whole answer (the server closes the connection)."""
    import socket

    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(head + body)
        s.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    "length, status",
    [
        ("\u00b2".encode("latin-1"), b" 400 "),  # SUPERSCRIPT TWO: str.isdigit() and int() take it
        (b"\xb9\xb3", b" 400 "),
        (b"+2", b" 400 "),
        (b"-2", b" 400 "),
        (b" ", b" 400 "),
        (b"9" * 5000, b" 413 "),  # more digits than int() converts: a body too large
        (b"0" * 5000 + b"2", b" 400 "),  # 2 bytes: "{}" has no "text"
    ],
)
@pytest.mark.parametrize("path", ["/api/predict", "/nothing"])
def test_a_content_length_of_other_digits_is_a_client_error(server, length, status, path):
    head = (
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Connection: close\r\nContent-Length: "
        ).encode()
        + length
        + b"\r\n\r\n"
    )
    answer = raw_exchange(server, head, b"{}")
    expected = status if path == "/api/predict" else b" 404 "
    assert answer.startswith(b"HTTP/1.1" + expected), answer[:200]
    assert b'"error"' in answer
    assert predict(server, "see ")["suggestions"]


@given(st.text(alphabet=st.characters(max_codepoint=0xFF), max_size=8))
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_content_length_gets_an_answer_below_500(server, length):
    head = (
        (
            b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: "
        )
        + length.replace("\r", "").replace("\n", "").encode("latin-1")
        + b"\r\n\r\n"
    )
    answer = raw_exchange(server, head, b'{"text": "see "}')
    assert answer.startswith((b"HTTP/1.1 2", b"HTTP/1.1 4")), answer[:200]


@pytest.fixture
def bare_server(dbs):
    """A demo server that is not serving: its handler is driven by hand."""
    server = DemoServer(Demo(db=dbs["1.0.0"]), "127.0.0.1", 0)
    try:
        yield server
    finally:
        server.server_close()
        server.demo.close()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",  # a 404
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",  # the page
        b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nabcde",
        b"\x00\x01 garbage\r\n\r\n",  # a request line too broken to route
        b"GET /api/info HTTP/1.1\r\nHost: evil.example\r\n\r\n",  # a 403
    ],
)
def test_a_client_that_left_before_the_answer_is_not_an_error(bare_server, capsys, request_bytes):
    import socket

    from keyglide.demo.server import Handler

    ours, theirs = socket.socketpair()  # writing to a closed peer fails at once: EPIPE
    theirs.sendall(request_bytes)
    theirs.close()
    with ours:
        Handler(ours, ("127.0.0.1", 0), bare_server)  # answers into a closed connection
    assert capsys.readouterr().err == ""


def test_a_client_that_reset_the_connection_is_not_an_error(bare_server, capsys):
    import socket
    import struct

    from keyglide.demo.server import Handler

    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname(), timeout=10)
        ours, address = listener.accept()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()  # with no linger: a reset
        with ours:
            Handler(ours, address, bare_server)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("error", [BrokenPipeError, ConnectionResetError, ConnectionAbortedError])
def test_the_server_reports_no_traceback_for_a_client_that_left(bare_server, capsys, error):
    try:
        raise error(32, "gone")
    except OSError:
        bare_server.handle_error(None, ("127.0.0.1", 1))
    assert capsys.readouterr().err == ""
    try:
        raise ValueError("a bug")
    except ValueError:
        bare_server.handle_error(None, ("127.0.0.1", 1))
    assert "ValueError: a bug" in capsys.readouterr().err  # a real failure still says so
