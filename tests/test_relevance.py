"""Relevance-propagation explainers: AGF on ResNet, gradient-weighted attention relevance on ViT/DeiT/BERT-family.

The planted-evidence models here are trained in a few seconds with a plain loop (no scorer training), so the file
stays fast; the conftest fixtures train scorers too and are not needed.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformers import ResNetConfig, ResNetForImageClassification

from hf_ssxai import AutoModelWithScorer, ClassDistribution, InvalidInputError, ScorerConfig, UnsupportedClassifierError
from hf_ssxai.data.synthetic import as_batch, build_word_tokenizer, planted_image_arrays, planted_text_dataset
from hf_ssxai.explainers import (
    AttributionGuidedFactorization,
    TransformerRelevance,
    count_forwards,
    get_explainer,
    supported_explainers,
)
from hf_ssxai.explainers.relevance import attention_rollout, contrastive_objective, eager_attention
from hf_ssxai.explainers.relevance.rules import (
    absolute_conv_rule,
    bounded_conv_rule,
    factorized_conv_rule,
    z_rule,
)
from tests.helpers import tiny_image_classifier, tiny_text_classifier

SCORER = ScorerConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
TERMS = ("mask", "activation_factors", "gradient_factors", "uniform", "gate")


def _fit(classifier: nn.Module, inputs: dict[str, torch.Tensor], labels: torch.Tensor, epochs: int) -> nn.Module:
    """A few epochs of Adam on the whole set: enough for the planted evidence, in seconds. One torch thread: these
    models gain nothing from more, and on a loaded machine extra threads only wait for each other."""
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(classifier.parameters(), lr=3e-3)
    classifier.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(epochs):
            order = torch.randperm(len(labels))
            for start in range(0, len(labels), 32):
                rows = order[start : start + 32]
                loss = classifier(**{key: value[rows] for key, value in inputs.items()}, labels=labels[rows]).loss
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return classifier.eval()


def _planted_images(family: str, samples: int, epochs: int):
    """(model trained on planted squares, 64 held-out pixel_values, their labels, their square masks)."""
    pixels, labels, _ = (torch.as_tensor(array) for array in planted_image_arrays(samples, seed=0))
    torch.manual_seed(0)
    classifier = _fit(tiny_image_classifier(family), {"pixel_values": pixels}, labels, epochs)
    test_pixels, test_labels, evidence = (torch.as_tensor(array) for array in planted_image_arrays(64, seed=1))
    return AutoModelWithScorer.from_classifier(classifier, SCORER), test_pixels, test_labels, evidence


@pytest.fixture(scope="module")
def resnet():
    return _planted_images("resnet", 600, 4)


@pytest.fixture(scope="module")
def vit():
    return _planted_images("vit", 1000, 8)


@pytest.fixture(scope="module")
def text():
    """(tiny BERT trained on planted sentences, 64 held-out inputs, their evidence token positions)."""
    tokenizer = build_word_tokenizer()
    train = planted_text_dataset(tokenizer, 800, seed=0)
    torch.manual_seed(0)
    classifier = tiny_text_classifier("bert", len(tokenizer))
    _fit(classifier, as_batch(train, ("input_ids", "attention_mask")), torch.as_tensor(train["label"]), 4)
    test = planted_text_dataset(tokenizer, 64, seed=1)
    model = AutoModelWithScorer.from_classifier(classifier, SCORER, processor=tokenizer)
    return model, as_batch(test, ("input_ids", "attention_mask")), torch.as_tensor(test["evidence_position"])


def _untrained(classifier: nn.Module, **kwargs) -> AutoModelWithScorer:
    torch.manual_seed(0)
    return AutoModelWithScorer.from_classifier(classifier.eval(), SCORER, **kwargs)


def _bottleneck_resnet() -> nn.Module:
    config = ResNetConfig(embedding_size=8, hidden_sizes=[16, 32], depths=[2, 1], layer_type="bottleneck", num_labels=3)
    return ResNetForImageClassification(config)


def _evidence_share(maps: torch.Tensor, evidence: torch.Tensor) -> torch.Tensor:
    """Per sample: the share of the map's positive mass that lies on the planted square."""
    positive = maps.clamp(min=0)
    return (positive * evidence).sum((1, 2)) / positive.sum((1, 2))


