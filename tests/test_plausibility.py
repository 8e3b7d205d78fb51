"""Plausibility metrics as ERASER defines them (AUPRC, token F1 with a per-row random reference, rationale coverage),
as functions, as evaluate modules and in the benchmark; a planted span given three ways gives one answer."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from datasets import Dataset
from sklearn.metrics import auc, precision_recall_curve

from hf_ssxai import BenchmarkResult, run_benchmark
from hf_ssxai.benchmark import prepare_dataset
from hf_ssxai.data.synthetic import planted_rationale_texts
from hf_ssxai.metrics import (
    MEASURES,
    load,
    normalize_attributions,
    random_rationale_f1,
    rationale_auprc,
    rationale_coverage,
    rationale_overlap,
)

RATIONALE_METRICS = ("pointing_game", "rationale_f1", "rationale_iou", "rationale_f1_over_random", "rationale_auprc")


def _maps(seed=0, rows=40, features=12):
    """Maps with many ties (scores on a grid of quarters), random valid features and random rationales."""
    generator = torch.Generator().manual_seed(seed)
    maps = (torch.rand(rows, features, generator=generator) * 4).round() / 4 - 0.5  # negative scores too
    valid = torch.rand(rows, features, generator=generator) < 0.8
    rationale = torch.rand(rows, features, generator=generator) < 0.4
    return maps, valid, rationale


# ---------------------------------------------------------------------------------------------- the functions
def test_auprc_is_erasers_precision_recall_curve_then_auc():
    """ERASER computes AUPRC per document with scikit-learn's precision_recall_curve and auc; ties included."""
    maps, valid, rationale = _maps()
    ours = rationale_auprc(maps, rationale, valid)
    normalized = normalize_attributions(maps, valid)
    for row in range(len(maps)):
        keep = valid[row]
        truth = (rationale[row] & keep)[keep].int().numpy()
        if truth.sum() == 0:
            assert ours[row] == 0  # stated degenerate value, not NaN
            continue
        precision, recall, _ = precision_recall_curve(truth, normalized[row][keep].numpy())
        assert ours[row].item() == pytest.approx(auc(recall, precision), abs=1e-6)


def test_random_reference_is_the_exact_mean_f1_over_every_random_choice():
    valid = torch.tensor([[1, 1, 1, 1, 1, 1, 0]], dtype=torch.bool)  # six valid features, the last is padding
    rationale = torch.tensor([[1, 0, 1, 0, 0, 0, 1]], dtype=torch.bool)  # two on valid features
    for top_k in (None, 1, 3, 6):
        k = 2 if top_k is None else top_k
        f1s = [2 * len({0, 2} & set(chosen)) / (k + 2) for chosen in itertools.combinations(range(6), k)]
        assert random_rationale_f1(rationale, valid, top_k=top_k).item() == pytest.approx(np.mean(f1s))
    assert random_rationale_f1(rationale, valid).item() == pytest.approx(rationale_coverage(rationale, valid).item())


def test_a_rationale_covering_the_whole_text_cannot_look_like_success():
    maps, valid, _ = _maps(seed=1, rows=8)
    whole = valid.clone()
    f1 = rationale_overlap(maps, whole, valid).f1
    reference = random_rationale_f1(whole, valid)
    torch.testing.assert_close(f1, torch.ones(8))  # token F1 is perfect for any map...
    torch.testing.assert_close(f1 - reference, torch.zeros(8))  # ...and exactly chance
    torch.testing.assert_close(rationale_auprc(maps, whole, valid), torch.ones(8))  # AUPRC too: see the card
    torch.testing.assert_close(rationale_coverage(whole, valid), torch.ones(8))


def test_a_map_that_ranks_the_rationale_first_beats_its_random_reference():
    valid = torch.ones(1, 10, dtype=torch.bool)
    rationale = torch.zeros(1, 10, dtype=torch.bool)
    rationale[0, 3:5] = True
    perfect = rationale.float() + 0.01 * torch.arange(10)
    assert rationale_auprc(perfect, rationale, valid).item() == pytest.approx(1.0)
    f1 = rationale_overlap(perfect, rationale, valid).f1
    assert (f1 - random_rationale_f1(rationale, valid)).item() == pytest.approx(1 - 0.2)
    flat = torch.ones(1, 10)  # the card's caveat: a constant map gets (1 + R/N) / 2
    assert rationale_auprc(flat, rationale, valid).item() == pytest.approx((1 + 0.2) / 2)


# ---------------------------------------------------------------------------------------------- the modules
def _ragged(maps, valid, rationale, lengths=(12, 7, 9, 12, 3)):
    return [
        [row[:length].tolist() for row, length in zip(rows, lengths, strict=False)] for rows in (maps, valid, rationale)
    ]


