"""The local model: trained from the shipped English and Khmer sample, it beats the trivial
baseline on a held-out split; `tessera ai-service train` prints the figures."""

from __future__ import annotations

import re
from collections import Counter

from typer.testing import CliRunner

from tessera.aiservice import model
from tessera.aiservice.chunks import Piece, chunks, sentences
from tessera.aiservice.cli import ai_service_app


def test_the_sample_covers_every_category_in_both_languages() -> None:
    samples = model.load_samples()
    by = Counter((s.category, s.language) for s in samples)
    for category in (*model.CATEGORIES, model.NO_RISK):
        assert by[(category, "en")] >= 10 and by[(category, "km")] >= 4, category


def test_train_prints_held_out_accuracy_above_the_trivial_baseline() -> None:
    result = CliRunner().invoke(ai_service_app, ["train"])
    assert result.exit_code == 0, result.output
    accuracy = float(re.search(r"held-out accuracy: ([0-9.]+)", result.output).group(1))  # type: ignore[union-attr]
    baseline = float(re.search(r"baseline: ([0-9.]+)", result.output).group(1))  # type: ignore[union-attr]
    print(result.output)  # the 0.85 target is reported, not asserted
    assert accuracy > baseline + 0.2
    assert "km:" in result.output and "en:" in result.output


def test_risk_sentences_are_found_with_spans_into_the_page() -> None:
    risk_model = model.RiskModel.train()
    page = (
        "Both parties have read and understood this document. "
        "The contractor has unlimited liability for all damages.\n\n"
        "កិច្ចសន្យានេះអាចត្រូវបានបញ្ចប់ដោយភាគីណាមួយដោយគ្មានការជូនដំណឹង។"
    )
    (piece,) = chunks([page], 4000)
    risks = risk_model.find_risks(piece, 0.35)
    assert {r["category"] for r in risks} == {"Legal"}
    assert len(risks) == 2
    for risk in risks:
        (span,) = risk["spans"]
        assert page[span["start"] : span["end"]] == span["quote"] == risk["context"]
        assert risk["severity"] == "high"


def test_sentences_and_chunks_keep_offsets() -> None:
    page = "First one. Second one!  ទីបី។ទីបួន។\nA line\nthat goes on.\n\nLast"
    found = list(sentences(page, 3))
    assert [s.text for s in found] == [
        "First one.",
        "Second one!",
        "ទីបី។",
        "ទីបួន។",
        "A line\nthat goes on.",
        "Last",
    ]
    assert all(page[s.start : s.end] == s.text and s.page == 3 for s in found)
    long_page = " ".join([page] * 20)
    pieces = chunks([long_page], 200)
    assert len(pieces) > 1 and all(len(p.text) <= 200 for p in pieces)
    assert all(long_page[p.start : p.end] == p.text for p in pieces)
    run_on = chunks(["x" * 450], 200)
    assert [len(p.text) for p in run_on] == [200, 200, 50]
    assert isinstance(pieces[0], Piece)


def test_language_detection_by_khmer_share() -> None:
    assert model.language_of("The budget is small.") == "en"
    assert model.language_of("ថវិកាគម្រោងមិនគ្រប់គ្រាន់។") == "km"
    assert model.language_of("Budget ថវិកាគម្រោង is small and the deadline is near") == "mixed"


def test_repeats_of_a_sentence_are_counted_once_so_they_cannot_straddle_the_split() -> None:
    samples = [
        model.Sample("Financial", "en", "Payment is due within 120 days."),
        model.Sample("Financial", "en", "payment is due within 90 days"),
        model.Sample("Schedule", "en", "The deadline is fixed."),
    ]
    assert [s.sentence for s in model.distinct(samples)] == [
        "Payment is due within 120 days.",
        "The deadline is fixed.",
    ]
    shipped = model.load_samples()
    assert len(model.distinct(shipped)) >= len(shipped) - 5  # the sample itself is clean
