"""Every attribution method behind one interface: shapes, masks, targets, planted evidence, cost."""

from __future__ import annotations

import captum.attr
import pytest
import torch
from torch import nn

from hf_ssxai import AutoModelWithScorer, InvalidInputError, UnsupportedClassifierError
from hf_ssxai.data.synthetic import as_batch
from hf_ssxai.explainers import (
    EXPLAINER_NAMES,
    AttributionOutput,
    GradientShap,
    GuidedBackprop,
    IntegratedGradients,
    Saliency,
    ScorerExplainer,
    count_forwards,
    get_explainer,
    supported_explainers,
)
from hf_ssxai.explainers.captum_methods import MaskableForward

TEXT_COLUMNS = ("input_ids", "attention_mask")
#: cheaper settings where fewer steps/samples do not weaken what a test checks
FAST = {
    "integrated_gradients": {"n_steps": 8},
    "gradient_shap": {"n_samples": 8},
    "deeplift_shap": {"num_baselines": 4},
}


def _explainer(name, model, baselines, **overrides):
    kwargs = {"baselines": baselines} if name in ("deeplift_shap", "gradient_shap") else {}
    return get_explainer(name, model, **{**kwargs, **FAST.get(name, {}), **overrides})


def _supported_explainer(name, model, baselines):
    """The explainer, or None after checking that a method for other architectures refuses this classifier."""
    if name in supported_explainers(model):
        return _explainer(name, model, baselines)
    with pytest.raises(UnsupportedClassifierError, match="docs/relevance.md"):
        _explainer(name, model, baselines)
    return None


@pytest.fixture(scope="module")
def text(planted_text):
    """(model, batch of 16, 20 baseline samples)."""
    model, test = planted_text
    return model, as_batch(test.select(range(16)), TEXT_COLUMNS), as_batch(test.select(range(100, 120)), TEXT_COLUMNS)


@pytest.fixture(scope="module")
def image(planted_vit):
    model, test = planted_vit
    return (
        model,
        as_batch(test.select(range(16)), ("pixel_values",)),
        as_batch(test.select(range(100, 120)), ("pixel_values",)),
    )


def _check_output(out, model, batch, feature_shape):
    with torch.no_grad():
        reference = model(**batch)
    assert isinstance(out, AttributionOutput)
    assert out.attributions.shape == (16, *feature_shape) == out.feature_mask.shape
    assert torch.isfinite(out.attributions).all()
    assert torch.equal(out.feature_mask, reference.feature_mask)  # same feature units and mask as the scorer
    assert (out.attributions[~out.feature_mask] == 0).all()
    assert out.attributions[out.feature_mask].abs().sum() > 0
    assert torch.allclose(out.logits, reference.logits, atol=1e-5)
    assert torch.equal(out.target, reference.logits.argmax(-1))  # target=None: the prediction


def _check_target_respected(explainer, batch, out, num_classes):
    other = (out.target + 1) % num_classes
    changed = explainer.attribute(batch, target=other)
    assert torch.equal(changed.target, other)
    assert not torch.allclose(changed.attributions, out.attributions)


@pytest.mark.parametrize("name", EXPLAINER_NAMES)
def test_every_method_on_text(name, text):
    model, batch, baselines = text
    if (explainer := _supported_explainer(name, model, baselines)) is None:
        return
    out = explainer.attribute(batch)
    _check_output(out, model, batch, batch["input_ids"].shape[1:])
    assert not out.feature_mask[:, 0].any()  # [CLS] is never a feature
    if name != "scorer":
        _check_target_respected(explainer, batch, out, 2)


@pytest.mark.parametrize("name", EXPLAINER_NAMES)
def test_every_method_on_vit(name, image):
    model, batch, baselines = image
    if (explainer := _supported_explainer(name, model, baselines)) is None:
        return
    out = explainer.attribute(batch)
    _check_output(out, model, batch, batch["pixel_values"].shape[2:])
    if name != "scorer":
        _check_target_respected(explainer, batch, out, 3)


def _captum_on_maskable(method, model, batch, target, **kwargs):
    """Run a Captum method directly on the classifier's maskable tensor (reference for our wrappers)."""
    maskable, forward_kwargs = model.modality.split_inputs(model.classifier, batch)
    maskable = maskable.detach().clone().requires_grad_()
    forward = MaskableForward(model.classifier, model.modality, tuple(forward_kwargs))
    args = (torch.ones(1, dtype=torch.bool), maskable.detach(), *forward_kwargs.values())
    attributions = method(forward).attribute(maskable, target=target, additional_forward_args=args, **kwargs)
    return model.modality.reduce_to_features(attributions)


