"""The console (`GET /console`) in a real browser: headless Chromium driven by Selenium against
the app in the local host, with Azurite and the ACS double. Data is made through the API and
keyword events on the queue, then read through the page as a person would: sign in, look up,
the as-of at a past time, a list page and its export, the report's charts, add with its
confirmation, sign out. Screenshots of each view go to test-artifacts/console/ (not committed).

Also, without a browser: the page's Content-Security-Policy, and no URL of another site in any
shipped file.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from devhost.inprocess import OTHER_KEY, TEST_KEY
from devhost.testing import ROOT, Azurite
from shared.api.console import CONTENT_SECURITY_POLICY, FILES, STATIC_DIR
from tests.browser import start_chrome
from tests.hosted import HostedApp, hosted, sms_received, wait_for

SHOTS = ROOT / "test-artifacts" / "console"
# Scoped keys (OPTOUT_KEYS; docs/access.md): a check-only key and a read key for two senders.
CHECK_KEY = base64.b64encode(b"console-test-check-only-key").decode()
READ_KEY = base64.b64encode(b"console-test-read-only-key!").decode()
SENDER = "+18005550160"  # the report's and lookups' sender
LISTED = "+18005550170"  # the list's sender
T = TypeVar("T")


class App(HostedApp):
    def change(self, action: str, sender: str, people: list[str]) -> None:
        body = {"from": sender, "recipients": [{"to": p} for p in people]}
        res = self.signed("POST", f"/sms/optouts:{action}?api-version=2026-01-23", body)
        assert res.status_code == 200, res.text
        assert all(item["httpStatusCode"] == 200 for item in res.json()["value"]), res.text

    def keyword(self, person: str, text: str, at: datetime, sender: str = SENDER) -> None:
        self.put(sms_received(sender, person, text, at.isoformat().replace("+00:00", "Z")))

    def history(self, person: str, sender: str = SENDER) -> list[dict[str, Any]]:
        res = self.signed("GET", f"/sms/senders/{sender}/history?recipient=%2B{person[1:]}")
        assert res.status_code == 200, res.text
        return list(res.json()["value"])


@pytest.fixture(scope="module")
def app(azurite: Azurite) -> Iterator[App]:
    suffix = uuid.uuid4().hex[:8]
    env = {
        "OPTOUT_ACCESS_KEYS": TEST_KEY,  # a full key, named key1
        "OPTOUT_KEYS": json.dumps(
            [
                {"name": "desk", "key": CHECK_KEY, "permissions": ["check"], "senders": [SENDER]},
                {
                    "name": "auditor",
                    "key": READ_KEY,
                    "permissions": ["read"],
                    "senders": [SENDER, LISTED],
                },
            ]
        ),
        "OPTOUT_TABLE_NAME": f"ConsoleOptOuts{suffix}",
        "OPTOUT_HISTORY_TABLE_NAME": f"ConsoleHistory{suffix}",
        "SENDER_PROGRAMS_TABLE_NAME": f"ConsolePrograms{suffix}",
        "GROUP_OPTOUTS_TABLE_NAME": f"ConsoleGroups{suffix}",
        "REPLY_BRAND": "Contoso",
    }
    with hosted(App, azurite, env) as app:
        yield app


@dataclass
class Seeded:
    on_time: str  # STOP, confirmed at once
    late: str  # STOP received an hour ago: its confirmation is late
    by_api: list[str]  # opted out through the API
    never: str  # never opted out
    flip: str  # opted out, then back in: `flip_at` is between the two
    flip_at: datetime
    stops: list[datetime]  # the two STOPs' receipt times
    listed: list[str]  # LISTED's opt-outs, 27 US and 3 FR numbers


@pytest.fixture(scope="module")
def seeded(app: App) -> Seeded:
    now = datetime.now(UTC).replace(microsecond=0)
    on_time, late = "+14255550161", "+14255550162"
    stops = [now - timedelta(seconds=20), now - timedelta(hours=1)]
    app.keyword(on_time, "STOP", stops[0])
    app.keyword(late, "STOP", stops[1])
    by_api = ["+14255550163", "+14255550164"]
    app.change("add", SENDER, by_api)
    flip = "+14255550165"
    app.change("add", SENDER, [flip])
    added = datetime.now(UTC)
    time.sleep(2.5)
    app.change("remove", SENDER, [flip])
    us = [f"+1425555{n:04d}" for n in range(300, 327)]
    fr = [f"+3361234560{n}" for n in range(1, 4)]
    app.change("add", LISTED, us + fr)
    # Both confirmations went out and were recorded, so the report has their delays.
    for person in (on_time, late):
        wait_for(lambda p=person: [r for r in app.history(p) if r["replyStatus"] == "sent"])
    return Seeded(
        on_time,
        late,
        by_api,
        "+14255550166",
        flip,
        (added + timedelta(seconds=1)).replace(microsecond=0),
        stops,
        us + fr,
    )


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    downloads = tmp_path_factory.mktemp("downloads")
    chrome = start_chrome(downloads)
    try:
        yield Browser(chrome, downloads)
    finally:
        chrome.quit()


class Browser:
    """The page as a person uses it: fields found by their visible label, buttons by their
    text, inside the view that is showing."""

    def __init__(self, driver: webdriver.Chrome, downloads: Path) -> None:
        self.driver = driver
        self.downloads = downloads

    def open(self, base_url: str) -> None:
        self.driver.get(base_url + "/console")
        self.until(lambda: self.view().get_attribute("id"))

    def until(self, condition: Callable[[], T], timeout: float = 60.0) -> T:
        """Wait for `condition` (generous: the suite shares a loaded machine with the host)."""
        # A view redrawn while it is read gives stale elements: read it again.
        wait = WebDriverWait(
            self.driver, timeout, ignored_exceptions=[StaleElementReferenceException]
        )
        return wait.until(lambda _: condition())

    def view(self) -> WebElement:
        """The one view showing; while the page switches views, two (or none) may be: wait."""

        def one_shown() -> WebElement | None:
            views = self.driver.find_elements(By.CSS_SELECTOR, ".view")
            shown = [v for v in views if v.is_displayed()]
            return shown[0] if len(shown) == 1 else None

        return self.until(one_shown)

    def field(self, label: str) -> WebElement:
        labels = [
            el
            for el in self.view().find_elements(By.TAG_NAME, "label")
            if el.text.strip() == label and el.is_displayed()
        ]
        assert len(labels) == 1, f"one visible field labelled {label!r}, found {len(labels)}"
        return self.driver.find_element(By.ID, labels[0].get_attribute("for") or "")

    def fill(self, label: str, value: str) -> None:
        el = self.field(label)
        el.clear()
        el.send_keys(value)

    def set_time(self, label: str, value: datetime | None) -> None:
        # A datetime-local input's typing order depends on the locale; set its value as a date
        # picker does, and tell the page.
        text = value.strftime("%Y-%m-%dT%H:%M:%S") if value else ""
        self.driver.execute_script(
            "arguments[0].value = arguments[1];"
            "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));",
            self.field(label),
            text,
        )

    def button(self, text: str, scope: WebElement | None = None) -> WebElement:
        found = [
            b
            for b in (scope or self.driver).find_elements(By.TAG_NAME, "button")
            if b.text.strip() == text and b.is_displayed()
        ]
        assert len(found) == 1, f"one visible button {text!r}, found {len(found)}"
        return found[0]

    def click(self, text: str) -> None:
        self.button(text).click()

    def tab(self, text: str) -> None:
        self.click(text)

    def visible_tabs(self) -> list[str]:
        tabs = self.driver.find_elements(By.CSS_SELECTOR, "#nav button")
        return [t.text for t in tabs if t.is_displayed()]

    def error(self) -> str:
        return "".join(e.text for e in self.view().find_elements(By.CSS_SELECTOR, ".error"))

    def wait_error(self, contains: str) -> str:
        return self.until(lambda: contains in self.error() and self.error())

    def done(self, form_id: str) -> None:
        """Wait until the form's request finished (its buttons are enabled again)."""
        self.until(
            lambda: all(
                b.is_enabled()
                for b in self.driver.find_elements(By.CSS_SELECTOR, f"#{form_id} button")
            )
        )

    def shot(self, name: str) -> Path:
        """Save a screenshot of the whole page; what it shows has no stray null/undefined."""
        text = self.driver.find_element(By.TAG_NAME, "body").text
        assert not re.search(r"\b(null|undefined|NaN|\[object)", text), text
        path = SHOTS / f"{name}.png"
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        size = self.driver.get_window_size()
        self.driver.set_window_size(size["width"], max(size["height"], min(int(height) + 40, 4000)))
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(size["width"], size["height"])
        return path

    def storage(self) -> dict[str, str]:
        return dict(
            self.driver.execute_script(
                "const o = {}; for (let i = 0; i < sessionStorage.length; i++) {"
                " const k = sessionStorage.key(i); o[k] = sessionStorage.getItem(k); } return o;"
            )
        )

    def sign_in(self, key: str) -> None:
        field = self.field("Access key")
        field.clear()
        field.send_keys(key, Keys.ENTER)  # the keyboard alone

    def csp_violations(self) -> list[str]:
        return [
            entry["message"]
            for entry in self.driver.get_log("browser")
            if "Content Security Policy" in entry["message"] or "Refused to" in entry["message"]
        ]


