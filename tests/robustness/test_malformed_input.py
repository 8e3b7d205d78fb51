"""Malformed input to the model, the explainers, the metrics and the CLI: a correct result or a typed error that
says what to fix, never NaN and never an error from deep inside torch. (The pipeline's own cases live in
tests/test_pipeline.py; docs/reliability.md lists them all.)"""

import re

import pandas as pd
import pytest
import torch
from PIL import Image

from hf_ssxai import InvalidInputError, UnsupportedClassifierError, metrics
from hf_ssxai.cli import main
from hf_ssxai.explainers import EXPLAINER_NAMES, get_explainer, supported_explainers
from hf_ssxai.metrics import functional
from hf_ssxai.pipelines import pipeline
from tests.checkpoint_helpers import tiny_image_model, tiny_text_model

MAP_METRICS = [functional.complexity, functional.sparsity, functional.entropy_complexity, functional.gini_sparseness]


@pytest.fixture(scope="module")
def text_model(word_tokenizer):
    return tiny_text_model(word_tokenizer)


@pytest.fixture(scope="module")
def image_model():
    return tiny_image_model()


def _text(ids):
    ids = torch.tensor(ids)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def _pixels(batch=2, channels=3, side=16):
    return torch.randn(batch, channels, side, side, generator=torch.Generator().manual_seed(0))


# ------------------------------------------------------------------------------------------------- the model
@pytest.mark.parametrize(
    ("inputs", "match"),
    [
        ({"input_ids": torch.zeros(0, 4, dtype=torch.long)}, "Empty batch"),
        ({"input_ids": torch.zeros(1, 0, dtype=torch.long)}, "Empty batch"),
        ({"input_ids": torch.tensor([[2, 9999, 3]])}, "outside the vocabulary"),
        ({"input_ids": torch.tensor([[2.0, 10.0, 3.0]])}, "integer tensor"),
        ({"inputs_embeds": torch.full((1, 3, 32), float("nan"))}, "need input_ids"),
    ],
    ids=["empty-batch", "zero-length", "unknown-token-id", "float-ids", "embeddings-only"],
)
def test_text_model_refuses_malformed_batches(text_model, inputs, match):
    with pytest.raises(InvalidInputError, match=match):
        text_model(**inputs)


def test_text_of_only_special_tokens_gets_an_all_zero_map(text_model):
    out = text_model(**_text([[2, 3]]))  # [CLS] [SEP]: no feature to explain
    assert out.attributions.eq(0).all() and torch.isfinite(out.logits).all()


@pytest.mark.parametrize(
    ("pixels", "match"),
    [
        (torch.zeros(0, 3, 16, 16), "Empty batch"),
        (_pixels().index_fill(3, torch.tensor([5]), float("nan")), "NaN or Inf"),
        (_pixels().index_fill(2, torch.tensor([0]), float("inf")), "NaN or Inf"),
        (_pixels(channels=1), "1 channels"),
        (_pixels(channels=4), "4 channels"),
        (_pixels(side=20), "rejected inputs"),
        (torch.randn(3, 16, 16), "shape \\[batch, 3, height, width\\]"),
    ],
    ids=["empty-batch", "nan", "inf", "grayscale", "rgba", "wrong-size", "no-batch-dim"],
)
def test_image_model_refuses_malformed_pixels(image_model, pixels, match):
    with pytest.raises(InvalidInputError, match=match):
        image_model(pixel_values=pixels)


def test_labels_out_of_range_are_refused(text_model, image_model):
    with pytest.raises(InvalidInputError, match=r"labels must lie in \[0, 2\)"):
        text_model(**_text([[2, 10, 11, 3]]), labels=torch.tensor([5]))
    with pytest.raises(InvalidInputError, match=r"labels must lie in \[0, 3\)"):
        image_model(pixel_values=_pixels(), labels=torch.tensor([0, -1]))


# ------------------------------------------------------------------------------------------------ explainers
@pytest.mark.parametrize("name", EXPLAINER_NAMES)
def test_every_explainer_refuses_bad_batches_and_targets(name, image_model):
    kwargs = {"baselines": {"pixel_values": _pixels(4)}} if name in ("deeplift_shap", "gradient_shap") else {}
    if name not in supported_explainers(image_model):  # a method for other architectures refuses the ViT outright
        with pytest.raises(UnsupportedClassifierError, match="docs/relevance.md"):
            get_explainer(name, image_model, **kwargs)
        return
    explainer = get_explainer(name, image_model, **kwargs)
    with pytest.raises(InvalidInputError, match="Empty batch"):
        explainer.attribute({"pixel_values": torch.zeros(0, 3, 16, 16)})
    with pytest.raises(InvalidInputError, match="NaN or Inf"):
        explainer.attribute({"pixel_values": _pixels() * float("nan")})
    with pytest.raises(InvalidInputError, match="out of range"):
        explainer.attribute({"pixel_values": _pixels()}, target=3)
    attributions = explainer.attribute({"pixel_values": _pixels()}, target=torch.tensor([0, 2])).attributions
    assert attributions.shape == (2, 16, 16) and torch.isfinite(attributions).all()


# ------------------------------------------------------------------------------------------------- metrics
@pytest.mark.parametrize("metric", MAP_METRICS, ids=lambda f: f.__name__)
def test_map_metrics_refuse_non_finite_and_misshapen_maps(metric):
    valid = torch.ones(2, 5, dtype=torch.bool)
    for bad in (float("nan"), float("inf"), -float("inf")):
        maps = torch.rand(2, 5)
        maps[1, 2] = bad
        with pytest.raises(InvalidInputError, match="NaN or Inf"):
            metric(maps, valid)
    with pytest.raises(InvalidInputError, match="same shape"):
        metric(torch.rand(2, 6), valid)
    with pytest.raises(InvalidInputError, match="same shape"):
        metric(torch.rand(5), valid[0])  # no batch dimension


