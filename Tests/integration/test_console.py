"""The web console (issue 17), in headless Chromium driven by Selenium: served by the gateway at
`/` with a strict CSP, ETags and gzip; log in as the generated admin, watch the demo camera over MSE and over HLS, add a
camera with a bad source and see the field error, share with a second user who sees it play,
revoke and see their player stop, clip and play the clip, a hostile camera name shown as text,
an expired session back at the login, and the admin page. Screenshots go to
`.test-artifacts/console/`."""
import gzip
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time

import pytest
import requests
import websocket
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

import conftest
from conftest import bearer, chromium, launch, make_clip, stop

ARTIFACTS = os.path.join(os.path.dirname(__file__), "..", "..", ".test-artifacts", "console")
XSS = "<img src=x onerror=alert(1)>"
# The admin's password is the one the gateway generates and prints at its first start, as with
# `make run`; the others are configured.
PASSWORDS = {}


def password(user):
    return PASSWORDS.get(user) or conftest.password(user)


def login(base, user):
    response = requests.post(f"{base}/api/auth/login", json={"username": user, "password": password(user)}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["token"]


def make_demo(directory):
    """8 s of 640x360 25 fps H.264 + AAC, a keyframe a second."""
    path = os.path.join(directory, "demo.mp4")
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "8", "-c:v", "libx264", "-preset", "ultrafast",
                    "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", path], check=True)
    return path


@pytest.fixture(scope="module")
def console():
    directory = tempfile.mkdtemp(prefix="gateway-console-")
    demo = make_demo(directory)
    config = {
        "server": {"host": "127.0.0.1", "port": 0, "data_dir": "data"},
        "auth": {"jwt_secret": "console-secret-0123456789abcdef012345", "bcrypt_cost": 4},
        "users": [{"username": "admin", "role": "admin"}] + [{"username": u, "password": password(u)} for u in ("olivia", "victor")],
        "sources": {"user_types": ["rtsp", "http"]},
        "cameras": [{"id": "demo", "name": "Demo camera", "owner": "admin", "source": {"type": "file", "path": demo, "loop": True},
                     "sinks": [{"type": "websocket"}, {"type": "hls", "idle_timeout": 30},
                               {"type": "clipper", "pre_seconds": 2, "post_seconds": 1},
                               {"type": "recorder", "segment_duration": 4}]}],
    }
    printed = open(os.path.join(directory, "stdout.txt"), "w+")
    process, base, log = launch(directory, config, stdout=printed)
    printed.seek(0)
    generated = re.search(r"Generated password for 'admin': (\S+)", printed.read())
    printed.close()
    if not generated:
        stop(process, log)
        pytest.fail("the gateway did not print a generated password for admin", pytrace=False)
    PASSWORDS["admin"] = generated.group(1)
    os.makedirs(ARTIFACTS, exist_ok=True)
    yield base
    try:
        stop(process, log)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class Browser:
    def __init__(self, base):
        self.base = base
        self.driver = chromium()
        self.driver.set_window_size(1280, 900)
        # Every page records what its Content-Security-Policy refused; a test ends with none.
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": (
            "window.cspViolations = []; document.addEventListener('securitypolicyviolation',"
            " (e) => window.cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || e.sample)));")})

    def violations(self):
        return self.driver.execute_script("return window.cspViolations || []")

    def quit(self):
        self.driver.quit()

    def wait(self, condition, timeout=20, what="condition"):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                value = condition()
                if value:
                    return value
            except Exception as error:  # an element not there yet
                last = error
            time.sleep(0.2)
        self.shot("failed-" + what.replace(" ", "-")[:40])
        pytest.fail(f"timed out waiting for {what} ({last})", pytrace=False)

    def find(self, selector, timeout=20):
        return self.wait(lambda: self.driver.find_element(By.CSS_SELECTOR, selector), timeout, selector)

    def click(self, selector, timeout=20):
        """Finds and clicks in one step, again if the page redrew the element in between (the
        timeline and the clip list are redrawn as segments close and clips change)."""
        def clicked():
            self.driver.find_element(By.CSS_SELECTOR, selector).click()
            return True
        return self.wait(clicked, timeout, f"a click on {selector}")

    def login(self, user):
        self.driver.get(self.base + "/")
        self.find("#username").send_keys(user)
        self.find("#password").send_keys(password(user))
        self.find("#login-submit").click()
        self.find("#camera-grid")

    def shot(self, name):
        self.driver.save_screenshot(os.path.join(ARTIFACTS, f"{name}.png"))

    def playing(self, selector, seconds=1.0, timeout=25):
        """Waits until the video under `selector` has a picture and its time advances by `seconds`."""
        video = self.find(selector)
        state = lambda: self.driver.execute_script(
            "const v = arguments[0]; return [v.currentTime, v.videoWidth, v.readyState, v.paused];", video)
        start = self.wait(lambda: (lambda s: s if s[1] > 0 and s[2] >= 2 else None)(state()), timeout, f"a picture in {selector}")
        self.wait(lambda: state()[0] >= start[0] + seconds, timeout, f"{selector} to play")
        return state()


