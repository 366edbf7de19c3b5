"""Fitted estimators to plain arrays and back, so a fitted model can live in the cache without pickles.

A fitted estimator is its constructor parameters (``get_params``) plus its learned attributes (names ending in
``_`` that are not parameters). :func:`estimator_state` turns both into a dict of numpy arrays: every array
is stored as is, everything else (numbers, strings, lists, dicts, ``None``) as JSON in one ``__meta__`` entry,
and nested estimators (the classifier's mapping, detector and softmax) recursively. :func:`load_estimator`
rebuilds only classes registered here — a cache file can never name arbitrary code to run, unlike a pickle.
"""

from __future__ import annotations

import inspect
import json

import numpy as np

__all__ = ["estimator_state", "load_estimator", "register"]

_CLASSES: dict[str, type] = {}


def register(cls: type) -> type:
    """Allow :func:`load_estimator` to rebuild ``cls`` (used as a decorator by the model's estimators)."""
    _CLASSES[cls.__name__] = cls
    return cls


def _param_names(cls) -> list[str]:
    return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]


def _encode(value, arrays: dict, path: str):
    if isinstance(value, np.ndarray):
        arrays[path] = value
        return {"__array__": path}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return {"__list__": [_encode(v, arrays, f"{path}.{i}") for i, v in enumerate(value)],
                "tuple": isinstance(value, tuple)}
    if isinstance(value, dict):
        return {"__dict__": [[_encode(k, arrays, f"{path}.k{i}"), _encode(v, arrays, f"{path}.{i}")]
                             for i, (k, v) in enumerate(value.items())]}
    if type(value).__name__ in _CLASSES:
        return {"__estimator__": _state_tree(value, arrays, path)}
    raise TypeError(f"cannot store a {type(value).__name__} at {path!r}")


def _decode(node, arrays: dict):
    if isinstance(node, dict):
        if "__array__" in node:
            return arrays[node["__array__"]]
        if "__list__" in node:
            items = [_decode(v, arrays) for v in node["__list__"]]
            return tuple(items) if node.get("tuple") else items
        if "__dict__" in node:
            return {_decode(k, arrays): _decode(v, arrays) for k, v in node["__dict__"]}
        if "__estimator__" in node:
            return _from_tree(node["__estimator__"], arrays)
    return node


def _state_tree(est, arrays: dict, path: str) -> dict:
    cls = type(est)
    params = _param_names(cls)
    learned = {k: v for k, v in vars(est).items() if k.endswith("_") and not k.startswith("_") and k not in params}
    # Parameters that cannot be stored (a WordVectors source) are dropped: the learned state already holds
    # what they produced.
    stored_params = {}
    for k in params:
        try:
            stored_params[k] = _encode(getattr(est, k), arrays, f"{path}/{k}")
        except TypeError:
            stored_params[k] = None
    return {"class": cls.__name__, "params": stored_params,
            "learned": {k: _encode(v, arrays, f"{path}/{k}") for k, v in learned.items()}}


def _from_tree(tree: dict, arrays: dict):
    name = tree["class"]
    if name not in _CLASSES:
        raise ValueError(f"unknown estimator class {name!r} in stored state")
    cls = _CLASSES[name]
    params = {k: _decode(v, arrays) for k, v in tree["params"].items() if k in _param_names(cls)}
    est = cls(**params)
    for k, v in tree["learned"].items():
        setattr(est, k, _decode(v, arrays))
    return est


def estimator_state(est) -> dict[str, np.ndarray]:
    """A fitted estimator (and the estimators it holds) as a dict of numpy arrays (see the module notes)."""
    arrays: dict[str, np.ndarray] = {}
    tree = _state_tree(est, arrays, "root")
    arrays["__meta__"] = np.array(json.dumps(tree))
    return arrays


def load_estimator(arrays: dict[str, np.ndarray]):
    """Rebuild an estimator stored with :func:`estimator_state`; raises ``ValueError`` for foreign state."""
    try:
        tree = json.loads(str(arrays["__meta__"]))
    except (KeyError, ValueError) as error:
        raise ValueError(f"not a stored estimator ({error})") from None
    return _from_tree(tree, arrays)