@pytest.mark.parametrize("metric", MAP_METRICS, ids=lambda f: f.__name__)
def test_map_metrics_give_their_stated_values_on_degenerate_maps(metric):
    valid = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0]], dtype=torch.bool)
    expected = {  # constant and all-zero maps carry no ranking: the least complex / least sparse value
        "complexity": torch.zeros(3),
        "sparsity": torch.ones(3),
        "entropy_complexity": torch.tensor([3.0, 4.0, 1.0]).log(),
        "gini_sparseness": torch.zeros(3),
    }[metric.__name__]
    for maps in (torch.zeros(3, 4), torch.full((3, 4), 2.5), torch.full((3, 4), float("nan")).masked_fill(valid, 1)):
        torch.testing.assert_close(metric(maps, valid), expected)  # NaN only where no feature is valid: ignored


def test_other_metrics_refuse_non_finite_values_and_wrong_shapes():
    valid = torch.ones(2, 4, dtype=torch.bool)
    with pytest.raises(InvalidInputError, match="NaN or Inf"):
        functional.average_drop(torch.tensor([float("nan"), 0.5]), torch.tensor([0.4, 0.2]))
    with pytest.raises(InvalidInputError, match="NaN or Inf"):
        functional.auc(torch.tensor([[1.0, float("nan"), 0.2]]))
    with pytest.raises(InvalidInputError, match="at least 2 points"):
        functional.auc(torch.tensor([[0.5]]))
    with pytest.raises(InvalidInputError, match="evidence_mask"):
        functional.pointing_game(torch.rand(2, 4), torch.ones(2, 3, dtype=torch.bool), valid)
    with pytest.raises(InvalidInputError, match="rationale_mask"):
        functional.rationale_overlap(torch.rand(2, 4), torch.ones(3, 4, dtype=torch.bool), valid)
    with pytest.raises(InvalidInputError, match="NaN or Inf"):
        functional.pointing_game(torch.full((2, 4), float("nan")), valid, valid)


def test_perturbation_engine_refuses_nan_and_misshapen_maps(text_model):
    inputs = _text([[2, 10, 11, 3], [2, 12, 13, 3]])
    with pytest.raises(InvalidInputError, match="NaN or Inf"):
        metrics.compute_perturbations(text_model, inputs, torch.full((2, 4), float("nan")))
    with pytest.raises(InvalidInputError, match="same shape"):
        metrics.compute_perturbations(text_model, inputs, torch.rand(2, 5))


def test_evaluate_module_refuses_a_nan_map():
    module = metrics.load("complexity", keep_in_memory=True)
    with pytest.raises(InvalidInputError, match="NaN or Inf"):
        module.compute(attributions=[[0.1, float("nan"), 0.3]], feature_mask=[[True, True, True]])


# ---------------------------------------------------------------------------------- pipeline: unusual images
@pytest.mark.parametrize(
    "image",
    [Image.new("RGB", (1, 40)), Image.new("RGB", (1, 1)), Image.new("I;16", (20, 20)), Image.new("CMYK", (20, 20))],
    ids=["one-pixel-wide", "one-pixel", "16-bit-grey", "cmyk"],
)
def test_pipeline_explains_unusual_images_at_their_own_size(image_model, image, tmp_path):
    image_model.save_pretrained(tmp_path / "image")
    result = pipeline(str(tmp_path / "image"), return_tensors=True)(image)
    assert result["map"].shape == (image.height, image.width)
    assert (result["map"] >= 0).all() and (result["map"] <= 1).all()


# ------------------------------------------------------------------------------------------------------ CLI
@pytest.fixture(scope="module")
def cli_checkpoint(text_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    text_model.save_pretrained(folder / "model")
    pd.DataFrame({"text": ["a good movie", "bad"], "label": [1, 0]}).to_csv(folder / "data.csv", index=False)
    pd.DataFrame({"text": ["a good movie", "bad"], "label": [7, 0]}).to_csv(folder / "labels.csv", index=False)
    (folder / "empty.csv").write_text("text,label\n")
    return folder


@pytest.mark.parametrize(
    ("data", "extra", "message"),
    [
        ("data.csv", ["--num-samples", "0"], "Nothing to evaluate"),
        ("data.csv", ["--text-column", "content"], "No column 'content'"),
        ("data.csv", ["--methods", "lime"], "Methods \\['lime'\\]"),
        ("empty.csv", [], "Could not load dataset"),
        ("labels.csv", [], "Labels must be class indices in \\[0, 2\\)"),
    ],
    ids=["no-samples", "missing-column", "unknown-method", "empty-file", "labels-out-of-range"],
)
def test_benchmark_cli_errors_exit_with_one(cli_checkpoint, tmp_path, capsys, data, extra, message):
    command = ["benchmark", "--model", str(cli_checkpoint / "model"), "--dataset", str(cli_checkpoint / data)]
    assert main([*command, "--methods", "scorer", *extra, "--quiet", "--output-dir", str(tmp_path)]) == 1
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "results.json").exists()


def test_explain_cli_refuses_an_empty_text(cli_checkpoint, capsys):
    assert main(["explain", "--model", str(cli_checkpoint / "model"), ""]) == 1
    assert "empty text" in capsys.readouterr().err
