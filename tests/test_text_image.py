"""AutoModelWithScorer on a text-image fusion classifier: two maps from one forward, fusion conditioning,
masking of each modality, checkpoints and bad input."""

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from hf_ssxai import AutoModelWithScorer, InvalidInputError, ScorerConfig, ScorerTrainer
from hf_ssxai.fusion import FusionForSequenceClassification, FusionProcessor
from hf_ssxai.modalities import TextImageModality, infer_modality
from tests.helpers import training_args
from tests.multimodal_helpers import random_images, tiny_fusion_classifier, tiny_fusion_processor

SMALL = ScorerConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
CAPTIONS = ["the movie was great", "a film with a plot"]


@pytest.fixture
def processor(word_tokenizer):
    return tiny_fusion_processor(word_tokenizer)


@pytest.fixture(params=["vit", "resnet"])
def model(request, word_tokenizer, processor):
    torch.manual_seed(0)
    classifier = tiny_fusion_classifier(len(word_tokenizer), vision=request.param)
    return AutoModelWithScorer.from_classifier(classifier, SMALL, processor=processor).eval()


@pytest.fixture
def batch(processor):
    return processor(text=CAPTIONS, images=random_images(2))


def test_attaching_infers_the_modality_and_fills_one_entry_per_modality(model, word_tokenizer):
    config = model.scorer_config
    assert infer_modality(model.classifier) == "text-image" and config.modality == "text-image"
    assert set(config.hidden_state_layers) == set(config.classifier_hidden_sizes) == {"text", "image"}
    # each scorer reads its encoder's states and, last, the fusion layers' output (width 32)
    assert config.classifier_hidden_sizes["text"] == [32, 32]
    assert config.classifier_hidden_sizes["image"][-1] == 32
    assert config.special_token_ids == sorted(word_tokenizer.all_special_ids)
    assert config.input_channels == 3


def test_one_forward_gives_both_maps_and_the_classifiers_own_prediction(model, batch):
    with torch.no_grad():
        out = model(**batch)
        plain = model.classifier(**batch).logits
    assert torch.equal(out.logits, plain)
    assert set(out.attributions) == set(out.feature_mask) == {"text", "image"}
    assert out.attributions["text"].shape == batch["input_ids"].shape
    assert out.attributions["image"].shape == (2, 16, 16)
    for name, scores in out.attributions.items():
        mask = out.feature_mask[name]
        assert scores.min() >= 0 and scores.max() <= 1
        assert (scores[~mask] == 0).all()
    # [CLS], [SEP] and padding are not features
    text_mask = out.feature_mask["text"]
    assert not text_mask[:, 0].any()
    assert text_mask.sum(1).tolist() == [4, 5]


def test_the_fusion_output_conditions_both_maps(model, processor, batch):
    """The text encoder never sees the image (nor the vision encoder the text): a text map that changes with the
    image, and an image map that changes with the caption, can only come through the fusion conditioning."""
    other_images = processor(text=CAPTIONS, images=random_images(2, seed=1))
    other_captions = processor(text=["awful acting and a boring story", "the cast"], images=random_images(2))
    with torch.no_grad():
        out = model(**batch)
        with_other_images = model(**other_images)
        with_other_captions = model(**other_captions)
        text_states = model.classifier.fusion.text_model(input_ids=batch["input_ids"]).last_hidden_state
        assert torch.equal(
            model.classifier.fusion.text_model(input_ids=other_images["input_ids"]).last_hidden_state, text_states
        )
    assert not torch.allclose(out.attributions["text"], with_other_images.attributions["text"])
    assert not torch.allclose(out.attributions["image"], with_other_captions.attributions["image"])


def test_scorers_read_the_fusion_features(model, batch):
    """Replacing only the fused tokens (the last feature of each modality) changes each map."""
    modality, config = model.modality, model.scorer_config
    with torch.no_grad():
        outputs = model.classifier(**batch, output_hidden_states=True)
        features = modality.scorer_features(
            modality.hidden_states(outputs), config.hidden_state_layers, batch, model.classifier
        )
        mask = modality.feature_mask(batch, config)
        scores = model.scorer(features, mask, batch)
        for name in ("text", "image"):
            changed = {key: list(value) for key, value in features.items()}
            changed[name][-1] = torch.randn_like(changed[name][-1])
            assert not torch.allclose(model.scorer(changed, mask, batch)[name], scores[name])


def test_masking_with_unit_scores_reproduces_the_plain_forward_in_every_variant(model, batch):
    modality, classifier = model.modality, model.classifier
    mask = modality.feature_mask(batch, model.scorer_config)
    ones = {name: torch.ones(m.shape) for name, m in mask.items()}
    with torch.no_grad():
        plain = classifier(**batch).logits
        masked = modality.masked_logits(classifier, dict(batch), ones, mask)
        assert set(masked) == {"all", "text", "image"}
        for logits in masked.values():
            assert torch.allclose(logits, plain, atol=1e-5)
        # zero text scores change the text-masked and the all-masked logits, not the image-masked ones
        zeros = {"text": torch.zeros(mask["text"].shape), "image": torch.ones(mask["image"].shape)}
        text_off = modality.masked_logits(classifier, dict(batch), zeros, mask)
    assert torch.allclose(text_off["image"], plain, atol=1e-5)
    assert torch.allclose(text_off["all"], text_off["text"], atol=1e-5)
    assert not torch.allclose(text_off["text"], plain, atol=1e-4)