def signed_in(b: Browser) -> bool:
    return b.view().get_attribute("id") != "view-signin"


# --- without a browser: what is shipped, and the policy it is served with ------------------

SVG_NAMESPACE = "http://www.w3.org/2000/svg"  # a namespace name (an identifier), never fetched
URL = re.compile(r"""(?:[a-z][a-z0-9+.-]*:)?//[^\s"'`)<>]+""", re.IGNORECASE)


def test_no_shipped_file_names_another_site() -> None:
    shipped = sorted(p.name for p in STATIC_DIR.iterdir())
    assert shipped == sorted(FILES), "every shipped file is served, and only those"
    for name in shipped:
        text = (STATIC_DIR / name).read_text(encoding="utf-8")
        urls = [u for u in URL.findall(text) if u != SVG_NAMESPACE and not u.startswith("//")]
        assert not urls, f"{name} names another site: {urls}"
        protocol_relative = re.findall(r"""["'(=]\s*//[a-z0-9]""", text, re.IGNORECASE)
        assert not protocol_relative, f"{name} has a protocol-relative URL: {protocol_relative}"
        assert "@import" not in text
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)", page), "no inline script"
    assert not re.search(r"\sstyle\s*=|<style", page), "no inline style"
    assert not re.search(r"\son[a-z]+\s*=", page), "no inline event handler"
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(",
                         (STATIC_DIR / "console.js").read_text(encoding="utf-8"))  # fmt: skip


