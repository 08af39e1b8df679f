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
from selenium.common.exceptions import (  # noqa: E402
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
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


def marked(driver) -> list[tuple[str, str]]:
    """(word, title) of the suggestions the strip marks as what a space would put in, read
    in one script: the page may redraw the strip between two reads of a found element."""
    found = driver.execute_script(
        "return Array.from(document.querySelectorAll('#strip .suggestion.autocorrect'))"
        ".map(b => [b.innerText, b.getAttribute('title')]);"
    )
    return [(word, title) for word, title in found]


def wait_for_value(driver, element, value: str) -> None:
    """Until the text area holds ``value`` with the cursor at its end (an autocorrection
    lands when the server has answered)."""
    try:
        WebDriverWait(driver, WAIT).until(
            lambda d: d.execute_script(
                "const t = arguments[0];"
                "return t.value === arguments[1] && t.selectionStart === t.value.length;",
                element,
                value,
            )
        )
    except TimeoutException:
        got = element.get_attribute("value")
        raise AssertionError(f"the text is {got!r}, not {value!r}") from None


def clear(driver, element) -> None:
    driver.execute_script("arguments[0].value = '';", element)
    element.send_keys("x", Keys.BACKSPACE)  # an input event: the page asks for the empty text
    wait_for_strip(driver, "")


def open_page(driver, server) -> None:
    driver.get(server.url)
    WebDriverWait(driver, WAIT).until(
        lambda d: (
            "data " in d.find_element(By.ID, "status").text
            and d.find_elements(By.CSS_SELECTOR, "#letters .key")
        )
    )


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
            typing = db.suggest("see you tom", k=3)
            completion = [s.word for s in typing.suggestions]
            after = [s.word for s in db.predict("see you tomorrow ", k=3)]
        assert len(words) == 3 and all(words)

        type_keys(browser, box, "tom")
        words = wait_for_strip(browser, "see you tom")
        assert words == three(completion) and words[0] == "tomorrow"
        # "tom" is not a word of this langdb: a space would correct it, and the strip says so.
        pending = [typing.correction.word] if typing.autocorrect else []
        assert [word for word, _ in marked(browser)] == pending
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


def test_a_space_takes_the_marked_autocorrection(browser, dbs):
    with keyglide.open(dbs["1.0.0"]) as db:
        strip = db.suggest("I want to walk teh", k=3)
        assert strip.autocorrect and strip.correction.word == "the"  # what the page must do
        assert not db.suggest("see you soon", k=3).autocorrect
        after = [s.word for s in db.suggest("I want to walk the ", k=3).suggestions]
    with running(Demo(db=dbs["1.0.0"])) as server:
        open_page(browser, server)
        box = browser.find_element(By.ID, "text")

        type_keys(browser, box, "I want to walk teh")
        words = wait_for_strip(browser, "I want to walk teh")
        assert words == three([s.word for s in strip.suggestions])
        assert marked(browser) == [("the", "space will correct teh to the")]
        assert browser.find_element(By.ID, "strip").get_attribute("data-autocorrect") == "the"

        # The space replaces the typo, then goes in.
        box.send_keys(" ")
        wait_for_value(browser, box, "I want to walk the ")
        assert wait_for_strip(browser, "I want to walk the ") == three(after)
        assert marked(browser) == []

        # Backspace right after brings the word back as typed, and a space then keeps it.
        box.send_keys(Keys.BACKSPACE)
        wait_for_value(browser, box, "I want to walk teh")
        wait_for_strip(browser, "I want to walk teh")
        assert marked(browser) == []
        box.send_keys(" ")
        wait_for_value(browser, box, "I want to walk teh ")
        wait_for_strip(browser, "I want to walk teh ")

        # A word a space keeps: no replacement.
        clear(browser, box)
        type_keys(browser, box, "see you soon ")
        wait_for_value(browser, box, "see you soon ")
        wait_for_strip(browser, "see you soon ")

        # Sentence punctuation takes the correction too; the typed capitals are kept; typed
        # without waiting, every word is corrected in turn.
        clear(browser, box)
        type_keys(browser, box, "Teh dgo. thank yuo, see you tomorow! ")
        wait_for_value(browser, box, "The dog. thank you, see you tomorrow! ")
        wait_for_strip(browser, "The dog. thank you, see you tomorrow! ")
        assert not browser.find_element(By.ID, "error").is_displayed()


def click_key(driver, char: str, dx: float = 0.0) -> None:
    """A tap on the on-screen key of ``char``, ``dx`` key widths right of its centre."""
    key = driver.find_element(By.CSS_SELECTOR, f'#letters .key[data-char="{char}"]')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", key)
    offset = round(dx * key.rect["width"])
    ActionChains(driver).move_to_element_with_offset(key, offset, 0).click().perform()


def test_the_on_screen_keyboard_sends_where_a_key_was_touched(browser, dbs):
    with keyglide.open(dbs["1.0.0"]) as db:
        # "sew": the w touched on its edge next to the e is a slip for "see"; on its far
        # edge, a w meant.
        assert db.suggest("I sew", touches=[None, None, (1.95, 0.75)]).autocorrect
        assert not db.suggest("I sew", touches=[None, None, (1.05, 0.75)]).autocorrect
    with running(Demo(db=dbs["1.0.0"])) as server:
        open_page(browser, server)
        box = browser.find_element(By.ID, "text")
        keys = browser.find_elements(By.CSS_SELECTOR, "#letters .key")
        assert [k.text for k in keys] == list("qwertyuiopasdfghjklzxcvbnm")

        type_keys(browser, box, "I ")
        click_key(browser, "s")
        click_key(browser, "e")
        click_key(browser, "w", 0.4)  # towards the e
        wait_for_strip(browser, "I sew")
        assert [word for word, _ in marked(browser)] == ["see"]
        browser.find_element(By.CSS_SELECTOR, '#controls [data-text=" "]').click()
        wait_for_value(browser, box, "I see ")
        assert browser.switch_to.active_element == box

        type_keys(browser, box, "I ")
        click_key(browser, "s")
        click_key(browser, "e")
        click_key(browser, "w", -0.4)  # away from the e
        wait_for_strip(browser, "I see I sew")
        assert marked(browser) == []
        # The on-screen backspace, then a letter, space and punctuation.
        browser.find_element(By.CSS_SELECTOR, '#controls [data-action="backspace"]').click()
        wait_for_value(browser, box, "I see I se")
        click_key(browser, "e")
        browser.find_element(By.CSS_SELECTOR, '#controls [data-text="."]').click()
        wait_for_value(browser, box, "I see I see.")
        # Shift gives one capital; the correction follows the case typed.
        box.send_keys(" ")
        browser.find_element(By.CSS_SELECTOR, '#controls [data-action="shift"]').click()
        keys = browser.find_elements(By.CSS_SELECTOR, "#letters .key")
        assert [k.text for k in keys][:3] == ["Q", "W", "E"]
        for char in "teh":
            click_key(browser, char)
        wait_for_strip(browser, "I see I see. Teh")
        assert [word for word, _ in marked(browser)] == ["The"]
        browser.find_element(By.CSS_SELECTOR, '#controls [data-text=" "]').click()
        wait_for_value(browser, box, "I see I see. The ")


def test_the_layout_selector(browser, dbs):
    with keyglide.open(dbs["1.0.0"]) as db:
        # On AZERTY the z is next to the a: "wznt" is "want" mistyped; on QWERTY it is not.
        assert db.suggest("I wznt", layout="azerty").autocorrect
        assert not db.suggest("I wznt", layout="qwerty").autocorrect
    with running(Demo(db=dbs["1.0.0"])) as server:
        open_page(browser, server)
        box = browser.find_element(By.ID, "text")
        type_keys(browser, box, "I wznt")
        wait_for_strip(browser, "I wznt")
        assert marked(browser) == []

        Select(browser.find_element(By.ID, "layout")).select_by_value("azerty")
        # The page redraws the keyboard and the strip: an element found just before a redraw
        # is stale when read, which only means "look again".
        redrawn = WebDriverWait(browser, WAIT, ignored_exceptions=(StaleElementReferenceException,))
        redrawn.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#letters .key")[0].text == "a")
        redrawn.until(lambda d: marked(d))
        wait_for_strip(browser, "I wznt")
        assert [word for word, _ in marked(browser)] == ["want"]
        box.send_keys(" ")
        wait_for_value(browser, box, "I want ")


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