@pytest.fixture
def browsers(console):
    opened = []

    def open_browser():
        browser = Browser(console)
        opened.append(browser)
        return browser
    yield open_browser
    violations = []
    for browser in opened:
        try:
            violations += browser.violations()
        finally:
            browser.quit()
    assert violations == [], f"the Content-Security-Policy refused: {violations}"


def test_the_console_is_served_with_a_strict_policy_etags_and_gzip(console):
    page = requests.get(console + "/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert '<script type="module" src="/console/js/app.js">' in page.text
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    etag = page.headers["ETag"]
    assert requests.get(console + "/", headers={"If-None-Match": etag}, timeout=10).status_code == 304
    script = requests.get(console + "/console/js/app.js", headers={"Accept-Encoding": "gzip"}, stream=True, timeout=10)
    assert script.status_code == 200 and script.headers["Content-Type"].startswith("text/javascript")
    assert script.headers["Content-Encoding"] == "gzip"
    assert b"hashchange" in gzip.decompress(script.raw.read())
    plain = requests.get(console + "/console/js/app.js", headers={"Accept-Encoding": "identity"}, timeout=10)
    assert "Content-Encoding" not in plain.headers and "hashchange" in plain.text
    # No file outside the console's own, however the path is spelled.
    for path in ("/console/../HTTP/openapi.yaml", "/console/%2e%2e/HTTP/openapi.yaml", "/console/nothing.js"):
        assert requests.get(console + path, timeout=10).status_code == 404, path
    # No inline script or style anywhere: the policy would block it.
    for name in ("index.html",):
        assert "<script>" not in page.text and "style=" not in page.text and "onclick" not in page.text


def test_no_account_can_be_created_when_registration_is_closed(tmp_path):
    config = {"server": {"host": "127.0.0.1", "port": 0, "data_dir": "data"},
              "auth": {"jwt_secret": "console-secret-0123456789abcdef012345", "bcrypt_cost": 4, "allow_registration": False}}
    process, base, log = launch(str(tmp_path), config)
    browser = Browser(base)
    try:
        browser.driver.get(base + "/")
        browser.find("#login-form")
        browser.wait(lambda: not browser.find("#toggle-register").is_displayed(), 10, "the register button to go")
    finally:
        browser.quit()
        stop(process, log)


def test_the_console_can_be_turned_off(tmp_path):
    config = {"server": {"host": "127.0.0.1", "port": 0, "data_dir": "data", "console": False},
              "auth": {"jwt_secret": "console-secret-0123456789abcdef012345", "bcrypt_cost": 4}}
    process, base, log = launch(str(tmp_path), config)
    try:
        assert requests.get(base + "/", timeout=10).status_code == 404
        assert requests.get(base + "/console/js/app.js", timeout=10).status_code == 404
        assert requests.get(base + "/api/health", timeout=10).status_code == 200
    finally:
        stop(process, log)


def test_an_admin_logs_in_and_watches_the_demo_camera_over_mse_and_hls(browsers):
    browser = browsers()
    browser.login("admin")
    assert browser.find('article.tile[data-camera="demo"] .badge[data-state]').text == "online"
    tile = browser.find('article.tile[data-camera="demo"]')
    state = browser.playing('article[data-camera="demo"] .player[data-transport="mse"] video')
    assert state[1] == 640
    # The event feed connects again (as after a network blip or a restart of the gateway), and the
    # grid loads the list again: a tile changes only when its camera does, so this one is still
    # the tile first shown and its player was not restarted.
    lists = "return performance.getEntriesByType('resource').filter((e) => e.name.endsWith('/api/cameras')).length"
    listed = browser.driver.execute_script(lists)
    assert browser.driver.execute_async_script(
        "const done = arguments[arguments.length - 1]; import('/console/js/events.js').then("
        "(m) => { m.feed.stop(); const off = m.feed.onStatus((up) => { if (up) { off(); done('connected'); } }); m.feed.start(); },"
        " (e) => done(String(e)));") == "connected"
    browser.wait(lambda: browser.driver.execute_script(lists) > listed, 10, "the list loaded again")
    time.sleep(0.3)
    assert tile.get_attribute("data-camera") == "demo"
    browser.shot("grid")
    browser.click('article[data-camera="demo"] a.name')
    browser.playing('#live .player[data-transport="mse"] video')
    behind = float(browser.find('#live .player').get_attribute("data-behind"))
    assert behind < 3, behind
    assert "behind live" in browser.find("#live .latency").text
    browser.shot("camera-mse")
    Select(browser.find("#transport")).select_by_value("hls")
    state = browser.playing('#live .player[data-transport="hls"] video', timeout=30)
    assert state[1] == 640
    browser.shot("camera-hls")
    Select(browser.find("#transport")).select_by_value("mse")


def test_a_camera_with_a_bad_source_shows_the_problem_next_to_its_field(browsers, console):
    browser = browsers()
    browser.login("olivia")
    browser.find("#add-camera").click()
    browser.find("#field-name").send_keys("Server files")
    Select(browser.find("#field-source-type")).select_by_value("file")
    browser.find("#field-source-location").send_keys("/etc/passwd")
    browser.find("#save-camera").click()
    error = browser.wait(lambda: browser.driver.find_element(By.CSS_SELECTOR, '[data-error-for="source.type"]').text, 10, "the field error")
    assert "file" in error, error
    assert browser.find("#field-source-type").get_attribute("aria-invalid") == "true"
    browser.shot("camera-form-error")
    # Nothing was created.
    cameras = requests.get(console + "/api/cameras", headers=bearer(login(console, "olivia")), timeout=10).json()["cameras"]
    assert [c["id"] for c in cameras] == []
    # An RTSP address that is not a URL: the problem is the address's.
    Select(browser.find("#field-source-type")).select_by_value("rtsp")
    location = browser.find("#field-source-location")
    location.clear()
    location.send_keys("not a url")
    browser.find("#save-camera").click()
    error = browser.wait(lambda: browser.driver.find_element(By.CSS_SELECTOR, '[data-error-for="source.location"]').text, 10,
                         "the address's error")
    assert error, error


def test_a_share_plays_for_the_other_user_and_a_revocation_stops_it(browsers, console):
    owner, guest = browsers(), browsers()
    guest.login("victor")
    guest.find("#no-cameras")
    owner.login("admin")
    owner.driver.get(console + "/#/cameras/demo")
    owner.find("#share-user").send_keys("victor")
    owner.find("#share-submit").click()
    owner.find('#shares tr[data-user="victor"]')
    # Victor's grid gets the camera without a reload, and it plays.
    guest.find('article.tile[data-camera="demo"]', timeout=15)
    guest.playing('article[data-camera="demo"] video')
    guest.shot("shared-grid")
    guest.click('article[data-camera="demo"] a.name')
    guest.playing('#live video')
    marker = guest.driver.execute_script("return window.performance.timeOrigin")
    owner.click('#shares button[data-revoke="victor"]')
    # His player stops, and he is back at a grid without the camera.
    guest.wait(lambda: guest.driver.execute_script("return location.hash") == "#/", 15, "the guest to leave the camera")
    guest.wait(lambda: not guest.driver.find_elements(By.CSS_SELECTOR, 'article.tile[data-camera="demo"]'), 10, "the tile to go")
    assert guest.driver.execute_script("return document.querySelectorAll('video').length") == 0
    assert "no longer shared" in guest.find("#notice").text
    assert guest.driver.execute_script("return window.performance.timeOrigin") == marker  # no reload
    guest.shot("revoked")
    # And the stream itself is closed by the gateway, not only by the page.
    token = login(console, "victor")
    assert requests.post(console + "/api/cameras/demo/stream/token", headers=bearer(token), timeout=10).status_code == 404


def test_a_clip_becomes_ready_and_plays(browsers):
    browser = browsers()
    browser.login("admin")
    browser.driver.get(browser.base + "/#/cameras/demo")
    browser.find("#clip-now").click()
    browser.click('#clips tr[data-status="ready"] button')
    state = browser.playing("#playback-video", seconds=0.5)
    assert state[1] == 640
    browser.shot("clip")


def test_a_hostile_camera_name_is_shown_as_text(browsers, console):
    token = login(console, "admin")
    created = requests.post(console + "/api/cameras", headers=bearer(token), timeout=10,
                            json={"id": "xss", "name": XSS, "source": {"type": "rtsp", "url": "rtsp://127.0.0.1:9/none"}, "sinks": []})
    assert created.status_code == 201, created.text
    try:
        browser = browsers()
        browser.login("admin")
        name = browser.find('article[data-camera="xss"] a.name')
        assert name.text == XSS
        assert browser.driver.execute_script("return document.querySelectorAll('img').length") == 0
        browser.driver.get(browser.base + "/#/cameras/xss")
        assert browser.find("#camera-name").text == XSS
        time.sleep(0.5)
        with pytest.raises(NoAlertPresentException):
            browser.driver.switch_to.alert.text
        assert browser.driver.execute_script("return document.querySelectorAll('img').length") == 0
        browser.shot("hostile-name")
    finally:
        requests.delete(console + "/api/cameras/xss", headers=bearer(token), timeout=10)


def test_an_expired_session_goes_back_to_the_login(browsers):
    browser = browsers()
    browser.login("olivia")
    browser.driver.execute_script("""
      const saved = JSON.parse(sessionStorage.getItem('gateway.session'));
      saved.token = saved.token.slice(0, -4) + 'AAAA';
      sessionStorage.setItem('gateway.session', JSON.stringify(saved));
      location.hash = '#/videos';""")
    error = browser.find("#login-form #login-error")
    browser.wait(lambda: "expired" in error.text, 10, "the expiry message")
    # A wrong password says so.
    browser.find("#username").send_keys("olivia")
    browser.find("#password").send_keys("wrong")
    browser.find("#login-submit").click()
    browser.wait(lambda: browser.find("#login-error").text == "Wrong username or password.", 10, "the wrong-password message")


def test_the_admin_page_lists_users_and_camera_health_and_changes_roles(browsers, console):
    browser = browsers()
    browser.login("admin")
    # A viewer elsewhere: the health table counts it.
    token = requests.post(console + "/api/cameras/demo/stream/token", headers=bearer(login(console, "admin")), timeout=10).json()["token"]
    viewer = websocket.create_connection(f"{console.replace('http', 'ws')}/ws/cameras/demo?token={token}", timeout=10)
    try:
        browser.driver.get(console + "/#/admin")
        browser.find('#health tr[data-camera="demo"][data-state="online"]')
        browser.wait(lambda: browser.find('#health tr[data-camera="demo"] td:nth-child(7)').text == "1", 15, "one viewer")
    finally:
        viewer.close()
    Select(browser.find('#users select[data-user="olivia"]')).select_by_value("admin")
    browser.wait(lambda: requests.get(console + "/api/users", headers=bearer(login(console, "admin")), timeout=10).json()["users"]
                 and any(u["username"] == "olivia" and u["role"] == "admin"
                         for u in requests.get(console + "/api/users", headers=bearer(login(console, "admin")), timeout=10).json()["users"]),
                 10, "olivia to be admin")
    browser.shot("admin")
    Select(browser.find('#users select[data-user="olivia"]')).select_by_value("user")
    browser.wait(lambda: any(u["username"] == "olivia" and u["role"] == "user"
                             for u in requests.get(console + "/api/users", headers=bearer(login(console, "admin")), timeout=10).json()["users"]),
                 10, "olivia to be user again")
    # Users who are not admins get 403 from the API and no admin link.
    assert requests.get(console + "/api/users", headers=bearer(login(console, "victor")), timeout=10).status_code == 403


class EventReader:
    """Reads a user's /api/events in a thread, as the console does (a bearer header)."""

    def __init__(self, base, user):
        self.events = []
        self.response = requests.get(base + "/api/events", headers=bearer(login(base, user)), stream=True, timeout=30)
        assert self.response.status_code == 200 and self.response.headers["Content-Type"].startswith("text/event-stream")
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self):
        name = None
        try:
            for line in self.response.iter_lines(decode_unicode=True):
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    self.events.append((name, json.loads(line[6:])))
        except Exception:  # closed by the test
            pass

    def names(self, camera):
        return [name for name, event in self.events if event.get("camera") == camera]

    def close(self):
        self.response.close()


