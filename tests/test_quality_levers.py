"""The levers of the quality work: order terms, confidence floor, head normalization, the thesis' image decoder."""

import json
import math

import pytest
import torch
from huggingface_hub.errors import StrictDataclassError

from hf_ssxai import AutoModelWithScorer, ScorerConfig
from hf_ssxai.errors import InvalidInputError
from hf_ssxai.losses.loss import sharpening_factor
from hf_ssxai.losses.ranking_loss import ranking_losses, top_fraction_masks
from hf_ssxai.scorers.head import MaskedNorm
from tests.helpers import tiny_image_classifier, tiny_text_classifier


def test_top_fraction_masks_keep_the_top_valid_features_and_pass_an_order_only_gradient():
    scores = torch.tensor([[0.9, 0.1, 0.5, 0.7, 0.3, 0.0], [0.2, 0.8, 0.4, 0.0, 0.0, 0.6]], requires_grad=True)
    valid = torch.tensor([[True, True, True, True, True, False], [True, True, True, True, False, True]])
    masks = top_fraction_masks(scores, valid, torch.tensor([0.4, 0.6]))
    # 40 % of 5 valid features = 2 (0.9, 0.7); 60 % of 5 = 3 (0.8, 0.6, 0.4)
    assert masks.tolist() == [[1, 0, 0, 1, 0, 0], [0, 1, 1, 0, 0, 1]]
    (masks * torch.arange(6.0)).sum().backward()
    # straight through, centred over the valid features: the map's mean gets no gradient, invalid features none
    expected = torch.tensor([[0.0, 1, 2, 3, 4, 0], [0, 1, 2, 3, 0, 5]])
    expected = (expected - expected.sum(1, keepdim=True) / 5) * valid
    assert torch.allclose(scores.grad, expected)
    assert torch.allclose(scores.grad.sum(dim=1), torch.zeros(2), atol=1e-6)


def test_top_fraction_masks_always_keep_one_and_remove_one_feature():
    scores = torch.rand(3, 10)
    valid = torch.ones(3, 10, dtype=torch.bool)
    kept = top_fraction_masks(scores, valid, torch.tensor([0.0, 0.01, 1.0])).sum(dim=1)
    assert kept.tolist() == [1, 1, 9]


def test_deletion_term_is_the_deletion_curve_probability_so_flips_below_chance_earn_nothing_extra():
    """The deletion term is p_c of the input with the top q removed: its expectation over q is the deletion AUC.
    A map that pushes p_c from chance (0.5) to 0 gains at most 0.5 per sample, never the unbounded reward of the
    old log form (docs/training.md: that reward raised decoy features level with the evidence)."""
    valid = torch.ones(1, 4, dtype=torch.bool)
    scores = torch.tensor([[1.0, 0.6, 0.3, 0.0]])
    for logits, p_c in ((torch.tensor([[0.0, 0.0]]), 0.5), (torch.tensor([[-30.0, 30.0]]), 0.0)):
        _, deletion, insertion = ranking_losses(
            lambda keep, logits=logits: logits, scores, valid, torch.zeros(1, dtype=torch.long),
            deletion_weight=1.0, insertion_weight=1.0,
        )  # fmt: skip
        assert deletion.item() == pytest.approx(p_c, abs=1e-6)
        assert insertion.item() == pytest.approx(1 - p_c, abs=1e-6)


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


def test_contrast_term_penalizes_a_map_that_works_for_every_input():
    """Sample i's evidence is feature i % 4. A map of one fixed shape removes the evidence of *other* samples when
    its top is removed from them (a high contrast term); image-specific maps, ranking their own evidence first and
    the next sample's last, do not. The gradient reaches the other sample's map, the one the term judges."""

    def logits_of(keep):
        evidence = keep[torch.arange(64), torch.arange(64) % 4] * 8.0
        return torch.stack([evidence - 4.0, -evidence + 4.0], dim=1)

    valid = torch.ones(64, 4, dtype=torch.bool)
    classes = torch.zeros(64, dtype=torch.long)
    shared = torch.tensor([1.0, 0.9, 0.8, 0.7]).expand(64, 4).clone().requires_grad_()
    specific = torch.full((64, 4), 0.5)
    specific[torch.arange(64), torch.arange(64) % 4] = 1.0
    specific[torch.arange(64), (torch.arange(64) + 1) % 4] = 0.0
    kwargs = {"deletion_weight": 0.0, "insertion_weight": 0.0, "contrast_weight": 1.0}
    torch.manual_seed(0)
    contrast_shared, _, _ = ranking_losses(logits_of, shared, valid, classes, **kwargs)
    contrast_specific, _, _ = ranking_losses(logits_of, specific, valid, classes, **kwargs)
    assert contrast_shared.mean() > 0.3 and contrast_specific.mean() < 0.05
    contrast_shared[1].backward()
    assert shared.grad[0].abs().sum() > 0 and shared.grad[2:].abs().sum() == 0, "sample 1 judges sample 0's map"
    alone, _, _ = ranking_losses(logits_of, shared[:1], valid[:1], classes[:1], **kwargs)
    assert alone.item() == 0.0, "a batch of one has no other map"


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