def test_the_console_is_deployed_with_the_app() -> None:
    ignored = (ROOT / ".funcignore").read_text(encoding="utf-8").split()
    patterns = {"shared/", "shared", "shared/console/", "*.html", "*.js", "*.css", "*.svg"}
    assert not patterns & set(ignored)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"console/*"' in pyproject  # package data of `shared`, next to openapi.json


def test_every_file_is_served_with_a_strict_policy(app: App) -> None:
    for path, media in [("/console", "text/html")] + [
        (f"/console/{name}", media) for name, media in FILES.items() if name != "index.html"
    ]:
        res = requests.get(app.url + path, timeout=10)
        assert res.status_code == 200, path
        assert res.headers["content-type"].split(";")[0] == media
        policy = res.headers["content-security-policy"]
        assert policy == CONTENT_SECURITY_POLICY
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["default-src"] == "'none'"
        for name in ("script-src", "style-src", "connect-src"):
            assert directives[name] == "'self'", name
        assert directives["frame-ancestors"] == "'none'"
        assert not re.search(r"unsafe|https?:|\*", policy)
        assert res.headers["x-content-type-options"] == "nosniff"
    for bad in ("index.html", "nope.js", "..%2Frouting.py", "console.py"):
        assert requests.get(f"{app.url}/console/{bad}", timeout=10).status_code == 404, bad


# --- in the browser --------------------------------------------------------------------------