def test_live_updates_carry_only_what_the_user_may_see(console):
    admin = bearer(login(console, "admin"))
    victor, olivia = EventReader(console, "victor"), EventReader(console, "olivia")
    try:
        time.sleep(0.5)
        created = requests.post(console + "/api/cameras", headers=admin, timeout=10,
                                json={"id": "private", "name": "Private", "source": {"type": "rtsp", "url": "rtsp://127.0.0.1:9/none"}, "sinks": []})
        assert created.status_code == 201, created.text
        time.sleep(1)
        assert requests.post(console + "/api/cameras/private/shares", headers=admin, json={"username": "victor"}, timeout=10).status_code == 201
        deadline = time.time() + 10
        while "camera.shared" not in victor.names("private") and time.time() < deadline:
            time.sleep(0.1)
        assert requests.delete(console + "/api/cameras/private/shares/victor", headers=admin, timeout=10).status_code == 204
        deadline = time.time() + 10
        while "camera.unshared" not in victor.names("private") and time.time() < deadline:
            time.sleep(0.1)
        assert requests.delete(console + "/api/cameras/private", headers=admin, timeout=10).status_code == 204
        time.sleep(1.5)
    finally:
        victor.close()
        olivia.close()
        requests.delete(console + "/api/cameras/private", headers=admin, timeout=10)
    seen = victor.names("private")
    # Before the share and after the revocation, nothing about the camera; the share and its end, yes.
    assert seen[0] == "camera.shared" and "camera.unshared" in seen, seen
    assert "camera.created" not in seen and "camera.deleted" not in seen, seen
    assert seen[seen.index("camera.unshared") + 1:] == [], seen
    assert olivia.names("private") == [], olivia.events