@pytest.mark.filterwarnings("ignore:Setting backward hooks")
def test_deeplift_and_guided_backprop_on_resnet(planted_resnet):
    """ReLU + MaxPool: DeepLift's rescale rule applies, and our guided rule is exactly Captum's GuidedBackprop."""
    model, test = planted_resnet
    batch = as_batch(test.select(range(16)), ("pixel_values",))
    explainer = get_explainer("deeplift", model)
    out = explainer.attribute(batch)
    _check_output(out, model, batch, batch["pixel_values"].shape[2:])
    _check_target_respected(explainer, batch, out, 3)
    with torch.no_grad():  # rescale rule on every nonlinearity: attributions add up to f(x) - f(0) exactly
        baseline_logits = model.classifier(pixel_values=torch.zeros_like(batch["pixel_values"])).logits
    drop = (out.logits - baseline_logits).gather(1, out.target[:, None])[:, 0]
    assert torch.allclose(out.attributions.sum((1, 2)), drop, atol=1e-4 * drop.abs().max())
    ours = GuidedBackprop(model, abs=False).attribute(batch, target=out.target).attributions
    reference = _captum_on_maskable(captum.attr.GuidedBackprop, model, batch, out.target)
    assert torch.allclose(ours, reference, atol=1e-6)


def test_deeplift_on_vit_is_input_times_gradient(image):
    """No module of a ViT has a Captum DeepLift rule (GELU, LayerNorm, attention), so DeepLift is x * gradient."""
    model, batch, _ = image
    deeplift = get_explainer("deeplift", model).attribute(batch, target=0).attributions
    pixels = batch["pixel_values"].clone().requires_grad_()
    (gradient,) = torch.autograd.grad(model.classifier(pixel_values=pixels).logits[:, 0].sum(), pixels)
    assert torch.allclose(deeplift, (pixels * gradient).sum(1), atol=1e-6)


@pytest.mark.filterwarnings("ignore:Setting backward hooks")
def test_guided_backprop_is_not_the_gradient_on_gelu_bert(text):
    """Captum's GuidedBackprop only hooks nn.ReLU, so on GELU BERT it equals the gradient; ours does not."""
    model, batch, _ = text
    guided = GuidedBackprop(model).attribute(batch, target=1).attributions
    saliency = Saliency(model).attribute(batch, target=1).attributions
    # measured on this fixture: relative difference 0.055
    assert (guided - saliency).norm() / saliency.norm() > 0.01
    captum_guided = _captum_on_maskable(captum.attr.GuidedBackprop, model, batch, 1)
    gradient = _captum_on_maskable(captum.attr.Saliency, model, batch, 1, abs=False)
    assert torch.equal(captum_guided, gradient)  # the pitfall itself


class _FunctionalGELU(nn.Module):
    def forward(self, x):
        return nn.functional.gelu(x)


def test_guided_backprop_refuses_a_model_without_activation_modules(text):
    model = text[0]
    classifier = type(model.classifier)(model.classifier.config)
    for layer in classifier.bert.encoder.layer:
        layer.intermediate.intermediate_act_fn = _FunctionalGELU()
    bare = AutoModelWithScorer.from_classifier(classifier, model.scorer_config)
    with pytest.raises(UnsupportedClassifierError, match="no activation module"):
        GuidedBackprop(bare)


@pytest.mark.parametrize("name", ["saliency", "integrated_gradients"])
def test_gradient_methods_find_the_planted_token(name, planted_text):
    model, test = planted_text
    subset = test.select(range(64))
    out = get_explainer(name, model).attribute(as_batch(subset, TEXT_COLUMNS))
    hit_rate = (out.attributions.abs().argmax(-1) == torch.as_tensor(subset["evidence_position"])).float().mean()
    # measured on this fixture: 1.00 for both methods
    assert hit_rate >= 0.8, f"{name} ranked the planted token first on only {hit_rate:.0%} of samples"


def test_gradients_flow_under_no_grad(text):
    """Callers (metrics, pipelines) may explain inside torch.no_grad(); the frozen classifier still differentiates."""
    model, batch, _ = text
    expected = Saliency(model).attribute(batch).attributions
    with torch.no_grad():
        assert torch.equal(Saliency(model).attribute(batch).attributions, expected)