def _two_squares(pixels: torch.Tensor, labels: torch.Tensor, evidence: torch.Tensor):
    """Images holding two squares of different classes: image i gets the square of the next image (cyclically) with
    another label and a disjoint square. Returns (images, classes [B, 2], squares [B, 2, H, W]), image i's first."""
    count = len(labels)
    images, classes, squares = [], [], []
    for i in range(count):
        j = next(
            j % count
            for j in range(i + 1, i + count)
            if labels[j % count] != labels[i] and not (evidence[i] & evidence[j % count]).any()
        )
        image = pixels[i].clone()
        image[:, evidence[j]] = pixels[j][:, evidence[j]]
        images.append(image)
        classes.append(torch.stack([labels[i], labels[j]]))
        squares.append(torch.stack([evidence[i], evidence[j]]))
    return torch.stack(images), torch.stack(classes), torch.stack(squares)


def _top_hits(maps: torch.Tensor, evidence: torch.Tensor) -> torch.Tensor:
    """Per sample: 1 when the map's maximum lies on the planted square."""
    return evidence.flatten(1).gather(1, maps.flatten(1).argmax(1, keepdim=True))[:, 0].float()


# ---------------------------------------------------------------------------------------------------- rules
def test_rules_conserve_relevance():
    """Every rule hands on the relevance it receives (stride, padding and pooling windows included)."""
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=False)
    x = torch.randn(2, 4, 9, 9).relu()
    relevance = torch.randn(2, 6, 5, 5)
    gradient = torch.randn_like(x)
    total = relevance.sum((1, 2, 3))
    pixels = torch.randn(2, 4, 9, 9)  # signed, as the first convolution sees them
    for name, out in {
        "absolute": absolute_conv_rule(conv, x, relevance),
        "bounded": bounded_conv_rule(conv, pixels, relevance),
        "factorized": factorized_conv_rule(conv, x, gradient, relevance),
    }.items():
        assert out.shape == x.shape
        assert torch.allclose(out.sum((1, 2, 3)), total, rtol=1e-4), name
    for pool in (nn.MaxPool2d(3, stride=2, padding=1), nn.AdaptiveAvgPool2d(1)):
        pooled_relevance = torch.randn_like(pool(x))
        out = z_rule(pool, x + 0.1, pooled_relevance)  # positive inputs: every window has a non-zero output
        assert torch.allclose(out.sum((1, 2, 3)), pooled_relevance.sum((1, 2, 3)), rtol=1e-4)


def test_factorized_rule_terms_are_switches():
    """Each term changes the result; with all of them off the rule is the absolute rule alone."""
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 6, 3, padding=1, bias=False)
    x, relevance = torch.randn(1, 4, 8, 8).relu(), torch.rand(1, 6, 8, 8)
    gradient = torch.randn_like(x)
    full = factorized_conv_rule(conv, x, gradient, relevance)
    for term in TERMS:
        assert not torch.allclose(factorized_conv_rule(conv, x, gradient, relevance, **{term: False}), full), term
    nothing = factorized_conv_rule(conv, x, gradient, relevance, **dict.fromkeys(TERMS, False))
    assert torch.allclose(nothing, absolute_conv_rule(conv, x, relevance))


