"""Choosing the evaluated rows without writing a new file: by label, by a safe condition on the columns, and the
rows the classifier gets right, reported beside all rows."""

from __future__ import annotations

import json

import pytest
from datasets import ClassLabel, Dataset

from hf_ssxai import InvalidInputError
from hf_ssxai.cli import main
from hf_ssxai.data.row_filter import RowCondition, matching_rows


@pytest.fixture
def tweets():
    data = {
        "text": ["great day", "meh", "awful service", None, "fine, I guess"],
        "label": [2, 1, 0, 1, 1],
        "source": ["web", "app", "web", "app", "web"],
        "score": [0.9, 0.5, 0.1, 0.4, 0.6],
    }
    return Dataset.from_dict(data).cast_column("label", ClassLabel(names=["negative", "neutral", "positive"]))


@pytest.mark.parametrize(
    ("condition", "rows"),
    [
        ("label != 'neutral'", [0, 2]),  # a ClassLabel column compared with a class name...
        ("label != 1", [0, 2]),  # ...or with its index
        ("label in ['negative', 'positive'] and source == 'web'", [0, 2]),
        ("source == 'web' and not score < 0.5", [0, 4]),
        ("0.3 < score <= 0.6", [1, 3, 4]),
        ("source in ('app',) or len(source) > 5", [1, 3]),
        ("text == None", [3]),
        ("score >= -1", [0, 1, 2, 3, 4]),
    ],
)
def test_conditions_select_rows(tweets, condition, rows):
    assert matching_rows(tweets, where=condition) == rows


def test_labels_by_index_or_name_and_with_a_condition(tweets):
    assert matching_rows(tweets, labels=["positive", 0], label_column="label") == [0, 2]  # ClassLabel names
    assert matching_rows(tweets, labels=["neutral"], label_column="label", where="source == 'app'") == [1, 3]
    indices = Dataset.from_dict({"label": [2, 1, 0, 1]})  # class indices; names from the classifier's label2id
    assert matching_rows(indices, labels=["positive", "1"], label_column="label", label2id={"positive": 2}) == [0, 1, 3]
    strings = Dataset.from_dict({"label": ["pos", "neg", "pos"]})  # a column of label strings
    assert matching_rows(strings, labels=["pos"], label_column="label") == [0, 2]


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("__import__('os').system('touch hacked')", "holds \"__import__\\('os'\\).system\\('touch hacked'\\)\""),
        ("text.upper() == 'A'", "holds 'text.upper\\(\\)'"),
        ("score * 2 > 1", "holds 'score \\* 2'"),
        ("[x for x in text] == []", "holds '\\[x for x in text\\]'"),
        ("text[0] == 'g'", "holds 'text\\[0\\]'"),
        ("lambda: 1", "holds 'lambda: 1'"),
        ("len(text, 2) > 1", "holds 'len\\(text, 2\\)'"),
        ("source", "holds 'source'"),
        ("source = 'web'", "Cannot read the condition"),
    ],
)
def test_anything_outside_the_language_is_refused_before_any_row_is_read(tweets, condition, message, tmp_path):
    with pytest.raises(InvalidInputError, match=message) as error:
        RowCondition(condition)
    assert "a condition compares columns with values" in str(error.value)
    assert not (tmp_path / "hacked").exists()


def test_wrong_columns_values_and_class_names_are_named(tweets):
    with pytest.raises(InvalidInputError, match=r"names no column 'sorce' \(did you mean 'source'\?\)"):
        matching_rows(tweets, where="sorce == 'web'")
    with pytest.raises(InvalidInputError, match="compares 'label' with 'neutrall', which is none of its classes"):
        matching_rows(tweets, where="label != 'neutrall'")
    with pytest.raises(InvalidInputError, match=r"cannot be evaluated on row 3 .*\{'text': None\}"):
        matching_rows(tweets, where="len(text) > 3")
    with pytest.raises(InvalidInputError, match="cannot be evaluated on row 0"):
        matching_rows(tweets, where="source < 3")
    with pytest.raises(InvalidInputError, match="Filtering by label needs a label column"):
        matching_rows(tweets.remove_columns("label"), labels=["1"], label_column="label")


# ---------------------------------------------------------------------------------------------- the CLI
@pytest.fixture(scope="module")
def flipped_checkpoint(planted_text, tmp_path_factory):
    """The planted-text model saved with its tokenizer; 40 test sentences as CSV, the labels of rows 0-5 flipped
    (so the classifier gets those wrong)."""
    model, test = planted_text
    folder = tmp_path_factory.mktemp("row_filter")
    model.save_pretrained(folder / "model")
    table = test.select(range(40)).select_columns(["text", "label", "evidence_position"])
    labels = [1 - label if row < 6 else label for row, label in enumerate(table["label"])]
    table.remove_columns("label").add_column("label", labels).to_csv(folder / "test.csv", index=False)
    return folder, labels


def test_cli_filters_rows_and_reports_both_cuts(flipped_checkpoint, tmp_path, capsys):
    folder, labels = flipped_checkpoint
    out = tmp_path / "out"
    argv = ["benchmark", "--model", str(folder / "model"), "--dataset", str(folder / "test.csv"), "--quiet"]
    argv += ["--methods", "scorer", "--baseline-samples", "0", "--evidence-column", "evidence_position"]
    where = "len(text) > 20 and text != '<b>bold</b>'"  # markup in a condition is escaped in the report
    argv += ["--where", where, "--label", "LABEL_1", "--correct-only", "--output-dir", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    texts = Dataset.from_csv(str(folder / "test.csv"))["text"]
    expected_rows = [row for row in range(40) if len(texts[row]) > 20 and labels[row] == 1]
    assert results["sample_indices"] == expected_rows  # every matching row (fewer than --num-samples)
    assert results["metadata"]["row_filter"] == {
        "labels": ["LABEL_1"],
        "where": where,
        "matching_rows": len(expected_rows),
    }
    right = [i for i, (p, y) in enumerate(zip(results["predictions"], results["labels"], strict=True)) if p == y]
    assert 0 < len(right) < len(expected_rows), "the flipped labels must make some rows wrong"
    report = (out / "results.md").read_text()
    cut = f"## Rows the classifier gets right ({len(right)} of {len(expected_rows)})"
    assert cut in report and f"## All {len(expected_rows)} evaluated rows" in report and cut in printed
    assert report.index(cut) < report.index("## All")
    assert "&lt;b&gt;bold&lt;/b&gt;" in report and "<b>" not in report
    assert (out / "radar.png").is_file() and (out / "radar_all.png").is_file()
    scores = results["values"]["scorer"]["pointing_game"]
    shown = f"{sum(scores[i] for i in right) / len(right):.3f} ±"
    assert shown in report.split("## All")[0]  # the first table is over the correct rows only

    capsys.readouterr()
    assert main([*argv[:-3], "--where", "len(txt) > 2", "--output-dir", str(out)]) == 1
    assert "names no column 'txt' (did you mean 'text'?)" in capsys.readouterr().err
    assert main([*argv[:-3], "--where", "label == 7", "--output-dir", str(out)]) == 1
    assert "No row of the test split is left to evaluate" in capsys.readouterr().err