def test_a_wrong_key_is_refused_in_words(app: App, browser: Browser) -> None:
    browser.open(app.url)
    assert browser.view().get_attribute("id") == "view-signin"
    # Nothing but the sign-in is offered before a key is accepted.
    assert not browser.driver.find_element(By.ID, "nav").is_displayed()
    assert not browser.driver.find_element(By.ID, "who").is_displayed()
    browser.shot("01-sign-in")
    browser.sign_in("not a key")
    assert "This is not an access key" in browser.wait_error("not an access key")
    browser.sign_in(OTHER_KEY)
    message = browser.wait_error("Wrong key")
    assert "did not accept this access key" in message
    assert browser.storage() == {}, "a refused key is not kept"
    assert not browser.driver.find_element(By.ID, "nav").is_displayed()
    browser.shot("02-wrong-key")


def test_sign_in_and_look_up_an_opted_out_number(
    app: App, seeded: Seeded, browser: Browser
) -> None:
    browser.open(app.url)
    browser.sign_in(TEST_KEY)
    browser.until(lambda: signed_in(browser))
    assert browser.storage() == {"optouts-console.key": TEST_KEY}
    assert browser.view().get_attribute("id") == "view-lookup"
    browser.fill("Sender", SENDER)
    browser.fill("Phone number", seeded.on_time)
    browser.field("Phone number").send_keys(Keys.ENTER)
    now = browser.until(lambda: browser.driver.find_elements(By.ID, "status-now"))[0]
    assert now.get_attribute("data-opted-out") == "true"
    assert "Opted out" in now.text
    assert f"by STOP to {SENDER}" in now.text
    # The number is masked until revealed.
    heading = browser.driver.find_element(By.ID, "lookup-heading").text
    assert seeded.on_time not in heading and seeded.on_time[:4] in heading
    rows = browser.driver.find_elements(By.CSS_SELECTOR, "#lookup-timeline tbody tr")
    assert len(rows) == 1
    assert "STOP" in rows[0].text and "keyword" in rows[0].text and "sent" in rows[0].text
    browser.shot("03-look-up-opted-out")
    browser.click("Show numbers")
    assert seeded.on_time in browser.driver.find_element(By.ID, "lookup-heading").text
    browser.click("Hide numbers")
    assert seeded.on_time not in browser.driver.find_element(By.ID, "lookup-heading").text


def test_look_up_a_number_never_opted_out(app: App, seeded: Seeded, browser: Browser) -> None:
    browser.fill("Phone number", seeded.never)
    browser.click("Look up")
    browser.done("lookup-form")
    now = browser.driver.find_element(By.ID, "status-now")
    assert now.get_attribute("data-opted-out") == "false"
    assert "Not opted out" in now.text and "no opt-out was recorded" in now.text
    assert browser.driver.find_element(By.ID, "lookup-timeline").get_attribute("data-rows") == "0"


def test_the_status_at_a_past_time(app: App, seeded: Seeded, browser: Browser) -> None:
    browser.fill("Phone number", seeded.flip)
    browser.set_time("At", seeded.flip_at)
    browser.click("Look up")
    browser.done("lookup-form")
    then = browser.until(lambda: browser.driver.find_elements(By.ID, "status-at"))[0]
    now = browser.driver.find_element(By.ID, "status-now")
    assert then.get_attribute("data-opted-out") == "true", then.text
    assert "through the API" in then.text
    assert now.get_attribute("data-opted-out") == "false", now.text
    assert "opted back in" in now.text
    assert then.get_attribute("data-at").startswith(seeded.flip_at.strftime("%Y-%m-%dT%H:%M:%S"))
    assert len(browser.driver.find_elements(By.CSS_SELECTOR, "#lookup-timeline tbody tr")) == 2
    browser.shot("04-look-up-as-of")


def test_a_revoke_all_group_is_looked_up_on_every_sender(
    app: App, seeded: Seeded, browser: Browser
) -> None:
    told, other, person = "+18005550181", "+18005550182", "+14255550168"
    for sender in (told, other):
        program = {"group": "console-brand", "revokeAll": True}
        res = app.signed("PUT", f"/sms/senders/{sender}/program", program)
        assert res.status_code == 200, res.text
    app.keyword(person, "STOP", datetime.now(UTC), sender=told)
    wait_for(lambda: app.history(person, told))
    browser.tab("Look up a number")
    browser.fill("Sender", other)
    browser.fill("Phone number", person)
    browser.set_time("At", None)
    browser.click("Look up")
    browser.done("lookup-form")
    now = browser.until(lambda: browser.driver.find_elements(By.ID, "status-now"))[0]
    assert now.get_attribute("data-opted-out") == "true"
    assert "through the revoke-all group “console-brand”" in now.text
    rows = browser.driver.find_elements(By.CSS_SELECTOR, "#lookup-group-senders tbody tr")
    statuses = {r.find_elements(By.TAG_NAME, "td")[0].text: r for r in rows}
    assert sorted(statuses) == [told, other]
    assert all("Opted out" in r.find_elements(By.TAG_NAME, "td")[1].text for r in rows)
    assert f"by STOP to {told}" in statuses[told].text
    events = browser.driver.find_element(By.ID, "lookup-group-events")
    assert events.get_attribute("data-rows") == "1" and "STOP" in events.text
    browser.shot("05-look-up-group")


