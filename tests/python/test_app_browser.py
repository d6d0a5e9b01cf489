"""The app in a real browser: `streamlit run` on a free port against the site, driven by Debian's headless Chromium.

At a phone's width (390 px): search a film, open its similar films, pick a member, read their recommendations
with "because you liked", turn on More variety, save a film, and find the feedback row in raw.feedback. The
screenshot is kept in the test's tmp folder (and written to docs/app.png with FILM_COHORTS_UPDATE_SCREENSHOT=1).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, query

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PHONE = (390, 844)

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver; .ci/run does)",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_url(site, tmp_path):
    port = free_port()
    env = {**os.environ, "FILM_COHORTS_DB": site["db"], "FILM_COHORTS_APP_ROLE": site["role"]}
    log = (tmp_path / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "python_jobs" / "app" / "Home.py"),
         "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"streamlit did not start:\n{(tmp_path / 'streamlit.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="fc_chromium_")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--window-size={PHONE[0]},{PHONE[1]}",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_window_size(*PHONE)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_member_flow_at_phone_width_ends_in_a_feedback_row(site, app_url, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    db = site["db"]
    wait = WebDriverWait(browser, 60)

    def body() -> str:
        return browser.find_element(By.TAG_NAME, "body").text

    def shown_films(surface: str) -> list[int]:
        """The films listed on a surface, in order, read off their Save buttons' st-key-… classes (one JS call)."""
        prefix = f"st-key-save-{surface}-"
        classes = browser.execute_script(
            "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.className)", f"[class*='{prefix}']"
        )
        return [int(next(c for c in k.split() if c.startswith(prefix)).removeprefix(prefix)) for k in classes]

    def type_into(label: str, text: str) -> None:
        box = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, f"input[aria-label='{label}']")))
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(text, Keys.ENTER)

    browser.get(f"{app_url}/For_you")
    wait.until(lambda d: "Recommended for member" in body() and shown_films("recommendations"))

    # search a film by title, then open its similar films
    film, title = query(
        db,
        "select s.film_id, c.title from marts.similar_films_explained s join marts.film_catalog c using (film_id) "
        "group by 1, 2 order by count(*) desc, 1 limit 1",
    )[0]
    type_into("Title contains", title)
    opener = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, f".st-key-similar-to-{film} button")))
    opener.click()
    wait.until(lambda d: f"Similar to {title}" in body() and shown_films("similar"))
    similar = query(
        db,
        "select similar_film_id from marts.similar_films_explained where film_id = %s and model = 'itemknn' "
        "order by similar_rank limit 10",
        (film,),
    )
    assert shown_films("similar") == [f for (f,) in similar]

    # pick a member: their recommendations, each with its reason
    member = query(db, "select max(user_id) from marts.recommendations_explained")[0][0]
    type_into("Member id", str(member))
    wait.until(lambda d: f"Recommended for member {member}" in body())
    stored = [
        f
        for (f,) in query(
            db,
            "select film_id from marts.recommendations_explained where user_id = %s and model = 'itemknn' "
            "and cohort_id is null order by recommendation_rank",
            (member,),
        )
    ]
    wait.until(lambda d: shown_films("recommendations") == stored[:5])
    assert body().count("Because you liked") >= 5

    # More variety: still films from the member's list, the model's best first
    browser.find_element(By.XPATH, "//label[.//*[contains(text(), 'More variety')]]").click()
    # (while Streamlit re-renders, the old and the new list can both be on the page: wait for one list of 5)
    wait.until(lambda d: len(shown := shown_films("recommendations")) == 5 and shown != stored[:5])
    varied = shown_films("recommendations")
    assert len(varied) == 5 and set(varied) <= set(stored) and varied[0] == stored[0]

    # phone width: nothing wider than the screen
    overflow = browser.execute_script("return document.documentElement.scrollWidth")
    assert overflow <= PHONE[0], f"the page is {overflow}px wide on a {PHONE[0]}px screen"

    # save the second film shown: a batch-stamped row for this member
    high_water = query(db, "select ops.batch_high_water()")[0][0]
    browser.find_element(By.CSS_SELECTOR, f".st-key-save-recommendations-{varied[1]} button").click()
    wait.until(lambda d: "Saved" in body())
    rows = query(
        db,
        "select action, surface, batch_id from raw.feedback where user_id = %s and film_id = %s",
        (member, varied[1]),
    )
    assert len(rows) == 1 and rows[0][:2] == ("save", "recommendations") and rows[0][2] > high_water

    browser.execute_script("window.scrollTo(0, 0)")
    browser.set_window_size(PHONE[0], 1700)
    time.sleep(1)
    shot = tmp_path / "app.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    if os.environ.get("FILM_COHORTS_UPDATE_SCREENSHOT") == "1":
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, ROOT / "docs" / "app.png")
