"""How modalities register themselves and how the rest of the toolkit finds them (by name, by classifier, by data)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from torch import nn

from ..errors import InvalidInputError, UnsupportedClassifierError
from ..registry import MODALITY_REGISTRY

if TYPE_CHECKING:
    from .base import Modality


def register_modality(modality: Modality, *, exist_ok: bool = False) -> Modality:
    """Make ``modality`` known under ``modality.name``: ScorerConfig accepts the name, and models, explainers,
    metrics, the benchmark and the pipeline find the modality by it (as PEFT's ``register_peft_method`` adds a
    tuner). Each modality module calls this once, at import."""
    return MODALITY_REGISTRY.register(modality.name, modality, exist_ok=exist_ok)


def get_modality(name: str) -> Modality:
    """The modality registered under ``name`` (:class:`UnsupportedClassifierError` naming the known ones if none)."""
    return MODALITY_REGISTRY[name]


def infer_modality(classifier: nn.Module) -> str:
    """The registered modality a classifier takes: of those that accept it (their ``check_classifier`` passes),
    the one with the most parts (a classifier of text and images is ``text-image``, not ``text``).

    A classifier names its inputs by ``input_modalities`` (several parts) or ``main_input_name`` (the argument a
    single modality feeds: ``input_ids`` for text, ``pixel_values`` for images); a classifier whose main input has
    another name belongs to the modality whose Auto class loads it. When every candidate refuses the classifier, the
    refusal of the first (the one with the most parts) is raised."""
    declared = getattr(classifier, "input_modalities", ())
    declared = {declared} if isinstance(declared, str) else set(declared)
    main_input = getattr(classifier, "main_input_name", None)
    candidates = [
        name
        for name, modality in sorted(MODALITY_REGISTRY.items(), key=lambda item: -len(item[1].parts))
        if (len(modality.parts) > 1 and set(modality.parts) <= declared)
        or (len(modality.parts) == 1 and main_input == modality.main_input)
    ]
    # a main input of another name (Perceiver's "inputs"): the single modality whose Auto class loads the classifier
    candidates += [
        name
        for name, modality in MODALITY_REGISTRY.items()
        if len(modality.parts) == 1 and name not in candidates and _loads(modality.auto_model_class, classifier)
    ]
    refusals = []
    for name in candidates:  # the first that takes it (a text classifier that also reads images, e.g. LayoutLMv3,
        try:  # is a text classifier when the text-image modality, made for fusion classifiers, refuses it)
            MODALITY_REGISTRY[name].check_classifier(classifier)
        except UnsupportedClassifierError as refusal:
            refusals.append(refusal)
        else:
            return name
    if refusals:
        raise refusals[0]
    raise UnsupportedClassifierError(
        f"Cannot tell the modality of {type(classifier).__name__} (main input {main_input!r}). "
        f"Pass ScorerConfig(modality=...) explicitly (one of {', '.join(MODALITY_REGISTRY)}), or use a transformers "
        "classifier."
    )


def _loads(auto_class: type, classifier: nn.Module) -> bool:
    """Whether ``auto_class`` (a transformers Auto class) builds classifiers of this class from their config."""
    mapping = getattr(auto_class, "_model_mapping", None)
    config = getattr(classifier, "config", None)
    try:
        loaded = mapping[type(config)]
    except (KeyError, TypeError):  # not a transformers config, or none that this Auto class knows
        return False
    return type(classifier) in (loaded if isinstance(loaded, tuple) else (loaded,))


def modality_for_columns(columns: Sequence[str]) -> Modality:
    """The registered modality whose raw-input columns a dataset has, the one with the most parts first (a
    dataset of captions and images is text-image data)."""
    for modality in sorted(MODALITY_REGISTRY.values(), key=lambda modality: -len(modality.parts)):
        if set(modality.columns) <= set(columns):
            return modality
    known = ", ".join(sorted({column for modality in MODALITY_REGISTRY.values() for column in modality.columns}))
    raise InvalidInputError(f"Nothing to preprocess: no raw-input column ({known}) in {list(columns)}.")
