"""The bundled evaluate modules: they load offline and agree with the functional metrics."""

import re
import socket

import evaluate
import pytest
import torch

from hf_ssxai import metrics
from hf_ssxai.metrics import functional

MAP_METRICS = {
    "complexity": functional.complexity,
    "sparsity": functional.sparsity,
    "entropy_complexity": functional.entropy_complexity,
    "gini_sparseness": functional.gini_sparseness,
}


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("an evaluate module tried to reach the network")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)


def _ragged_maps(seed=0, lengths=(5, 9, 3, 7)):
    """Flattened maps of different lengths (as lists) with random valid masks, plus a padded tensor version."""
    generator = torch.Generator().manual_seed(seed)
    maps = [torch.randn(length, generator=generator) for length in lengths]
    masks = [torch.rand(length, generator=generator) < 0.8 for length in lengths]
    evidence = [torch.rand(length, generator=generator) < 0.3 for length in lengths]
    as_lists = [[row.tolist() for row in rows] for rows in (maps, masks, evidence)]
    padded = [torch.nn.utils.rnn.pad_sequence(rows, batch_first=True) for rows in (maps, masks, evidence)]
    return as_lists, padded


def _load_both_ways(name):
    by_path = evaluate.load(str(metrics.module_path(name)), keep_in_memory=True)
    return by_path, metrics.load(name, keep_in_memory=True)


@pytest.mark.parametrize("name", sorted(MAP_METRICS))
def test_map_modules_match_functional(name, no_network):
    (maps, masks, _), (padded_maps, padded_masks, _) = _ragged_maps()
    expected = MAP_METRICS[name](padded_maps, padded_masks)
    for module in _load_both_ways(name):
        result = module.compute(attributions=maps, feature_mask=masks, return_per_sample=True)
        assert result[name] == pytest.approx(expected.double().mean().item(), rel=1e-6)
        assert result["per_sample"] == pytest.approx(expected.tolist(), rel=1e-6)


def test_ragged_maps_give_each_sample_its_own_value():
    (maps, masks, _), _ = _ragged_maps()
    result = metrics.load("sparsity", keep_in_memory=True).compute(
        attributions=maps, feature_mask=masks, return_per_sample=True
    )
    alone = [functional.sparsity(torch.tensor([m]), torch.tensor([v])).item() for m, v in zip(maps, masks, strict=True)]
    assert result["per_sample"] == pytest.approx(alone, rel=1e-6)


def test_complexity_module_passes_the_norm_option():
    (maps, masks, _), (padded_maps, padded_masks, _) = _ragged_maps()
    result = metrics.load("complexity", keep_in_memory=True).compute(attributions=maps, feature_mask=masks, norm="l1")
    expected = functional.complexity(padded_maps, padded_masks, norm="l1").double().mean().item()
    assert result["complexity"] == pytest.approx(expected, rel=1e-6)


def test_pointing_game_module_matches_functional(no_network):
    (maps, masks, evidence), (padded_maps, padded_masks, padded_evidence) = _ragged_maps()
    expected = functional.pointing_game(padded_maps, padded_evidence, padded_masks)
    for module in _load_both_ways("pointing_game"):
        result = module.compute(attributions=maps, feature_mask=masks, evidence_mask=evidence, return_per_sample=True)
        assert result["per_sample"] == pytest.approx(expected.tolist(), rel=1e-6)


@pytest.mark.parametrize("name", ["deletion_auc", "insertion_auc"])
def test_curve_modules_match_functional(name, no_network):
    curves = torch.rand(6, 11, generator=torch.Generator().manual_seed(2))
    expected = functional.auc(curves)
    for module in _load_both_ways(name):
        # streaming in batches, as in an evaluation loop, gives the same result
        module.add_batch(curves=curves[:4].tolist())
        module.add_batch(curves=curves[4:].tolist())
        result = module.compute(return_per_sample=True)
        assert result[name] == pytest.approx(expected.double().mean().item(), rel=1e-6)
        assert result["per_sample"] == pytest.approx(expected.tolist(), rel=1e-6)
    with pytest.raises(ValueError, match="same number of points"):
        metrics.load(name, keep_in_memory=True).compute(curves=[[1.0, 0.5, 0.0], [1.0, 0.0]])


@pytest.mark.parametrize("relative", [True, False])
def test_average_drop_module_matches_functional(relative, no_network):
    full, masked = torch.tensor([0.8, 0.5, 0.6, 0.9]), torch.tensor([0.4, 0.9, 0.6, 0.3])
    expected = functional.average_drop(full, masked, relative=relative)
    for module in _load_both_ways("average_drop"):
        result = module.compute(
            probabilities=full.tolist(), masked_probabilities=masked.tolist(), relative=relative, return_per_sample=True
        )
        assert result["per_sample"] == pytest.approx(expected.tolist(), rel=1e-6)
        assert result["average_drop"] == pytest.approx(expected.double().mean().item(), rel=1e-6)


def test_every_module_has_a_card_and_one_import_per_line():
    assert sorted(path.name for path in metrics.MODULES_DIR.iterdir() if path.is_dir()) == sorted(metrics.METRIC_NAMES)
    for name in metrics.METRIC_NAMES:
        source = (metrics.module_path(name) / f"{name}.py").read_text()
        # evaluate's loader reads imports line by line: "import a, b" would make it ask to install "a,"
        assert not re.search(r"^import [\w.]+\s*,", source, flags=re.MULTILINE), name
        card = (metrics.module_path(name) / "README.md").read_text()
        assert "## Range and direction" in card and re.search(r"(higher|lower) is better", card, re.IGNORECASE), name


def test_unknown_metric_name_lists_the_bundled_ones():
    with pytest.raises(ValueError, match="deletion_auc"):
        metrics.load("deletion_aoc")


@pytest.mark.parametrize("name", [*sorted(MAP_METRICS), "pointing_game"])
def test_map_modules_take_every_feature_as_valid_without_a_feature_mask(name, no_network):
    (maps, _, evidence), _ = _ragged_maps(lengths=(6, 6, 6))
    everything = [[True] * len(row) for row in maps]
    extra = {"evidence_mask": evidence} if name == "pointing_game" else {}
    module = metrics.load(name, keep_in_memory=True)
    with_mask = module.compute(attributions=maps, feature_mask=everything, return_per_sample=True, **extra)
    without = module.compute(attributions=maps, return_per_sample=True, **extra)
    assert without == with_mask
    for row, evidence_row in zip(maps, evidence, strict=True):  # streamed sample by sample, still no mask
        module.add(attributions=row, **({"evidence_mask": evidence_row} if extra else {}))
    assert module.compute(return_per_sample=True) == with_mask