def test_a_list_page_its_filters_and_its_export(app: App, seeded: Seeded, browser: Browser) -> None:
    browser.tab("A sender's list")
    browser.fill("Sender", LISTED)
    browser.click("Show list")
    table = browser.until(lambda: browser.driver.find_elements(By.ID, "list-table"))[0]
    assert table.get_attribute("data-rows") == "25"
    browser.shot("06-list")
    browser.click("Next page")
    browser.until(lambda: browser.driver.find_element(By.ID, "list-page").text == "Page 2")
    assert browser.driver.find_element(By.ID, "list-table").get_attribute("data-rows") == "5"
    assert not browser.button("Next page").is_enabled()
    browser.click("Previous page")
    browser.until(lambda: browser.driver.find_element(By.ID, "list-page").text == "Page 1")
    browser.fill("Country", "FR")
    browser.click("Show list")
    browser.until(
        lambda: browser.driver.find_element(By.ID, "list-table").get_attribute("data-rows") == "3"
    )
    browser.click("Show numbers")
    shown = {e.text for e in browser.driver.find_elements(By.CSS_SELECTOR, "#list-table .phone")}
    browser.click("Hide numbers")
    assert shown == {p for p in seeded.listed if p.startswith("+33")}
    browser.fill("Country", "")
    browser.click("Export CSV")
    exported = browser.downloads / "optouts-18005550170.csv"
    browser.until(lambda: exported.exists() and exported.stat().st_size > 0)
    rows = list(csv.DictReader(io.StringIO(exported.read_text(encoding="utf-8"))))
    assert sorted(r["to"] for r in rows) == sorted(seeded.listed)
    assert Counter(r["country"] for r in rows) == {"US": 27, "FR": 3}
    assert "Exported 30 rows" in browser.driver.find_element(By.ID, "list-status").text


def test_the_report_draws_its_charts_from_the_data(
    app: App, seeded: Seeded, browser: Browser
) -> None:
    browser.tab("Compliance report")
    browser.fill("Sender", SENDER)
    start = (min(seeded.stops) - timedelta(minutes=5)).replace(second=0)
    browser.set_time("From", start)
    browser.set_time("To", datetime.now(UTC) + timedelta(minutes=5))
    browser.click("Show report")
    browser.done("report-form")
    browser.until(lambda: browser.driver.find_elements(By.ID, "chart-per-day"))
    d = browser.driver
    # Opt-outs per day by source: the keyword STOPs and the API adds on their days.
    expected: Counter[tuple[str, str]] = Counter()
    for at in seeded.stops:
        expected[(at.date().isoformat(), "keyword")] += 1
    api_day = datetime.now(UTC).date().isoformat()  # the API's changes are received now
    expected[(api_day, "api")] += len(seeded.by_api) + 1  # and the one opted back in
    drawn = Counter(
        {
            (r.get_attribute("data-day"), r.get_attribute("data-source")): int(
                r.get_attribute("data-count")
            )
            for r in d.find_elements(By.CSS_SELECTOR, "#chart-per-day rect[data-source]")
        }
    )
    assert drawn == expected
    assert d.find_element(By.ID, "chart-per-day").get_attribute("data-total") == "5"
    for rect in d.find_elements(By.CSS_SELECTOR, "#chart-per-day rect[data-source]"):
        assert float(rect.get_attribute("height")) > 0
    # Confirmation delay: two keyword STOPs, one past the 5-minute line.
    confirmation = d.find_element(By.ID, "chart-confirmation")
    assert confirmation.get_attribute("data-total") == "2"
    late_bars = confirmation.find_elements(By.CSS_SELECTOR, "rect[data-late='true']")
    assert sum(int(r.get_attribute("data-count")) for r in late_bars) == 1
    assert (
        confirmation.find_element(By.CSS_SELECTOR, "line[data-limit]").get_attribute("data-limit")
        == "5 minutes"
    )
    # Opt-out latency: five applied opt-outs, none past 10 business days.
    latency = d.find_element(By.ID, "chart-latency")
    assert latency.get_attribute("data-total") == "5"
    assert all(
        r.get_attribute("data-count") == "0"
        for r in latency.find_elements(By.CSS_SELECTOR, "rect[data-late='true']")
    )
    # Totals by source and keyword.
    by_source = d.find_element(By.ID, "totals-source").text
    assert "keyword 2 0" in by_source and "api 3 1" in by_source
    assert "STOP 2" in d.find_element(By.ID, "totals-keyword").text
    browser.shot("07-report")
    # The late row links to its lookup.
    late = d.find_element(By.ID, "late-rows")
    assert late.get_attribute("data-rows") == "1"
    (link,) = late.find_elements(By.CSS_SELECTOR, "button[data-recipient]")
    assert link.get_attribute("data-recipient") == seeded.late
    link.click()
    browser.until(lambda: browser.view().get_attribute("id") == "view-lookup")
    browser.done("lookup-form")
    now = browser.until(lambda: browser.driver.find_elements(By.ID, "status-now"))[0]
    assert now.get_attribute("data-opted-out") == "true"
    assert browser.field("Phone number").get_attribute("value") == seeded.late


