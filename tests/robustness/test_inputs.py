"""Careless inputs (issue 19, groups 11 to 14): labels of the wrong shape, type or kind; text that is not valid
Unicode; special tokens the user typed; images without pixels and decompression bombs. Each gets a correct result
or an InvalidInputError that says what to give instead, through the model, the pipeline and the CLI."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from hf_ssxai import InvalidInputError
from hf_ssxai.cli import main
from hf_ssxai.pipelines import pipeline
from tests.checkpoint_helpers import tiny_image_model, tiny_text_model

TEXT = {"input_ids": torch.tensor([[2, 10, 11, 3], [2, 12, 13, 3]]), "attention_mask": torch.ones(2, 4, dtype=int)}


@pytest.fixture(scope="module")
def text_model(word_tokenizer):
    return tiny_text_model(word_tokenizer)


@pytest.fixture(scope="module")
def checkpoints(text_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    text_model.save_pretrained(root / "text")
    tiny_image_model().save_pretrained(root / "image")
    return root


def test_labels_given_as_a_list_are_the_same_labels(text_model):
    from_list = text_model(**TEXT, labels=[1, 0])
    from_tensor = text_model(**TEXT, labels=torch.tensor([1, 0]))
    assert torch.equal(from_list.loss, from_tensor.loss)


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (torch.tensor([0.5, 1.0]), "integer class indices"),
        ([0.5, 1.0], "integer class indices"),
        (torch.tensor([[1], [0]]), "shape \\(2, 1\\) but the batch has 2 samples"),
        (torch.tensor([1, 0, 1]), "shape \\(3,\\) but the batch has 2 samples"),
        ([[1, 0], [1]], "must be class indices, one per sample"),
        (["positive", "negative"], "must be class indices, one per sample"),
        (torch.tensor([True, False]), "integer class indices"),
    ],
    ids=["float-tensor", "float-list", "column", "too-many", "ragged-list", "strings", "bool"],
)
def test_labels_that_are_no_class_indices_are_refused(text_model, labels, match):
    with pytest.raises(InvalidInputError, match=match):
        text_model(**TEXT, labels=labels)


@pytest.mark.parametrize("text", ["good \ud800 movie", "\udcff", "bad \udfff"], ids=["high", "escaped-byte", "low"])
def test_text_that_is_not_valid_unicode_is_refused(checkpoints, capsys, text):
    explain = pipeline(str(checkpoints / "text"))
    with pytest.raises(InvalidInputError, match="not valid Unicode.*surrogate.*errors='replace'"):
        explain(text)
    assert main(["explain", "--model", str(checkpoints / "text"), text]) == 1
    assert "not valid Unicode" in capsys.readouterr().err


def test_special_tokens_typed_in_the_text_are_no_features_on_every_path(text_model, word_tokenizer, checkpoints):
    text = "wonderful [SEP] [PAD] [CLS] movie"
    encoded = word_tokenizer([text], return_tensors="pt")
    typed = torch.isin(encoded["input_ids"][0, 1:-1], torch.tensor(word_tokenizer.all_special_ids))
    assert typed.sum() == 3  # the tokenizer reads them as the special tokens they name
    direct = text_model(**encoded).attributions[0]
    with_mask = text_model(**word_tokenizer([text], return_tensors="pt", return_special_tokens_mask=True))
    result = pipeline(str(checkpoints / "text"), return_tensors=True)(text)
    assert torch.equal(with_mask.attributions[0], direct)
    assert torch.equal(torch.as_tensor(result["attributions"]), direct)
    assert direct[1:-1][typed].eq(0).all() and direct[1:-1][~typed].gt(0).any()
    assert result["tokens"] == ["wonderful", "movie"]


def test_an_image_without_pixels_is_refused(checkpoints, tmp_path):
    explain = pipeline(str(checkpoints / "image"))
    for size in [(0, 0), (0, 5), (5, 0)]:
        with pytest.raises(InvalidInputError, match="nothing to explain"):
            explain(Image.new("RGB", size))


def test_a_decompression_bomb_is_refused_before_it_is_decoded(checkpoints, tmp_path, monkeypatch, capsys):
    bomb = tmp_path / "bomb.png"
    Image.new("RGB", (40, 40)).save(bomb)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # a 40x40 image is 16 times over: PIL's bomb threshold is 2x
    with pytest.raises(InvalidInputError, match="decompression bomb.*MAX_IMAGE_PIXELS"):
        pipeline(str(checkpoints / "image"))(str(bomb))
    assert main(["explain", "--model", str(checkpoints / "image"), "--image", str(bomb)]) == 1
    err = capsys.readouterr().err
    assert "decompression bomb" in err.strip().splitlines()[-1] and "Traceback" not in err
