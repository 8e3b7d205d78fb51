"""AutoModelWithScorer behaviour and its errors: inputs, checkpoints, fingerprints."""

import json

import pytest
import torch
from torch import nn
from transformers import BertConfig, BertForSequenceClassification

from hf_ssxai import (
    AutoModelWithScorer,
    CheckpointError,
    FingerprintMismatchError,
    InvalidInputError,
    ScorerConfig,
    UnsafeCheckpointError,
    UnsupportedClassifierError,
)
from tests.helpers import tiny_image_classifier, tiny_text_classifier

SMALL = ScorerConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2)


@pytest.fixture
def text_model(word_tokenizer):
    torch.manual_seed(0)
    classifier = tiny_text_classifier("bert", len(word_tokenizer))
    return AutoModelWithScorer.from_classifier(classifier, SMALL, processor=word_tokenizer).eval()


@pytest.fixture
def text_batch(word_tokenizer):
    encoded = word_tokenizer(["the movie was great", "awful"], padding=True, return_tensors="pt")
    return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}


def test_unit_scores_reproduce_the_plain_forward(text_model, text_batch):
    """Masking with all ones must be the identity, so masked logits are comparable with the prediction."""
    modality, classifier = text_model.modality, text_model.classifier
    mask = modality.feature_mask(text_batch, text_model.scorer_config)
    maskable, kwargs = modality.split_inputs(classifier, text_batch)
    with torch.no_grad():
        ones = modality.apply_scores(maskable, torch.ones(mask.shape), mask)
        masked = modality.forward_from_maskable(classifier, ones, kwargs)
        assert torch.allclose(masked, classifier(**text_batch).logits, atol=1e-6)
        zeros = modality.apply_scores(maskable, torch.zeros(mask.shape), mask)
    # zero scores blank valid tokens only: [CLS], [SEP] and padding keep their embeddings
    assert torch.equal(zeros[~mask], maskable[~mask])
    assert (zeros[mask] == 0).all()


def test_special_tokens_mask_from_the_tokenizer_is_honoured(text_model, word_tokenizer):
    encoded = word_tokenizer(["the movie"], return_special_tokens_mask=True, return_tensors="pt")
    out = text_model(**encoded)
    assert out.feature_mask.tolist() == [[False, True, True, False]]


def test_image_scores_mask_pixels_to_the_normalized_zero():
    model = AutoModelWithScorer.from_classifier(tiny_image_classifier("vit"), SMALL)
    pixels = torch.randn(2, 3, 16, 16)
    scores = torch.zeros(2, 16, 16)
    scores[:, :4, :4] = 1
    masked = model.modality.apply_scores(pixels, scores, torch.ones(2, 16, 16, dtype=torch.bool))
    assert torch.equal(masked[:, :, :4, :4], pixels[:, :, :4, :4])
    assert (masked[:, :, 4:, :] == 0).all()


# ---------------------------------------------------------------- unsupported classifiers


class NoConfig(nn.Module):
    main_input_name = "input_ids"

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 4)

    def get_input_embeddings(self):
        return self.embed

    def forward(self, input_ids, attention_mask=None):
        return self.embed(input_ids).mean(1)


class AudioModel(nn.Module):
    main_input_name = "input_values"


class IdsOnlyBert(BertForSequenceClassification):
    """A transformers classifier whose forward takes no inputs_embeds."""

    def forward(self, input_ids=None, attention_mask=None, labels=None, output_hidden_states=None, return_dict=None):
        return super().forward(
            input_ids=input_ids,
            attention_mask=attention_mask,
            labels=labels,
            output_hidden_states=output_hidden_states,
            return_dict=return_dict,
        )


def test_a_forward_without_inputs_embeds_is_masked_through_its_embedding_table(text_batch, word_tokenizer):
    """Masks act on the word embeddings the classifier looks up itself: inputs_embeds is not needed."""
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(word_tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2)
    model = AutoModelWithScorer.from_classifier(IdsOnlyBert(config), SMALL, processor=word_tokenizer).eval()
    mask = model.modality.feature_mask(text_batch, model.scorer_config)
    with torch.no_grad():
        plain = model.classifier(**text_batch).logits
        kept = model.modality.masked_logits(model.classifier, text_batch, torch.ones(mask.shape), mask)
        blanked = model.modality.masked_logits(model.classifier, text_batch, torch.zeros(mask.shape), mask)
    assert torch.equal(kept, plain)
    assert not torch.allclose(blanked, plain)


def test_unsupported_classifiers_get_clear_errors():
    with pytest.raises(UnsupportedClassifierError, match="no transformers config"):
        AutoModelWithScorer.from_classifier(NoConfig())
    with pytest.raises(UnsupportedClassifierError, match="modality"):
        AutoModelWithScorer.from_classifier(AudioModel())
    with pytest.raises(UnsupportedClassifierError, match="hidden state 9"):
        AutoModelWithScorer.from_classifier(tiny_image_classifier("vit"), ScorerConfig(hidden_state_layers=[9]))


def test_config_refuses_bad_choices():
    with pytest.raises(Exception, match="target"):
        ScorerConfig(target="logits")
    with pytest.raises(Exception, match="modality"):
        ScorerConfig(modality="audio")
    with pytest.raises(Exception, match="hidden_size"):
        ScorerConfig(hidden_size="wide")


# ---------------------------------------------------------------- bad inputs


