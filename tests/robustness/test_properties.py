"""Properties of the loss and of every metric over random shapes, masks and values (hypothesis).

The metrics' range and degenerate-value properties are in tests/test_metrics.py; here: the loss, and that any
non-finite value on a valid feature is refused by every metric while values on invalid features never matter.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hf_ssxai import InvalidInputError, NonFiniteLossError, scorer_loss
from hf_ssxai.metrics import functional

FINITE = st.floats(-1e4, 1e4, width=32)
MAP_METRICS = [functional.complexity, functional.sparsity, functional.entropy_complexity, functional.gini_sparseness]


@st.composite
def loss_inputs(draw):
    batch, classes = draw(st.integers(1, 5)), draw(st.integers(2, 6))
    features = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=2)))
    logits = draw(arrays(np.float32, (2, batch, classes), elements=st.floats(-30, 30, width=32)))
    scores = draw(arrays(np.float32, (batch, *features), elements=st.floats(0, 1, width=32)))
    mask = draw(arrays(np.bool_, (batch, *features)))
    labels = draw(arrays(np.int64, (batch,), elements=st.integers(0, classes - 1)))
    target = draw(st.sampled_from(["label", "prediction", "distribution"]))
    switches = draw(st.fixed_dictionaries({k: st.booleans() for k in ("use_magnitude_penalty", "use_binary_penalty")}))
    tensors = [torch.from_numpy(a) for a in (logits[0], logits[1], scores, mask, labels)]
    return tensors, target, switches


@settings(max_examples=80, deadline=None)
@given(loss_inputs())
def test_loss_is_finite_non_negative_and_blind_to_invalid_features(case):
    (masked, full, scores, mask, labels), target, switches = case
    out = scorer_loss(masked, full, scores, mask, labels, target=target, **switches)
    assert torch.isfinite(out.loss) and out.loss >= -1e-6
    assert ((out.gamma > 0) & (out.gamma <= 1)).all()
    assert ((out.mean_score >= 0) & (out.mean_score <= 1 + 1e-6)).all()
    assert ((out.magnitude_penalty >= 0) & (out.binary_penalty >= 0) & (out.binary_penalty <= 1 / 16 + 1e-6)).all()
    torch.testing.assert_close(out.gamma, torch.where(out.delta > 1, 1 / out.delta, torch.ones_like(out.delta)))
    scrambled = torch.where(mask, scores, torch.rand_like(scores))  # only invalid features change
    again = scorer_loss(masked, full, scrambled, mask, labels, target=target, **switches)
    torch.testing.assert_close(again.loss, out.loss)


@settings(max_examples=40, deadline=None)
@given(loss_inputs(), st.sampled_from([float("nan"), float("inf")]), st.sampled_from(["masked", "full", "scores"]))
def test_loss_refuses_non_finite_inputs(case, bad, where):
    (masked, full, scores, mask, labels), target, _ = case
    tensors = {"masked": masked.clone(), "full": full.clone(), "scores": scores.clone()}
    tensors[where].view(-1)[0] = bad
    with pytest.raises(NonFiniteLossError, match="NaN or Inf"):
        scorer_loss(tensors["masked"], tensors["full"], tensors["scores"], mask, labels, target=target)


def test_loss_refuses_shapes_that_do_not_fit():
    logits, labels = torch.zeros(2, 3), torch.tensor([0, 1])
    with pytest.raises(InvalidInputError, match="same shape"):
        scorer_loss(logits, logits, torch.rand(2, 5), torch.ones(2, 4, dtype=torch.bool), labels)
    with pytest.raises(InvalidInputError, match="batch of scores"):
        scorer_loss(logits, logits, torch.rand(3, 4), torch.ones(3, 4, dtype=torch.bool), torch.tensor([0, 1, 2]))


@st.composite
def maps_with_a_bad_valid_value(draw):
    shape = (draw(st.integers(1, 4)), *draw(st.lists(st.integers(1, 6), min_size=1, max_size=2)))
    maps = draw(arrays(np.float32, shape, elements=FINITE))
    mask = draw(arrays(np.bool_, shape))
    position = draw(st.integers(0, maps.size - 1))
    mask.flat[position] = True
    maps.flat[position] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return torch.from_numpy(maps), torch.from_numpy(mask)


@settings(max_examples=60, deadline=None)
@given(maps_with_a_bad_valid_value(), st.sampled_from(MAP_METRICS + [functional.normalize_attributions]))
def test_every_metric_refuses_a_non_finite_valid_feature(case, metric):
    maps, mask = case
    with pytest.raises(InvalidInputError, match="NaN or Inf"):
        metric(maps, mask)
    with pytest.raises(InvalidInputError, match="NaN or Inf"):
        functional.pointing_game(maps, mask, mask)


@settings(max_examples=60, deadline=None)
@given(maps_with_a_bad_valid_value(), st.sampled_from(MAP_METRICS))
def test_values_on_invalid_features_never_matter(case, metric):
    maps, mask = case
    clean = torch.where(torch.isfinite(maps), maps, torch.zeros_like(maps))
    junk = torch.where(mask, clean, torch.full_like(clean, float("nan")))  # NaN only where nothing is measured
    torch.testing.assert_close(metric(junk, mask), metric(clean.masked_fill(~mask, 123.0), mask))
