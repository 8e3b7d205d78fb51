"""No NaN reaches a user (issue 19, groups 3 to 6): pixels too large to be an image, checkpoints with NaN or huge
weights, metric modules without samples and renderers given a NaN score each end in a typed error or a correct
result, through the model, every explainer, the perturbation engine, the pipeline and the CLI."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from hf_ssxai import AutoModelWithScorer, CheckpointError, InvalidInputError, NonFiniteOutputError, metrics
from hf_ssxai.checkpoint import fingerprint
from hf_ssxai.cli import main
from hf_ssxai.explainers import get_explainer, supported_explainers
from hf_ssxai.pipelines import pipeline
from hf_ssxai.visualization import tokens_to_html, tokens_to_terminal
from tests.checkpoint_helpers import tiny_image_model, tiny_text_model

TEXT = {"input_ids": torch.tensor([[2, 10, 11, 3]]), "attention_mask": torch.ones(1, 4, dtype=torch.long)}


@pytest.fixture(scope="module")
def image_model():
    return tiny_image_model()


def _explainer(name, model, baselines):
    kwargs = {"baselines": baselines} if name in ("deeplift_shap", "gradient_shap") else {}
    return get_explainer(name, model, **kwargs)


@pytest.mark.parametrize("value", [1e7, 1e30, 3e38, -3e38])
def test_pixels_too_large_for_an_image_are_refused_everywhere(image_model, value):
    pixels = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    pixels[1, 0, 4, 4] = value
    with pytest.raises(InvalidInputError, match="pixel_values reach .*image processor"):
        image_model(pixel_values=pixels)
    with pytest.raises(InvalidInputError, match="pixel_values reach"):
        metrics.compute_perturbations(image_model, {"pixel_values": pixels}, torch.rand(2, 16, 16))
    baselines = {"pixel_values": torch.zeros(4, 3, 16, 16)}
    for name in supported_explainers(image_model):
        with pytest.raises(InvalidInputError, match="pixel_values reach"):
            _explainer(name, image_model, baselines).attribute({"pixel_values": pixels})


def test_the_largest_raw_pixels_still_give_finite_outputs(image_model):
    pixels = torch.full((1, 3, 16, 16), 65535.0)  # 16-bit pixels nobody normalized: a wrong input, but a number
    out = image_model(pixel_values=pixels)
    assert torch.isfinite(out.logits).all() and torch.isfinite(out.attributions).all()


@pytest.fixture(scope="module")
def saved_text(word_tokenizer, tmp_path_factory):
    folder = tmp_path_factory.mktemp("no_nan") / "ckpt"
    tiny_text_model(word_tokenizer).save_pretrained(folder)
    return folder


def _with_weights(saved, tmp_path, file, name, value):
    """A copy of the checkpoint whose tensor ``name`` in ``file`` is filled with ``value``."""
    import shutil

    folder = tmp_path / "damaged"
    shutil.copytree(saved, folder)
    tensors = load_file(folder / file)
    tensors[name] = torch.full_like(tensors[name], value)
    save_file(tensors, folder / file, metadata={"format": "pt"})
    return folder


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
@pytest.mark.parametrize("file", ["model.safetensors", "scorer/model.safetensors"])
def test_weights_holding_nan_or_inf_are_refused_when_loading(saved_text, tmp_path, file, value):
    name = next(iter(load_file(saved_text / file)))
    folder = _with_weights(saved_text, tmp_path, file, name, value)
    with pytest.raises(CheckpointError, match=f"{name}.*holds NaN or Inf"):
        AutoModelWithScorer.from_pretrained(folder, ignore_fingerprint_mismatch=True)


def test_huge_weights_give_a_typed_error_in_every_entry_point(saved_text, tmp_path, capsys):
    folder = _with_weights(saved_text, tmp_path, "model.safetensors", "bert.embeddings.word_embeddings.weight", 1e38)
    model = AutoModelWithScorer.from_pretrained(folder, ignore_fingerprint_mismatch=True)
    with pytest.raises(NonFiniteOutputError, match="The classifier BertForSequenceClassification gave NaN or Inf"):
        model(**TEXT)
    for name in supported_explainers(model):
        with pytest.raises(NonFiniteOutputError, match="gave NaN or Inf"):
            _explainer(name, model, {"input_ids": TEXT["input_ids"].repeat(2, 1)}).attribute(TEXT)
    with pytest.raises(NonFiniteOutputError):
        metrics.compute_perturbations(model, TEXT, torch.rand(1, 4))
    explain = pipeline(model=model, tokenizer=model.processor)
    with pytest.raises(NonFiniteOutputError):
        explain("good movie")
    # the CLI loads with the fingerprint check on: record the damaged weights' own so they get that far
    model.scorer_config.base_model_fingerprint = fingerprint(model.classifier)
    model.save_pretrained(folder)
    for format in ("terminal", "html", "json"):
        assert main(["explain", "--model", str(folder), "--format", format, "good movie"]) == 1
        err = capsys.readouterr().err
        assert "gave NaN or Inf" in err.strip().splitlines()[-1] and "Traceback" not in err


def test_a_scorer_that_overflows_gives_a_typed_error(word_tokenizer):
    model = tiny_text_model(word_tokenizer)
    with torch.no_grad():
        for parameter in model.scorer.parameters():
            parameter.fill_(1e38)
    with pytest.raises(NonFiniteOutputError, match="The scorer gave NaN or Inf for sample\\(s\\) \\[0\\]"):
        model(**TEXT)


EMPTY_INPUTS = {
    "average_drop": {"probabilities": [], "masked_probabilities": []},
    "deletion_auc": {"curves": []},
    "insertion_auc": {"curves": []},
    "complexity": {"attributions": []},
    "sparsity": {"attributions": []},
    "entropy_complexity": {"attributions": []},
    "gini_sparseness": {"attributions": []},
    "pointing_game": {"attributions": [], "evidence_mask": []},
    "rationale_f1": {"attributions": [], "feature_mask": [], "rationale_mask": []},
    "rationale_auprc": {"attributions": [], "feature_mask": [], "rationale_mask": []},
    "rationale_coverage": {"feature_mask": [], "rationale_mask": []},
}


@pytest.mark.parametrize("name", metrics.METRIC_NAMES)
def test_every_metric_module_refuses_empty_input(name):
    with pytest.raises(InvalidInputError, match="No samples"):
        metrics.load(name, keep_in_memory=True).compute(**EMPTY_INPUTS[name])


def test_renderers_show_a_nan_score_as_no_score():
    html = tokens_to_html(["good", "movie"], [float("nan"), 0.5])
    assert "rgb(255, 255, 255)" in html and 'title="nan"' in html
    assert tokens_to_terminal(["good", "movie"], [float("nan"), 0.5], color=False) == "good[nan] movie[0.50]"
    assert "48;2;255;255;255m" in tokens_to_terminal(["good"], torch.tensor([float("nan")]))
