"""What lets hf_ssxai explain any transformers classifier: probes sized from the config (nested ones included),
encoder-decoder classifiers, hidden states of windowed and hierarchical models, outputs without logits, loading
what the Auto class does not know, and refusals that say what is missing."""

from __future__ import annotations

import copy

import pytest
import torch
import transformers
from transformers import PretrainedConfig

from hf_ssxai import AutoModelWithScorer, ScorerConfig, UnsupportedClassifierError
from hf_ssxai.modalities.image import probe_size, token_grid
from tests.support_matrix import Architecture, build_classifier, image_batch, text_batch
from tests.tiny_configs import tiny_config

SMALL = ScorerConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
TEXT, IMAGE = "sequence classification", "image classification"


def tiny(model_type: str, class_name: str, registry: str = TEXT, **changes) -> torch.nn.Module:
    """The matrix's tiny classifier of ``model_type``; ``changes`` edit its config first."""
    config = tiny_config(model_type)
    for key, value in changes.items():
        section, _, name = key.rpartition("__")
        setattr(getattr(config, section) if section else config, name, value)
    torch.manual_seed(0)
    return getattr(transformers, class_name)(config).eval()


# ---------------------------------------------------------------- the probe is sized from the model


def test_image_probe_takes_size_and_channels_from_a_nested_vision_config():
    classifier = tiny("clip", "CLIPForImageClassification", vision_config__image_size=48, vision_config__num_channels=1)
    model = AutoModelWithScorer.from_classifier(classifier, SMALL)
    probe = model.modality.dummy_inputs(classifier, model.scorer_config)["pixel_values"]
    assert probe.shape == (1, 1, 48, 48)
    out = model(pixel_values=torch.randn(2, 1, 48, 48))
    assert out.attributions.shape == (2, 48, 48)


def test_image_probe_without_image_size_fits_patches_windows_and_stages():
    assert probe_size(PretrainedConfig(patch_size=8, window_size=4, depths=[1, 1, 1])) == (128, 128)
    assert probe_size(PretrainedConfig(patch_size=4)) == (64, 64)  # at least 64 pixels
    assert probe_size(PretrainedConfig(vision_config={"image_size": [32, 48]})) == (32, 48)


def test_text_probe_respects_the_position_limit_of_a_nested_text_config():
    classifier = tiny("gemma3", "Gemma3ForSequenceClassification", text_config__max_position_embeddings=5)
    model = AutoModelWithScorer.from_classifier(classifier, SMALL)
    probe = model.modality.dummy_inputs(classifier, model.scorer_config)["input_ids"]
    assert probe.shape[1] == 5
    text = classifier.config.text_config
    assert probe[0, 0] == text.bos_token_id and probe[0, -1] == text.eos_token_id  # BART-like heads pool <eos>


def test_a_classifier_without_a_position_limit_takes_long_texts():
    """XLNet says max_position_embeddings=-1: no limit, not a limit of -1."""
    model = AutoModelWithScorer.from_classifier(tiny("xlnet", "XLNetForSequenceClassification"), SMALL)
    out = model(input_ids=torch.randint(5, 100, (1, 600)))
    assert out.attributions.shape == (1, 600)


# ---------------------------------------------------------------- encoder-decoder classifiers


@pytest.mark.parametrize(
    ("model_type", "class_name"), [("bart", "BartForSequenceClassification"), ("t5", "T5ForSequenceClassification")]
)
def test_encoder_decoder_scorers_read_the_encoder_and_masks_act_on_the_shared_embeddings(model_type, class_name):
    classifier = tiny(model_type, class_name)
    model = AutoModelWithScorer.from_classifier(classifier, SMALL).eval()
    batch = text_batch(classifier)
    with torch.no_grad():
        outputs = classifier(**batch, output_hidden_states=True)
    encoder_layers = len(outputs.encoder_hidden_states)
    assert model.scorer_config.hidden_state_layers == [encoder_layers - 1]  # the encoder's last hidden state
    states = model.modality.hidden_states(outputs)
    assert len(states) == encoder_layers + len(outputs.decoder_hidden_states)  # the decoder's can be chosen too

    # masking every token is zeroing its embedding wherever the shared table is read, encoder and decoder alike
    mask = model.modality.feature_mask(batch, model.scorer_config)
    zeroed = copy.deepcopy(classifier)
    with torch.no_grad():
        ordinary = batch["input_ids"][mask].unique()
        zeroed.get_input_embeddings().weight[ordinary] = 0
        masked = model.modality.masked_logits(classifier, batch, torch.zeros(mask.shape), mask)
        expected = zeroed(**batch).logits
    torch.testing.assert_close(masked, expected, rtol=1e-5, atol=1e-6)


def test_deeper_layers_that_pool_tokens_away_are_not_read():
    """Funnel pools tokens in its deeper blocks: the scorer reads the deepest layer with one vector per token, and
    asking for a pooled one is a clear error."""
    classifier = tiny("funnel", "FunnelForSequenceClassification")
    model = AutoModelWithScorer.from_classifier(classifier, SMALL)
    batch = text_batch(classifier)
    with torch.no_grad():
        states = classifier(**batch, output_hidden_states=True).hidden_states
    layer = model.scorer_config.hidden_state_layers[0]
    assert states[layer].shape[1] == batch["input_ids"].shape[1] and states[-1].shape[1] < states[layer].shape[1]
    assert model(**batch).attributions.shape == batch["input_ids"].shape
    pooled = copy.deepcopy(SMALL)
    pooled.hidden_state_layers = [-1]
    with pytest.raises(UnsupportedClassifierError, match="one vector per token"):
        AutoModelWithScorer.from_classifier(classifier, pooled)