def test_the_loss_is_the_joint_loss_and_trains_both_scorers(model, batch):
    out = model(**batch, labels=torch.tensor([1, 0]))
    assert set(out.loss_terms.modality_terms) == {"text", "image"}
    assert set(out.masked_logits) == {"all", "text", "image"}
    out.loss.backward()
    for part in (model.scorer.text, model.scorer.image):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())
    assert all(p.grad is None for p in model.classifier.parameters())


def test_checkpoint_round_trip_gives_identical_maps(model, batch, tmp_path):
    model.save_pretrained(tmp_path)
    loaded = AutoModelWithScorer.from_pretrained(tmp_path)
    assert isinstance(loaded.modality, TextImageModality)
    assert isinstance(loaded.processor, FusionProcessor)
    assert isinstance(AutoModelForSequenceClassification.from_pretrained(tmp_path), FusionForSequenceClassification)
    with torch.no_grad():
        a, b = model(**batch), loaded(**batch)
    for name in ("text", "image"):
        assert torch.equal(a.attributions[name], b.attributions[name])


@pytest.mark.parametrize("model", ["vit"], indirect=True)
def test_scorer_trainer_trains_and_evaluates_a_text_image_model(model, processor, tmp_path):
    from datasets import Dataset

    encoded = processor(text=CAPTIONS * 4, images=random_images(8), padding="max_length", max_length=8)
    data = Dataset.from_dict({**{k: v.tolist() for k, v in encoded.items()}, "label": [0, 1] * 4})
    args = training_args(tmp_path, max_steps=2, per_device_train_batch_size=4, per_device_eval_batch_size=4)
    trainer = ScorerTrainer(model=model, args=args, train_dataset=data, eval_dataset=data)
    trainer.train()
    metrics = trainer.evaluate()
    assert 0 <= metrics["eval_masked_agreement"] <= 1
    assert "eval_gamma" in metrics


# ---------------------------------------------------------------- bad input


def test_a_text_only_or_image_only_batch_is_refused_by_name(model, batch):
    with pytest.raises(InvalidInputError, match="a text-only batch"):
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    with pytest.raises(InvalidInputError, match="an image-only batch"):
        model(pixel_values=batch["pixel_values"])


def test_mismatched_batch_sizes_are_refused_by_name(model, batch):
    with pytest.raises(InvalidInputError, match=r"Mismatched batch sizes: 2 text\(s\).*1 image"):
        model(**{**batch, "pixel_values": batch["pixel_values"][:1]})


def test_each_modality_keeps_its_own_input_checks(model, batch):
    with pytest.raises(InvalidInputError, match="channels"):
        model(**{**batch, "pixel_values": batch["pixel_values"][:, :1]})
    with pytest.raises(InvalidInputError, match="outside the vocabulary"):
        model(**{**batch, "input_ids": batch["input_ids"] + 1000})


def test_a_plain_text_classifier_is_not_taken_for_a_fusion_classifier(word_tokenizer):
    from hf_ssxai import UnsupportedClassifierError
    from tests.helpers import tiny_text_classifier

    with pytest.raises(UnsupportedClassifierError, match="not a text-image fusion classifier"):
        AutoModelWithScorer.from_classifier(
            tiny_text_classifier("bert", len(word_tokenizer)), ScorerConfig(modality="text-image")
        )


@pytest.mark.parametrize("model", ["vit"], indirect=True)
def test_masking_augmentation_masks_both_parts_of_a_fusion_classifier(model, batch, word_tokenizer):
    from hf_ssxai.training import masking_augmentation

    classifier = model.classifier
    seen = {}
    embeddings = classifier.get_input_embeddings()
    vision = classifier.fusion.vision_model
    with masking_augmentation(classifier, probability=1.0, special_token_ids=word_tokenizer.all_special_ids, seed=0):
        # registered after the augmentation's hooks, so these see what the encoders receive
        handles = [
            embeddings.register_forward_hook(lambda m, a, out: seen.__setitem__("text", out.detach())),
            vision.register_forward_pre_hook(
                lambda m, a, kw: seen.__setitem__("image", kw["pixel_values"]), with_kwargs=True
            ),
        ]
        classifier.train()
        classifier(**batch)
        classifier.eval()
        trained = dict(seen)
        classifier(**batch)
        for handle in handles:
            handle.remove()
    mask = model.modality.feature_mask(batch, model.scorer_config)
    plain = embeddings(batch["input_ids"])
    assert (trained["text"][mask["text"]].abs().sum(-1) == 0).any()  # some valid tokens masked
    assert torch.equal(trained["text"][~mask["text"]], plain[~mask["text"]])  # special tokens and padding never
    assert (trained["image"] == 0).any() and not torch.equal(trained["image"], batch["pixel_values"])
    assert torch.equal(seen["image"], batch["pixel_values"])  # eval-mode forwards are untouched


def test_hidden_state_layers_are_chosen_per_modality(word_tokenizer, processor):
    classifier = tiny_fusion_classifier(len(word_tokenizer))
    config = ScorerConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
    config.hidden_state_layers = {"text": [-2, -1]}
    model = AutoModelWithScorer.from_classifier(classifier, config, processor=processor)
    assert model.scorer_config.hidden_state_layers == {"text": [-2, -1], "image": [2]}
    assert model.scorer_config.classifier_hidden_sizes["text"] == [32, 32, 32]
    config.hidden_state_layers = [-1]
    with pytest.raises(ValueError, match=r"hidden_state_layers as \{'text'"):
        AutoModelWithScorer.from_classifier(classifier, config, processor=processor)
