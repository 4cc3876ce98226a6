"""The viewer in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``).

One browser for the whole module; each step saves a screenshot to ``tests/artifacts/``
(git-ignored) so a person can look at what the page really showed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from respan_otel.local import LocalRespan
from tests.viewer.conftest import PAGED_LOGS, VIEWER_KEY

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    reason = "needs Debian's chromium and chromium-driver: apt-get install chromium chromium-driver"
    if os.environ.get("RESPAN_REQUIRE_BROWSER"):  # set by .ci/run: CI must run these
        raise RuntimeError(reason)
    pytest.skip(reason, allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not fetch anything
    profile = tempfile.mkdtemp(prefix="respan-viewer-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait(driver: webdriver.Chrome, css: str) -> object:
    return WebDriverWait(driver, 15).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def until(driver: webdriver.Chrome, check: Callable[[webdriver.Chrome], object]) -> None:
    """Wait for ``check``; the page re-renders, so elements may go stale meanwhile."""
    WebDriverWait(driver, 15, ignored_exceptions=(StaleElementReferenceException,)).until(check)


def shoot(driver: webdriver.Chrome, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"viewer-{name}.png"))


def texts(driver: webdriver.Chrome, css: str) -> list[str]:
    return [element.text for element in driver.find_elements(By.CSS_SELECTOR, css)]


def test_a_new_user_signs_in_and_sees_the_quickstart_as_a_trace_tree(
    browser: webdriver.Chrome, viewer_server: LocalRespan
):
    browser.get(viewer_server.base_url + "/")
    key_field = wait(browser, "#api-key")
    shoot(browser, "1-sign-in")
    key_field.send_keys("sk-wrong")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    until(browser, lambda d: "not accepted" in d.find_element(By.CSS_SELECTOR, "[role=alert]").text)
    browser.find_element(By.ID, "api-key").send_keys(VIEWER_KEY)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()

    wait(browser, "#datasets")
    shoot(browser, "2-datasets")
    rows = texts(browser, "#datasets tbody tr")
    assert any(r.startswith("respan-otel quickstart") and " 11 " in f" {r} " for r in rows), rows
    assert VIEWER_KEY not in browser.page_source
    assert browser.execute_script("return document.cookie") == "", "the session cookie is HttpOnly"

    browser.find_element(By.LINK_TEXT, "respan-otel quickstart").click()
    wait(browser, "#logs tbody tr")
    shoot(browser, "3-quickstart-logs")
    headers = texts(browser, "#logs th")
    assert headers[:8] == [
        "TIME",
        "NAME",
        "TYPE",
        "STATUS",
        "MODEL",
        "TOKENS",
        "COST",
        "LATENCY",
    ] or [h.title() for h in headers[:8]] == [
        "Time",
        "Name",
        "Type",
        "Status",
        "Model",
        "Tokens",
        "Cost",
        "Latency",
    ]
    names = texts(browser, "#logs tbody td:nth-child(2)")
    assert names.count("support_agent") == 3
    assert "generate" in names

    browser.find_elements(By.LINK_TEXT, "support_agent")[-1].click()  # the oldest run
    wait(browser, "#trace .span-row")
    shoot(browser, "4-trace-tree")
    spans = texts(browser, "#trace .span-name")
    assert [s.lstrip("└ ") for s in spans] == [
        "support_agent",
        "plan",
        "retrieve",
        "generate",
        "moderate",
    ]
    widths = browser.execute_script(
        "return [...document.querySelectorAll('#trace .bar')]"
        ".map(b => b.getBoundingClientRect().width)"
    )
    lanes = browser.execute_script(
        "return document.querySelector('#trace .timeline').getBoundingClientRect().width"
    )
    assert widths[0] == pytest.approx(lanes, rel=0.02), "the root spans the whole trace"
    assert all(0 < w <= widths[0] for w in widths[1:])
    assert "How long does a refund take?" in browser.find_element(By.ID, "input").text

    browser.find_element(By.LINK_TEXT, "generate").click()
    until(browser, lambda d: d.find_element(By.CSS_SELECTOR, "h1").text == "generate")
    wait(browser, "#trace .span-row.current")
    metrics = browser.find_element(By.ID, "metrics").text
    assert "gpt-4o-mini" in metrics  # the quickstart prices its model (cost extra)
    assert "completion_tokens" in metrics
    shoot(browser, "5-llm-log")


def test_paging_and_filters_in_the_page(browser: webdriver.Chrome, viewer_server: LocalRespan):
    browser.get(viewer_server.base_url + "/#/datasets/paged%20runs")
    wait(browser, "#logs tbody tr")
    assert browser.find_element(By.ID, "page-info").text == "page 1 of 3"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#logs tbody tr")) == 50
    browser.find_element(By.ID, "next").click()
    until(browser, lambda d: texts(d, "#logs tbody td:nth-child(2)")[0] == "step-079")
    assert browser.find_element(By.ID, "page-info").text == "page 2 of 3"

    status = browser.find_element(By.CSS_SELECTOR, "#filters select[name=status]")
    status.find_element(By.CSS_SELECTOR, "option[value=error]").click()
    browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    until(browser, lambda d: d.find_element(By.ID, "page-info").text == "page 1 of 1")
    statuses = texts(browser, "#logs tbody td:nth-child(4)")
    assert statuses == ["error"] * len(statuses)
    assert len(statuses) == len(range(0, PAGED_LOGS, 10))
    shoot(browser, "6-filtered")

    browser.find_element(By.LINK_TEXT, "step-120").click()
    wait(browser, "#input .chat .msg.user")
    assert texts(browser, "#input .msg.user .text") == ["question 120"]
    toggle = browser.find_element(By.CSS_SELECTOR, "#metadata details > summary")
    assert "3 keys" in toggle.text
    toggle.click()  # the JSON folds away
    assert browser.find_element(By.CSS_SELECTOR, "#metadata details").get_attribute("open") is None


def test_an_experiment_shows_each_rows_scores(
    browser: webdriver.Chrome, viewer_server: LocalRespan
):
    browser.get(viewer_server.base_url + "/#/experiments")
    wait(browser, "#experiments tbody tr")
    browser.find_element(By.LINK_TEXT, "prompt v2").click()
    wait(browser, "#experiment-rows tbody tr")
    headers = texts(browser, "#experiment-rows th")
    assert [h.lower() for h in headers[-2:]] == ["exact", "similarity"]
    cells = [row.split("\n") for row in texts(browser, "#experiment-rows tbody tr")]
    assert len(cells) == 3
    assert "mean exact\n0.667" in browser.find_element(By.ID, "means").text
    shoot(browser, "7-experiment")

    browser.get(viewer_server.base_url + "/#/datasets/support%20run%201")
    wait(browser, "#logs tbody tr")
    assert texts(browser, "#logs th")[-1].lower() == "scores"
    assert sorted(texts(browser, "#logs td.scores")) == ["contains 0", "contains 1", "contains 1"]
    shoot(browser, "8-run-experiment-results")