def test_inputs_that_do_not_fit_the_classifier(text_model, text_batch):
    too_long = torch.ones(1, 600, dtype=torch.long)
    with pytest.raises(InvalidInputError, match="max_position_embeddings"):
        text_model(input_ids=too_long)
    with pytest.raises(InvalidInputError, match="vocabulary"):
        text_model(input_ids=torch.tensor([[2, 10_000, 3]]))
    with pytest.raises(InvalidInputError, match="attention_mask has shape"):
        text_model(input_ids=text_batch["input_ids"], attention_mask=text_batch["attention_mask"][:, :2])
    with pytest.raises(InvalidInputError, match="input_ids"):
        text_model(inputs_embeds=torch.zeros(1, 3, 32))
    with pytest.raises(InvalidInputError, match="Empty batch"):
        text_model(input_ids=torch.zeros(0, 5, dtype=torch.long))

    image_model = AutoModelWithScorer.from_classifier(tiny_image_classifier("vit"), SMALL)
    with pytest.raises(InvalidInputError, match="channels"):
        image_model(pixel_values=torch.zeros(1, 1, 16, 16))
    with pytest.raises(InvalidInputError, match="NaN"):
        image_model(pixel_values=torch.full((1, 3, 16, 16), float("nan")))
    with pytest.raises(InvalidInputError, match="rejected inputs"):
        image_model(pixel_values=torch.zeros(1, 3, 24, 24))  # ViT built for 16x16


# ---------------------------------------------------------------- checkpoints


def test_scorer_only_checkpoint_loads_onto_its_classifier(text_model, text_batch, tmp_path):
    text_model.save_pretrained(tmp_path / "adapter", scorer_only=True)
    assert not (tmp_path / "adapter" / "model.safetensors").exists()
    reloaded = AutoModelWithScorer.from_pretrained(tmp_path / "adapter", classifier=text_model.classifier).eval()
    with torch.no_grad():
        assert torch.equal(reloaded(**text_batch).attributions, text_model(**text_batch).attributions)


def test_a_local_base_path_never_reaches_a_saved_checkpoint(text_model, text_batch, tmp_path):
    text_model.classifier.save_pretrained(tmp_path / "base")
    text_model.scorer_config.base_model_name_or_path = str(tmp_path / "base")
    text_model.save_pretrained(tmp_path / "adapter", scorer_only=True)
    assert str(tmp_path) not in (tmp_path / "adapter" / "scorer" / "config.json").read_text()
    with pytest.raises(CheckpointError, match="pass the classifier yourself"):
        AutoModelWithScorer.from_pretrained(tmp_path / "adapter")
    reloaded = AutoModelWithScorer.from_pretrained(tmp_path / "adapter", classifier=text_model.classifier)
    with torch.no_grad():
        assert torch.equal(reloaded(**text_batch).logits, text_model(**text_batch).logits)


def test_fingerprint_mismatch_is_refused_unless_overridden(text_model, word_tokenizer, tmp_path):
    text_model.save_pretrained(tmp_path / "ckpt")
    other = tiny_text_classifier("bert", len(word_tokenizer))
    with pytest.raises(FingerprintMismatchError, match="ignore_fingerprint_mismatch=True"):
        AutoModelWithScorer.from_pretrained(tmp_path / "ckpt", classifier=other)
    loaded = AutoModelWithScorer.from_pretrained(tmp_path / "ckpt", classifier=other, ignore_fingerprint_mismatch=True)
    assert loaded.classifier is other


def test_missing_and_corrupted_scorer_files(text_model, tmp_path):
    with pytest.raises(CheckpointError, match="from_classifier"):
        AutoModelWithScorer.from_pretrained(tmp_path)  # nothing there
    text_model.save_pretrained(tmp_path / "ckpt")
    weights = tmp_path / "ckpt" / "scorer" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        AutoModelWithScorer.from_pretrained(tmp_path / "ckpt")
    weights.unlink()
    with pytest.raises(CheckpointError, match="incomplete"):
        AutoModelWithScorer.from_pretrained(tmp_path / "ckpt")


def test_config_with_wrong_types_is_a_checkpoint_error(text_model, tmp_path):
    text_model.save_pretrained(tmp_path / "ckpt")
    path = tmp_path / "ckpt" / "scorer" / "config.json"
    config = json.loads(path.read_text())
    config["hidden_size"] = "sixteen"
    path.write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="hidden_size"):
        AutoModelWithScorer.from_pretrained(tmp_path / "ckpt")


def test_pickle_checkpoints_are_refused(text_model, tmp_path):
    text_model.save_pretrained(tmp_path / "ckpt")
    scorer_weights = tmp_path / "ckpt" / "scorer" / "model.safetensors"
    scorer_weights.rename(scorer_weights.with_name("pytorch_model.bin"))
    with pytest.raises(UnsafeCheckpointError, match="pickle"):
        AutoModelWithScorer.from_pretrained(tmp_path / "ckpt")

    text_model.save_pretrained(tmp_path / "ckpt2")
    root_weights = tmp_path / "ckpt2" / "model.safetensors"
    root_weights.rename(root_weights.with_name("pytorch_model.bin"))
    with pytest.raises(UnsafeCheckpointError, match="pickle"):
        AutoModelWithScorer.from_pretrained(tmp_path / "ckpt2")


def test_failed_save_leaves_the_previous_checkpoint_intact(text_model, text_batch, tmp_path, monkeypatch):
    text_model.save_pretrained(tmp_path / "ckpt")
    before = {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "ckpt").rglob("*") if p.is_file()}
    with torch.no_grad():
        for parameter in text_model.scorer.parameters():
            parameter.add_(1.0)

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("hf_ssxai.modeling.save_file", broken_save)
    with pytest.raises(OSError, match="disk full"):
        text_model.save_pretrained(tmp_path / "ckpt")
    after = {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "ckpt").rglob("*") if p.is_file()}
    assert after == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ckpt")], "staging folder left behind"
    AutoModelWithScorer.from_pretrained(tmp_path / "ckpt")
