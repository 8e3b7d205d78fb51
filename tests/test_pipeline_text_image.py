"""hf_ssxai.pipeline on a tiny untrained text-image checkpoint: results equal the model's own forward, batching,
checkpoints, device and dtype, visualisation of the results and bad input."""

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hf_ssxai import AutoModelWithScorer, InvalidInputError, ScorerConfig, pipeline
from hf_ssxai.data.synthetic import build_word_tokenizer
from hf_ssxai.visualization import caption_and_overlay, save_overlay, tokens_to_html, tokens_to_terminal
from tests.multimodal_helpers import tiny_fusion_classifier, tiny_fusion_processor
from tests.test_pipeline import TEXT_FIELDS, _assert_same, _picture

MAX_LENGTH = 12  # tokens, [CLS] and [SEP] included
PAIR_FIELDS = {"label", "score", "text", "image"}
CAPTIONS = ["the movie was great", "awful", "a story with a superb cast and a boring ending"]
MARKUP = ["<script>", "</script>", "&", '"x"']  # words of the vocabulary that HTML must escape


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    words = sorted({word for caption in CAPTIONS for word in caption.split()})
    tokenizer = build_word_tokenizer([*words, *MARKUP], model_max_length=MAX_LENGTH)
    config = ScorerConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
    classifier = tiny_fusion_classifier(len(tokenizer))
    return AutoModelWithScorer.from_classifier(classifier, config, processor=tiny_fusion_processor(tokenizer)).eval()


@pytest.fixture(scope="module")
def explain(model):
    return pipeline(model, batch_size=2, return_tensors=True)


@pytest.fixture(scope="module")
def pairs():
    sizes = [(40, 30), (24, 24), (17, 33)]
    return [
        {"text": text, "image": _picture(width, height, seed=seed)}
        for seed, (text, (width, height)) in enumerate(zip(CAPTIONS, sizes, strict=True))
    ]


def _assert_same_pair(result, other):
    assert result.keys() == other.keys() == PAIR_FIELDS
    _assert_same({"label": result["label"], "score": result["score"]}, {k: other[k] for k in ("label", "score")})
    for part in ("text", "image"):
        _assert_same(result[part], other[part])


def test_results_are_the_models_own_prediction_and_maps(explain, model, pairs):
    caption, image = pairs[0]["text"], pairs[0]["image"]
    result = explain(pairs[0])
    assert set(result) == PAIR_FIELDS
    assert set(result["text"]) == TEXT_FIELDS - {"label", "score"}
    assert set(result["image"]) == {"attributions", "map"}

    with torch.no_grad():
        out = model(**model.processor(text=[caption], images=[image]))
    probabilities = out.logits.softmax(-1)[0]
    assert result["label"] == model.config.id2label[int(probabilities.argmax())]
    assert result["score"] == pytest.approx(probabilities.max().item(), abs=1e-6)

    text = result["text"]
    valid = out.feature_mask["text"][0]
    assert text["tokens"] == text["words"] == caption.split()  # one token per word with this tokenizer
    assert torch.allclose(torch.tensor(text["token_scores"]), out.attributions["text"][0][valid], atol=1e-6)
    scores = out.attributions["text"][0][valid]
    assert torch.allclose(torch.tensor(text["word_scores"]), scores / scores.max(), atol=1e-6)
    assert torch.allclose(text["attributions"], out.attributions["text"][0], atol=1e-6)  # [CLS] ... [SEP]
    assert text["attributions"][0] == text["attributions"][-1] == 0
    assert text["truncated"] is False

    maps = result["image"]
    assert maps["attributions"].shape == (16, 16) and maps["attributions"].dtype == torch.float32
    assert torch.allclose(maps["attributions"], out.attributions["image"][0], atol=1e-6)
    expected = F.interpolate(out.attributions["image"][:1, None], size=(30, 40), mode="bilinear", align_corners=False)
    assert maps["map"].shape == (30, 40) and maps["map"].dtype == np.float32  # the image's [height, width]
    assert np.allclose(maps["map"], expected[0, 0].numpy(), atol=1e-6)
    assert maps["map"].min() >= 0 and maps["map"].max() <= 1


def test_a_batch_equals_single_calls(explain, pairs):
    batched = explain(pairs)  # batch_size=2: two batches, each padded to its own longest caption
    assert len(batched) == len(pairs)
    for pair, result in zip(pairs, batched, strict=True):
        _assert_same_pair(result, explain(pair))
        assert result["image"]["map"].shape == (pair["image"].height, pair["image"].width)
    assert batched[2]["text"]["words"] == CAPTIONS[2].split()[: MAX_LENGTH - 2]