def test_recordings_show_on_a_timeline_that_plays_from_the_time_chosen(browsers):
    browser = browsers()
    browser.login("admin")
    browser.driver.get(browser.base + "/#/cameras/demo")
    # The recorder closes a segment every 4 s; the timeline is redrawn as they close.
    browser.click("#timeline .span")
    state = browser.playing("#playback-video", seconds=0.5)
    assert state[1] == 640
    assert "/recordings/play?start=" in browser.find("#playback-video").get_attribute("src")
    browser.shot("recordings")


def test_an_upload_shows_its_progress_and_becomes_ready(browsers, tmp_path):
    clip = make_clip(str(tmp_path))
    browser = browsers()
    browser.login("olivia")
    browser.driver.get(browser.base + "/#/videos")
    browser.find("#upload-file").send_keys(clip)
    browser.find("#upload-submit").click()
    browser.wait(lambda: browser.find("#upload-progress").get_attribute("value") == "100", 20, "the upload to reach 100%")
    browser.click('#uploads tr[data-status="ready"] button', timeout=60)
    browser.playing("#video-player video", seconds=0.5)
    browser.shot("uploads")


CONTRAST = """
const rgb = (text) => text.match(/[\\d.]+/g).map(Number);
const luminance = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
  .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
const behind = (element) => {
  for (let node = element; node; node = node.parentElement) {
    const color = rgb(getComputedStyle(node).backgroundColor);
    if (color.length < 4 || color[3] > 0) return color.slice(0, 3);
  }
  return [255, 255, 255];
};
const low = [];
for (const element of document.querySelectorAll('h1, a, button, .badge, .muted, .reason, label, span, td, th, p')) {
  if (!element.textContent.trim() || !element.getClientRects().length || element.closest('.player')) continue;
  const [a, b] = [luminance(rgb(getComputedStyle(element).color).slice(0, 3)), luminance(behind(element))];
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  if (ratio < 4.5) low.push(`${element.tagName}.${element.className}: ${ratio.toFixed(2)}`);
}
return low;
"""


