"""The paper's features: Coates & Ng (2011) unsupervised single-layer features.

Socher et al. (2013, Sec. 5) represent each CIFAR-10 image by the unsupervised features of Coates and Ng
(2011): a dictionary of 6x6 colour patches learned from training images, every patch of an image encoded by
a sign-split soft threshold against it, and the codes sum-pooled over the four image quadrants.

References
----------
Coates, Ng. "The Importance of Encoding Versus Training with Sparse Coding and Vector Quantization". ICML 2011.
Coates, Ng. "Learning Feature Representations with K-means". Neural Networks: Tricks of the Trade, 2012.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..cache import Progress, report
from .base import FeatureExtractor, Throttle as _Throttle, check_images as _check_images

__all__ = ["CoatesFeatures", "zca_whitening", "CONTRAST_EPS", "STANDARDISE_EPS"]

#: Coates' per-patch contrast normalisation adds this to the patch variance (pixel values on 0-255).
CONTRAST_EPS = 10.0
#: Coates' standardisation of the final features adds this to each feature's variance.
STANDARDISE_EPS = 0.01



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

    #: Shown in the app and the command line's help.
    label = "Unsupervised (Coates & Ng, the paper's)"
    description = ("The paper's features: learned without labels from this dataset's own training images (k-means on small patches), no outside data; the held-out classes' labels are never used.")

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
