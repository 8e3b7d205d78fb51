"""Model cards: the ``README.md`` uploaded with a checkpoint, rendered from ``hf_ssxai/model_cards/scorer_card.md``.

The template is a :class:`string.Template` (``$name`` placeholders). The card holds Hub metadata (YAML front
matter), what the scorer is, how it was trained, its benchmark table when one is given, its limits and a usage
snippet. Markdown is written as it is; single-line YAML values lose their newlines and are quoted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from importlib import resources
from string import Template
from typing import TYPE_CHECKING, Any

from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

if TYPE_CHECKING:
    from .benchmark import BenchmarkResult
    from .modeling import AutoModelWithScorer

TEMPLATE_NAME = "scorer_card.md"
TAGS = ("explainability", "xai", "hf_ssxai", "feature-attribution")
#: the Hub's task of each modality; the Hub has none for classifying (text, image) pairs, so those cards name none
PIPELINE_TAGS = {"text": "text-classification", "image": "image-classification"}
#: what the ScorerConfig table shows, in this order
CONFIG_FIELDS = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "hidden_state_layers",
    "use_relu",
    "use_sigmoid",
    "use_rescale",
    "use_magnitude_penalty",
    "use_binary_penalty",
    "use_gamma",
    "target",
)
TARGETS = {
    "label": ("the dataset label (cross-entropy)", "the probability of the labelled class"),
    "prediction": (
        "the classifier's own prediction on the full input (cross-entropy; no labels needed)",
        "the probability of the predicted class",
    ),
    "distribution": ("the classifier's full output distribution (KL divergence)", "the whole output distribution"),
}
MODALITY_TEXT = {
    "text": {
        "scorer_kind": "a few self-attention layers over the classifier's token hidden states",
        "feature": "token",
        "limit": "Special tokens and padding are never features: they score 0. Texts longer than the classifier's "
        "maximum length are truncated (the pipeline flags them with `truncated: True`).",
        "example_import": "",
        "example": '["a great movie"]',
        "attribution_shape": "[batch, tokens]",
        "pipeline_fields": "[{'label': ..., 'score': ..., 'tokens': [...], 'words': [...], 'word_scores': [...], ...}]",
        "auto_class": "AutoModelForSequenceClassification",
    },
    "image": {
        "scorer_kind": "a U-Net-like convolutional decoder from the classifier's spatial hidden states to pixels",
        "feature": "pixel",
        "limit": "Maps are per pixel at the resolution the image processor produces; the pipeline also returns them "
        "resized to each original image.",
        "example_import": "from PIL import Image\n",
        "example": '[Image.open("image.jpg").convert("RGB")]',
        "attribution_shape": "[batch, height, width]",
        "pipeline_fields": "[{'label': ..., 'score': ..., 'attributions': <[H, W]>, 'map': <array at image size>}]",
        "auto_class": "AutoModelForImageClassification",
    },
    "text-image": {
        "scorer_kind": "one per modality, self-attention over the caption's token states and a convolutional decoder "
        "to the image's pixels, each also reading the fusion layer's output",
        "feature": "feature (caption token or image pixel)",
        "limit": "The loss is the joint one (thesis eq. 3.5): the task loss with both maps applied, plus with each "
        "applied alone, plus both maps' penalties, γ from the both-masked Δ; each map must keep the prediction "
        "alone and together with the other. Captions are padded to the length they were trained with.",
        "example_import": "from PIL import Image\n",
        "example": 'text=["a dog runs on the beach"], images=[Image.open("image.jpg").convert("RGB")]',
        "pipeline_example": '{"text": "a dog runs on the beach", "image": "image.jpg"}',
        "attribution_shape": "{'text': [batch, tokens], 'image': [batch, height, width]}",
        "pipeline_fields": "{'label': ..., 'score': ..., 'text': {'words': [...], 'word_scores': [...], ...}, "
        "'image': {'map': <array at image size>, ...}}",
        "auto_class": "AutoModelForSequenceClassification",
    },
}


def _one_line(value: Any) -> str:
    """A YAML scalar on one line: newlines and runs of blanks become single spaces, then JSON-quoted (valid YAML)."""
    return json.dumps(" ".join(str(value).split()), ensure_ascii=False)


def hub_repo_id(name: str | None) -> str | None:
    """``name`` if it can name a Hub repository (not a local path), else None."""
    if not name or os.path.isabs(name) or os.path.exists(name):
        return None
    try:
        validate_repo_id(name)
    except HFValidationError:
        return None
    return name


def _datasets(training_info: Mapping[str, Any]) -> list[str]:
    names = training_info.get("datasets") or training_info.get("dataset") or []
    return [names] if isinstance(names, str) else [str(name) for name in names]


def _metadata(model: AutoModelWithScorer, scorer_only: bool, training_info: Mapping[str, Any]) -> str:
    config = model.scorer_config
    lines = ["library_name: hf_ssxai"]
    base_model = hub_repo_id(config.base_model_name_or_path)
    if base_model:
        lines.append(f"base_model: {_one_line(base_model)}")
        if scorer_only:
            lines.append("base_model_relation: adapter")
    if datasets := _datasets(training_info):
        lines += ["datasets:", *(f"- {_one_line(name)}" for name in datasets)]
    if config.modality in PIPELINE_TAGS:
        lines.append(f"pipeline_tag: {PIPELINE_TAGS[config.modality]}")
    lines += ["tags:", *(f"- {tag}" for tag in TAGS)]
    return "\n".join(lines)


def _base_model_line(model: AutoModelWithScorer, scorer_only: bool) -> str:
    config = model.scorer_config
    name, revision = config.base_model_name_or_path, config.base_model_revision
    at = f" at revision `{revision}`" if revision else ""
    if not scorer_only:
        return f"Base classifier: `{name}`{at}, saved at the root of this repository." if name else ""
    if hub_repo_id(name):
        return (
            f"This repository holds only the scorer. `from_pretrained` loads its classifier from `{name}`{at}, "
            "as a PEFT adapter names its base model."
        )
    return (
        f"This repository holds only the scorer, and its config names no Hub classifier (`{name}`): load it with "
        "`AutoModelWithScorer.from_pretrained(repo_id, classifier=your_classifier)`."
    )


def _training(training_info: Mapping[str, Any]) -> str:
    if not training_info:
        return "Training data and schedule were not recorded for this upload."
    return "\n".join(f"- {key.replace('_', ' ')}: {value}" for key, value in training_info.items())


def _benchmark(result: BenchmarkResult | None, repo_id: str) -> str:
    from .benchmark import report_markdown  # the benchmark module imports much; only cards with one need it

    if result is None:
        return (
            "No benchmark was uploaded with this checkpoint. Measure one against the attribution baselines with "
            f"`hf-ssxai benchmark --model {repo_id} --dataset DATASET`."
        )
    meta = result.metadata
    dataset = f" of {meta['dataset']}" if meta.get("dataset") else ""
    return (
        f"The scorer against the attribution baselines on {len(result.sample_indices)} samples{dataset}, every map "
        "measured on the same features (`hf-ssxai benchmark`). Mean ± standard deviation; ↑ higher is better, "
        "↓ lower is better; the best value per column is bold.\n\n" + report_markdown(result)
    )


def render_model_card(
    model: AutoModelWithScorer,
    repo_id: str,
    *,
    scorer_only: bool = False,
    benchmark: BenchmarkResult | None = None,
    training_info: Mapping[str, Any] | None = None,
) -> str:
    """The ``README.md`` for ``model`` pushed to ``repo_id``.

    Args:
        model: the checkpoint being uploaded.
        repo_id: where it goes (used in the usage snippet).
        scorer_only: whether the upload holds only ``scorer/`` (the card then points at the base classifier).
        benchmark: a benchmark of this checkpoint; its table and Pareto statement go into the card.
        training_info: free-form facts about training (``datasets``, ``steps``, ``learning_rate``, ...), listed in
            the card; ``datasets`` (a name or a list) also goes into the YAML metadata.
    """
    training_info = dict(training_info or {})
    config = model.scorer_config
    texts = MODALITY_TEXT[config.modality]
    target_text, target_short = TARGETS[config.target]
    config_rows = "\n".join(
        f"| `{name}` | `{getattr(config, name)}` |"
        for name in CONFIG_FIELDS
        if name != "num_attention_heads" or config.modality == "text"
    )
    article = "An" if config.modality[0] in "aeiou" else "A"
    contents = (
        f"A learned explainer (scorer) for {article.lower()} {config.modality} classifier."
        if scorer_only
        else f"{article} {config.modality} classifier together with a learned explainer (scorer) for it."
    )
    classifier_note = (
        "This repository has no classifier of its own: `from_pretrained` loads the base classifier named above."
        if scorer_only
        else "The classifier at the root is saved as transformers saves it, so it also loads without hf_ssxai: "
        f'`{texts["auto_class"]}.from_pretrained("{repo_id}")`.'
    )
    template = Template((resources.files("hf_ssxai") / "model_cards" / TEMPLATE_NAME).read_text(encoding="utf-8"))
    return template.substitute(
        metadata=_metadata(model, scorer_only, training_info),
        title=repo_id,
        contents=contents,
        scorer_kind=texts["scorer_kind"],
        modality=config.modality,
        layers=layers if isinstance(layers := config.hidden_state_layers, dict) else list(layers),
        feature=texts["feature"],
        base_model_line=_base_model_line(model, scorer_only),
        fingerprint=config.base_model_fingerprint,
        target_text=target_text,
        target_short=target_short,
        training=_training(training_info),
        config_rows=config_rows,
        benchmark=_benchmark(benchmark, repo_id),
        modality_limit=texts["limit"],
        example_import=texts["example_import"],
        example=texts["example"],
        pipeline_example=texts.get("pipeline_example", texts["example"]),
        attribution_shape=texts["attribution_shape"],
        pipeline_fields=texts["pipeline_fields"],
        repo_id=repo_id,
        classifier_note=classifier_note,
    )
