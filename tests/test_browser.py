"""The app in a real browser: ``streamlit run`` on a free localhost port, headless Chromium via Playwright.

Opens every page, moves the threshold slider, uploads a photo, holds out another pair, and saves a screenshot
of each step to ``$ZSL_SCREENSHOTS`` (default: a temporary folder, printed). Skipped only when
``/usr/bin/chromium`` is missing (``playwright install`` cannot download browsers here).

Uses the same small cached features as the AppTest tests (``zsl_app.testing.environment``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from zsl_app.testing import REPO, data_path, environment

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
PAGES = {"home": "", "threshold": "threshold", "semantic": "semantic-space", "classify": "classify",
         "pairs": "pairs", "distractors": "distractors"}
#: What each page shows once it is built (a first visit may train models for a while before).
READY = {"home": '[data-testid="stMetricValue"]', "classify": '[data-testid="stFileUploader"]'}

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing (apt-get install chromium); "
                                                     "Playwright's own browser download does not work here"),
    pytest.mark.skipif(not data_path().exists(), reason=f"test data {data_path()} not found (set ZSL_TEST_DATA)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    env = {**os.environ, **environment()}
    port = _free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix="zsl-streamlit-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none",
         "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            log.seek(0)
            pytest.fail(f"streamlit did not start:\n{log.read()[-3000:]}")
        time.sleep(0.3)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def shots() -> Path:
    folder = Path(os.environ.get("ZSL_SCREENSHOTS") or os.environ.get("ZSL_SCREENSHOT_DIR")
                  or tempfile.mkdtemp(prefix="zsl-screenshots-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 1800})
        pg = context.new_page()
        pg.set_default_timeout(240_000)
        # st.navigation registers the page URLs on the app's first run: until then a deep link is answered with
        # the main page, and the first widget event after that switch is lost. Open the main page first.
        pg.goto(server)
        pg.wait_for_selector('[data-testid="stSidebar"]')
        wait_idle(pg)
        yield pg
        context.close()
        browser.close()


def wait_idle(page, settle: float = 0.5) -> None:
    """Wait until the script run is over (``stApp``'s script state, no spinner) and stays over ``settle`` s."""
    deadline = time.time() + 300
    quiet_since = None
    while time.time() < deadline:
        state = page.locator('[data-testid="stApp"]').get_attribute("data-test-script-state")
        busy = state != "notRunning" or page.locator('[data-testid="stSpinner"]').count() > 0
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since >= settle:
            return
        time.sleep(0.1)
    raise AssertionError("the app kept running for 300 s")


def open_page(page, server, name: str) -> None:
    page.goto(f"{server}/{PAGES[name]}")
    page.wait_for_selector('[data-testid="stSidebar"]')
    page.wait_for_selector(READY.get(name, ".js-plotly-plot"))
    wait_idle(page)
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]').first.inner_text()


def navigate(page, title: str) -> None:
    """Go to another page within the same session (the sidebar's navigation link), keeping its choices."""
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).first.click()
    page.wait_for_selector(f"h1:has-text('{title}')")
    wait_idle(page)


def plot_point(page, chart: int, x, y) -> tuple[float, float]:
    """Page coordinates of data point (x, y) in the ``chart``-th Plotly chart (categories: their index)."""
    return tuple(page.evaluate(
        """([i, x, y]) => {
            const gd = document.querySelectorAll('.js-plotly-plot')[i];
            const L = gd._fullLayout, r = gd.getBoundingClientRect();
            return [r.left + L._size.l + L.xaxis.d2p(x), r.top + L._size.t + L.yaxis.d2p(y)];
        }""", [chart, x, y]))


def first_image_point(page, chart: int) -> tuple[float, float]:
    """Data coordinates of the first point of the first trace that carries customdata (an image)."""
    return tuple(page.evaluate(
        """(i) => {
            const gd = document.querySelectorAll('.js-plotly-plot')[i];
            const t = gd._fullData.find(t => t.customdata && t.customdata.length);
            return [t.x[0], t.y[0]];
        }""", chart))


