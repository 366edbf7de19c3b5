"""AppTest of the Classify page: real uploads get the engine's verdict, bad uploads a message."""

import io

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from zsl_app.testing import REPO, data_path, reference
from zsl_core.data import prepare_image

pytestmark = [pytest.mark.skipif(not data_path().exists(), reason=f"test data {data_path()} not found (ZSL_TEST_DATA)"),
              pytest.mark.usefixtures("app_env")]
PAGE = str(REPO / "pages" / "3_Classify_a_photo.py")
TIMEOUT = 900


@pytest.fixture(scope="module")
def ref():
    return reference(("cat", "truck"))


def photo(ref, cls: str, fmt: str = "PNG", size: int = 160, i: int = 0) -> bytes:
    """A test image of ``cls`` upscaled to a 'photo' and encoded (made at test time, never stored)."""
    data = ref[0]
    image = Image.fromarray(np.asarray(data.test_images[data.test_labels == data.class_names.index(cls)][i]))
    image = image.resize((size, size), Image.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def engine_verdict(ref, raw: bytes, threshold: float) -> tuple[bool, str]:
    data, feats, model, _ = ref
    x = feats.extractor.transform(prepare_image(raw)[None])
    scores = model.decompose(x)
    novel = bool(scores.novelty[0] > threshold)
    return novel, model.class_names_[int(model.predict_from_scores(scores, threshold)[0])]


def shown_threshold(at, ref) -> float:
    """The shared threshold as a cutoff: the slider's share of test images called novel."""
    _, _, _, scores = ref
    pct = at.slider(key="novel_pct").value
    s = np.sort(scores.novelty)[::-1]
    k = int(round(pct / 100 * len(s)))
    return float(s[0] if k <= 0 else (np.nextafter(s[-1], -np.inf) if k >= len(s) else s[k]))


def verdict(at) -> str:
    texts = [a.value for a in list(at.success) + list(at.warning)]
    assert len(texts) == 1, texts
    return texts[0]


def upload(at, name: str, raw: bytes, mime: str):
    at.file_uploader(key="upload").set_value((name, raw, mime)).run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("cls", ["cat", "dog"])
def test_upload_gives_the_engines_verdict(ref, cls):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    raw = photo(ref, cls)
    upload(at, f"{cls}.png", raw, "image/png")
    t = shown_threshold(at, ref)
    novel, predicted = engine_verdict(ref, raw, t)
    text = verdict(at)
    assert text.startswith("**Novel**" if novel else "**Seen class**"), text
    assert f"{t:.4g}" in text
    assert {m.label: m.value for m in at.metric}["Predicted class"] == predicted
    assert len(at.get("plotly_chart")) == 2  # probabilities, landing in word space
    assert any("Nearest words" in m.value for m in at.markdown)


def test_every_format_is_read(ref):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    for fmt, mime, ext in (("JPEG", "image/jpeg", "jpg"), ("WEBP", "image/webp", "webp"), ("BMP", "image/bmp", "bmp"),
                           ("GIF", "image/gif", "gif")):
        upload(at, f"truck.{ext}", photo(ref, "truck", fmt), mime)
        assert not at.error, (fmt, [e.value for e in at.error])
        verdict(at)


def test_moving_the_threshold_changes_the_verdict(ref):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    upload(at, "cat.png", photo(ref, "cat"), "image/png")
    at.slider(key="novel_pct").set_value(0.0).run()
    assert verdict(at).startswith("**Seen class**"), "nothing is novel at 0 %"
    at.slider(key="novel_pct").set_value(100.0).run()
    assert verdict(at).startswith("**Novel**"), "everything is novel at 100 %"


def truncated_png(ref) -> bytes:
    raw = photo(ref, "cat", "PNG", size=256)
    return raw[: len(raw) // 2]


@pytest.mark.parametrize("name, make, mime", [
    ("notes.jpg", lambda ref: b"this is a text file, renamed\n" * 20, "image/jpeg"),
    ("empty.png", lambda ref: b"", "image/png"),
    ("broken.png", truncated_png, "image/png"),
])
def test_bad_upload_gets_a_message_and_the_page_keeps_working(ref, name, make, mime):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    upload(at, name, make(ref), mime)
    assert any(name in e.value for e in at.error), [e.value for e in at.error]
    assert not at.success and not at.warning, "no verdict for a bad file"
    upload(at, "cat.png", photo(ref, "cat"), "image/png")  # the page still works
    assert not at.error
    verdict(at)


def test_pick_a_test_image(ref):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.radio(key="photo_source").set_value("pick").run()
    at.selectbox(key="pick_class").set_value("truck").run()
    at.slider(key="pick_index").set_value(3).run()
    assert not at.exception, at.exception
    data, feats, model, scores = ref
    row = int(np.flatnonzero(data.test_labels == data.class_names.index("truck"))[3])
    t = shown_threshold(at, ref)
    novel = bool(scores.novelty[row] > t)
    assert verdict(at).startswith("**Novel**" if novel else "**Seen class**")
    assert {m.label: m.value for m in at.metric}["Predicted class"] == \
        model.class_names_[int(model.predict_from_scores(scores, t)[row])]


def test_threshold_is_shared_with_the_tradeoff_page(ref):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("pages/1_Threshold_tradeoff.py").run()
    at.slider(key="novel_pct").set_value(42.0).run()
    at.switch_page("pages/3_Classify_a_photo.py").run()
    assert not at.exception, at.exception
    assert at.slider(key="novel_pct").value == 42.0