def test_the_console_fits_a_phone_and_works_from_the_keyboard(browsers):
    browser = browsers()
    browser.driver.set_window_size(390, 844)
    browser.driver.get(browser.base + "/")
    browser.find("#username")
    # The login form takes focus; Tab and Enter are all it needs.
    active = browser.driver.switch_to.active_element
    assert active.get_attribute("id") == "username"
    active.send_keys("admin", Keys.TAB)
    browser.driver.switch_to.active_element.send_keys(password("admin"), Keys.ENTER)
    browser.find('article.tile[data-camera="demo"]')
    width = browser.driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width
    # Text is readable: WCAG contrast of at least 4.5:1 against what is behind it.
    low = browser.driver.execute_script(CONTRAST)
    assert low == [], low
    browser.playing('article[data-camera="demo"] video')
    browser.shot("phone")


def test_a_camera_is_added_edited_and_deleted_in_the_form_and_an_offline_one_says_why(browsers):
    browser = browsers()
    browser.login("admin")
    browser.find("#add-camera").click()
    browser.find("#field-id").send_keys("garage")
    browser.find("#field-name").send_keys("Garage")
    Select(browser.find("#field-source-type")).select_by_value("rtsp")
    browser.find("#field-source-location").send_keys("rtsp://127.0.0.1:9/garage")
    browser.find("#save-camera").click()
    browser.wait(lambda: browser.find("#camera-name").text == "Garage", 10, "the new camera's page")
    # Nothing listens on port 9: the page says the camera is not online, and why.
    browser.wait(lambda: browser.find("#state-reason").text, 20, "the reason the camera is offline")
    assert browser.find("h1 + span .badge[data-state]").text != "online"
    browser.shot("camera-offline")
    browser.find("#edit-camera").click()
    name = browser.find("#field-name")
    name.clear()
    name.send_keys("Garage door")
    browser.find("#save-camera").click()
    browser.wait(lambda: browser.find("#camera-name").text == "Garage door", 10, "the new name")
    browser.find("#delete-camera").click()
    browser.driver.switch_to.alert.accept()
    browser.find("#camera-grid")
    browser.wait(lambda: not browser.driver.find_elements(By.CSS_SELECTOR, 'article.tile[data-camera="garage"]'), 10, "the tile to go")


