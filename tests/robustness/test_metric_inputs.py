"""Metric functions and modules given careless input (issue 19, group 15): maps without features, numpy arrays and
lists, an unknown norm, mismatched or out-of-range probabilities, ragged or length-mismatched rows. Each gives the
value a tensor would, or an InvalidInputError that says what to give instead."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hf_ssxai import InvalidInputError, metrics
from hf_ssxai.metrics import functional

MAPS = torch.tensor([[0.1, 0.7, 0.2, 0.0], [0.5, 0.5, 0.9, 0.3]])
VALID = torch.tensor([[True, True, True, False], [True, True, True, True]])
RATIONALE = torch.tensor([[False, True, False, False], [True, False, True, False]])

#: every public function of a map, with the arguments beyond the map and its mask
MAP_FUNCTIONS = {
    "normalize_attributions": (functional.normalize_attributions, ()),
    "complexity": (functional.complexity, ()),
    "sparsity": (functional.sparsity, ()),
    "entropy_complexity": (functional.entropy_complexity, ()),
    "gini_sparseness": (functional.gini_sparseness, ()),
    "feature_ranks": (functional.feature_ranks, ()),
    "pointing_game": (lambda a, m: functional.pointing_game(a, RATIONALE if a.shape[1] else m, m), ()),
    "rationale_overlap": (lambda a, m: functional.rationale_overlap(a, RATIONALE if a.shape[1] else m, m).f1, ()),
    "rationale_auprc": (lambda a, m: functional.rationale_auprc(a, RATIONALE if a.shape[1] else m, m), ()),
}


@pytest.mark.parametrize("name", MAP_FUNCTIONS)
def test_a_map_without_features_is_refused(name):
    function, _ = MAP_FUNCTIONS[name]
    with pytest.raises(InvalidInputError, match="have no features"):
        function(torch.zeros(2, 0), torch.zeros(2, 0, dtype=torch.bool))


@pytest.mark.parametrize("convert", [lambda t: t.numpy(), lambda t: t.tolist()], ids=["numpy", "list"])
def test_numpy_arrays_and_lists_give_what_tensors_give(convert):
    for name, (function, _) in MAP_FUNCTIONS.items():
        if name in ("pointing_game", "rationale_overlap", "rationale_auprc"):
            continue
        torch.testing.assert_close(function(convert(MAPS), convert(VALID)), function(MAPS, VALID))
    torch.testing.assert_close(
        functional.pointing_game(convert(MAPS), convert(RATIONALE), convert(VALID)),
        functional.pointing_game(MAPS, RATIONALE, VALID),
    )
    coverage = functional.rationale_coverage(convert(RATIONALE), convert(VALID))
    torch.testing.assert_close(coverage, functional.rationale_coverage(RATIONALE, VALID))
    p, q = torch.tensor([0.9, 0.6]), torch.tensor([0.3, 0.7])
    torch.testing.assert_close(functional.average_drop(convert(p), convert(q)), functional.average_drop(p, q))
    torch.testing.assert_close(functional.auc(convert(MAPS)), functional.auc(MAPS))


@pytest.mark.parametrize("bad", [[[0.1, 0.2], [0.3]], "a map", [["x", "y"]], {"a": 1}], ids=str)
def test_values_that_are_no_map_are_refused(bad):
    with pytest.raises(InvalidInputError, match="attributions must be a tensor, a numpy array or a nested list"):
        functional.complexity(bad, VALID)


def test_an_unknown_norm_is_refused():
    with pytest.raises(InvalidInputError, match="norm must be 'l1' or 'l2', got 'l3'"):
        functional.complexity(MAPS, VALID, norm="l3")


@pytest.mark.parametrize(
    ("full", "masked", "match"),
    [
        ([0.9, 0.6], [0.3], "must both have shape \\[batch\\]"),
        ([[0.9, 0.6]], [[0.3, 0.2]], "must both have shape \\[batch\\]"),
        ([2.0], [-1.0], "full_probability holds values outside \\[0, 1\\]"),
        ([0.5], [1.5], "masked_probability holds values outside \\[0, 1\\]"),
        ([0.5], [-0.1], "masked_probability holds values outside \\[0, 1\\]"),
    ],
    ids=["lengths", "two-dimensional", "p-above-one", "masked-above-one", "negative"],
)
def test_average_drop_refuses_probabilities_that_are_none(full, masked, match):
    with pytest.raises(InvalidInputError, match=match):
        functional.average_drop(torch.tensor(full), torch.tensor(masked))


@pytest.mark.parametrize(
    ("name", "inputs"),
    [
        ("average_drop", {"probabilities": [0.5, 0.4], "masked_probabilities": [0.1]}),
        ("average_drop", {"probabilities": [2.0], "masked_probabilities": [0.1]}),
        ("average_drop", {"probabilities": ["high"], "masked_probabilities": [0.1]}),
        ("deletion_auc", {"curves": [[1.0, 0.5, 0.0], [1.0, 0.0]]}),
        ("complexity", {"attributions": [[0.1, 0.2]], "feature_mask": [[True]]}),
        ("complexity", {"attributions": [[]]}),
        ("rationale_f1", {"attributions": [[0.1, 0.2]], "feature_mask": [[True, True]], "rationale_mask": [[True]]}),
        ("rationale_coverage", {"feature_mask": [[True, True]], "rationale_mask": [[True], [False]]}),
        ("pointing_game", {"attributions": [[0.1, 0.2]], "evidence_mask": [[True, False], [True, True]]}),
    ],
    ids=[
        "drop-lengths",
        "drop-out-of-range",
        "drop-strings",
        "ragged-curves",
        "short-mask",
        "no-features",
        "short-rationale",
        "coverage-rows",
        "pointing-rows",
    ],
)
def test_evaluate_modules_refuse_ragged_mismatched_and_wrong_typed_rows(name, inputs):
    with pytest.raises(InvalidInputError):
        metrics.load(name, keep_in_memory=True).compute(**inputs)


def test_evaluate_modules_take_numpy_rows():
    module = metrics.load("complexity", keep_in_memory=True)
    from_numpy = module.compute(attributions=np.asarray(MAPS), feature_mask=np.asarray(VALID))
    assert from_numpy == module.compute(attributions=MAPS.tolist(), feature_mask=VALID.tolist())