def test_a_saved_checkpoint_and_image_files_give_identical_results(explain, model, pairs, tmp_path):
    model.save_pretrained(tmp_path / "checkpoint")
    reloaded = pipeline(tmp_path / "checkpoint", return_tensors=True)
    pairs[1]["image"].save(tmp_path / "picture.png")
    from_file = {"text": pairs[1]["text"], "image": tmp_path / "picture.png"}
    for result, other in zip(explain(pairs), reloaded([pairs[0], from_file, pairs[2]]), strict=True):
        _assert_same_pair(result, other)


def test_long_captions_are_truncated_and_flagged(explain, caplog):
    long_caption = " ".join(["the movie was great"] * 10)
    with caplog.at_level(logging.WARNING, logger="hf_ssxai.pipelines"):
        short, long = explain([{"text": "the movie", "image": _picture()}, {"text": long_caption, "image": _picture()}])
    assert long["text"]["truncated"] is True and short["text"]["truncated"] is False
    assert long["text"]["attributions"].shape == (MAX_LENGTH,)
    assert "Input 1 is longer than the model's maximum of 12 tokens" in caplog.text


def test_device_and_dtype(model, pairs, tmp_path):
    model.save_pretrained(tmp_path)
    explain = pipeline(tmp_path, device="cpu", dtype=torch.bfloat16, return_tensors=True)
    assert next(explain.model.parameters()).dtype == torch.bfloat16
    result = explain(pairs[0])
    assert result["text"]["attributions"].dtype == result["image"]["attributions"].dtype == torch.float32
    assert result["image"]["map"].shape == (30, 40)
    assert result["label"] in explain.model.config.id2label.values() and 0 < result["score"] <= 1


def test_results_feed_the_visualisations_with_every_token_escaped(explain, tmp_path):
    image = _picture()
    result = explain({"text": 'the <script> movie "x" </script> & a', "image": image})
    text = result["text"]
    assert text["tokens"] == text["words"] == ["the", "<script>", "movie", '"x"', "</script>", "&", "a"]
    for units, scores in (("words", "word_scores"), ("tokens", "token_scores")):
        page = tokens_to_html(text[units], text[scores], title=f"<{result['label']}>")
        assert "<script>" not in page and "</script>" not in page and '"x"' not in page
        for escaped in ("&lt;script&gt;", "&lt;/script&gt;", "&quot;x&quot;", ">&amp;<", f"&lt;{result['label']}&gt;"):
            assert escaped in page
        assert tokens_to_terminal(text[units], text[scores], color=False).startswith("the[")
    assert save_overlay(tmp_path / "overlay.png", image, result["image"]["map"]).size == image.size
    figure = caption_and_overlay(
        text["words"],
        image,
        {"scorer": {"text": text["word_scores"], "image": result["image"]["map"]}},
        tmp_path / "explained.png",
    )
    assert figure is not None and (tmp_path / "explained.png").stat().st_size > 0


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("the movie was great", r"input 0 is a text-only input \(a string\)"),
        ({"text": "the movie was great"}, r"input 0 is a text-only input \(no image\)"),
        ({"text": "the movie", "image": None}, r"text-only input \(no image\)"),
        (_picture(), r"input 0 is an image-only input \(a PIL image\)"),
        (Path("cat.png"), r"input 0 is an image-only input \(a path\)"),
        ({"image": _picture()}, r"input 0 is an image-only input \(no text\)"),
        ({}, "neither text nor image"),
        (
            {"text": "the movie", "images": _picture()},
            r"unknown key\(s\) 'images'.*exactly the keys 'text' and 'image'",
        ),
        ({"text": "the movie", "image": _picture(), "label": 1}, r"unknown key\(s\) 'label'"),
        ({"text": "the movie", "image": 3}, r"the image of input 0 is a int; give a PIL image or an image path"),
        ({"text": ["the", "movie"], "image": _picture()}, "the text of input 0 is a list; give a string"),
        ({"text": "  ", "image": _picture()}, "Input 0 is an empty text"),
        (7, "input 0 is a int; give {'text': caption, 'image': image}"),
        ([], "list is empty. Give at least one {'text': caption, 'image': image} pair"),
    ],
)
def test_bad_inputs_are_refused_by_name(explain, bad, message):
    with pytest.raises(InvalidInputError, match=message):
        explain(bad)


def test_unreadable_images_are_refused_by_name(explain, tmp_path):
    with pytest.raises(InvalidInputError, match="Cannot read the image .*missing.png.*input 0"):
        explain({"text": "the movie", "image": tmp_path / "missing.png"})
    (tmp_path / "notes.png").write_text("not an image")
    good = {"text": "the movie", "image": _picture()}
    with pytest.raises(InvalidInputError, match=r"Cannot read the image .*notes.png' \(input 1\)"):
        explain([good, {"text": "the movie", "image": str(tmp_path / "notes.png")}])


def test_a_text_image_model_needs_a_processor_with_both_parts(model):
    with pytest.raises(InvalidInputError, match="tokenizer and an image processor"):
        pipeline(model, processor=model.processor.tokenizer)