def test_modules_agree_with_the_functions_on_ragged_maps():
    maps, valid, rationale = _maps(seed=2, rows=5)
    lengths = (12, 7, 9, 12, 3)
    cut = torch.arange(12) < torch.tensor(lengths)[:, None]  # the ragged rows, padded with invalid features
    valid, rationale = valid & cut, rationale & cut
    as_lists = _ragged(maps, valid, rationale, lengths)
    auprc = load("rationale_auprc", keep_in_memory=True).compute(
        attributions=as_lists[0], feature_mask=as_lists[1], rationale_mask=as_lists[2], return_per_sample=True
    )
    assert auprc["per_sample"] == pytest.approx(rationale_auprc(maps, rationale, valid).tolist(), abs=1e-6)
    f1 = load("rationale_f1", keep_in_memory=True).compute(
        attributions=as_lists[0], feature_mask=as_lists[1], rationale_mask=as_lists[2], return_per_sample=True
    )
    expected_f1 = rationale_overlap(maps, rationale, valid).f1
    reference = random_rationale_f1(rationale, valid)
    assert f1["per_sample"] == pytest.approx(expected_f1.tolist(), abs=1e-6)
    assert f1["random_f1"] == pytest.approx(reference.mean().item(), abs=1e-6)
    assert f1["rationale_f1_over_random"] == pytest.approx((expected_f1 - reference).mean().item(), abs=1e-6)
    coverage = load("rationale_coverage", keep_in_memory=True).compute(
        feature_mask=as_lists[1], rationale_mask=as_lists[2], return_per_sample=True
    )
    expected = rationale_coverage(rationale, valid)
    assert coverage["per_sample"] == pytest.approx(expected.tolist(), abs=1e-6)
    assert coverage["share_over_half"] == pytest.approx((expected > 0.5).float().mean().item())


def test_the_registry_knows_the_plausibility_columns():
    for name in ("rationale_auprc", "rationale_f1_over_random"):
        assert MEASURES[name].kind == "evidence" and MEASURES[name].higher_is_better
    assert list(MEASURES).index("rationale_auprc") > list(MEASURES).index("rationale_iou")


# ---------------------------------------------------------------------------------------------- a planted span
def test_a_planted_span_as_characters_text_or_words_gives_one_mask_and_one_set_of_numbers(planted_text, tmp_path):
    model, _ = planted_text
    rows = planted_rationale_texts(24, seed=5)
    table = rows.remove_columns(["rationale_offsets", "rationale_words"])
    for column in ("rationale_offsets", "rationale_words"):  # lists travel in CSV cells as JSON text
        table = table.add_column(column, [json.dumps(value) for value in rows[column]])
    table.to_csv(tmp_path / "planted.csv", index=False)
    raw = Dataset.from_csv(str(tmp_path / "planted.csv"))
    assert isinstance(raw["rationale_words"][0], str) and isinstance(raw["rationale_offsets"][0], str)
    columns = model.modality.raw_columns()
    formats = {"rationale_offsets": "auto", "rationale_span": "auto", "rationale_words": "words"}
    prepared = {
        column: prepare_dataset(model, raw, columns, label_column="label", evidence_column=column, evidence_format=fmt)
        for column, fmt in formats.items()
    }
    masks = [prepared[column][column] for column in formats]
    assert masks[0] == masks[1] == masks[2]
    # word i of a sentence is token i + 1 (after [CLS]): the planted words and nothing else
    starts = [offsets[0][0] for offsets in rows["rationale_offsets"]]
    words_before = [text[:start].count(" ") for text, start in zip(rows["text"], starts, strict=True)]
    assert [[i for i, flag in enumerate(mask) if flag] for mask in masks[0]] == [[w + 1, w + 2] for w in words_before]

    results = {
        column: run_benchmark(
            model, prepared[column], methods=("scorer", "saliency"), evidence_column=column, batch_size=8
        )
        for column in formats
    }
    for method in ("scorer", "saliency"):
        numbers = [{m: results[c].values[method][m] for m in RATIONALE_METRICS} for c in formats]
        assert numbers[0] == numbers[1] == numbers[2]
    coverages = [results[column].evidence_coverage for column in formats]
    assert coverages[0] == coverages[1] == coverages[2]
    coverage = results["rationale_span"].coverage_summary()[""]
    assert coverage["share_over_half"] == 0.0 and coverage["mean_coverage"] == pytest.approx(2 / 8)
    scorer = results["rationale_span"].summary()["scorer"]
    # the evidence word decides the label: the scorer ranks it first, so it finds half the span at least
    assert scorer["pointing_game"]["mean"] >= 0.9
    assert scorer["rationale_f1_over_random"]["mean"] > 0.2 and scorer["rationale_auprc"]["mean"] > 0.5
    assert "Rationales: 0.0% of the 24 rows cover more than half" in results["rationale_span"].report_markdown()


def test_correct_cut_and_json_keep_labels_and_coverage(tmp_path):
    result = BenchmarkResult(
        values={"scorer": {"rationale_f1": [1.0, 0.5, 0.0, 0.25]}},
        cost={"scorer": {"ms_per_sample": 1.0, "forwards_per_sample": 1.0}},
        sample_indices=[3, 5, 8, 9],
        predictions=[0, 1, 1, 0],
        labels=[0, 0, 1, 0],
        evidence_coverage={"": [0.1, 0.9, 1.0, 0.2]},
    )
    correct = result.correct()
    assert correct.sample_indices == [3, 8, 9] and correct.values["scorer"]["rationale_f1"] == [1.0, 0.0, 0.25]
    assert correct.evidence_coverage == {"": [0.1, 1.0, 0.2]} and correct.labels == [0, 1, 0]
    assert correct.coverage_summary()[""]["share_over_half"] == pytest.approx(1 / 3)
    result.to_json(tmp_path / "r.json")
    again = BenchmarkResult.from_json(tmp_path / "r.json")
    assert (again.labels, again.evidence_coverage) == (result.labels, result.evidence_coverage)
    with pytest.raises(ValueError, match="no labels"):
        BenchmarkResult(values=result.values, cost=result.cost, predictions=[0] * 4).correct()
