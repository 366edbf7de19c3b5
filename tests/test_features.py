"""Tests of zsl_core.features: the vectorised Coates encoder against a slow reference, whitening, the
EfficientNet backends against each other, and compute_features' cache. Small sizes keep this file fast."""

import hashlib
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from zsl_core import features as feat
from zsl_core.features import CoatesFeatures, EfficientNetFeatures, compute_features, zca_whitening

SMALL = dict(n_atoms=8, n_patches=3000, kmeans_iters=3)


def _images(n, seed=0, size=32):
    """Smooth-ish random colour images (blurred noise), so patches have structure for whitening."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, size + 4, size + 4, 3))
    x = sum(x[:, i:i + size, j:j + size] for i in range(5) for j in range(5))
    x = (x - x.min()) / (x.max() - x.min()) * 255
    return x.astype(np.uint8)


@pytest.fixture(scope="module")
def images():
    return _images(100)


@pytest.fixture(scope="module")
def fitted(images):
    return CoatesFeatures(**SMALL).fit(images)


@pytest.fixture()
def cache_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("ZSL_CACHE_DIR", str(tmp_path))
    return tmp_path


def _reference_encode(model, image):
    """Coates' pipeline one patch at a time: extract, normalise, whiten, dot, threshold, quadrant sums."""
    ps, k, a = model.patch_size, model.n_atoms, model.alpha
    h, w, _ = image.shape
    oh, ow = h - ps + 1, w - ps + 1
    out = np.zeros((4, 2, k))
    for i in range(oh):
        for j in range(ow):
            p = image[i:i + ps, j:j + ps, :].astype(np.float64).transpose(2, 0, 1).ravel()
            p = (p - p.mean()) / np.sqrt(p.var(ddof=1) + 10.0)
            z = model.dictionary_.astype(np.float64) @ ((p - model.patch_mean_) @ model.whiten_)
            q = 2 * (i >= round(oh / 2 + 1e-9)) + (j >= round(ow / 2 + 1e-9))
            out[q, 0] += np.maximum(0, z - a)
            out[q, 1] += np.maximum(0, -z - a)
    return (out.ravel() - model.feature_mean_) / model.feature_std_


def test_coates_shape_and_determinism(images, fitted):
    X = fitted.transform(images[:10])
    assert X.shape == (10, 8 * SMALL["n_atoms"]) and X.dtype == np.float32
    again = CoatesFeatures(**SMALL).fit(images).transform(images[:10])
    np.testing.assert_allclose(X, again, rtol=1e-5, atol=1e-5)
    other_seed = CoatesFeatures(**SMALL, random_state=1).fit(images).transform(images[:10])
    assert not np.allclose(X, other_seed, atol=1e-3)
    # standardised with the training images' statistics
    train = fitted.transform(images)
    np.testing.assert_allclose(train.mean(axis=0), 0, atol=1e-3)


def test_fit_transform_equals_fit_then_transform(images, fitted):
    X = CoatesFeatures(**SMALL).fit_transform(images)
    np.testing.assert_allclose(X, fitted.transform(images), rtol=1e-4, atol=1e-4)


def test_fit_uses_only_given_images(images, fitted):
    # Patches come from the images passed to fit: appending other images changes nothing only if they are
    # never sampled, so check the sampler's source directly — every sampled patch occurs in the images.
    model = CoatesFeatures(**SMALL)
    patches = model.sample_patches(images[:3])
    windows = np.lib.stride_tricks.sliding_window_view(images[:3], (6, 6), axis=(1, 2))  # (3,27,27,3,6,6)
    allowed = {w.tobytes() for w in windows.reshape(-1, 108).astype(np.float32)}
    assert all(p.tobytes() in allowed for p in patches[:200])
    # and learning from different images gives a different dictionary
    other = CoatesFeatures(**SMALL).fit(_images(100, seed=5))
    assert not np.allclose(other.dictionary_, fitted.dictionary_)


def test_whitening_gives_identity_covariance(images, fitted):
    model = CoatesFeatures(**SMALL)
    patches = model.sample_patches(images)
    normed = feat.coates._contrast_normalise(torch.from_numpy(patches)).numpy().astype(np.float64)
    # the learned ZCA is the one of these patches
    mean, whiten = zca_whitening(normed, fitted.whiten_eps)
    np.testing.assert_allclose(fitted.whiten_, whiten, rtol=1e-4, atol=1e-5)
    # With a tiny eps the whitened covariance is the identity, except along the all-ones direction: contrast
    # normalisation removed every patch's mean, so that direction has no variance to scale up.
    mean, whiten = zca_whitening(normed, 1e-6)
    cov = np.cov((normed - mean) @ whiten, rowvar=False)
    ones = np.full((108, 1), 108 ** -0.5)
    np.testing.assert_allclose(cov, np.eye(108) - ones @ ones.T, atol=2e-3)
    # the dictionary atoms are unit vectors
    np.testing.assert_allclose(np.linalg.norm(fitted.dictionary_, axis=1), 1, rtol=1e-5)