# ---------------------------------------------------------------------------------------------------- AGF
@pytest.mark.parametrize(
    "build", [lambda: tiny_image_classifier("resnet"), _bottleneck_resnet], ids=["basic", "bottleneck"]
)
@pytest.mark.parametrize("terms", ["all", "none"])
def test_agf_conserves_relevance_from_the_head_to_the_pixels(build, terms):
    """Σ map = Σ x ⊙ ∂s_t/∂x at the head's input, through blocks, shortcuts, pools and the factorization."""
    torch.manual_seed(0)  # the classifier's weights must not depend on which tests ran before
    model = _untrained(build())
    switches = {} if terms == "all" else dict.fromkeys(TERMS, False)
    pixels, target = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 1])
    with count_forwards(model.classifier) as count:
        out = AttributionGuidedFactorization(model, **switches).attribute({"pixel_values": pixels}, target=target)
    classifier = model.classifier
    features = classifier.resnet(pixel_values=pixels).pooler_output.flatten(1).requires_grad_()
    logits = classifier.classifier(features)
    (gradient,) = torch.autograd.grad(contrastive_objective(logits, target).sum(), features)
    start = (features * gradient).sum(1).detach()
    assert torch.allclose(out.attributions.sum((1, 2)), start, rtol=1e-4, atol=1e-7)
    assert torch.allclose(out.logits, logits.detach(), atol=1e-6)  # the classifier's own forward ...
    assert count.samples == 4  # ... run once, counted like every method's


def test_agf_finds_the_planted_square_and_is_class_specific(resnet):
    model, pixels, labels, evidence = resnet
    explainer = get_explainer("agf", model)
    out = explainer.attribute({"pixel_values": pixels})
    assert torch.equal(out.target, labels)  # the classifier learnt the task
    # measured: 0.33 of the positive mass on a square of 1/16 of the image; maximum on it for 92 % of images
    assert _evidence_share(out.attributions, evidence).mean() > 0.2
    assert _top_hits(out.attributions, evidence).mean() >= 0.8
    other = explainer.attribute({"pixel_values": pixels}, target=(labels + 1) % 3)
    assert not torch.allclose(other.attributions, out.attributions)
    assert (out.attributions[~out.feature_mask] == 0).all() and out.feature_mask.all()


def test_agf_is_class_specific_where_saliency_is_not(resnet):
    """Two squares of different classes in one image: explaining either class, AGF puts more positive mass on that
    class' square than on the other one; Saliency shows the predicted class' square whatever the target."""
    model, pixels, labels, evidence = resnet
    images, classes, squares = _two_squares(pixels, labels, evidence)
    predicted = model.classifier(pixel_values=images).logits.argmax(-1)
    assert ((predicted == classes[:, 0]) | (predicted == classes[:, 1])).all()
    swap = predicted != classes[:, 0]  # put the predicted class first
    classes, squares = (
        torch.where(swap[:, None], classes.flip(1), classes),
        torch.where(swap[:, None, None, None], squares.flip(1), squares),
    )

    def own_square_wins(name: str, slot: int) -> float:
        maps = get_explainer(name, model).attribute({"pixel_values": images}, target=classes[:, slot]).attributions
        own, other = _evidence_share(maps, squares[:, slot]), _evidence_share(maps, squares[:, 1 - slot])
        return (own > other).float().mean().item()

    # measured: AGF 0.98 (predicted class) and 0.95 (the other class); Saliency 0.69 and 0.02
    assert own_square_wins("agf", 0) >= 0.8 and own_square_wins("agf", 1) >= 0.8
    assert own_square_wins("saliency", 1) <= 0.2


def test_agf_refuses_other_architectures():
    for classifier in (tiny_image_classifier("vit"), tiny_image_classifier("convnext")):
        model = _untrained(classifier)
        assert "agf" not in supported_explainers(model)
        with pytest.raises(UnsupportedClassifierError, match="ResNetForImageClassification"):
            get_explainer("agf", model)
    gelu = ResNetForImageClassification(ResNetConfig(embedding_size=8, hidden_sizes=[8], depths=[1], hidden_act="gelu"))
    with pytest.raises(UnsupportedClassifierError, match="ReLU"):
        get_explainer("agf", _untrained(gelu))