def test_add_asks_for_a_confirmation_naming_sender_and_number(
    app: App, seeded: Seeded, browser: Browser
) -> None:
    person = "+14255550167"
    browser.tab("Add or remove")
    browser.fill("Sender", SENDER)
    browser.fill("Phone number", person)
    browser.click("Add opt-out")
    question = browser.driver.find_element(By.ID, "confirm-text").text
    assert SENDER in question and person in question
    browser.shot("08-add-confirm")
    browser.click("Cancel")
    assert "Nothing was changed" in browser.driver.find_element(By.ID, "change-status").text
    assert not [r for r in app.history(person) if r["action"] == "optout"]
    browser.click("Add opt-out")
    browser.click("Yes, add the opt-out")
    browser.until(lambda: "Done" in browser.driver.find_element(By.ID, "change-status").text)
    assert [r["action"] for r in app.history(person)] == ["optout"]


# [text, contrast ratio with its background] of every visible heading, label, hint, button,
# cell and error (WCAG's relative luminance; the background is the nearest one that is set).
CONTRAST = """
const lum = (color) => {
  const [r, g, b] = color.match(/\\d+/g).slice(0, 3).map(Number).map((v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const background = (el) => {
  for (; el; el = el.parentElement) {
    const c = getComputedStyle(el).backgroundColor;
    if (!c.startsWith('rgba(0, 0, 0, 0)') && c !== 'transparent') return c;
  }
  return 'rgb(255, 255, 255)';
};
const ratio = (el) => {
  const a = lum(getComputedStyle(el).color);
  const b = lum(background(el));
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
};
return [...document.querySelectorAll('h1, h2, label, .hint, button, td, th, .error')]
  .filter((el) => el.getClientRects().length)
  .map((el) => [el.textContent.trim().slice(0, 30), ratio(el)]);
"""
UNLABELLED = "return [...document.querySelectorAll('input')].filter((i) => !i.labels.length)"


def test_labels_keyboard_contrast_and_a_phone_width(app: App, browser: Browser) -> None:
    d = browser.driver
    labels = {e.get_attribute("textContent").strip() for e in d.find_elements(By.TAG_NAME, "label")}
    assert {"Access key", "Sender", "Phone number", "At", "From", "To"} <= labels
    assert d.execute_script(UNLABELLED) == []
    buttons = {
        b.get_attribute("textContent").strip() for b in d.find_elements(By.TAG_NAME, "button")
    }
    assert {"Sign in", "Look up", "Show report", "Export CSV"} <= buttons
    # Text against its background: at least 4.5:1 (WCAG AA) for the page's kinds of text.
    ratios = d.execute_script(CONTRAST)
    assert ratios and all(r >= 4.5 for _, r in ratios), [x for x in ratios if x[1] < 4.5]
    # Keyboard: the tabs and the look-up form are reached and used with Tab and Enter.
    d.find_element(By.ID, "tab-lookup").send_keys(Keys.ENTER)
    browser.until(lambda: browser.view().get_attribute("id") == "view-lookup")
    # A phone's width: one column, nothing wider than the screen.
    size = d.get_window_size()
    d.set_window_size(390, 844)
    try:
        overflow = d.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        browser.shot("09-phone-width")
    finally:
        d.set_window_size(size["width"], size["height"])


