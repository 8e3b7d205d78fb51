"""Explainers and the perturbation engine on a text-image model: one map per modality, ranked together."""

import pytest
import torch

from hf_ssxai import AutoModelWithScorer, ScorerConfig, get_explainer
from hf_ssxai.explainers import supported_explainers
from hf_ssxai.metrics.functional import normalize_attributions
from hf_ssxai.metrics.perturbation import compute_perturbations, only_modality
from tests.multimodal_helpers import random_images, tiny_fusion_classifier, tiny_fusion_processor

CAPTIONS = ["the movie was great", "a film with a plot"]


@pytest.fixture(scope="module")
def model(word_tokenizer):
    torch.manual_seed(0)
    classifier = tiny_fusion_classifier(len(word_tokenizer))
    config = ScorerConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
    return AutoModelWithScorer.from_classifier(classifier, config, processor=tiny_fusion_processor(word_tokenizer))


@pytest.fixture(scope="module")
def batch(word_tokenizer):
    return dict(tiny_fusion_processor(word_tokenizer)(text=CAPTIONS, images=random_images(2)))


@pytest.fixture(scope="module")
def baselines(word_tokenizer):
    processor = tiny_fusion_processor(word_tokenizer)
    return dict(processor(text=["the plot", "a cast with a camera and music", "the end"], images=random_images(3, 5)))


def test_every_supported_method_gives_one_map_per_modality(model, batch, baselines):
    methods = supported_explainers(model)
    assert {"scorer", "saliency", "integrated_gradients", "deeplift", "gradient_shap"} <= set(methods)
    for name in methods:
        kwargs = {"baselines": baselines, "num_baselines": 2} if name.endswith("shap") else {}
        if name == "integrated_gradients":
            kwargs = {"n_steps": 4}
        out = get_explainer(name, model, **kwargs).attribute(batch)
        assert set(out.attributions) == {"text", "image"}, name
        assert out.attributions["text"].shape == batch["input_ids"].shape, name
        assert out.attributions["image"].shape == (2, 16, 16), name
        for modality, scores in out.attributions.items():
            assert (scores[~out.feature_mask[modality]] == 0).all(), name
            assert scores.abs().sum() > 0, (name, modality)


def test_integrated_gradients_is_complete_over_both_modalities(model, batch):
    """IG's attributions over text and image together sum to the logit change from the zero baseline of both:
    the tuple plumbing hands Captum both modalities as one function's inputs."""
    out = get_explainer("integrated_gradients", model, n_steps=64).attribute(batch)
    modality, classifier = model.modality, model.classifier
    mask = out.feature_mask
    zeros = {name: torch.zeros(m.shape) for name, m in mask.items()}
    with torch.no_grad():
        full = classifier(**batch).logits
        removed = modality.masked_logits(classifier, batch, zeros, mask)["all"]
    target = out.target.view(-1, 1)
    change = (full.gather(1, target) - removed.gather(1, target)).squeeze(1)
    total = out.attributions["text"].sum(1) + out.attributions["image"].flatten(1).sum(1)
    assert torch.allclose(total, change, atol=2e-3, rtol=2e-2), (total, change)


def test_joint_deletion_ranks_both_modalities_together_after_normalization(model, batch):
    generator = torch.Generator().manual_seed(0)
    mask = model.modality.feature_mask(batch, model.scorer_config)
    # raw scales differ by 1000x: without per-modality normalization the image would be removed first
    maps = {
        "text": torch.rand(mask["text"].shape, generator=generator) * 1000,
        "image": torch.rand(mask["image"].shape, generator=generator),
    }
    out = compute_perturbations(model, batch, maps, mask, steps=2, insertion=False, masked=False)
    flat = torch.cat([normalize_attributions(maps[n], mask[n]).flatten(1) for n in ("text", "image")], dim=1)
    flat_mask = torch.cat([mask[n].flatten(1) for n in ("text", "image")], dim=1)
    for sample in range(2):
        valid = flat_mask[sample].nonzero().squeeze(1)
        half = (valid.numel() + 1) // 2
        top = valid[flat[sample, valid].argsort(descending=True)[:half]]
        keep = torch.ones_like(flat[sample])
        keep[top] = 0
        scores = {
            "text": keep[: mask["text"].shape[1]].view(1, -1),
            "image": keep[mask["text"].shape[1] :].view(1, 16, 16),
        }
        rows = {key: value[sample : sample + 1] for key, value in batch.items()}
        sample_mask = {name: m[sample : sample + 1] for name, m in mask.items()}
        with torch.no_grad():
            logits = model.modality.masked_logits(model.classifier, rows, scores, sample_mask)["all"]
        expected = logits.softmax(-1)[0, out.predicted_class[sample]]
        assert torch.allclose(out.deletion_curve[sample, 1], expected, atol=1e-5)