# ---------------------------------------------------------------- image hidden states


@pytest.mark.parametrize(
    ("model_type", "class_name"),
    [
        ("swin", "SwinForImageClassification"),
        ("focalnet", "FocalNetForImageClassification"),
        ("hiera", "HieraForImageClassification"),
    ],
)
def test_windowed_models_are_read_as_their_stage_maps(model_type, class_name):
    """Their last stages keep fewer tokens than the patch grid; their reshaped stage maps (Hiera's channels last)
    are read instead, channels first."""
    classifier = tiny(model_type, class_name, IMAGE)
    model = AutoModelWithScorer.from_classifier(classifier, SMALL)
    batch = image_batch(classifier)
    with torch.no_grad():
        outputs = classifier(**batch, output_hidden_states=True)
    states = model.modality.hidden_states(outputs)
    for state, tokens in zip(states, outputs.hidden_states, strict=True):
        assert state.dim() == 4 and state.shape[1] == tokens.shape[-1]
        assert state.shape[2] * state.shape[3] == tokens.shape[1]
    assert model(**batch).attributions.shape == (2, *batch["pixel_values"].shape[-2:])


def test_token_grids_of_patches_and_of_coarser_stages():
    assert token_grid(65, 64, 64, (8, 8)) == (1, 8, 8)  # CLS + 8x8 patches
    assert token_grid(16 + 5, 64, 64, None) == (5, 4, 4)  # CLS and 4 registers before a stride-16 grid
    assert token_grid(4, 64, 64, (16, 16)) == (0, 2, 2)  # a LeViT stage at stride 32
    with pytest.raises(UnsupportedClassifierError, match="no grid"):
        token_grid(3, 64, 64, (8, 8))


def test_class_scores_returned_as_last_hidden_state_are_read_as_logits():
    """PP-LCNet returns no logits, its class scores as last_hidden_state: the model reads them as logits."""
    classifier = build_classifier(Architecture(IMAGE, "pp_lcnet", "PPLCNetForImageClassification"))
    batch = image_batch(classifier)
    with torch.no_grad():
        scores = classifier(**batch).last_hidden_state
        out = AutoModelWithScorer.from_classifier(classifier, SMALL)(**batch)
    assert torch.equal(out.logits, scores)


# ---------------------------------------------------------------- checkpoints


def test_a_classifier_its_modality_auto_class_does_not_know_reloads(tmp_path):
    """ImageGPT's image classifier reads pixel cluster ids (input_ids), so it is read as text; the text Auto class
    does not know it, and the checkpoint's own (transformers) class loads it."""
    classifier = build_classifier(Architecture(IMAGE, "imagegpt", "ImageGPTForImageClassification"))
    model = AutoModelWithScorer.from_classifier(classifier, SMALL).eval()
    batch = text_batch(classifier)
    model.save_pretrained(tmp_path / "imagegpt")
    reloaded = AutoModelWithScorer.from_pretrained(tmp_path / "imagegpt").eval()
    assert type(reloaded.classifier) is type(classifier)
    with torch.no_grad():
        assert torch.equal(reloaded(**batch).attributions, model(**batch).attributions)


def test_a_reload_reproduces_grouped_convolutions_bit_for_bit(tmp_path):
    """safetensors leaves tensors at unaligned addresses, where CPU kernels round grouped convolutions otherwise;
    from_pretrained realigns them."""
    classifier = build_classifier(Architecture(IMAGE, "regnet", "RegNetForImageClassification"))
    model = AutoModelWithScorer.from_classifier(classifier, SMALL).eval()
    batch = image_batch(classifier)
    model.save_pretrained(tmp_path / "regnet")
    reloaded = AutoModelWithScorer.from_pretrained(tmp_path / "regnet").eval()
    with torch.no_grad():
        assert torch.equal(reloaded(**batch).logits, model(**batch).logits)


# ---------------------------------------------------------------- refusals name what is missing


class NeedsBoxes(transformers.BertForSequenceClassification):
    """A classifier that cannot run on tokens alone."""

    def forward(self, input_ids=None, bbox=None, **kwargs):
        return super().forward(input_ids=input_ids + bbox.sum(), **kwargs)


def test_a_classifier_that_fails_on_the_probe_is_refused_with_its_error():
    classifier = NeedsBoxes(
        transformers.BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=1, num_attention_heads=2)
    )
    with pytest.raises(
        UnsupportedClassifierError, match="fails on the probe .*AttributeError.*input_ids, attention_mask"
    ):
        AutoModelWithScorer.from_classifier(classifier, SMALL)


@pytest.mark.parametrize(
    ("model_type", "class_name", "registry", "reason"),
    [
        ("canine", "CanineForSequenceClassification", TEXT, "no word-embedding table"),
        ("perceiver", "PerceiverForSequenceClassification", TEXT, "takes its tokens as 'inputs'"),
        ("reformer", "ReformerForSequenceClassification", TEXT, "reversible layers"),
        ("perceiver", "PerceiverForImageClassificationLearned", IMAGE, "latent vectors"),
        ("siglip2", "Siglip2ForImageClassification", IMAGE, "flattened patches"),
    ],
)
def test_classifiers_that_cannot_be_explained_are_refused_with_the_reason(model_type, class_name, registry, reason):
    classifier = build_classifier(Architecture(registry, model_type, class_name))
    with pytest.raises(UnsupportedClassifierError, match=reason) as refusal:
        AutoModelWithScorer.from_classifier(classifier, SMALL)
    assert "Use " in str(refusal.value)  # and what to do instead
