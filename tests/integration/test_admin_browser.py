"""The admin web page in a real headless browser (Debian's chromium + chromium-driver through
python3-selenium): sign in with the token, watch a running upload's bytes move, kick it, see
the session gone and the client disconnected. Saves a screenshot (docs/img/admin.png when
FEITP_UPDATE_SCREENSHOT=1, else in the test's temporary folder)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from feitp_harness import REPO, free_port
from monitoring import TOKEN, SlowUpload, wait_for

# python3-selenium, chromium and chromium-driver come from scripts/setup.sh.
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser(tmp_path):
    assert CHROMIUM and CHROMEDRIVER, "chromium and chromium-driver are needed (scripts/setup.sh)"
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1400,700", "--no-first-run", "--disable-extensions",
              "--disable-background-networking", "--disable-sync", "--disable-component-update",
              f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
                           if "log_output" in Service.__init__.__code__.co_varnames
                           else Service(CHROMEDRIVER, log_path=str(tmp_path / "chromedriver.log")),
                           options=opts)
    drv.set_page_load_timeout(20)
    drv.set_script_timeout(10)
    try:
        yield drv
    finally:
        drv.quit()


def test_admin_page_shows_a_live_upload_and_kicks_it(start_server, tmp_path, browser):
    token_file = tmp_path / "admin.token"
    token_file.write_text(TOKEN + "\n")
    port = free_port()
    srv = start_server(users={"alice": "wonderland-pass"},
                       extra=["--admin-listen", f"127.0.0.1:{port}", "--admin-token-file",
                              str(token_file), "--workers", "2"])
    # A second, idle session so the table shows more than one row.
    idle = srv.connect()
    up = SlowUpload(srv, "/video-upload.mp4", chunk=32768, pause=0.05)
    up.start()
    assert up.started_evt.wait(10) and up.error is None, up.error

    browser.get(f"http://127.0.0.1:{port}/")
    assert browser.title == "feitpd admin"
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.ID, "token-submit").click()

    # The table is rebuilt every second: read it in one script call, never hold its elements.
    rows_js = """
      return Array.from(document.querySelectorAll('#sessions tbody tr')).map(r => ({
        id: r.dataset.id,
        user: r.querySelector('td.user').textContent,
        path: r.querySelector('td.path').textContent,
        rate: r.querySelector('td.rate').textContent,
        bytes: r.querySelector('.bytes') ? Number(r.querySelector('.bytes').dataset.bytes) : null,
      }));"""

    def upload_row():
        return next((r for r in browser.execute_script(rows_js) if "/video-upload.mp4" in r["path"]), None)

    row = wait_for(upload_row, timeout=20, what="the upload's row on the page")
    first, session_id = row["bytes"], row["id"]
    grown = wait_for(lambda: (lambda r: r if r and r["bytes"] > first else None)(upload_row()),
                     timeout=20, what="the upload's bytes to move on the page")
    assert grown["id"] == session_id
    assert grown["user"] == "alice"
    assert grown["path"] == "upload /video-upload.mp4"
    assert grown["rate"].endswith("/s")
    wait_for(lambda: browser.find_element(By.ID, "counter-sessions").text.startswith("2"),
             what="2 sessions in the counters")

    shot = (REPO / "docs" / "img" / "admin.png") if os.environ.get("FEITP_UPDATE_SCREENSHOT") == "1" \
        else tmp_path / "admin.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10000

    def click_kick():
        try:
            browser.find_element(By.CSS_SELECTOR, f'#sessions tr[data-id="{session_id}"] button.kick').click()
            return True
        except StaleElementReferenceException:  # rebuilt between find and click: again
            return False

    wait_for(click_kick, timeout=10, what="a click on Kick")
    up.join(15)
    assert not up.is_alive()
    assert up.closed_by_server and 421 in up.replies, up.replies
    wait_for(lambda: all(r["id"] != session_id for r in browser.execute_script(rows_js)),
             timeout=15, what="the kicked session to leave the page")
    assert "kicked" in browser.find_element(By.ID, "message").text
    idle.voidcmd("NOOP")
    idle.quit()