def test_per_modality_curves_leave_the_other_modality_whole(model, batch):
    mask = model.modality.feature_mask(batch, model.scorer_config)
    maps = {name: torch.rand(m.shape) for name, m in mask.items()}
    text_only = compute_perturbations(model, batch, maps, only_modality(mask, "text"), steps=2)
    with torch.no_grad():
        zeros = {"text": torch.zeros(mask["text"].shape), "image": torch.ones(mask["image"].shape)}
        logits = model.modality.masked_logits(model.classifier, batch, zeros, mask)["text"]
    expected = logits.softmax(-1).gather(1, text_only.predicted_class.view(-1, 1)).squeeze(1)
    assert torch.allclose(text_only.deletion_curve[:, -1], expected, atol=1e-5)
    assert torch.allclose(text_only.deletion_curve[:, 0], text_only.probabilities)


def test_benchmark_reports_each_modality_and_both_together(model, word_tokenizer, tmp_path):
    from benchmarks.digit_caption_data import digit_caption_pairs, encode_digit_captions, generate_digits
    from hf_ssxai import BenchmarkResult, run_benchmark
    from hf_ssxai.benchmark import MULTIMODAL_METRICS

    images, digits, evidence = generate_digits(6, digits=(2, 4, 7), seed=0)
    processor = tiny_fusion_processor(word_tokenizer)
    data = encode_digit_captions(digit_caption_pairs(images, digits, evidence, seed=0), processor, max_length=12)
    result = run_benchmark(
        model,
        data,
        methods=["scorer", "saliency"],
        batch_size=3,
        steps=4,
        evidence_column={"text": "evidence_tokens", "image": "evidence_pixels"},
    )
    assert {"joint_deletion_auc", "joint_insertion_auc", "joint_average_drop"} <= set(result.metrics)
    assert {"text_pointing_game", "image_pointing_game", "text_deletion_auc", "image_complexity"} <= set(result.metrics)
    assert set(result.metrics) <= set(MULTIMODAL_METRICS)
    for values in result.values.values():
        for metric, samples in values.items():
            assert len(samples) == 6 and all(v == v for v in samples), metric  # one finite value per sample
    text = result.select([m for m in result.metrics if m.startswith("text_")])
    assert text.metrics == [m for m in result.metrics if m.startswith("text_")]
    assert "text pointing game" in text.to_markdown()
    result.to_json(tmp_path / "result.json")
    assert BenchmarkResult.from_json(tmp_path / "result.json").summary() == result.summary()


def test_caption_and_overlay_draws_one_row_per_method(tmp_path):
    from PIL import Image

    from hf_ssxai.visualization import caption_and_overlay

    maps = {
        "scorer": {"text": [0.0, 1.0, 0.2], "image": torch.rand(16, 16)},
        "saliency": {"text": torch.tensor([3.0, -1.0, 0.5]), "image": torch.randn(8, 8)},
    }
    path = tmp_path / "example.png"
    figure = caption_and_overlay(["a", "seven", "here"], torch.rand(3, 16, 16), maps, path, "a seven here: match")
    assert len(figure.axes) == 4
    assert Image.open(path).size[1] > Image.open(path).size[0] / 3


def test_a_long_caption_wraps_instead_of_running_into_the_image(tmp_path):
    from hf_ssxai.visualization import caption_and_overlay

    caption = "five sl ##ed dogs are pulling a person on a sled , through the snow in the woods today ."
    tokens = caption.split(" ") * 2
    maps = {"scorer": {"text": torch.rand(len(tokens)), "image": torch.rand(16, 16)}}
    figure = caption_and_overlay(tokens, torch.rand(3, 16, 16), maps, tmp_path / "long.png")
    text_axis, image_axis = figure.axes
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    image_left = image_axis.get_window_extent(renderer).x0
    drawn = [text.get_window_extent(renderer) for text in text_axis.texts if text.get_text() in tokens]
    assert len(drawn) == len(tokens)
    assert max(box.x1 for box in drawn) < image_left
    assert len({round(box.y0) for box in drawn}) > 1  # more than one line
