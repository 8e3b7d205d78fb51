"""Decoder-only LLM classifiers (Llama, Qwen2): padding on either side, last-token pooling of the masked input,
a pad token equal to the end-of-sequence token, bfloat16."""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset
from transformers import LlamaForSequenceClassification, Qwen2ForSequenceClassification

from hf_ssxai import AutoModelWithScorer, ScorerConfig, ScorerTrainer
from hf_ssxai.explainers import get_explainer
from tests.helpers import training_args
from tests.tiny_configs import tiny_config

SMALL = ScorerConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
BOS, EOS, PAD = 1, 2, 0
TEXTS = [[5, 6, 7, 8, 9, 10], [11, 12], [13, 14, 15, 16]]
FAMILIES = {"llama": LlamaForSequenceClassification, "qwen2": Qwen2ForSequenceClassification}


def tiny_decoder(family: str, pad_token_id: int = PAD) -> torch.nn.Module:
    """A tiny random classifier of the family (two layers, grouped-query attention), with our special tokens."""
    config = tiny_config(family)
    config.update({"bos_token_id": BOS, "eos_token_id": EOS, "pad_token_id": pad_token_id})
    torch.manual_seed(0)
    return FAMILIES[family](config).eval()


def padded(texts: list[list[int]], side: str, pad: int = PAD) -> dict[str, torch.Tensor]:
    longest = max(map(len, texts))
    ids, mask = [], []
    for text in texts:
        filler = longest - len(text)
        ids.append([pad] * filler + text if side == "left" else text + [pad] * filler)
        mask.append([0] * filler + [1] * len(text) if side == "left" else [1] * len(text) + [0] * filler)
    return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask)}


def alone(text: list[int]) -> dict[str, torch.Tensor]:
    return {"input_ids": torch.tensor([text]), "attention_mask": torch.ones(1, len(text), dtype=torch.long)}


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("family", FAMILIES)
def test_a_padded_batch_is_explained_as_each_text_alone(family, side):
    """Padding on either side changes neither the prediction nor the map of a text; padding scores 0."""
    model = AutoModelWithScorer.from_classifier(tiny_decoder(family), SMALL).eval()
    batch = padded([[BOS, *text] for text in TEXTS], side)
    with torch.no_grad():
        out = model(**batch)
        for index, text in enumerate(TEXTS):
            single = model(**alone([BOS, *text]))
            real = batch["attention_mask"][index].bool()
            torch.testing.assert_close(out.logits[index], single.logits[0], rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(out.attributions[index][real], single.attributions[0], rtol=1e-4, atol=1e-5)
            assert (out.attributions[index][~real] == 0).all()
            assert not out.feature_mask[index][~real].any() and not out.feature_mask[index][real][0]  # BOS


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("family", FAMILIES)
def test_last_token_pooling_reads_the_masked_input(family, side):
    """The masked forward pools each text's last real token, as the classifier does on the same masked
    embeddings of that text alone (no padding, so the last position is that token)."""
    model = AutoModelWithScorer.from_classifier(tiny_decoder(family), SMALL).eval()
    classifier, modality = model.classifier, model.modality
    batch = padded(TEXTS, side)
    mask = modality.feature_mask(batch, model.scorer_config)
    scores = torch.rand(mask.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        masked = modality.masked_logits(classifier, batch, scores, mask)
        assert torch.equal(
            modality.masked_logits(classifier, batch, torch.ones(mask.shape), mask), classifier(**batch).logits
        )
        for index, text in enumerate(TEXTS):
            real = batch["attention_mask"][index].bool()
            kept = torch.where(mask[index][real], scores[index][real], 1.0)
            embeddings = classifier.get_input_embeddings()(torch.tensor([text])) * kept[None, :, None]
            expected = classifier(inputs_embeds=embeddings).logits[0]
            torch.testing.assert_close(masked[index], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_the_pad_token_may_be_the_end_of_sequence_token(family, tmp_path):
    """Texts that end with EOS, padded with EOS: neither scores (both are special), the classifier pools the
    token it pools without hf_ssxai, and the scorer trains and explains."""
    model = AutoModelWithScorer.from_classifier(tiny_decoder(family, pad_token_id=EOS), SMALL)
    assert EOS in model.scorer_config.special_token_ids
    batch = padded([[*text, EOS] for text in TEXTS], "right", pad=EOS)
    dataset = Dataset.from_dict({**{key: value.tolist() for key, value in batch.items()}, "labels": [0, 1, 2]})
    args = training_args(tmp_path, max_steps=1, per_device_train_batch_size=3)
    ScorerTrainer(model=model, args=args, train_dataset=dataset).train()
    model.eval()
    with torch.no_grad():
        out = model(**batch)
        kept = model.modality.masked_logits(
            model.classifier, batch, torch.ones(out.feature_mask.shape), out.feature_mask
        )
    assert torch.equal(out.feature_mask, (batch["input_ids"] != EOS))
    assert (out.attributions[batch["input_ids"] == EOS] == 0).all()
    assert torch.equal(kept, out.logits)
    assert out.attributions[out.feature_mask].max() == 1  # each map is rescaled to [0, 1] over its tokens


@pytest.mark.parametrize("family", FAMILIES)
def test_bfloat16_classifiers_predict_explain_train_and_reload(family, tmp_path):
    """Loaded in bfloat16 as LLM classifiers are (``from_pretrained(..., dtype=torch.bfloat16)``; a model cast
    with ``.to`` keeps its rotary frequencies in bfloat16, which a reload does not)."""
    tiny_decoder(family).save_pretrained(tmp_path / "float32")
    classifier = FAMILIES[family].from_pretrained(tmp_path / "float32", dtype=torch.bfloat16).eval()
    model = AutoModelWithScorer.from_classifier(classifier, SMALL)
    batch = padded([[BOS, *text] for text in TEXTS], "right")
    with torch.no_grad():
        out = model(**batch)
        assert out.logits.dtype == torch.bfloat16 and torch.equal(out.logits, classifier(**batch).logits)
    assert torch.isfinite(out.attributions).all() and out.attributions.min() >= 0 and out.attributions.max() <= 1
    trained = model(**batch, labels=torch.tensor([0, 1, 2]))
    assert torch.isfinite(trained.loss)
    trained.loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.scorer.parameters() if p.grad is not None)
    assert not any(p.grad is not None for p in classifier.parameters()), "the classifier stays frozen"
    saliency = get_explainer("saliency", model).attribute(batch)
    assert torch.isfinite(saliency.attributions).all()
    model.eval().save_pretrained(tmp_path / "bf16")
    reloaded = AutoModelWithScorer.from_pretrained(tmp_path / "bf16").eval()
    assert next(reloaded.classifier.parameters()).dtype == torch.bfloat16
    with torch.no_grad():
        again, before = reloaded(**batch), model(**batch)
    assert torch.equal(again.logits, before.logits) and torch.equal(again.attributions, before.attributions)
