"""Metrics: hand-computed values, properties over random maps, and the perturbation engine."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hf_ssxai import AutoModelWithScorer, ScorerConfig
from hf_ssxai.data.synthetic import as_batch
from hf_ssxai.metrics import (
    auc,
    average_drop,
    complexity,
    compute_perturbations,
    entropy_complexity,
    feature_ranks,
    gini_sparseness,
    normalize_attributions,
    pointing_game,
    rationale_overlap,
    sparsity,
    tie_break_keys,
)
from hf_ssxai.modalities import text as text_modality
from tests.helpers import tiny_image_classifier

# ----------------------------------------------------------------------------- hand-computed values
# row 0: |map| = [0, 1, 2, 3] on four valid features (the fifth, 5, is padding) -> [0, 1/3, 2/3, 1]
# row 1: a constant map; row 2: a single important feature
MAPS = torch.tensor([[0.0, -1.0, 2.0, -3.0, 5.0], [2.0, 2.0, 2.0, 2.0, -7.0], [0.0, 0.0, 0.0, 4.0, 0.0]])
VALID = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], dtype=torch.bool)


def test_normalize_attributions_by_hand():
    expected = torch.tensor([[0, 1 / 3, 2 / 3, 1, 0], [0, 0, 0, 0, 0], [0, 0, 0, 1, 0]])
    torch.testing.assert_close(normalize_attributions(MAPS, VALID), expected)
    # min-max, not max only: the smallest valid value becomes 0; no valid feature gives zeros
    torch.testing.assert_close(
        normalize_attributions(torch.tensor([[1.0, 3.0]]), torch.ones(1, 2, dtype=torch.bool)),
        torch.tensor([[0.0, 1.0]]),
    )
    assert normalize_attributions(torch.ones(1, 3), torch.zeros(1, 3, dtype=torch.bool)).eq(0).all()


def test_map_metrics_by_hand():
    torch.testing.assert_close(complexity(MAPS, VALID), torch.tensor([math.sqrt(14) / 3, 0.0, 1.0]))
    torch.testing.assert_close(complexity(MAPS, VALID, norm="l1"), torch.tensor([2.0, 0.0, 1.0]))
    torch.testing.assert_close(sparsity(MAPS, VALID), torch.tensor([2.0, 1.0, 4.0]))
    entropy = math.log(6) / 6 + math.log(3) / 3 + math.log(2) / 2
    torch.testing.assert_close(entropy_complexity(MAPS, VALID), torch.tensor([entropy, math.log(3), 0.0]))
    torch.testing.assert_close(gini_sparseness(MAPS, VALID), torch.tensor([5 / 12, 0.0, 3 / 4]))
    with pytest.raises(ValueError, match="norm"):
        complexity(MAPS, VALID, norm="l3")
    with pytest.raises(ValueError, match="same shape"):
        sparsity(MAPS, VALID[:, :4])


def test_metrics_take_any_feature_shape():
    """An image map [B, H, W] gives the same values as its flattened [B, H*W] version."""
    maps, valid = MAPS[:, :4].reshape(3, 2, 2), VALID[:, :4].reshape(3, 2, 2)
    for metric in (complexity, sparsity, entropy_complexity, gini_sparseness):
        torch.testing.assert_close(metric(maps, valid), metric(MAPS[:, :4], VALID[:, :4]))


def test_average_drop_by_hand():
    full, masked = torch.tensor([0.8, 0.5, 0.6]), torch.tensor([0.4, 0.9, 0.6])
    torch.testing.assert_close(average_drop(full, masked), torch.tensor([0.5, 0.0, 0.0]))
    torch.testing.assert_close(average_drop(full, masked, relative=False), torch.tensor([0.4, 0.0, 0.0]))


def test_auc_by_hand():
    curves = torch.tensor([[1.0, 0.5, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    torch.testing.assert_close(auc(curves), torch.tensor([0.5, 0.25, 1.0]))
    torch.testing.assert_close(auc(torch.linspace(1, 0, 11).unsqueeze(0)), torch.tensor([0.5]))
    with pytest.raises(ValueError, match="at least 2 points"):
        auc(torch.ones(2, 1))


def test_pointing_game_by_hand():
    maps = torch.tensor([[0.0, 1.0, 3.0, 3.0, 9.0], [5.0, 0.0, 0.0, 0.0, 0.0], [5.0, 0.0, 0.0, 0.0, 0.0]])
    valid = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0], [1, 1, 1, 0, 0]], dtype=torch.bool)
    # row 0: two tied maxima, one inside -> 0.5; the padding value 9 inside the evidence does not count
    evidence = torch.tensor([[0, 0, 1, 0, 1], [1, 0, 0, 0, 0], [0, 1, 1, 0, 0]], dtype=torch.bool)
    torch.testing.assert_close(pointing_game(maps, evidence, valid), torch.tensor([0.5, 1.0, 0.0]))
    # a constant map scores the evidence's share of the valid features (chance), empty evidence scores 0
    constant = torch.ones(2, 4)
    evidence = torch.tensor([[1, 0, 0, 0], [0, 0, 0, 0]], dtype=torch.bool)
    torch.testing.assert_close(
        pointing_game(constant, evidence, torch.ones(2, 4, dtype=torch.bool)), torch.tensor([0.25, 0.0])
    )


def test_rationale_overlap_by_hand():
    maps = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0]])
    rationale = torch.tensor([[1, 0, 1, 0, 0]], dtype=torch.bool)
    valid = torch.ones(1, 5, dtype=torch.bool)
    default = rationale_overlap(maps, rationale, valid)  # top-2 = {0, 1}: one of two rationale tokens
    torch.testing.assert_close(default.f1, torch.tensor([0.5]))
    torch.testing.assert_close(default.iou, torch.tensor([1 / 3]))
    top3 = rationale_overlap(maps, rationale, valid, top_k=3)  # {0, 1, 2}: both rationale tokens
    torch.testing.assert_close(top3.f1, torch.tensor([0.8]))
    torch.testing.assert_close(top3.iou, torch.tensor([2 / 3]))
    empty = rationale_overlap(maps, torch.zeros_like(rationale), valid)
    assert empty.f1.item() == 0.0 and empty.iou.item() == 0.0


def test_ranks_break_ties_with_seeded_keys_independent_of_padding():
    keys = tie_break_keys(20, seed=3)
    assert torch.equal(keys[:12], tie_break_keys(12, seed=3))  # padding after a sample changes nothing
    assert not torch.equal(keys, tie_break_keys(20, seed=4))
    constant, valid = torch.ones(1, 12), torch.ones(1, 12, dtype=torch.bool)
    assert torch.equal(feature_ranks(constant, valid, seed=3)[0], keys[:12].argsort().argsort())
    # a strict order is kept; invalid features rank last
    ranks = feature_ranks(MAPS, VALID)
    assert ranks[0].tolist() == [3, 2, 1, 0, 4]
    assert ranks[2, 3] == 0 and ranks[2, 4] == 4


# ----------------------------------------------------------------------------- properties
@st.composite
def maps_and_masks(draw):
    """Random [B, *features] maps (random, constant or all-zero per sample) with random valid masks."""
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=2, max_size=3)))
    values = draw(arrays(np.float32, shape, elements=st.floats(-1e3, 1e3, width=32)))
    kind = draw(st.sampled_from(["random", "constant", "zero"]))
    if kind != "random":
        values = np.full(shape, 0.0 if kind == "zero" else values.flat[0], dtype=np.float32)
    mask = draw(arrays(np.bool_, shape))
    return torch.from_numpy(values), torch.from_numpy(mask)


@settings(max_examples=60, deadline=None)
@given(maps_and_masks())
def test_map_metrics_are_finite_and_in_range(case):
    maps, valid = case
    normalized = normalize_attributions(maps, valid)
    assert ((normalized >= 0) & (normalized <= 1)).all() and normalized[~valid].eq(0).all()
    count = valid.flatten(1).sum(1).float()
    values = {
        "complexity": complexity(maps, valid),
        "sparsity": sparsity(maps, valid),
        "entropy": entropy_complexity(maps, valid),
        "gini": gini_sparseness(maps, valid),
    }
    assert all(torch.isfinite(value).all() for value in values.values())
    assert (values["complexity"] <= count.sqrt() + 1e-4).all()
    assert (values["sparsity"] >= 1).all() and (values["sparsity"] <= count.clamp_min(1) + 1e-3).all()
    assert (values["entropy"] >= -1e-6).all() and (values["entropy"] <= count.clamp_min(1).log() + 1e-5).all()
    assert ((values["gini"] >= -1e-6) & (values["gini"] < 1)).all()
    if normalized.eq(0).all():  # constant or all-zero maps: the stated degenerate values
        assert values["complexity"].eq(0).all() and values["sparsity"].eq(1).all() and values["gini"].eq(0).all()
        torch.testing.assert_close(values["entropy"], count.clamp_min(1).log())


@settings(max_examples=60, deadline=None)
@given(maps_and_masks(), st.integers(0, 2**31 - 1))
def test_ranks_are_a_descending_permutation_of_valid_features(case, seed):
    maps, valid = case
    ranks, valid = feature_ranks(maps, valid, seed), valid.flatten(1)
    scores = normalize_attributions(maps, valid.view_as(maps)).flatten(1)
    for row_ranks, row_valid, row_scores in zip(ranks, valid, scores, strict=True):
        count = int(row_valid.sum())
        assert sorted(row_ranks[row_valid].tolist()) == list(range(count))
        assert (row_ranks[~row_valid] >= count).all()
        by_rank = row_scores[row_valid][row_ranks[row_valid].argsort()]
        assert (by_rank[:-1] >= by_rank[1:]).all()


@settings(max_examples=60, deadline=None)
@given(maps_and_masks(), st.data())
def test_overlap_metrics_and_auc_lie_in_unit_interval(case, data):
    maps, valid = case
    evidence = torch.from_numpy(data.draw(arrays(np.bool_, tuple(maps.shape))))
    assert ((pointing_game(maps, evidence, valid) >= 0) & (pointing_game(maps, evidence, valid) <= 1)).all()
    for value in rationale_overlap(maps, evidence, valid):
        assert ((value >= 0) & (value <= 1)).all()
    curve = torch.from_numpy(data.draw(arrays(np.float32, (maps.shape[0], 11), elements=st.floats(0, 1, width=32))))
    assert ((auc(curve) >= 0) & (auc(curve) <= 1)).all()
    full = curve[:, 0].clamp_min(1e-3)
    assert ((average_drop(full, curve[:, 1]) >= 0) & (average_drop(full, curve[:, 1]) <= 1)).all()


# ----------------------------------------------------------------------------- the perturbation engine
def _text_batch(test, count=24):
    batch = as_batch(test.select(range(count)), ("input_ids", "attention_mask", "evidence_position"))
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}, batch["evidence_position"]


def _probability(model, inputs_embeds, attention_mask, label):
    logits = model.classifier(inputs_embeds=inputs_embeds, attention_mask=attention_mask).logits
    return logits.softmax(-1)[0, label].item()


def test_engine_curves_start_and_end_at_the_prediction(planted_text):
    model, test = planted_text
    inputs, _ = _text_batch(test)
    with torch.no_grad():
        out = model(**inputs)
    result = compute_perturbations(model, inputs, out.attributions)
    probabilities = out.logits.softmax(-1)
    torch.testing.assert_close(result.predicted_class, out.logits.argmax(-1))
    torch.testing.assert_close(result.probabilities, probabilities.amax(-1))
    assert result.deletion_curve.shape == result.insertion_curve.shape == (24, 11)
    torch.testing.assert_close(result.deletion_curve[:, 0], result.probabilities)
    torch.testing.assert_close(result.insertion_curve[:, -1], result.probabilities)
    torch.testing.assert_close(result.deletion_curve[:, -1], result.insertion_curve[:, 0])

    # one sample by hand: x * S, and deletion step 1 = its top round(N / 10) tokens zeroed
    sample = inputs["input_ids"][:1]
    mask, label = inputs["attention_mask"][:1], int(result.predicted_class[0])
    valid = out.feature_mask[:1]
    embeddings = model.classifier.get_input_embeddings()(sample)
    scores = normalize_attributions(out.attributions[:1], valid)
    with torch.no_grad():
        weighted = embeddings * torch.where(valid, scores, torch.ones_like(scores)).unsqueeze(-1)
        assert result.masked_probabilities[0].item() == pytest.approx(_probability(model, weighted, mask, label), 1e-5)
        removed = feature_ranks(out.attributions[:1], valid) < (int(valid.sum()) + 5) // 10
        zeroed = embeddings * (~removed).float().unsqueeze(-1)
        assert result.deletion_curve[0, 1].item() == pytest.approx(_probability(model, zeroed, mask, label), 1e-5)


def test_engine_never_removes_padding_or_special_tokens(planted_text, monkeypatch):
    model, test = planted_text
    text = test[0]["text"]
    tokenizer = model.processor
    short = tokenizer([text], return_tensors="pt")
    long = tokenizer([text], padding="max_length", max_length=short["input_ids"].shape[1] + 7, return_tensors="pt")
    length = short["input_ids"].shape[1]
    scores = torch.rand(1, length, generator=torch.Generator().manual_seed(0))
    padded_scores = torch.cat([scores, torch.full((1, 7), 100.0)], dim=1)  # huge scores on padding are ignored
    scores[0, 0] = padded_scores[0, 0] = 100.0  # ... and on [CLS]
    seen = []  # the word embeddings the classifier reads in place of those it looks up
    reads = text_modality.masked_embeddings

    def recording(classifier, input_ids, masked):
        seen.append(masked.detach().clone())
        return reads(classifier, input_ids, masked)

    monkeypatch.setattr(text_modality, "masked_embeddings", recording)
    short_result = compute_perturbations(model, dict(short), scores)
    seen.clear()
    long_result = compute_perturbations(model, dict(long), padded_scores)
    assert seen, "the engine's forwards read no masked embeddings"
    for name in ("deletion_curve", "insertion_curve", "masked_probabilities", "probabilities"):
        torch.testing.assert_close(getattr(short_result, name), getattr(long_result, name), atol=1e-5, rtol=1e-5)
    original = model.classifier.get_input_embeddings()(long["input_ids"])
    invalid = ~model.modality.feature_mask(dict(long), model.scorer_config)[0]
    for embeds in seen:  # every perturbed input keeps [CLS], [SEP] and padding as they were
        torch.testing.assert_close(embeds[:, invalid], original[:, invalid].expand(embeds.shape[0], -1, -1))


def test_engine_results_do_not_depend_on_batch_size(planted_text):
    model, test = planted_text
    inputs, _ = _text_batch(test, 13)
    maps = torch.rand(inputs["input_ids"].shape, generator=torch.Generator().manual_seed(1))
    small, large = (compute_perturbations(model, inputs, maps, batch_size=size) for size in (7, 256))
    for name in ("probabilities", "masked_probabilities", "deletion_curve", "insertion_curve"):
        torch.testing.assert_close(getattr(small, name), getattr(large, name), atol=1e-6, rtol=1e-5)


def test_ranking_the_planted_token_first_gives_low_deletion_auc(planted_text):
    model, test = planted_text
    inputs, evidence = _text_batch(test, 64)
    planted = torch.nn.functional.one_hot(evidence, inputs["input_ids"].shape[1]).float()
    random = torch.rand(planted.shape, generator=torch.Generator().manual_seed(0))
    planted_result = compute_perturbations(model, inputs, planted, masked=False)
    random_result = compute_perturbations(model, inputs, random, masked=False)
    planted_auc, random_auc = auc(planted_result.deletion_curve).mean(), auc(random_result.deletion_curve).mean()
    assert planted_auc < random_auc - 0.15, (planted_auc, random_auc)
    assert auc(planted_result.insertion_curve).mean() > auc(random_result.insertion_curve).mean() + 0.1


def _image_model():
    torch.manual_seed(0)
    classifier = tiny_image_classifier("vit").eval()
    for parameter in classifier.parameters():  # large random weights: outputs that depend on the input
        parameter.data.normal_(0.0, 0.5)
    return AutoModelWithScorer.from_classifier(classifier, ScorerConfig(hidden_size=32, num_hidden_layers=1))


def test_engine_on_images_masks_pixels_to_the_normalized_zero():
    model = _image_model()
    pixels = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    maps = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(1))
    result = compute_perturbations(model, {"pixel_values": pixels}, maps, steps=4, insertion=False)
    assert result.deletion_curve.shape == (3, 5) and result.insertion_curve is None
    with torch.no_grad():
        blank = model.classifier(pixel_values=torch.zeros_like(pixels)).logits.softmax(-1)
        weighted = model.classifier(pixel_values=pixels * normalize_attributions(maps, maps > -1)[:, None])
    predicted = result.predicted_class.unsqueeze(1)
    torch.testing.assert_close(result.deletion_curve[:, -1], blank.gather(1, predicted)[:, 0])
    torch.testing.assert_close(result.masked_probabilities, weighted.logits.softmax(-1).gather(1, predicted)[:, 0])
    only_average_drop = compute_perturbations(model, {"pixel_values": pixels}, maps, deletion=False, insertion=False)
    assert only_average_drop.deletion_curve is None and only_average_drop.insertion_curve is None
    torch.testing.assert_close(only_average_drop.masked_probabilities, result.masked_probabilities)


def test_engine_rejects_bad_settings():
    model = _image_model()
    with pytest.raises(ValueError, match="steps"):
        compute_perturbations(model, {"pixel_values": torch.zeros(1, 3, 16, 16)}, torch.zeros(1, 16, 16), steps=0)