# ---------------------------------------------------------------------------------------------------- transformers
def test_rollout_matches_a_hand_computed_case():
    """Two blocks, two heads, two tokens: Ā_b = mean_h (∇A ⊙ A)⁺, R = I then R ← R + Ā_b R."""
    attentions = [
        torch.tensor([[[[0.5, 0.5], [0.2, 0.8]], [[1.0, 0.0], [0.0, 1.0]]]]),
        torch.tensor([[[[0.4, 0.6], [0.5, 0.5]], [[0.9, 0.1], [0.3, 0.7]]]]),
    ]
    gradients = [
        torch.tensor([[[[1.0, -1.0], [2.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]]]),
        torch.tensor([[[[0.0, 1.0], [0.0, 0.0]], [[0.0, -1.0], [1.0, 0.0]]]]),
    ]
    # block 1: Ā = [[0.25, 0], [0.2, 0]] -> R = [[1.25, 0], [0.2, 1]]
    # block 2: Ā = [[0, 0.3], [0.15, 0]] -> R + Ā R = [[1.25 + 0.06, 0.3], [0.2 + 0.1875, 1]]
    expected = torch.tensor([[[1.31, 0.3], [0.3875, 1.0]]])
    assert torch.allclose(attention_rollout(attentions, gradients), expected)


@pytest.mark.parametrize("family", ["bert", "roberta", "distilbert", "electra"])
def test_transformer_relevance_on_text_families(family, word_tokenizer):
    model = _untrained(tiny_text_classifier(family, len(word_tokenizer)), processor=word_tokenizer)
    batch = dict(word_tokenizer(["the movie was great", "a film"], padding=True, return_tensors="pt"))
    with count_forwards(model.classifier) as count:
        out = get_explainer("transformer_relevance", model).attribute(batch, target=1)
    assert count.samples == 2
    assert out.attributions.shape == batch["input_ids"].shape
    assert (out.attributions >= 0).all() and out.attributions[out.feature_mask].sum() > 0
    assert (out.attributions[~out.feature_mask] == 0).all()
    assert model.classifier.config._attn_implementation == "sdpa"  # switched to eager for the call only


@pytest.mark.parametrize("family", ["vit", "deit"])
def test_transformer_relevance_on_image_families(family):
    model = _untrained(tiny_image_classifier(family))
    out = get_explainer("transformer_relevance", model).attribute({"pixel_values": torch.randn(2, 3, 16, 16)})
    assert out.attributions.shape == (2, 16, 16)
    assert (out.attributions > 0).all() and torch.isfinite(out.attributions).all()


def test_transformer_relevance_is_the_rollout_of_the_target(text):
    """The map is row 0 of the rollout for the target's logit, over the valid tokens; padding changes nothing."""
    model, batch, _ = text
    classifier = model.classifier
    target = torch.tensor([0, 1] * 32)
    out = get_explainer("transformer_relevance", model).attribute(batch, target=target)
    embeds = classifier.get_input_embeddings()(batch["input_ids"]).detach().requires_grad_()
    with eager_attention(classifier):
        outputs = classifier(inputs_embeds=embeds, attention_mask=batch["attention_mask"], output_attentions=True)
    gradients = torch.autograd.grad(outputs.logits.gather(1, target[:, None]).sum(), outputs.attentions)
    row = attention_rollout(outputs.attentions, gradients)[:, 0]
    assert torch.allclose(out.attributions, row * out.feature_mask, atol=1e-6)
    alone = get_explainer("transformer_relevance", model).attribute(
        {key: value[:1, : int(batch["attention_mask"][0].sum())] for key, value in batch.items()}, target=target[:1]
    )
    assert torch.allclose(alone.attributions[0], out.attributions[0, : alone.attributions.shape[1]], atol=1e-5)


def test_transformer_relevance_finds_planted_evidence(text, vit):
    model, batch, positions = text
    maps = get_explainer("transformer_relevance", model).attribute(batch).attributions
    assert (maps.argmax(1) == positions).float().mean() >= 0.9  # measured 1.0
    model, pixels, labels, evidence = vit
    explainer = get_explainer("transformer_relevance", model)
    out = explainer.attribute({"pixel_values": pixels})
    assert (out.target == labels).float().mean() > 0.9
    # measured: 0.36 of the mass on the square (1/16 of the image), maximum on it for 66 % of images
    assert _evidence_share(out.attributions, evidence).mean() > 0.25
    assert _top_hits(out.attributions, evidence).mean() >= 0.5
    other = explainer.attribute({"pixel_values": pixels}, target=(labels + 1) % 3)
    assert not torch.allclose(other.attributions, out.attributions)


def test_transformer_relevance_refuses_other_architectures():
    for classifier in (tiny_image_classifier("resnet"), tiny_image_classifier("convnext")):
        model = _untrained(classifier)
        assert "transformer_relevance" not in supported_explainers(model)
        with pytest.raises(UnsupportedClassifierError, match="ViTForImageClassification"):
            get_explainer("transformer_relevance", model)


def test_eager_model_stays_eager():
    classifier = tiny_image_classifier("vit")
    classifier.set_attn_implementation("eager")
    model = _untrained(classifier)
    TransformerRelevance(model).attribute({"pixel_values": torch.randn(1, 3, 16, 16)})
    assert model.classifier.config._attn_implementation == "eager"


# ---------------------------------------------------------------------------------------------------- shared
@pytest.mark.parametrize("name", ["agf", "transformer_relevance"])
def test_bad_inputs_and_targets_are_refused(name):
    """Typed errors before the classifier runs, never a failure inside the relevance pass."""
    model = _untrained(tiny_image_classifier("resnet" if name == "agf" else "vit"))
    explainer = get_explainer(name, model)
    with pytest.raises(InvalidInputError, match="Empty batch"):
        explainer.attribute({"pixel_values": torch.zeros(0, 3, 16, 16)})
    with pytest.raises(InvalidInputError, match="NaN or Inf"):
        explainer.attribute({"pixel_values": torch.full((2, 3, 16, 16), float("nan"))})
    with pytest.raises(InvalidInputError, match="out of range"):
        explainer.attribute({"pixel_values": torch.randn(2, 3, 16, 16)}, target=3)
    with pytest.raises(InvalidInputError, match="shape"):
        explainer.attribute({"pixel_values": torch.randn(2, 3, 16, 16)}, target=torch.tensor([0, 1, 2]))


@pytest.mark.parametrize("name", ["agf", "transformer_relevance"])
def test_per_sample_targets_in_one_batch_and_inside_class_distribution(name, resnet, vit):
    """A batch with one target per sample gives each sample the map it gets alone (what ClassDistribution's one
    batched call over the class set relies on); the wrapper then keeps at most the target's own attribution."""
    model, pixels, labels, _ = resnet if name == "agf" else vit
    base = get_explainer(name, model)
    pixels, labels = pixels[:4], labels[:4]
    others = (labels + 1) % 3
    both = base.attribute({"pixel_values": torch.cat([pixels, pixels])}, target=torch.cat([labels, others]))
    for half, target in ((both.attributions[:4], labels), (both.attributions[4:], others)):
        alone = base.attribute({"pixel_values": pixels}, target=target).attributions
        assert torch.allclose(half, alone, rtol=1e-4, atol=1e-6 * alone.abs().max())
    out = ClassDistribution(base, k=2).attribute({"pixel_values": pixels}, target=labels)
    plain = base.attribute({"pixel_values": pixels}, target=labels).attributions
    assert out.attributions.shape == plain.shape and torch.isfinite(out.attributions).all()
    assert (out.attributions.abs() <= plain.abs() + 1e-9).all()  # A_t · P_t · 1[P_t - 1/K > tau], P_t <= 1


def test_benchmark_runs_the_supported_relevance_method_and_extra_explainers(resnet):
    """Default methods of a ResNet include agf (not transformer_relevance); a caller-built wrapper is measured too."""
    from datasets import Dataset

    from hf_ssxai import run_benchmark

    model, pixels, labels, _ = resnet
    dataset = Dataset.from_dict({"pixel_values": pixels[:8].numpy(), "label": labels[:8].numpy()})
    assert "agf" in supported_explainers(model) and "transformer_relevance" not in supported_explainers(model)
    wrapped = ClassDistribution(get_explainer("agf", model), k=1)
    result = run_benchmark(model, dataset, methods=("agf",), extra_explainers={"cd(agf)": wrapped}, batch_size=4)
    assert result.methods == ["agf", "cd(agf)"]
    assert {name: cost["forwards_per_sample"] for name, cost in result.cost.items()} == {"agf": 1.0, "cd(agf)": 4.0}
    assert all(len(values) == 8 for values in result.values["agf"].values())