@pytest.mark.parametrize("dictionary", ["kmeans", "omp1"])
def test_vectorised_encoder_matches_reference(images, dictionary):
    model = CoatesFeatures(**SMALL, dictionary=dictionary, batch_size=2).fit(images[:40])
    test = _images(3, seed=9)
    X = model.transform(test)
    for i in range(2):
        np.testing.assert_allclose(X[i], _reference_encode(model, test[i]), rtol=1e-4, atol=1e-4)


def test_odd_image_size_quadrants(images):
    model = CoatesFeatures(**SMALL).fit(images[:30])
    small = _images(1, seed=3, size=12)  # 7x7 positions: quadrants of 4 and 3 rows/cols
    np.testing.assert_allclose(model.transform(small)[0], _reference_encode(model, small[0]), rtol=1e-4, atol=1e-4)


def test_coates_state_roundtrip_and_errors(images, fitted):
    clone = CoatesFeatures(**SMALL).load_state(fitted.state())
    np.testing.assert_array_equal(clone.transform(images[:3]), fitted.transform(images[:3]))
    with pytest.raises(ValueError, match="dictionary_"):
        CoatesFeatures(**{**SMALL, "n_atoms": 9}).load_state(fitted.state())
    with pytest.raises(RuntimeError, match="not fitted"):
        CoatesFeatures().transform(images[:1])
    with pytest.raises(ValueError, match="dictionary"):
        CoatesFeatures(dictionary="pca").fit(images)
    with pytest.raises(ValueError, match="uint8"):
        CoatesFeatures(**SMALL).fit(images.astype(np.float32))


def test_coates_progress_steps(images):
    steps = []
    CoatesFeatures(**SMALL).fit_transform(images[:20], progress=lambda s, d, t: steps.append((s, d, t)))
    names = [s for s, _, _ in steps]
    for name in ("Sampling patches", "Whitening patches", "Learning dictionary", "Encoding train images"):
        assert name in names
    assert steps[-1] == ("Encoding train images", 20, 20)


# --- EfficientNet -----------------------------------------------------------------------------------------

def test_efficientnet_backends_agree(images, cache_tmp):
    x = images[:3]
    onnx = EfficientNetFeatures(image_size=64, backend="onnx").transform(x)
    ref = EfficientNetFeatures(image_size=64, backend="torch").transform(x)
    assert onnx.shape == (3, 1280) and onnx.dtype == np.float32
    assert np.abs(onnx - ref).max() <= 1e-3 * np.abs(ref).max()
    assert list((cache_tmp / "models").glob("*64px*.onnx"))  # exported once into the cache
    with pytest.raises(ValueError, match="multiple of 32"):
        EfficientNetFeatures(image_size=100).transform(x)


# --- compute_features -------------------------------------------------------------------------------------

@dataclass
class TinyDataset:
    train_images: np.ndarray
    test_images: np.ndarray

    @property
    def fingerprint(self):
        return hashlib.sha256(self.train_images.tobytes() + self.test_images.tobytes()).hexdigest()[:16]


def test_compute_features_caches(images, cache_tmp):
    ds = TinyDataset(images[:30], images[30:40])
    steps = []
    first = compute_features(ds, "coates", SMALL, progress=lambda s, d, t: steps.append(s))
    assert first.X_train.shape == (30, 64) and first.X_test.shape == (10, 64)
    assert "Learning dictionary" in steps and "Encoding test images" in steps
    files = list((cache_tmp / "features").glob("*.npz"))
    assert len(files) == 1

    steps.clear()
    second = compute_features(ds, "coates", SMALL, progress=lambda s, d, t: steps.append(s))
    assert steps == ["Loading cached features"]
    np.testing.assert_array_equal(second.X_train, first.X_train)
    assert second.key == first.key
    # the rebuilt extractor encodes a new photo exactly like the one that was fitted
    np.testing.assert_allclose(second.extractor.transform(images[50:51]), first.extractor.transform(images[50:51]))

    # a parameter that changes the features changes the key; batch size (speed only) does not
    assert compute_features(ds, "coates", {**SMALL, "alpha": 0.5}).key != first.key
    assert feat.feature_key(ds.fingerprint, CoatesFeatures(**SMALL, batch_size=7)) == first.key

    # a corrupt cache file is recomputed, not served
    files[0].write_bytes(files[0].read_bytes()[:-100])
    steps.clear()
    third = compute_features(ds, "coates", SMALL, progress=lambda s, d, t: steps.append(s))
    assert "Learning dictionary" in steps
    np.testing.assert_allclose(third.X_train, first.X_train, rtol=1e-5, atol=1e-5)


def test_compute_features_efficientnet_and_errors(images, cache_tmp):
    ds = TinyDataset(images[:4], images[4:6])
    fs = compute_features(ds, "efficientnet", {"image_size": 64})
    assert fs.X_train.shape == (4, 1280) and fs.X_test.shape == (2, 1280)
    assert compute_features(ds, "efficientnet", {"image_size": 96}).key != fs.key
    with pytest.raises(ValueError, match="unknown feature extractor"):
        compute_features(ds, "sift")
    with pytest.raises(ValueError, match="unknown parameter"):
        compute_features(ds, "coates", {"n_atom": 3})
