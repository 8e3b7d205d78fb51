"""The two text-image scorers find planted evidence: the evidence word in the sentence and the square in the image.

A tiny fusion classifier (BERT + ResNet towers) and its scorers are trained from scratch on pairs whose label
needs both modalities (tests/multimodal_helpers.py::train_planted_text_image_model).
"""

import pytest
import torch

from hf_ssxai.metrics.functional import pointing_game
from tests.multimodal_helpers import train_planted_text_image_model


@pytest.fixture(scope="module")
def planted_pairs(word_tokenizer, tmp_path_factory):
    return train_planted_text_image_model(tmp_path_factory.mktemp("planted_text_image"), word_tokenizer)


def test_both_scorers_find_their_modalitys_evidence(planted_pairs):
    model, test = planted_pairs
    batch = test[:]
    with torch.no_grad():
        out = model(**{name: batch[name] for name in ("input_ids", "attention_mask", "pixel_values")})
    accuracy = (out.logits.argmax(-1) == batch["label"]).float().mean().item()
    assert accuracy > 0.9, f"the classifier itself must read both modalities (accuracy {accuracy:.0%})"

    # tie-aware: ties at the top count as the share of them inside the evidence
    maps, valid = out.attributions, out.feature_mask
    word = pointing_game(maps["text"], batch["evidence_tokens"], valid["text"]).mean().item()
    assert word >= 0.8, f"the text map's top lies on the evidence word for only {word:.0%} of held-out pairs"
    square = pointing_game(maps["image"], batch["evidence_pixels"], valid["image"]).mean().item()
    chance = batch["evidence_pixels"].float().mean().item()
    assert square >= 0.8, f"the image map's top lies on the square for {square:.0%} of pairs (chance {chance:.0%})"


def test_both_maps_keep_the_prediction_alone_and_together(planted_pairs):
    model, test = planted_pairs
    batch = {name: test[:][name] for name in ("input_ids", "attention_mask", "pixel_values")}
    with torch.no_grad():
        out = model(**batch)
        masked = model.modality.masked_logits(model.classifier, batch, out.attributions, out.feature_mask)
    predicted = out.logits.argmax(-1)
    assert set(masked) == {"all", "text", "image"}
    for variant, logits in masked.items():
        kept = (logits.argmax(-1) == predicted).float().mean().item()
        assert kept >= 0.9, f"weighting {variant!r} by the scorer's maps keeps only {kept:.0%} of the predictions"
