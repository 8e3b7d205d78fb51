"""The levers of the quality work: order terms, confidence floor, head normalization, the thesis' image decoder."""

import math

import pytest
import torch
from huggingface_hub.errors import StrictDataclassError

from hf_ssxai import AutoModelWithScorer, ScorerConfig
from hf_ssxai.errors import InvalidInputError
from hf_ssxai.losses.loss import sharpening_factor
from hf_ssxai.losses.ranking_loss import class_log_probabilities, ranking_losses, top_fraction_masks
from hf_ssxai.scorers.head import MaskedNorm
from tests.helpers import tiny_image_classifier


def test_top_fraction_masks_keep_the_top_valid_features_and_pass_the_gradient_straight_through():
    scores = torch.tensor([[0.9, 0.1, 0.5, 0.7, 0.3, 0.0], [0.2, 0.8, 0.4, 0.0, 0.0, 0.6]], requires_grad=True)
    valid = torch.tensor([[True, True, True, True, True, False], [True, True, True, True, False, True]])
    masks = top_fraction_masks(scores, valid, torch.tensor([0.4, 0.6]))
    # 40 % of 5 valid features = 2 (0.9, 0.7); 60 % of 5 = 3 (0.8, 0.6, 0.4)
    assert masks.tolist() == [[1, 0, 0, 1, 0, 0], [0, 1, 1, 0, 0, 1]]
    (masks * torch.arange(6.0)).sum().backward()
    assert torch.equal(scores.grad, torch.arange(6.0).expand(2, 6)), "d mask / d score must be 1 (straight through)"


def test_top_fraction_masks_always_keep_one_and_remove_one_feature():
    scores = torch.rand(3, 10)
    valid = torch.ones(3, 10, dtype=torch.bool)
    kept = top_fraction_masks(scores, valid, torch.tensor([0.0, 0.01, 1.0])).sum(dim=1)
    assert kept.tolist() == [1, 1, 9]


def test_class_log_probabilities_match_softmax():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 30.0, -5.0]])
    classes = torch.tensor([0, 1])
    log_c, log_not_c = class_log_probabilities(logits, classes)
    p = logits.softmax(-1)[torch.arange(2), classes]
    assert torch.allclose(log_c.exp(), p)
    assert torch.allclose(log_not_c.exp(), 1 - p, atol=1e-12)
    assert torch.isfinite(log_not_c).all(), "a confident class must not give log(0)"


def test_ranking_losses_reward_maps_that_rank_the_evidence_first():
    """A linear 'classifier' that reads only feature 0: the map that ranks feature 0 first loses the class when its
    top is removed (low deletion term) and keeps it when only its top is kept (low insertion term)."""
    weights = torch.tensor([8.0, 0.0, 0.0, 0.0])

    def logits_of(keep):
        evidence = (keep * weights).sum(dim=1)
        return torch.stack([evidence - 4.0, -evidence + 4.0], dim=1)

    valid = torch.ones(64, 4, dtype=torch.bool)
    classes = torch.zeros(64, dtype=torch.long)
    good = torch.tensor([1.0, 0.2, 0.1, 0.0]).expand(64, 4)
    bad = torch.tensor([0.0, 0.2, 0.1, 1.0]).expand(64, 4)
    kwargs = {"deletion_weight": 1.0, "insertion_weight": 1.0}
    _, deletion_good, insertion_good = ranking_losses(logits_of, good, valid, classes, **kwargs)
    _, deletion_bad, insertion_bad = ranking_losses(logits_of, bad, valid, classes, **kwargs)
    assert deletion_good.mean() < 0.1 < deletion_bad.mean()
    assert insertion_good.mean() < 0.1 < insertion_bad.mean()


def test_sharpening_lifts_under_confident_samples_to_the_floor_and_leaves_confident_ones():
    logits = torch.tensor([[0.1, -0.1], [5.0, -5.0]])
    factor = sharpening_factor(logits, 0.9)
    sharpened = (logits * factor).softmax(-1).amax(-1)
    assert sharpened[0].item() == pytest.approx(0.9, abs=1e-4)
    assert factor[1].item() == 1.0, "a sample above the floor keeps its logits"
    assert sharpening_factor(logits, 0.0) is None
    assert (logits * factor).argmax(-1).tolist() == logits.argmax(-1).tolist(), "no prediction may change"
    tie = sharpening_factor(torch.zeros(1, 2), 0.9)
    assert math.isfinite(tie.item()), "a tie must not give an infinite factor"


def test_masked_norm_ignores_invalid_features():
    values = torch.tensor([[1.0, 3.0, 100.0], [2.0, 4.0, 6.0]])
    valid = torch.tensor([[True, True, False], [True, True, True]])
    layer = MaskedNorm(per_sample=True)
    out = layer(values, valid)
    assert torch.allclose(out[0, :2], torch.tensor([-1.0, 1.0]), atol=1e-4), "100 is padding: not in the statistics"
    batch = MaskedNorm(per_sample=False).train()
    batch(values, valid)
    assert batch.running_mean.item() == pytest.approx(0.1 * 16 / 5), "the mean of the 5 valid values, momentum 0.1"


def test_batch_norm_head_uses_running_statistics_at_inference():
    values = torch.randn(4, 5) * 3 + 2
    valid = torch.ones(4, 5, dtype=torch.bool)
    norm = MaskedNorm(per_sample=False).eval()
    # at inference each sample's output does not depend on the rest of the batch
    assert torch.equal(norm(values, valid)[:1], norm(values[:1], valid[:1]))


@pytest.mark.parametrize("family", ["vit", "resnet"])
def test_unet_decoder_without_pixel_skip_reads_the_classifier_only(family):
    torch.manual_seed(0)
    classifier = tiny_image_classifier(family, image_size=16).eval()
    model = AutoModelWithScorer.from_classifier(classifier, ScorerConfig.thesis("image", hidden_size=16)).eval()
    if family == "vit":  # several ViT layers as skips (the last included)
        assert model.scorer_config.hidden_state_layers == [1, 2]
    pixels = torch.randn(2, 3, 16, 16)
    features = model.modality.scorer_features(
        model.classifier(pixel_values=pixels, output_hidden_states=True).hidden_states,
        model.scorer_config.hidden_state_layers,
        {"pixel_values": pixels},
        model.classifier,
    )
    mask = torch.ones(2, 16, 16, dtype=torch.bool)
    scores = model.scorer(features, mask, {"pixel_values": pixels})
    assert scores.shape == (2, 16, 16) and scores.min() >= 0 and scores.max() <= 1
    other_pixels = model.scorer(features, mask, {"pixel_values": torch.randn(2, 3, 16, 16)})
    assert torch.equal(scores, other_pixels), "without the pixel skip the map depends on the hidden states alone"
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in model.scorer.modules())


def test_thesis_preset_names_the_thesis_choices():
    text, image = ScorerConfig.thesis("text"), ScorerConfig.thesis("image")
    assert text.head_normalization == "layer" and image.head_normalization == "batch"
    assert image.image_decoder == "unet" and image.pixel_skip is False
    assert ScorerConfig.thesis("image", hidden_size=8).hidden_size == 8
    with pytest.raises((ValueError, InvalidInputError), match="modality"):
        ScorerConfig.thesis("audio")


@pytest.mark.parametrize(
    ("field", "value"),
    [("head_normalization", "group"), ("image_decoder", "fpn"), ("deletion_weight", -1.0), ("confidence_floor", 1.0)],
)
def test_bad_lever_values_are_refused(field, value):
    with pytest.raises((StrictDataclassError, InvalidInputError), match=field):
        ScorerConfig(**{field: value})