def classifier_features(model: AutoModelWithScorer, pixels: torch.Tensor) -> list[torch.Tensor]:
    """What the image scorer reads of the classifier for ``pixels`` (its chosen hidden states)."""
    hidden_states = model.classifier(pixel_values=pixels, output_hidden_states=True).hidden_states
    return model.modality.scorer_features(
        hidden_states, model.scorer_config.hidden_state_layers, {"pixel_values": pixels}, model.classifier
    )


@pytest.mark.parametrize("family", ["vit", "resnet"])
def test_unet_decoder_without_pixel_skip_reads_the_classifier_only(family):
    torch.manual_seed(0)
    classifier = tiny_image_classifier(family, image_size=16).eval()
    model = AutoModelWithScorer.from_classifier(classifier, ScorerConfig.thesis("image", hidden_size=16)).eval()
    if family == "vit":  # several ViT layers as skips (the last included)
        assert model.scorer_config.hidden_state_layers == [1, 2]
    pixels = torch.randn(2, 3, 16, 16)
    features = classifier_features(model, pixels)
    mask = torch.ones(2, 16, 16, dtype=torch.bool)
    scores = model.scorer(features, mask, {"pixel_values": pixels})
    assert scores.shape == (2, 16, 16) and scores.min() >= 0 and scores.max() <= 1
    other_pixels = model.scorer(features, mask, {"pixel_values": torch.randn(2, 3, 16, 16)})
    assert torch.equal(scores, other_pixels), "without the pixel skip the map depends on the hidden states alone"
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in model.scorer.modules())


@pytest.mark.parametrize("family", ["vit", "resnet"])
def test_gated_pixel_skip_moves_each_logit_within_a_bounded_term(family):
    """The gated skip may reorder what the classifier's path marks alike, never draw a map of its own: with the
    hidden states fixed, other pixels move the pre-head logits, but each only within a term in [-1, 1] (tanh times a
    gate in [0, 1]), so two images differ there by at most 2."""
    torch.manual_seed(0)
    classifier = tiny_image_classifier(family, image_size=16).eval()
    config = ScorerConfig(hidden_size=16, pixel_skip="gated")
    model = AutoModelWithScorer.from_classifier(classifier, config).eval()
    with torch.no_grad():  # weights far from their small start, as training may leave them
        for parameter in model.scorer.parameters():
            parameter.normal_(0, 1)
    pixels = torch.randn(2, 3, 16, 16)
    features = classifier_features(model, pixels)
    mask = torch.ones(2, 16, 16, dtype=torch.bool)
    logits = []
    model.scorer.head.register_forward_hook(lambda module, args, output: logits.append(args[0]))
    with torch.no_grad():
        for seen in (pixels, torch.randn(2, 3, 16, 16) * 10):
            model.scorer(features, mask, {"pixel_values": seen})
    moved = (logits[0] - logits[1]).abs()
    assert moved.max() > 1e-4, "the pixels reach the map"
    assert moved.max() <= 2.0 + 1e-6, f"the pixels moved a logit by {moved.max():.3f}"


def test_a_gated_scorer_reloads_to_the_same_maps(tmp_path):
    torch.manual_seed(0)
    classifier = tiny_image_classifier("vit", image_size=16).eval()
    model = AutoModelWithScorer.from_classifier(classifier, ScorerConfig(hidden_size=16, pixel_skip="gated")).eval()
    model.save_pretrained(tmp_path)
    reloaded = AutoModelWithScorer.from_pretrained(tmp_path).eval()
    pixels = torch.randn(2, 3, 16, 16)
    assert reloaded.scorer_config.pixel_skip == "gated"
    assert torch.equal(model(pixel_values=pixels).attributions, reloaded(pixel_values=pixels).attributions)