def test_sign_out_forgets_the_key(app: App, browser: Browser) -> None:
    assert browser.storage() == {"optouts-console.key": TEST_KEY}
    browser.click("Show numbers")
    browser.click("Sign out")
    browser.until(lambda: browser.view().get_attribute("id") == "view-signin")
    assert browser.storage() == {}
    assert browser.field("Access key").get_attribute("value") == ""
    assert browser.driver.find_element(By.ID, "lookup-result").text == ""
    assert browser.driver.find_element(By.ID, "reveal").get_attribute("aria-pressed") == "false"
    browser.driver.refresh()
    browser.until(lambda: browser.view().get_attribute("id") == "view-signin")
    assert browser.storage() == {}
    assert not browser.csp_violations(), browser.csp_violations()


def test_a_check_only_key_is_offered_check_alone_and_refused_in_words(
    app: App, seeded: Seeded, browser: Browser
) -> None:
    browser.open(app.url)
    browser.sign_in(CHECK_KEY)
    browser.until(lambda: signed_in(browser))
    who = browser.driver.find_element(By.ID, "who-text").text
    assert "desk" in who and "may check;" in who and SENDER in who
    assert browser.visible_tabs() == ["Look up a number"]
    assert not browser.driver.find_element(By.ID, "lookup-at").is_displayed()
    assert browser.field("Sender").get_attribute("value") == SENDER  # its one sender, offered
    browser.fill("Phone number", seeded.on_time)
    browser.click("Look up")
    browser.done("lookup-form")
    now = browser.until(lambda: browser.driver.find_elements(By.ID, "status-now"))[0]
    assert now.get_attribute("data-opted-out") == "true"
    assert "need a key with the read permission" in browser.view().text
    # A sender outside the key's scope: the service's 403, in words.
    browser.fill("Sender", LISTED)
    browser.click("Look up")
    message = browser.wait_error("This key may not")
    assert f"This key may not look up numbers for {LISTED}." in message
    assert "The service says:" in message
    assert "Looking up" not in browser.view().text
    browser.shot("10-check-key-refused")
    browser.click("Sign out")
    browser.until(lambda: browser.view().get_attribute("id") == "view-signin")


def test_a_read_key_reads_and_is_offered_no_write(
    app: App, seeded: Seeded, browser: Browser
) -> None:
    browser.sign_in(READ_KEY)
    browser.until(lambda: signed_in(browser))
    assert browser.visible_tabs() == ["Look up a number", "A sender's list", "Compliance report"]
    browser.fill("Sender", SENDER)
    browser.fill("Phone number", seeded.flip)
    browser.click("Look up")
    browser.done("lookup-form")
    timeline = browser.until(lambda: browser.driver.find_elements(By.ID, "lookup-timeline"))[0]
    headers = [th.text for th in timeline.find_elements(By.CSS_SELECTOR, "thead th")]
    assert "Actor" in headers  # who made each change: the full key's name
    assert timeline.find_elements(By.CSS_SELECTOR, "tbody tr")[0].text.count("key1") == 1
    assert "(key “key1”)" in browser.driver.find_element(By.ID, "status-now").text
    browser.shot("11-read-key")
    # The service refuses a write signed with it (the console offers none).
    res = app.signed(
        "POST",
        "/sms/optouts:add?api-version=2026-01-23",
        {"from": SENDER, "recipients": [{"to": seeded.never}]},
        key=READ_KEY,
    )
    assert res.status_code == 403 and res.json()["error"]["code"] == "MissingPermission"
    browser.click("Sign out")
    assert browser.storage() == {}
