"""Digit-caption matching data: generated digits, MNIST files, pairs, model inputs with their evidence."""

import gzip

import numpy as np
import pytest
import torch

from benchmarks.digit_caption_data import (
    CAPTION_WORDS,
    NUMBER_WORDS,
    digit_caption_pairs,
    encode_digit_captions,
    generate_digits,
    ink_boxes,
    load_mnist,
)
from hf_ssxai import InvalidInputError
from hf_ssxai.data.synthetic import build_word_tokenizer
from tests.multimodal_helpers import tiny_fusion_processor


def test_generated_digits_lie_inside_their_evidence_box():
    images, digits, evidence = generate_digits(50, digits=(1, 8), size=16, seed=0)
    assert images.shape == evidence.shape == (50, 16, 16) and images.dtype == np.uint8
    assert set(digits.tolist()) == {1, 8}
    ink = images >= 200
    assert (ink <= evidence).all()  # every stroke pixel is inside the box
    # an 8 lights all seven segments, a 1 only two
    assert ink[digits == 8].sum((1, 2)).mean() > 2 * ink[digits == 1].sum((1, 2)).mean()
    again, _, _ = generate_digits(50, digits=(1, 8), size=16, seed=0)
    assert np.array_equal(images, again)


def test_pairs_name_the_digit_exactly_when_the_label_says_match():
    images, digits, evidence = generate_digits(300, digits=(2, 4, 7), seed=0)
    pairs = digit_caption_pairs(images, digits, evidence, seed=0)
    labels = np.asarray(pairs["label"])
    assert 0.4 < labels.mean() < 0.6
    assert np.array_equal(np.asarray(pairs["caption_digit"]) == np.asarray(pairs["digit"]), labels == 1)
    for row in pairs.select(range(20)):
        assert row["text"].split()[row["number_word"]] == NUMBER_WORDS[row["caption_digit"]]
        assert row["caption_digit"] in (2, 4, 7)


def test_encoded_pairs_mark_the_number_word_token_and_the_digit_box():
    tokenizer = build_word_tokenizer(list(CAPTION_WORDS))
    images, digits, evidence = generate_digits(8, digits=(2, 4, 7), seed=0)
    pairs = digit_caption_pairs(images, digits, evidence, seed=0)
    encoded = encode_digit_captions(pairs, tiny_fusion_processor(tokenizer), max_length=12)
    columns = encoded[:]
    assert columns["input_ids"].shape == columns["evidence_tokens"].shape == (8, 12)
    assert columns["pixel_values"].shape == (8, 3, 16, 16)
    assert columns["evidence_tokens"].sum(1).tolist() == [1] * 8
    for row, caption_digit in zip(encoded, pairs["caption_digit"], strict=True):
        token = row["input_ids"][row["evidence_tokens"]].item()
        assert tokenizer.convert_ids_to_tokens(token) == NUMBER_WORDS[caption_digit]
    assert torch.equal(columns["evidence_pixels"], torch.as_tensor(np.asarray(pairs["evidence"])))


def _write_idx(path, array, magic):
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_mnist_is_read_from_the_shared_layout_and_optional(tmp_path):
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    images[1, 5:20, 10:14] = 255
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images, 2051)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([7, 1, 3]), 2049)
    loaded, labels = load_mnist(tmp_path, "test")
    assert np.array_equal(loaded, images) and labels.tolist() == [7, 1, 3]
    box = ink_boxes(loaded)[1]
    assert box[5:20, 10:14].all() and box.sum() == 15 * 4
    with pytest.raises(InvalidInputError, match="No MNIST labels"):
        load_mnist(tmp_path / "missing", "test")
    with pytest.raises(InvalidInputError, match="'test' or 'train'"):
        load_mnist(tmp_path, "validation")


def test_pairs_need_two_digits():
    images, digits, evidence = generate_digits(5, digits=(3,), seed=0)
    with pytest.raises(InvalidInputError, match="at least two different digits"):
        digit_caption_pairs(images, digits, evidence)
