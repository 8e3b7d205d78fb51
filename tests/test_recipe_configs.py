"""Every shipped recipe config is well-formed: its data spec, scorer config and training arguments all parse."""

from pathlib import Path

import pytest
import yaml
from transformers import TrainingArguments

from hf_ssxai import ScorerConfig
from hf_ssxai.data.loading import DataSpec

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "recipes" / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_recipe_config_parses(path, tmp_path):
    config = yaml.safe_load(path.read_text())
    assert config["modality"] in ("text", "image", "text-image")
    spec = DataSpec.from_dict(config["data"])
    assert "train" in spec.splits
    sources = [key for key in ("pretrained", "scratch", "fusion") if key in config["classifier"]]
    assert len(sources) == 1, f"the classifier needs exactly one of pretrained, scratch, fusion; got {sources}"
    if config["modality"] == "text-image":
        assert sources == ["fusion"] and {"text", "vision"} <= set(config["classifier"]["fusion"])
        assert spec.text_column and spec.image_column and config.get("max_length")
    ScorerConfig(**config.get("scorer", {}))
    for phase in ("classifier_training", "scorer_training"):
        TrainingArguments(str(tmp_path), **config[phase])


def test_the_thesis_datasets_have_configs():
    names = {path.stem for path in CONFIGS}
    thesis = {"tweet_sentiment_extraction", "imdb", "liar", "mnist", "cifar10", "imagenette"}
    assert thesis | {"flickr8k", "hateful_memes", "snli_ve"} <= names


def test_evaluation_subsets_are_drawn_at_random_not_taken_from_the_top(text_recipe, word_tokenizer, tmp_path):
    """A split sorted by label (as caption-matching pairs are sorted by image) must not be judged on one class."""
    from datasets import Dataset

    from hf_ssxai.training.recipe import load_recipe, prepare

    recipe = load_recipe(text_recipe)
    Dataset.from_csv(recipe["data"]["data_files"]["validation"]).sort("label").to_csv(tmp_path / "sorted.csv")
    recipe["data"]["data_files"]["validation"] = str(tmp_path / "sorted.csv")
    recipe["max_eval_samples"] = 10
    data, _ = prepare(recipe, word_tokenizer, None)
    again, _ = prepare(recipe, word_tokenizer, None)
    labels = list(data["validation"]["label"])
    assert len(labels) == 10 and set(labels) == {0, 1}  # the first 10 sorted rows hold one label only
    assert list(again["validation"]["input_ids"]) == list(data["validation"]["input_ids"])  # same draw every run