def test_the_player_reconnects_when_the_camera_restarts(browsers, console):
    admin = bearer(login(console, "admin"))
    demo = requests.get(console + "/api/cameras/demo", headers=admin, timeout=10).json()
    created = requests.post(console + "/api/cameras", headers=admin, timeout=10,
                            json={"id": "relay", "name": "Relay", "source": demo["source"], "sinks": [{"type": "websocket"}]})
    assert created.status_code == 201, created.text
    try:
        browser = browsers()
        browser.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": (
            "window.socketsOpened = 0; const Native = window.WebSocket;"
            "window.WebSocket = class extends Native { constructor(...a) { super(...a); window.socketsOpened++; } };")})
        browser.login("admin")
        browser.driver.get(console + "/#/cameras/relay")
        browser.playing("#live video")
        opened = browser.driver.execute_script("return window.socketsOpened")
        # A change of name restarts the camera's pipeline: its viewers' streams end.
        assert requests.patch(console + "/api/cameras/relay", headers=admin, json={"name": "Relay 2"}, timeout=10).status_code == 200
        browser.wait(lambda: browser.driver.execute_script("return window.socketsOpened") > opened, 20, "a new connection")
        browser.wait(lambda: browser.find("#camera-name").text == "Relay 2", 10, "the new name, live")
        browser.playing("#live video")
    finally:
        requests.delete(console + "/api/cameras/relay", headers=admin, timeout=10)