def test_thesis_preset_names_the_thesis_choices():
    text, image = ScorerConfig.thesis("text"), ScorerConfig.thesis("image")
    assert text.head_normalization == "layer" and image.head_normalization == "batch"
    assert image.image_decoder == "unet" and image.pixel_skip is False
    assert ScorerConfig.thesis("image", hidden_size=8).hidden_size == 8
    with pytest.raises((ValueError, InvalidInputError), match="modality"):
        ScorerConfig.thesis("audio")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("head_normalization", "group"),
        ("image_decoder", "fpn"),
        ("pixel_skip", "soft"),
        ("deletion_weight", -1.0),
        ("contrast_weight", -1.0),
        ("confidence_floor", 1.0),
    ],
)
def test_bad_lever_values_are_refused(field, value):
    with pytest.raises((StrictDataclassError, InvalidInputError), match=field):
        ScorerConfig(**{field: value})


def test_confidence_floor_restores_the_task_signal_of_an_under_confident_classifier(planted_text):
    """Scaling a classifier's head by 0.01 keeps every prediction but flattens its probabilities to ~0.5: the task
    loss then barely differs between a map that keeps the evidence and one that removes it, so nothing in the loss
    resists the penalties. With the floor the loss sees the logits sharpened back, and that difference is large
    again."""
    from hf_ssxai.data.synthetic import as_batch
    from hf_ssxai.losses import task_losses

    model, test = planted_text
    batch = as_batch(test.select(range(32)), ("input_ids", "attention_mask", "label"))
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    with torch.no_grad():
        out = model(**inputs)
    keeps, removes = out.attributions, 1 - out.attributions  # the trained map holds the planted token
    head = model.classifier.classifier

    def signal(scale: float, floor: float) -> float:
        """Mean task-loss difference between removing and keeping the evidence."""
        original = {name: tensor.clone() for name, tensor in head.state_dict().items()}
        with torch.no_grad():
            head.weight.mul_(scale), head.bias.mul_(scale)
            try:
                full = model.classifier(**inputs).logits
                logits = [
                    model.modality.masked_logits(model.classifier, inputs, m, out.feature_mask)
                    for m in (keeps, removes)
                ]
            finally:  # restored bit for bit: the fixture is shared and its scorer checks the classifier's fingerprint
                head.load_state_dict(original)
        factor = sharpening_factor(full, floor)
        if factor is not None:
            full, logits = full * factor, [masked * factor for masked in logits]
        kept, removed = (task_losses(masked, full, batch["label"], "label") for masked in logits)
        return (removed - kept).mean().item()

    confident, flat, floored = signal(1.0, 0.0), signal(0.01, 0.0), signal(0.01, 0.9)
    # removing the planted token takes the (masking-augmented) classifier to about p = 0.5: CE 0.03 -> 0.69
    assert confident > 0.5, f"removing the planted token must cost the prediction ({confident:.3f})"
    assert flat < 0.05, f"flattened, the classifier's loss barely moves ({flat:.3f})"
    assert floored > 0.5, f"the floor must restore the task signal ({floored:.3f}; confident: {confident:.3f})"


def _tiny_text_setup(tmp_path, scale):
    from transformers import DataCollatorWithPadding

    from hf_ssxai.data.synthetic import build_word_tokenizer, planted_text_dataset
    from tests.helpers import tiny_text_classifier

    torch.manual_seed(0)
    tokenizer = build_word_tokenizer()
    classifier = tiny_text_classifier("bert", len(tokenizer)).eval()
    with torch.no_grad():  # untrained: predictions near 0.5 whatever the input, then flatter still
        classifier.classifier.weight.mul_(scale), classifier.classifier.bias.mul_(scale)
    data = planted_text_dataset(tokenizer, 64, seed=0).select_columns(["input_ids", "attention_mask", "label"])
    return classifier, tokenizer, data, DataCollatorWithPadding(tokenizer)


@pytest.mark.parametrize(("floor", "warned"), [(0.0, True), (0.9, False)])
def test_trainer_warns_about_an_under_confident_classifier_without_the_floor(tmp_path, caplog, floor, warned):
    from hf_ssxai import ScorerTrainer
    from tests.helpers import training_args

    classifier, tokenizer, data, collator = _tiny_text_setup(tmp_path, 0.01)
    config = ScorerConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, confidence_floor=floor)
    model = AutoModelWithScorer.from_classifier(classifier, config, processor=tokenizer)
    args = training_args(tmp_path, max_steps=2, logging_steps=1)
    with caplog.at_level("WARNING", logger="hf_ssxai.training.trainer"):
        ScorerTrainer(model=model, args=args, train_dataset=data, data_collator=collator).train()
    messages = [r.getMessage() for r in caplog.records if "under-confident" in r.getMessage()]
    assert bool(messages) is warned
    if warned:
        assert "confidence_floor=0.9" in messages[0] and len(messages) == 1, "once, naming the remedy"


