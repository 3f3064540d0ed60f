"""The local risk model: which sentences carry a risk, and of which category.

A TF-IDF over character n-grams (Khmer is written without spaces between words, so words are
a poor unit) feeding a logistic regression over the seven categories plus
`None` (no risk). It is trained from `data/risk_sentences.tsv`, a labelled English and Khmer
sample that ships with the package, in well under a second at start-up; `tessera ai-service
train` prints its accuracy on a held-out split.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from typing import Any

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import FeatureUnion, Pipeline

from tessera.aiservice.chunks import Piece, sentences

CATEGORIES = ("Financial", "Schedule", "Technical", "Legal", "Operational", "Compliance", "Other")
NO_RISK = "None"
PIPELINE_VERSION = "model-1"
HELD_OUT_FRACTION = 0.25
ACCURACY_TARGET = 0.85

_HIGH = re.compile(
    r"unlimited|without (?:notice|compensation)|terminat|penalt|indefinite|non-refundable|"
    r"not (?:obtained|certified|registered)|no (?:force majeure|backup|disaster)|breach|"
    r"exclusively|waive|គ្មានដែនកំណត់|ពិន័យ|គ្មានការជូនដំណឹង|មិនទាន់ទទួលបាន",
    re.IGNORECASE,
)
_KHMER = re.compile(r"[\u1780-\u17ff]")
_NOT_LETTERS = re.compile(r"[\W\d_]+")


@dataclass(frozen=True)
class Sample:
    category: str
    language: str
    sentence: str


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    baseline: float  # always answering the most frequent category
    train_size: int
    test_size: int
    per_language: dict[str, float]

    @property
    def meets_target(self) -> bool:
        return self.accuracy >= ACCURACY_TARGET


def load_samples() -> list[Sample]:
    text = (
        resources.files("tessera.aiservice")
        .joinpath("data/risk_sentences.tsv")
        .read_text(encoding="utf-8")
    )
    samples = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        category, language, sentence = line.split("\t", 2)
        samples.append(Sample(category, language, sentence.strip()))
    return samples


def distinct(samples: list[Sample]) -> list[Sample]:
    """The samples without repeats of one sentence (case, digits and punctuation aside), so a
    sentence and its near-copy never sit on both sides of the held-out split."""
    seen: set[str] = set()
    out = []
    for sample in samples:
        key = _NOT_LETTERS.sub(" ", sample.sentence.casefold()).strip()
        if key not in seen:
            seen.add(key)
            out.append(sample)
    return out


def _pipeline() -> Pipeline:
    features = FeatureUnion(
        [
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)),
            ("words", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True)),
        ]
    )
    # Logistic loss by stochastic gradient descent: the same accuracy as L-BFGS here, in a
    # tenth of the time, so the service trains at start-up in well under a second.
    classify = SGDClassifier(loss="log_loss", alpha=1e-4, max_iter=50, tol=1e-4, random_state=0)
    return Pipeline([("features", features), ("classify", classify)])


def evaluate(samples: list[Sample], seed: int = 0) -> Evaluation:
    """Accuracy on a stratified held-out split, next to the most-frequent-class baseline."""
    samples = distinct(samples)
    labels = [s.category for s in samples]
    train, test = train_test_split(
        samples, test_size=HELD_OUT_FRACTION, random_state=seed, stratify=labels
    )
    pipeline = _pipeline().fit([s.sentence for s in train], [s.category for s in train])
    predicted = list(pipeline.predict([s.sentence for s in test]))
    truth = [s.category for s in test]
    most_frequent = Counter(s.category for s in train).most_common(1)[0][0]
    per_language = {}
    for language in sorted({s.language for s in test}):
        idx = [i for i, s in enumerate(test) if s.language == language]
        per_language[language] = float(
            accuracy_score([truth[i] for i in idx], [predicted[i] for i in idx])
        )
    return Evaluation(
        accuracy=float(accuracy_score(truth, predicted)),
        baseline=float(accuracy_score(truth, [most_frequent] * len(truth))),
        train_size=len(train),
        test_size=len(test),
        per_language=per_language,
    )


def _severity(sentence: str, confidence: float) -> str:
    if _HIGH.search(sentence):
        return "high"
    return "low" if confidence < 0.5 else "medium"


def language_of(text: str) -> str:
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return "unknown"
    khmer = sum(1 for ch in letters if _KHMER.match(ch)) / len(letters)
    if khmer > 0.7:
        return "km"
    return "mixed" if khmer > 0.15 else "en"


class RiskModel:
    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self._classes = [str(c) for c in pipeline.classes_]

    @classmethod
    def train(cls, samples: list[Sample] | None = None) -> RiskModel:
        samples = samples if samples is not None else load_samples()
        pipeline = _pipeline().fit([s.sentence for s in samples], [s.category for s in samples])
        return cls(pipeline)

    def classify(self, texts: list[str]) -> list[tuple[str, float]]:
        if not texts:
            return []
        rows = self._pipeline.predict_proba(texts)
        out = []
        for row in rows:
            best = int(row.argmax())
            out.append((self._classes[best], float(row[best])))
        return out

    def find_risks(self, piece: Piece, min_confidence: float) -> list[dict[str, Any]]:
        """The risk sentences of a chunk, each grounded by its span in the page."""
        found = [s for s in sentences(piece.text, piece.page) if len(s.text) >= 8]
        risks = []
        for sentence, (category, confidence) in zip(
            found, self.classify([s.text for s in found]), strict=True
        ):
            if category == NO_RISK or confidence < min_confidence:
                continue
            start = piece.start + sentence.start
            quote = sentence.text
            summary = quote if len(quote) <= 160 else quote[:157].rstrip() + "…"
            risks.append(
                {
                    "risk": f"{category} risk: {summary}",
                    "category": category,
                    "context": quote,
                    "severity": _severity(quote, confidence),
                    "confidence": round(confidence, 3),
                    "spans": [
                        {
                            "page": piece.page,
                            "start": start,
                            "end": start + len(quote),
                            "quote": quote,
                        }
                    ],
                }
            )
        return risks
