"""Output that cannot be turned against its reader (issue 19, groups 16 to 18): labels and file names with terminal
control sequences, ``$...$`` in names and titles given to matplotlib, Markdown syntax and HTML in method names and
training facts. Each is shown as the literal text it is."""

from __future__ import annotations

import json
import re
import sys

import pytest
import torch
from PIL import Image

from hf_ssxai import BenchmarkResult
from hf_ssxai.benchmark.results import write_report
from hf_ssxai.cli import main
from hf_ssxai.markup import markdown_text, terminal_json, terminal_text
from hf_ssxai.model_card import build_model_card
from hf_ssxai.visualization import caption_and_overlay, method_grid, radar_plot
from tests.checkpoint_helpers import small_benchmark, tiny_image_model, tiny_text_model

#: an OSC window-title change ended by BEL, a screen clear, a C1 CSI and a right-to-left override
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x9b31m\u202eevil"
#: the colour sequences tokens_to_terminal itself writes on a TTY
OWN_COLOURS = re.compile(r"\x1b\[[0-9;]*m")


def _inert(text: str) -> bool:
    rest = OWN_COLOURS.sub("", text)
    return not any(char in rest for char in "\x1b\x07\x9b\u202e")


@pytest.fixture(scope="module")
def hostile_checkpoints(word_tokenizer, tmp_path_factory):
    root = tmp_path_factory.mktemp("escaping")
    text = tiny_text_model(word_tokenizer)
    image = tiny_image_model()
    for model in (text, image):
        model.classifier.config.id2label = {i: f"{HOSTILE}{i}" for i in range(model.classifier.config.num_labels)}
    text.save_pretrained(root / "text")
    image.save_pretrained(root / "image")
    return root


@pytest.mark.parametrize("format", ["terminal", "json", "html"])
@pytest.mark.parametrize("tty", [True, False], ids=["tty", "pipe"])
def test_explain_never_prints_control_sequences_from_labels(hostile_checkpoints, capsys, monkeypatch, format, tty):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: tty)
    assert main(["explain", "--model", str(hostile_checkpoints / "text"), "--format", format, "wonderful movie"]) == 0
    out = capsys.readouterr().out
    assert _inert(out) and "pwned" in out
    if format == "json":
        assert json.loads(out)[0]["label"].startswith(HOSTILE)  # the escapes are JSON's: the value is intact


def test_explain_never_prints_control_sequences_from_file_names(hostile_checkpoints, tmp_path, capsys):
    image = tmp_path / f"cat{HOSTILE}.png"
    Image.new("RGB", (16, 16), "white").save(image)
    assert main(["explain", "--model", str(hostile_checkpoints / "image"), "--image", str(image)]) == 0
    output = tmp_path / f"report{HOSTILE}.html"
    command = ["explain", "--model", str(hostile_checkpoints / "image"), "--image", str(image), "--output"]
    assert main([*command, str(output), "--format", "html"]) == 0
    out = capsys.readouterr().out
    assert _inert(out) and "cat" in out and "Wrote" in out
    assert "<script" not in output.read_text() and output.exists()


def test_terminal_helpers_keep_text_readable():
    assert terminal_text("naïve café ✓") == "naïve café ✓"
    assert terminal_text(HOSTILE) == "\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\u202eevil"
    dumped = json.dumps({"v": HOSTILE + "\U000e0001é"}, ensure_ascii=False, indent=2)
    assert json.loads(terminal_json(dumped)) == json.loads(dumped) and _inert(terminal_json(dumped))


MATH = ["$x^$", "$\\frac{1}{$", "price: $5 and $6", "$$"]


@pytest.mark.parametrize("name", MATH)
def test_dollar_signs_in_names_and_titles_are_drawn_literally(name, tmp_path):
    image = Image.new("RGB", (16, 16))
    method_grid(image, {name: torch.rand(16, 16)}, tmp_path / "grid.png", title=name)
    radar_plot(
        {name: {"a": 0.1, "b": 0.2, "c": 0.3}, "other": {"a": 0.3, "b": 0.1, "c": 0.2}},
        higher_is_better={"a": True, "b": False, "c": True},
        path=tmp_path / "radar.png",
        title=name,
    )
    maps = {name: {"text": torch.rand(2), "image": torch.rand(16, 16)}}
    caption_and_overlay([name, "dog"], image, maps, tmp_path / "caption.png", title=name)
    result = small_benchmark()
    renamed = BenchmarkResult(
        values={name if m == "scorer" else m: v for m, v in result.values.items()},
        cost={name if m == "scorer" else m: v for m, v in result.cost.items()},
        metadata=result.metadata,
        sample_indices=result.sample_indices,
    )
    paths = write_report(renamed, tmp_path / "report")
    assert all(path.exists() for path in [*paths.values(), tmp_path / "grid.png", tmp_path / "radar.png"])
    assert (tmp_path / "caption.png").stat().st_size > 0


def test_method_names_cannot_break_the_markdown_table():
    result = small_benchmark()
    name = "a|b\n<script>alert(1)</script> **bold** [link](http://x)"
    renamed = BenchmarkResult(
        values={name if m == "scorer" else m: v for m, v in result.values.items()},
        cost={name if m == "scorer" else m: v for m, v in result.cost.items()},
        metadata=result.metadata,
        sample_indices=result.sample_indices,
    )
    table = renamed.to_markdown().splitlines()
    cells = {len(re.split(r"(?<!\\)\|", row)) for row in table}
    assert len(table) == 4 and len(cells) == 1  # header, rule, two rows, all with the same number of cells
    report = renamed.report_markdown()
    assert "<script>" not in report and "&lt;script&gt;" in report and "\n<script" not in report


def test_training_facts_and_titles_cannot_inject_into_the_card(word_tokenizer):
    config = tiny_text_model(word_tokenizer).scorer_config
    facts = {"note": "x|y\n# Injected heading <img src=x onerror=alert(1)>", "steps<b>": 10}
    card = str(build_model_card(config, "user/model", training_info=facts))
    body = card.split("---", 2)[2]
    assert "<img" not in body and "<b>" not in body and "\n# Injected" not in body
    assert f"- note: {markdown_text(facts['note'])}" in body


def test_markdown_text_is_literal_on_one_line():
    assert markdown_text("a|b\r\nc") == "a\\|b  c"
    assert markdown_text("<b>_x_</b> a\\|b") == "&lt;b&gt;_x_&lt;/b&gt; a\\\\\\|b"