def test_a_new_user_registers_in_the_console(browsers):
    browser = browsers()
    browser.driver.get(browser.base + "/")
    browser.find("#toggle-register").click()
    browser.find("#username").send_keys("newbie")
    browser.find("#password").send_keys("password-newbie")
    browser.find("#login-submit").click()
    browser.find("#no-cameras")
    assert "newbie" in browser.find("#whoami").text


def test_a_camera_state_reaches_a_viewer_without_the_admins_wording(console):
    admin = bearer(login(console, "admin"))
    created = requests.post(console + "/api/cameras", headers=admin, timeout=10,
                            json={"id": "refusing", "name": "Refusing", "source": {"type": "rtsp", "url": "rtsp://127.0.0.1:9/x"}, "sinks": []})
    assert created.status_code == 201, created.text
    try:
        assert requests.post(console + "/api/cameras/refusing/shares", headers=admin, json={"username": "victor"}, timeout=10).status_code == 201
        victor, boss = EventReader(console, "victor"), EventReader(console, "admin")
        try:
            time.sleep(0.5)
            # A change restarts the camera: it goes through its states again.
            assert requests.patch(console + "/api/cameras/refusing", headers=admin, json={"name": "Refusing 2"}, timeout=10).status_code == 200
            deadline = time.time() + 15
            states = lambda reader: [e for n, e in reader.events if n == "camera.state_changed" and e.get("camera") == "refusing"]
            while time.time() < deadline and not (any(e["details"]["to"] == "reconnecting" for e in states(victor))
                                                  and any(e["details"]["to"] == "reconnecting" for e in states(boss))):
                time.sleep(0.1)
        finally:
            victor.close()
            boss.close()
        seen, told = states(victor), states(boss)
        assert seen and told, (victor.events, boss.events)
        assert all("reason" not in e["details"] and "public_reason" in e["details"] for e in seen), seen
        assert any("reason" in e["details"] for e in told), told
        # Nor does a viewer learn who else the camera is shared with.
        assert all(n != "camera.shared" or e["details"]["username"] == "victor" for n, e in victor.events), victor.events
    finally:
        requests.delete(console + "/api/cameras/refusing", headers=admin, timeout=10)


def test_a_demoted_admin_stops_seeing_other_users_cameras_at_once(console):
    admin = bearer(login(console, "admin"))
    assert requests.patch(console + "/api/users/olivia", headers=admin, json={"role": "admin"}, timeout=10).status_code == 200
    try:
        olivia = login(console, "olivia")
        reader = EventReader(console, "olivia")
        stream = requests.post(console + "/api/cameras/demo/stream/token", headers=bearer(olivia), timeout=10).json()["token"]
        viewer = websocket.create_connection(f"{console.replace('http', 'ws')}/ws/cameras/demo?token={stream}", timeout=10)
        try:
            viewer.recv_data()
            # As an admin she sees the demo camera's clips.
            assert requests.post(console + "/api/cameras/demo/clips", headers=admin, json={}, timeout=10).status_code == 202
            deadline = time.time() + 10
            while "clip.triggered" not in reader.names("demo") and time.time() < deadline:
                time.sleep(0.1)
            assert "clip.triggered" in reader.names("demo"), reader.events
            assert requests.patch(console + "/api/users/olivia", headers=admin, json={"role": "user"}, timeout=10).status_code == 200
            # Her stream of a camera that is not hers ends within a couple of seconds ...
            deadline = time.time() + 5
            opcode, data = None, b""
            while time.time() < deadline:
                opcode, data = viewer.recv_data(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    break
            assert opcode == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(data[:2], "big") in (4403, 4404), (opcode, data[:40])
            # ... and her event stream no longer carries the camera's events.
            seen = len(reader.events)
            assert requests.post(console + "/api/cameras/demo/clips", headers=admin, json={}, timeout=10).status_code == 202
            time.sleep(2)
            assert [n for n, e in reader.events[seen:] if e.get("camera") == "demo"] == [], reader.events[seen:]
        finally:
            viewer.close()
            reader.close()
    finally:
        requests.patch(console + "/api/users/olivia", headers=admin, json={"role": "user"}, timeout=10)