def test_scorer_explainer_returns_the_models_map(text):
    model, batch, _ = text
    out = ScorerExplainer(model).attribute(batch)
    with torch.no_grad():
        reference = model(**batch)
    assert torch.equal(out.attributions, reference.attributions)
    assert torch.equal(out.logits, reference.logits)
    with count_forwards(model.classifier) as count:  # labels of a collated batch are ignored: no loss forward
        with_labels = ScorerExplainer(model).attribute({**batch, "labels": reference.logits.argmax(-1)})
    assert count.samples == 16 and torch.equal(with_labels.attributions, out.attributions)


def test_integrated_gradients_add_up_to_the_masking_drop(text):
    """Completeness against the same baseline the deletion metric uses: valid features at 0, the rest kept."""
    model, batch, _ = text
    out = IntegratedGradients(model).attribute(batch)
    maskable, kwargs = model.modality.split_inputs(model.classifier, batch)
    with torch.no_grad():
        deleted = model.modality.apply_scores(maskable, torch.zeros_like(out.attributions), out.feature_mask)
        baseline_logits = model.modality.forward_from_maskable(model.classifier, deleted, kwargs)
    rows = torch.arange(16)
    drop = out.logits[rows, out.target] - baseline_logits[rows, out.target]
    assert torch.allclose(out.attributions.sum(-1), drop, atol=0.05 * drop.abs().max())


@pytest.mark.parametrize("name", ["integrated_gradients", "deeplift_shap"])
def test_batched_equals_one_by_one(name, text):
    """Captum's batch expansion (IG: repeat, DeepLiftShap: repeat_interleave) keeps each row's attention mask."""
    model, batch, baselines = text
    lengths = batch["attention_mask"].sum(-1)
    rows = [int(lengths.argmin()), int(lengths.argmax()), 0, 1]
    small = {key: value[rows] for key, value in batch.items()}
    explainer = _explainer(name, model, baselines)
    together = explainer.attribute(small, target=1).attributions
    alone = torch.cat(
        [explainer.attribute({k: v[i : i + 1] for k, v in small.items()}, 1).attributions for i in range(4)]
    )
    assert torch.allclose(together, alone, atol=1e-5)


def test_text_baselines_fit_any_batch_length(text):
    model, batch, baselines = text
    explainer = GradientShap(model, baselines={k: v[:, :6] for k, v in baselines.items()}, n_samples=4)
    assert explainer.baselines.shape[:2] == (20, 6)
    assert (explainer.baselines[:, 0] == 0).all()  # the baselines' own [CLS] is not a feature: zeroed
    padded = explainer.attribute(batch)  # baselines shorter than the batch: padded with zero embeddings
    assert padded.attributions.shape == batch["input_ids"].shape
    truncated = GradientShap(model, baselines=batch, n_samples=4).attribute({k: v[:, :5] for k, v in batch.items()})
    assert truncated.attributions.shape == (16, 5)


def test_count_forwards(text):
    model, batch, _ = text
    per_sample = {}
    for explainer in (ScorerExplainer(model), Saliency(model), IntegratedGradients(model)):
        with count_forwards(model.classifier) as count:
            explainer.attribute(batch)
        per_sample[explainer.name] = count.per_sample(16)
    assert per_sample["scorer"] == 1
    assert per_sample["saliency"] == 1  # the backward pass is not a forward
    assert 50 <= per_sample["integrated_gradients"] <= 51  # 50 path points + the prediction


@pytest.mark.parametrize(
    ("target", "match"),
    [
        (2, r"0\.\.1"),
        (-1, r"0\.\.1"),
        (torch.tensor([0, 1]), "batch has 16"),
        (torch.zeros(16), "integer"),
        ("1", "int"),
    ],
)
def test_bad_target_is_refused(target, match, text):
    model, batch, _ = text
    with pytest.raises(InvalidInputError, match=match):
        Saliency(model).attribute(batch, target=target)


def test_bad_inputs_and_names_are_refused(text):
    model, batch, _ = text
    with pytest.raises(InvalidInputError, match="input_ids"):
        Saliency(model).attribute({"attention_mask": batch["attention_mask"]})
    with pytest.raises(InvalidInputError, match="integrated_gradients"):
        get_explainer("occlusion", model)
    with pytest.raises(UnsupportedClassifierError, match="AutoModelWithScorer"):
        Saliency(model.classifier)
