"""Tests of zsl_core.semantic on the real packaged GloVe 6B 50-d vectors and on small hand-written files."""

import numpy as np
import pytest

from zsl_core.semantic import GloveFormatError, OutOfVocabularyError, WordVectors


@pytest.fixture(scope="module")
def wv():
    return WordVectors.from_glove_package()


def _cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_package_shape_and_memoised(wv):
    assert wv.dim == 50 and len(wv) == 400_000 and wv.vectors.shape == (400_000, 50)
    assert wv.vectors.dtype == np.float32
    assert WordVectors.from_glove_package() is wv
    assert "cat" in wv and "Cat" in wv and "xqzzvwq" not in wv and 3 not in wv
    assert len(wv.fingerprint) == 16


def test_similarity_is_semantic(wv):
    cat, dog, truck = wv.class_vectors(["cat", "dog", "truck"])
    assert _cos(cat, dog) > _cos(cat, truck)


def test_multiword_names_average_words(wv):
    expected = (wv.vector("pickup") + wv.vector("truck")) / 2
    np.testing.assert_allclose(wv.vector("pickup_truck"), expected, rtol=1e-6)
    np.testing.assert_allclose(wv.vector("Pickup Truck"), expected, rtol=1e-6)
    np.testing.assert_allclose(wv.vector("aquarium_fish"),
                               (wv.vector("aquarium") + wv.vector("fish")) / 2, rtol=1e-6)
    # A hyphenated vocabulary word keeps its own vector.
    np.testing.assert_array_equal(wv.vector("t-shirt"), wv.vectors[wv.vocabulary.index("t-shirt")])
    assert wv.class_vectors(["cat", "pickup_truck"]).shape == (2, 50)
    with pytest.raises(ValueError):
        wv.vector(" _ ")


def test_out_of_vocabulary_names_word_and_suggests(wv):
    assert "truck" in wv.suggest("truk")
    with pytest.raises(OutOfVocabularyError) as info:
        wv.vector("pickup_trukk")
    err = info.value
    assert isinstance(err, KeyError)
    assert err.word == "trukk" and "truck" in err.suggestions
    assert "trukk" in str(err) and "truck" in str(err) and "pickup_trukk" in str(err)


def test_nearest_whole_vocabulary(wv):
    (hits,) = wv.nearest(wv.vector("cat"), k=10, exclude=["cat"])
    words = [w for w, _ in hits]
    assert len(words) == 10 and "cat" not in words
    assert "dog" in words or "cats" in words
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True)
    # Euclidean: a word's own vector is its nearest word; batch of queries gives one list each.
    res = wv.nearest(wv.class_vectors(["dog", "truck"]), k=3, metric="euclidean")
    assert [r[0][0] for r in res] == ["dog", "truck"] and res[0][0][1] < 1e-2
    with pytest.raises(ValueError):
        wv.nearest(np.zeros(7), k=3)
    with pytest.raises(ValueError):
        wv.nearest(wv.vector("cat"), metric="manhattan")


def test_from_glove_text(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("cat 1 0 0\ndog 0.9 0.1 0\ntruck 0 0 1\npickup 0 1 1\n", encoding="utf-8")
    wv = WordVectors.from_glove_text(path)
    assert wv.dim == 3 and wv.vocabulary == ["cat", "dog", "truck", "pickup"]
    np.testing.assert_allclose(wv.vector("Pickup_Truck"), [0, 0.5, 1])
    assert wv.nearest(wv.vector("cat"), k=1, exclude=["cat"])[0][0][0] == "dog"
    other = tmp_path / "other.txt"
    other.write_text("cat 1 0 0\ndog 0.9 0.1 0\ntruck 0 0 2\npickup 0 1 1\n", encoding="utf-8")
    assert WordVectors.from_glove_text(other).fingerprint != wv.fingerprint
    # word2vec header line is skipped
    header = tmp_path / "w2v.txt"
    header.write_text("2 3\ncat 1 0 0\ndog 0 1 0\n", encoding="utf-8")
    assert WordVectors.from_glove_text(header).vocabulary == ["cat", "dog"]


@pytest.mark.parametrize("content, message", [
    ("", "empty"),
    ("\n\n", "empty"),
    ("cat 1 0 0\ndog 1 0\n", "line 2"),
    ("cat 1 0 0\ndog 1 x 0\n", "'x' is not a number"),
    ("cat 1 0 0\nlonely\n", "line 2"),
])
def test_bad_glove_files(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(GloveFormatError, match=message):
        WordVectors.from_glove_text(path)


def test_non_utf8_file(tmp_path):
    path = tmp_path / "bin.txt"
    path.write_bytes(b"\xff\xfe\x00cat 1 2")
    with pytest.raises(GloveFormatError, match="UTF-8"):
        WordVectors.from_glove_text(path)
