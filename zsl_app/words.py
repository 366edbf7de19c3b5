"""Words typed by a visitor (candidate labels, distractors, a search): split, checked against the vocabulary."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class TypedWords:
    """The outcome of :func:`parse`: usable words, unknown ones (with suggestions) and class names."""

    words: list[str] = field(default_factory=list)
    unknown: list = field(default_factory=list)      # OutOfVocabularyError, with .word and .suggestions
    classes: list[str] = field(default_factory=list)  # already a class of the dataset

    def messages(self) -> list[str]:
        out = []
        for error in self.unknown:
            hint = f" Did you mean: {', '.join(error.suggestions)}?" if error.suggestions else ""
            out.append(f"“{error.word}” is not in the GloVe vocabulary (400,000 words), so it has no word vector "
                       f"and was left out.{hint}")
        return out


def parse(text: str, vectors, class_names=(), limit: int = 20) -> TypedWords:
    """Split ``text`` at commas / semicolons, lower-case, drop duplicates; keep words the vectors know.

    A name of several words (``"sea lion"``) is kept when each of its words is known (the engine averages
    them). At most ``limit`` words are kept.
    """
    from zsl_core.semantic import OutOfVocabularyError

    out = TypedWords()
    for word in dict.fromkeys(w.strip().lower() for w in re.split(r"[,;\n]", text or "") if w.strip()):
        if word in class_names:
            out.classes.append(word)
            continue
        try:
            vectors.class_vectors([word])
        except OutOfVocabularyError as error:
            out.unknown.append(error)
            continue
        except ValueError:
            continue
        if len(out.words) < limit:
            out.words.append(word)
    return out