def test_trainer_warns_when_the_maps_collapse(tmp_path, caplog):
    """A scorer whose logits are spread far apart gives one-hot maps (the top is kept alive at +1, the rest fall
    below 0 and die in the ReLU): no gradient reaches it, and the trainer says so instead of training on silently."""
    from hf_ssxai import ScorerTrainer
    from tests.helpers import training_args

    classifier, tokenizer, data, collator = _tiny_text_setup(tmp_path, 1.0)
    config = ScorerConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
    model = AutoModelWithScorer.from_classifier(classifier, config, processor=tokenizer)
    with torch.no_grad():
        model.scorer.to_logit.weight.normal_(std=1e4)
        model.scorer.to_logit.bias.fill_(-1e6)
    args = training_args(tmp_path, max_steps=2, logging_steps=1)
    with caplog.at_level("WARNING", logger="hf_ssxai.training.trainer"):
        ScorerTrainer(model=model, args=args, train_dataset=data, data_collator=collator).train()
    messages = [r.getMessage() for r in caplog.records if "collapsed" in r.getMessage()]
    assert len(messages) == 1 and "100% of the maps" in messages[0], messages


def test_each_modality_fills_the_defaults_a_config_leaves_open_and_keeps_what_it_sets():
    torch.manual_seed(0)
    image = AutoModelWithScorer.from_classifier(tiny_image_classifier("resnet"), ScorerConfig(hidden_size=16))
    config = image.scorer_config
    assert (config.image_decoder, config.pixel_skip, config.deletion_weight) == ("unet", False, 3.0)
    assert config.contrast_weight == 0.0 and config.use_binary_penalty is True, "the contrast term is opt-in"
    assert image.scorer.pixel_skip is None and any(
        isinstance(m, torch.nn.ConvTranspose2d) for m in image.scorer.modules()
    )
    text = AutoModelWithScorer.from_classifier(
        tiny_text_classifier("bert", vocab_size=50), ScorerConfig(hidden_size=16)
    )
    assert text.scorer_config.deletion_weight == text.scorer_config.contrast_weight == 0.0, "text: no order term"
    assert text.scorer_config.use_binary_penalty is False, "graded text maps: clearer on SST-2 (docs/training.md)"
    assert ScorerConfig.thesis("text").use_binary_penalty is True, "the thesis preset keeps eq. 3.4 whole"
    binary = ScorerConfig(hidden_size=16, use_binary_penalty=True)
    kept_binary = AutoModelWithScorer.from_classifier(tiny_text_classifier("bert", 50), binary).scorer_config
    assert kept_binary.use_binary_penalty is True
    chosen = ScorerConfig(hidden_size=16, image_decoder="bilinear", pixel_skip=True, deletion_weight=0.0)
    kept = AutoModelWithScorer.from_classifier(tiny_image_classifier("resnet"), chosen).scorer_config
    assert (kept.image_decoder, kept.pixel_skip, kept.deletion_weight) == ("bilinear", True, 0.0)
    assert chosen.image_decoder == "bilinear", "from_classifier works on a copy"


def test_a_scorer_saved_before_the_per_modality_fields_existed_reloads_as_it_was_built(tmp_path):
    """Configs written before image_decoder, pixel_skip, deletion_weight and contrast_weight existed were built with
    what is now the fallback (bilinear, pixel skip, no order term); they must reload to the same network and loss,
    not the new defaults."""
    torch.manual_seed(0)
    legacy = ScorerConfig(
        hidden_size=16, image_decoder="bilinear", pixel_skip=True, deletion_weight=0.0, contrast_weight=0.0
    )
    model = AutoModelWithScorer.from_classifier(tiny_image_classifier("vit"), legacy).eval()
    model.save_pretrained(tmp_path)
    config_file = tmp_path / "scorer" / "config.json"
    saved = json.loads(config_file.read_text())
    for name in ("image_decoder", "pixel_skip", "deletion_weight", "contrast_weight"):
        del saved[name]
    config_file.write_text(json.dumps(saved))
    reloaded = AutoModelWithScorer.from_pretrained(tmp_path).eval()
    assert (reloaded.scorer_config.image_decoder, reloaded.scorer_config.pixel_skip) == ("bilinear", True)
    assert reloaded.scorer_config.contrast_weight == 0.0
    pixels = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(pixel_values=pixels).attributions, reloaded(pixel_values=pixels).attributions)
