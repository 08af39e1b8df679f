"""``keyglide demo`` end to end in a real headless browser: Chromium driven by selenium
through the system's chromedriver (Debian: ``apt-get install chromium chromium-driver``).

Skips, saying why, only where no browser or driver is installed (fails instead with
``KEYGLIDE_REQUIRE_BROWSER=1``, as CI sets); nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import keyglide
import pytest
from demo_support import build_langdb, running
from keyglide.demo.server import Demo

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WAIT = 10  # seconds: a prediction takes milliseconds; this bounds a broken page, not a slow one


def find_browser() -> tuple[str, str] | None:
    browser = os.environ.get("KEYGLIDE_CHROMIUM") or next(
        (path for name in BROWSERS if (path := shutil.which(name))), None
    )
    driver = os.environ.get("KEYGLIDE_CHROMEDRIVER") or shutil.which("chromedriver")
    if driver is None and os.path.exists("/usr/bin/chromedriver"):
        driver = "/usr/bin/chromedriver"
    if browser is None or driver is None:
        return None
    return browser, driver


def chromium_options(browser: str, profile: str) -> webdriver.ChromeOptions:
    """Headless Chromium that reaches nothing but the demo: no first-run, sync, component
    updates, QUIC or background networking, and a fresh profile."""
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=720,560",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    return options


@pytest.fixture(scope="module")
def browser():
    found = find_browser()
    if found is None:
        message = (
            "no Chromium and chromedriver found (Debian: apt-get install chromium "
            "chromium-driver; or set KEYGLIDE_CHROMIUM and KEYGLIDE_CHROMEDRIVER)"
        )
        if os.environ.get("KEYGLIDE_REQUIRE_BROWSER") == "1":
            pytest.fail(message + ", and KEYGLIDE_REQUIRE_BROWSER=1 forbids skipping")
        pytest.skip(message)
    path, driver_path = found
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium must not look for drivers online
    with tempfile.TemporaryDirectory(prefix="keyglide-chromium-") as profile:
        driver = webdriver.Chrome(
            options=chromium_options(path, profile), service=Service(driver_path)
        )
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture(scope="module")
def dbs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("demo-browser-langdbs")
    return {"1.0.0": build_langdb(d, 1, "1.0.0"), "2.0.0": build_langdb(d, 2, "2.0.0")}


def three(words: list[str]) -> list[str]:
    """The strip's three buttons for these suggestions: the empty ones stay blank."""
    return [*words, "", "", ""][:3]


def strip_words(driver) -> list[str]:
    return [b.text for b in driver.find_elements(By.CSS_SELECTOR, "#strip .suggestion")]


def wait_for_strip(driver, expected_text: str) -> list[str]:
    """The strip's words once it shows the answer for ``expected_text`` (the text before the
    cursor) and that answer is the latest."""

    def ready(d):
        state = d.execute_script(
            "const t = document.getElementById('text');"
            "const s = document.getElementById('strip');"
            "return [t.value.slice(0, t.selectionStart), s.classList.contains('stale'),"
            " s.dataset.sequence || ''];"
        )
        return state[0] == expected_text and not state[1] and state[2] != ""

    WebDriverWait(driver, WAIT).until(ready)
    return strip_words(driver)


def type_keys(driver, element, phrase: str) -> None:
    for ch in phrase:  # one key at a time: an input event, and a request, per key
        element.send_keys(ch)


def test_typing_updates_the_strip_and_a_click_inserts(browser, dbs):
    started = time.monotonic()
    with running(Demo(db=dbs["1.0.0"])) as server:
        browser.get(server.url)
        box = browser.find_element(By.ID, "text")
        WebDriverWait(browser, WAIT).until(
            lambda d: "data 1.0.0" in d.find_element(By.ID, "status").text
        )

        type_keys(browser, box, "see you ")
        words = wait_for_strip(browser, "see you ")
        with keyglide.open(dbs["1.0.0"]) as db:
            assert words == three([s.word for s in db.predict("see you ", k=3)])
            completion = [s.word for s in db.predict("see you tom", k=3)]
            after = [s.word for s in db.predict("see you tomorrow ", k=3)]
        assert len(words) == 3 and all(words)

        type_keys(browser, box, "tom")
        words = wait_for_strip(browser, "see you tom")
        assert words == three(completion) and words[0] == "tomorrow"
        status = browser.find_element(By.ID, "status").text
        for part in ("xx", "data 1.0.0", "format ", "engine ", "µs server", "ms round trip"):
            assert part in status, status

        # Choosing a suggestion replaces the word being typed and adds a space.
        browser.find_elements(By.CSS_SELECTOR, "#strip .suggestion")[0].click()
        assert box.get_attribute("value") == "see you tomorrow "
        assert wait_for_strip(browser, "see you tomorrow ") == three(after)
        # A next-word suggestion is appended; the focus stays in the text area.
        browser.find_elements(By.CSS_SELECTOR, "#strip .suggestion")[1].click()
        assert box.get_attribute("value") == f"see you tomorrow {after[1]} "
        assert browser.switch_to.active_element == box
        assert not browser.find_element(By.ID, "error").is_displayed()
    assert time.monotonic() - started < 30


def test_switching_the_store_version_in_the_page(browser, dbs, tmp_path):
    store = keyglide.Store(tmp_path / "store")
    for db in dbs.values():
        store.install(db)
    store.activate("xx", "1.0.0")
    with keyglide.open(dbs["2.0.0"]) as db:
        expected = [s.word for s in db.predict("see you ", k=3)]
    with running(Demo(store=store.root, language="xx")) as server:
        browser.get(server.url)
        box = browser.find_element(By.ID, "text")
        WebDriverWait(browser, WAIT).until(
            lambda d: d.find_element(By.ID, "version").is_displayed()
        )
        type_keys(browser, box, "see you ")
        wait_for_strip(browser, "see you ")
        Select(browser.find_element(By.ID, "version")).select_by_value("2.0.0")
        WebDriverWait(browser, WAIT).until(
            lambda d: "data 2.0.0" in d.find_element(By.ID, "status").text
        )
        assert wait_for_strip(browser, "see you ") == three(expected)
        assert store.active("xx").version == "2.0.0"