def shoot(page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def metric_values(page) -> list[str]:
    return [m.inner_text() for m in page.locator('[data-testid="stMetricValue"]').all()]


def test_every_page_opens(server, page, shots):
    for name in PAGES:
        open_page(page, server, name)
        shoot(page, shots, f"page_{name}")


def test_slider_moves_the_figures(server, page, shots):
    open_page(page, server, "threshold")
    before = metric_values(page)
    thumb = page.locator('[data-testid="stSlider"] input[type="range"]').first
    start = float(thumb.input_value())
    track = page.locator('[data-testid="stSlider"] [role="group"] > div').first
    box = track.bounding_box()
    page.mouse.click(box["x"] + 0.4 * box["width"], box["y"] + box["height"] / 2)  # 40 % called novel
    wait_idle(page, settle=1.0)
    moved = float(thumb.input_value())
    assert abs(moved - 40) < 3 and moved != start, (start, moved)
    after = metric_values(page)
    assert after != before, (before, after)
    shoot(page, shots, "threshold_after_slider")


def test_upload_gives_a_verdict(server, page, shots):
    from PIL import Image

    from zsl_core.data import load_dataset

    open_page(page, server, "classify")
    data = load_dataset(data_path())
    photo = Image.fromarray(np.asarray(data.test_images[data.test_labels == data.class_names.index("cat")][0]))
    path = Path(tempfile.mkdtemp()) / "cat.png"
    photo.resize((256, 256), Image.BICUBIC).save(path)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    page.wait_for_selector("text=Verdict")
    wait_idle(page)
    alerts = page.locator('[data-testid="stAlert"]').all_inner_texts()
    assert any("Novel" in a or "Seen class" in a for a in alerts), alerts
    shoot(page, shots, "classify_upload")

    bad = Path(tempfile.mkdtemp()) / "notes.jpg"
    bad.write_text("this is not a photo")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(bad))
    page.wait_for_selector("text=Cannot read this file")
    wait_idle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    shoot(page, shots, "classify_bad_upload")


def test_pair_button_changes_the_held_out_set(server, page, shots):
    open_page(page, server, "pairs")
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Pair").locator("input").first
    box.click()
    page.keyboard.type("automobile + deer")  # the list is virtualised: filter it, then take the match
    page.keyboard.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Hold out automobile + deer").click()
    wait_idle(page, settle=1.0)
    chips = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').inner_text()
    assert "automobile" in chips and "deer" in chips, chips
    shoot(page, shots, "pairs_after_hold_out")
    navigate(page, "Semantic space")
    chips = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').inner_text()
    assert "automobile" in chips and "deer" in chips, chips  # the sidebar kept the choice across pages
    shoot(page, shots, "semantic_automobile_deer")


def test_heatmap_click_holds_out_that_pair(server, page, shots):
    open_page(page, server, "pairs")
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    x, y = plot_point(page, 0, names.index("ship"), names.index("deer"))  # column ship, row deer
    page.mouse.click(x, y)
    wait_idle(page, settle=1.0)
    chips = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').inner_text()
    assert "deer" in chips and "ship" in chips, chips
    shoot(page, shots, "pairs_heatmap_click")


def test_semantic_space_click_and_lasso_show_images(server, page, shots):
    open_page(page, server, "semantic")
    x, y = plot_point(page, 0, *first_image_point(page, 0))
    page.mouse.click(x, y)
    wait_idle(page, settle=1.0)
    panel = page.locator('[data-testid="stImage"]')
    assert panel.count() >= 1, "clicking a dot shows its image"
    assert "true class" in page.locator('[data-testid="stMain"]').inner_text()
    shoot(page, shots, "semantic_click")
    # Lasso around the middle of the plot (the lasso tool is in the chart's mode bar).
    chart = page.locator(".js-plotly-plot").first
    chart.hover()
    chart.locator('.modebar-btn[data-val="lasso"]').click()
    box = chart.locator(".nsewdrag").first.bounding_box()
    cx, cy, w, h = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["width"], box["height"]
    page.mouse.move(cx - 0.3 * w, cy - 0.3 * h)
    page.mouse.down()
    for dx, dy in ((0.3, -0.3), (0.3, 0.3), (-0.3, 0.3), (-0.3, -0.3)):
        page.mouse.move(cx + dx * w, cy + dy * h, steps=8)
    page.mouse.up()
    wait_idle(page, settle=1.0)
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert "selected images" in text and "Nearest words" in text, text[-1500:]
    shoot(page, shots, "semantic_lasso")
