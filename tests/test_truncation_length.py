"""The length a recipe trains with travels with its checkpoint: the benchmark, the pipeline and explain cut texts
where training did (through one function, truncation_length)."""

from __future__ import annotations

import json
import logging

import yaml
from datasets import Dataset
from transformers import AutoTokenizer

from hf_ssxai import AutoModelWithScorer, pipeline, truncation_length
from hf_ssxai.benchmark import prepare_dataset
from hf_ssxai.cli import main

#: twelve words of the planted-text vocabulary: longer than the recipe's max_length of 6 tokens
LONG = "the movie was great and the plot was dull and the music"


def test_the_recipe_max_length_travels_with_the_checkpoint(text_recipe, tmp_path, capsys, caplog):
    recipe = yaml.safe_load(text_recipe.read_text())
    recipe["max_length"] = 6
    config = tmp_path / "short.yaml"
    config.write_text(yaml.safe_dump(recipe))
    run = tmp_path / "run"
    assert main(["train-classifier", "--config", str(config), "--output-dir", str(run)]) == 0
    assert main(["train-scorer", "--config", str(config), "--output-dir", str(run)]) == 0
    assert AutoTokenizer.from_pretrained(run / "classifier").model_max_length == 6

    model = AutoModelWithScorer.from_pretrained(run / "model")
    assert model.processor.model_max_length == 6 and truncation_length(model) == 6  # not 512 or the 64 default

    explained = pipeline(model)(LONG)
    assert explained["truncated"] and explained["tokens"] == ["the", "movie", "was", "great"]  # 6 with [CLS], [SEP]

    capsys.readouterr()
    assert main(["explain", "--model", str(run / "model"), LONG, "--format", "json"]) == 0
    (shown,) = json.loads(capsys.readouterr().out)
    assert shown["truncated"] and shown["tokens"] == explained["tokens"]

    raw = Dataset.from_dict({"text": [LONG, LONG], "why": ["great", "music"]})
    with caplog.at_level(logging.WARNING):
        prepared = prepare_dataset(model, raw, model.modality.raw_columns(), evidence_column="why")
    assert [len(ids) for ids in prepared["input_ids"]] == [6, 6]
    assert prepared["why"] == [[0, 0, 0, 0, 1, 0], [0] * 6]  # "music" was cut, and the log says so
    assert "1 of 2 rows lost evidence to truncation or cropping (rows 1)" in caplog.text
