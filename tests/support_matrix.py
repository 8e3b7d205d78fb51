"""The architecture support matrix: every sequence and image classifier that the installed transformers registers.

The rows come from transformers' own registries (``MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES`` and
``MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES``), one per model type (its first class where it names several).
For each, :func:`check_architecture` builds a tiny random classifier (``tests/tiny_configs.py``), checks that the
plain classifier runs, and then that hf_ssxai

- attaches a scorer with ``from_classifier``;
- gives finite maps in [0, 1] with padding and special tokens at 0, and the classifier's own logits;
- leaves the prediction as it is when every score is 1 (the mask acts where the classifier reads its inputs);
- takes one ``ScorerTrainer`` step that changes the scorer and nothing of the classifier;
- saves and reloads the model, which then reproduces logits and maps bit for bit;
- runs the ``saliency`` and ``integrated_gradients`` explainers.

An architecture hf_ssxai cannot explain must be refused with an :class:`UnsupportedClassifierError` saying what is
missing; any other error is a failure. Regenerate ``docs/models.md``::

    OMP_NUM_THREADS=1 python -m tests.support_matrix --write docs/models.md
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import transformers
from datasets import Dataset
from transformers.models.auto.modeling_auto import (
    MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES,
    MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
)

from hf_ssxai import AutoModelWithScorer, ScorerConfig, ScorerTrainer
from hf_ssxai.errors import UnsupportedClassifierError
from hf_ssxai.explainers import get_explainer
from hf_ssxai.modalities import infer_modality
from hf_ssxai.modalities.base import class_scores
from hf_ssxai.modalities.image import probe_size, vision_setting
from hf_ssxai.modalities.text_config import special_token_ids_from_config, text_config
from tests.helpers import training_args
from tests.tiny_configs import CannotBuild, tiny_config

REGISTRIES = {
    "sequence classification": MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
    "image classification": MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES,
}
SCORER = ScorerConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
#: lengths of the example texts (before their start and end tokens): padding in all but the longest
TEXT_LENGTHS = (6, 3, 4)
PASS, REFUSED, NOT_BUILT, FAILED = "passes", "refused", "not built", "fails"


@dataclass(frozen=True)
class Architecture:
    """One row of the matrix: a model type of one registry, and the classifier class built for it."""

    registry: str
    model_type: str
    class_name: str


@dataclass(frozen=True)
class Result:
    """What :func:`check_architecture` found: :data:`PASS`, :data:`REFUSED`, :data:`NOT_BUILT` or :data:`FAILED`,
    with the reason (the refusal's message, why it could not be built, or the error)."""

    architecture: Architecture
    status: str
    reason: str = ""
    modality: str = ""
    seconds: float = 0.0


def architectures() -> list[Architecture]:
    """Every row of the matrix, registry by registry, in the registries' order."""
    rows = []
    for registry, mapping in REGISTRIES.items():
        for model_type, names in mapping.items():
            name = names[0] if isinstance(names, tuple) else names
            rows.append(Architecture(registry, model_type, name))
    return rows


def build_classifier(architecture: Architecture, seed: int = 0) -> torch.nn.Module:
    """A tiny random classifier of ``architecture`` in eval mode, or :class:`CannotBuild`."""
    config = tiny_config(architecture.model_type)
    torch.manual_seed(seed)
    try:
        classifier = getattr(transformers, architecture.class_name)(config).eval()
    except Exception as error:  # noqa: BLE001  (any refusal of the model class is a reason to report)
        raise CannotBuild(f"the model class refuses the tiny config: {type(error).__name__}: {error}") from error
    if hasattr(classifier, "set_default_language"):  # X-MOD's adapters need a language, as its users set it
        classifier.set_default_language(config.languages[0])
    return classifier


def text_batch(classifier: torch.nn.Module, lengths: tuple[int, ...] = TEXT_LENGTHS, left: bool = False) -> dict:
    """Texts of ordinary tokens between the config's start and end tokens, padded with its pad token (on the left
    with ``left``); ``attention_mask`` 0 on padding."""
    config = text_config(classifier.config)
    special = set(special_token_ids_from_config(classifier.config))
    vocab_size = getattr(config, "vocab_size", None) or 256
    ordinary = [token for token in range(3, vocab_size) if token not in special]
    generator = torch.Generator().manual_seed(0)
    start = _first_id(config, ("bos_token_id", "cls_token_id"))
    end = _first_id(config, ("eos_token_id", "sep_token_id"))
    rows = []
    for length in lengths:
        picks = torch.randint(len(ordinary), (length,), generator=generator).tolist()
        rows.append([start] * (start is not None) + [ordinary[i] for i in picks] + [end] * (end is not None))
    longest = max(map(len, rows))
    pad = _first_id(config, ("pad_token_id",))
    pad = 0 if pad is None else pad
    input_ids, attention_mask = [], []
    for row in rows:
        padding = longest - len(row)
        input_ids.append([pad] * padding + row if left else row + [pad] * padding)
        attention_mask.append([0] * padding + [1] * len(row) if left else [1] * len(row) + [0] * padding)
    return {"input_ids": torch.tensor(input_ids), "attention_mask": torch.tensor(attention_mask)}


def _first_id(config: Any, names: tuple[str, ...]) -> int | None:
    for name in names:
        value = getattr(config, name, None)
        value = value[0] if isinstance(value, (list, tuple)) and value else value
        if isinstance(value, int):
            return value
    return None


def image_batch(classifier: torch.nn.Module, batch: int = 2) -> dict:
    """Random normalized pixels at the size the probe uses."""
    channels = int(vision_setting(classifier.config, "num_channels") or 3)
    generator = torch.Generator().manual_seed(0)
    return {"pixel_values": torch.randn(batch, channels, *probe_size(classifier.config), generator=generator)}


def example_batch(classifier: torch.nn.Module, modality: str) -> dict:
    """A small batch of the classifier's own inputs for ``modality`` (as ``infer_modality`` names it)."""
    return text_batch(classifier) if modality == "text" else image_batch(classifier)


def _train_one_step(model: AutoModelWithScorer, batch: dict, classes: int, folder: Path) -> None:
    labels = [index % classes for index in range(len(next(iter(batch.values()))))]
    dataset = Dataset.from_dict({**{key: value.tolist() for key, value in batch.items()}, "labels": labels})
    args = training_args(folder, max_steps=1, per_device_train_batch_size=len(labels), learning_rate=1e-2)
    ScorerTrainer(model=model, args=args, train_dataset=dataset).train()


def _check(classifier: torch.nn.Module, modality: str, folder: Path) -> None:
    """Every check on one classifier read as ``modality``; raises what went wrong."""
    batch = example_batch(classifier, modality)
    try:
        with torch.no_grad():
            class_scores(classifier(**batch), classifier.config.num_labels)
    except Exception as error:  # noqa: BLE001
        raise CannotBuild(f"the plain classifier fails on tiny inputs: {type(error).__name__}: {error}") from error

    model = AutoModelWithScorer.from_classifier(classifier, SCORER)
    with torch.no_grad():  # frozen (no gradients) some classifiers round differently: compare with the frozen one
        expected = class_scores(classifier(**batch), classifier.config.num_labels)
        out = model(**batch)
    assert torch.equal(out.logits, expected), "the prediction must be the classifier's own"
    maps, valid = out.attributions, out.feature_mask
    assert maps.shape == valid.shape and torch.isfinite(maps).all(), "maps must be finite, one per feature"
    assert maps.min() >= 0 and maps.max() <= 1, "maps must lie in [0, 1]"
    assert (maps[~valid] == 0).all(), "padding and special tokens must score 0"
    if modality == "text":
        assert not valid[batch["attention_mask"] == 0].any(), "padding is never a feature"
    with torch.no_grad():  # scores of 1 change nothing: the classifier pools what it pools without hf_ssxai
        kept = model.modality.masked_logits(classifier, batch, torch.ones(valid.shape), valid)
    torch.testing.assert_close(kept, expected, rtol=1e-4, atol=1e-5, msg="scores of 1 must keep the prediction")

    classifier_before = {key: value.clone() for key, value in classifier.state_dict().items()}
    scorer_before = {key: value.clone() for key, value in model.scorer.state_dict().items()}
    _train_one_step(model, batch, out.logits.shape[-1], folder / "train")
    after = classifier.state_dict()
    assert all(torch.equal(value, after[key]) for key, value in classifier_before.items()), "classifier changed"
    assert any(not torch.equal(value, model.scorer.state_dict()[key]) for key, value in scorer_before.items()), (
        "the training step changed nothing of the scorer"
    )

    model.eval()
    with torch.no_grad():
        trained = model(**batch)
    model.save_pretrained(folder / "checkpoint")
    reloaded = AutoModelWithScorer.from_pretrained(folder / "checkpoint").eval()
    with torch.no_grad():
        again = reloaded(**batch)
    assert torch.equal(trained.logits, again.logits), "the reloaded classifier predicts differently"
    assert torch.equal(trained.attributions, again.attributions), "the reloaded scorer explains differently"

    for name, options in (("saliency", {}), ("integrated_gradients", {"n_steps": 4})):
        explained = get_explainer(name, model, **options).attribute(batch)
        assert explained.attributions.shape == valid.shape, f"{name} maps have the wrong shape"
        assert torch.isfinite(explained.attributions).all(), f"{name} maps are not finite"


def check_architecture(architecture: Architecture) -> Result:
    """Every check of the matrix on one architecture (see the module docstring); never raises."""
    started = time.perf_counter()
    modality = ""
    quiet = contextlib.redirect_stdout(io.StringIO())  # the Trainer prints its summary
    with tempfile.TemporaryDirectory(prefix="hf_ssxai-matrix-") as folder, warnings.catch_warnings(), quiet:
        warnings.simplefilter("ignore")
        try:
            classifier = build_classifier(architecture)
            modality = infer_modality(classifier)
            _check(classifier, modality, Path(folder))
            status, reason = PASS, ""
        except CannotBuild as error:
            status, reason = NOT_BUILT, str(error)
        except UnsupportedClassifierError as error:
            status, reason = REFUSED, str(error)
        except Exception as error:  # noqa: BLE001  (a failure of any kind is what the matrix reports)
            status, reason = FAILED, f"{type(error).__name__}: {error}"
    return Result(architecture, status, reason, modality, time.perf_counter() - started)


def shares(results: list[Result]) -> dict[str, tuple[int, int, int]]:
    """Per registry: ``(architectures, built, passing)``."""
    counts = {}
    for registry in REGISTRIES:
        rows = [result for result in results if result.architecture.registry == registry]
        built = [result for result in rows if result.status != NOT_BUILT]
        counts[registry] = (len(rows), len(built), sum(result.status == PASS for result in built))
    return counts


def _cell(text: str) -> str:
    """Text for one Markdown table cell: one line, no pipes, not too long."""
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= 400 else text[:397] + "..."


#: what docs/models.md says, beside its tables, about how each family is read
FAMILY_NOTES = """\
## How each family is read

- **Encoders** (BERT, RoBERTa, DeBERTa, ModernBERT, ...): the scorer reads the last hidden state. The mask
  multiplies the word embeddings of the tokens, which the classifier reads in place of those it looks up for its
  own `input_ids`; nothing else of its forward changes.
- **Decoder-only LLM classifiers** (Llama, Qwen, Gemma, Mistral, GPT-2 and the rest, hybrid and linear-attention
  ones such as Jamba, Zamba and Qwen3-Next included): the classifier still receives its `input_ids`, so its
  last-token pooling finds each text's last real token, with padding on the left or the right and with a pad token
  equal to the end-of-sequence token; bfloat16 classifiers work (`tests/test_decoder_classifiers.py`).
- **Encoder-decoder classifiers** (BART, mBART, PLBart, MVP, BigBird-Pegasus, T5, mT5, UMT5, T5Gemma): the scorer
  reads the encoder's last hidden state (`hidden_state_layers` counts the encoder's states first, then the
  decoder's). The mask acts wherever the shared word-embedding table is read: on the encoder's tokens and on the
  decoder's copy of them, shifted right by one position.
- **Classifiers that pool tokens in deeper layers** (Funnel): the scorer reads the deepest layer that keeps one
  vector per token.
- **Vision transformers** (ViT, DeiT, BEiT, DINOv2, ...): patch tokens laid out on the patch grid, CLS,
  distillation and register tokens dropped. **Hierarchical models** give feature maps (ResNet, ConvNeXt, PVT, ...),
  or tokens of each stage's grid (LeViT). **Windowed models** (Swin, Swin V2, Donut, FocalNet, Hiera) are read
  through their stage maps (`reshaped_hidden_states`). **CLIP-style** image classifiers (CLIP, MetaCLIP 2, SigLIP)
  take image, patch and channel sizes from their `vision_config`.
- The probe that `from_classifier` runs is sized from the config: image size, patch, window and stage sizes and
  channels (nested `vision_config` included); a text between the config's start and end tokens no longer than its
  position limit (nested `text_config` included).
- **Read as text** in the image registry: ImageGPT reads pixel-cluster ids as `input_ids`, and ShieldGemma2 reads a
  prompt (the image passes through unmasked; its hidden states are those of the model it wraps, which it drops).
  PP-LCNet returns its class scores as `last_hidden_state`: they are read as its logits.
"""


def render(results: list[Result], seconds: float) -> str:
    """``docs/models.md``: the summary per registry, how each family is read, then one table per registry."""
    lines = [
        "# Supported architectures",
        "",
        "Every sequence and image classifier that the installed transformers registers "
        f"(transformers {transformers.__version__}), built tiny and random from its own config class by "
        "`tests/tiny_configs.py`, then checked by `tests/support_matrix.py`: the plain classifier runs, "
        "`from_classifier` attaches a scorer, the forward gives finite maps in [0, 1] with padding and special "
        "tokens at 0 and the classifier's own logits, scores of 1 leave the prediction as it is, one `ScorerTrainer` "
        "step changes the scorer only, `save_pretrained`/`from_pretrained` reproduce logits and maps bit for bit, "
        "and `saliency` and `integrated_gradients` run. An architecture hf_ssxai cannot explain is refused with an "
        "`UnsupportedClassifierError` that says what is missing and what to use instead; an architecture the "
        "builder cannot build is listed with the reason.",
        "",
        f"Regenerate this page (the run that wrote it took {seconds:.0f} s on one CPU thread):",
        "",
        "```bash",
        "OMP_NUM_THREADS=1 python -m tests.support_matrix --write docs/models.md",
        "```",
        "",
        "The same checks run as tests: `python -m pytest -m slow tests/test_support_matrix.py` (every architecture), "
        "and one architecture per family in the default suite (`tests/test_support_matrix.py`).",
        "",
        "| registry | architectures | built | pass | refused | share of built passing |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for registry, (total, built, passing) in shares(results).items():
        refused = sum(r.status == REFUSED and r.architecture.registry == registry for r in results)
        lines.append(f"| {registry} | {total} | {built} | {passing} | {refused} | {passing / max(built, 1):.0%} |")
    lines += ["", FAMILY_NOTES.rstrip()]
    for registry in REGISTRIES:
        lines += ["", f"## {registry.capitalize()}", "", "| model type | class | read as | result | reason |"]
        lines.append("|---|---|---|---|---|")
        for result in results:
            if result.architecture.registry == registry:
                row = result.architecture
                lines.append(
                    f"| `{row.model_type}` | `{row.class_name}` | {result.modality or '-'} | {result.status} | "
                    f"{_cell(result.reason)} |"
                )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", type=Path, help="write the Markdown page here (else print it)")
    parser.add_argument("--only", nargs="*", help="model types to check (default: every registered one)")
    options = parser.parse_args()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    logging.getLogger("hf_ssxai").setLevel(logging.ERROR)
    torch.set_num_threads(1)
    results, started = [], time.perf_counter()
    for architecture in architectures():
        if options.only and architecture.model_type not in options.only:
            continue
        result = check_architecture(architecture)
        print(f"{result.status:9s} {architecture.model_type:28s} {result.seconds:5.1f}s {result.reason[:150]}")
        results.append(result)
    page = render(results, time.perf_counter() - started)
    if options.write:
        options.write.write_text(page, encoding="utf-8")
    else:
        print(page)


if __name__ == "__main__":
    main()
