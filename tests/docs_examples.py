"""What the Python examples of README.md and docs/ run against: local folders that stand in for the Hub ids and files
they name, and the names a page's examples take as given (``model``, ``inputs``, ``train``, ...), per context.

Both are tables a docs author extends (see tests/test_docs_examples.py): an example that names a new Hub id or file
needs an entry in :data:`STAND_INS`; one that takes a new name as given needs it in a context of :func:`contexts`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from PIL import Image
from transformers import BertConfig, BertModel, ViTConfig, ViTImageProcessorPil, ViTModel

from hf_ssxai import AutoModelWithScorer, ScorerConfig, ScorerTrainer, ScorerTrainingArguments
from hf_ssxai.data.synthetic import EVIDENCE_WORDS, FILLER_WORDS, build_word_tokenizer
from tests.checkpoint_helpers import small_benchmark, tiny_image_model
from tests.helpers import TINY, tiny_image_classifier, tiny_text_classifier
from tests.multimodal_helpers import tiny_fusion_classifier, tiny_fusion_processor

SMALL = ScorerConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
TEXTS = ["the movie was great", "awful", "a brilliant story", "the plot was dreadful", "superb", "a boring film"]
LABELS = [1, 0, 1, 0, 1, 0]
NUM_TEXT_LABELS = 4  # examples ask for class 3


def _text_model(tokenizer: Any, num_labels: int = NUM_TEXT_LABELS) -> AutoModelWithScorer:
    torch.manual_seed(0)
    classifier = tiny_text_classifier("bert", len(tokenizer), num_labels=num_labels)
    return AutoModelWithScorer.from_classifier(classifier, SMALL, processor=tokenizer).eval()


def _picture(seed: int = 0, size: tuple[int, int] = (40, 30)) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def _sst2(folder: Path, tokenizer: Any) -> None:
    """Files laid out as ``load_dataset`` reads a local folder: one CSV per split, SST-2's columns."""
    folder.mkdir(parents=True)
    for split in ("train", "validation"):
        Dataset.from_dict({"idx": list(range(len(TEXTS))), "sentence": TEXTS, "label": LABELS}).to_csv(
            folder / f"{split}.csv", index=False
        )


def _classifier_folder(folder: Path, tokenizer: Any) -> None:
    """A fine-tuned classifier as transformers saves it (two named labels), with its tokenizer."""
    torch.manual_seed(1)
    classifier = tiny_text_classifier("bert", len(tokenizer))
    classifier.config.id2label, classifier.config.label2id = (
        {0: "NEGATIVE", 1: "POSITIVE"},
        {"NEGATIVE": 0, "POSITIVE": 1},
    )
    classifier.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _text_checkpoint(folder: Path, tokenizer: Any) -> None:
    _text_model(tokenizer).save_pretrained(folder)


def _scorer_only(folder: Path, tokenizer: Any) -> None:
    """A scorer-only checkpoint naming its base classifier ``user/imdb-roberta`` (the stand-in below)."""
    model = _text_model(tokenizer)
    model.scorer_config.base_model_name_or_path = "user/imdb-roberta"
    model.save_pretrained(folder, scorer_only=True)


def _base_classifier(folder: Path, tokenizer: Any) -> None:
    model = _text_model(tokenizer)
    model.classifier.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _pair_checkpoint(folder: Path, tokenizer: Any) -> None:
    torch.manual_seed(0)
    classifier = tiny_fusion_classifier(len(tokenizer))
    classifier.config.id2label = {0: "MISMATCH", 1: "MATCH"}
    classifier.config.label2id = {"MISMATCH": 0, "MATCH": 1}
    AutoModelWithScorer.from_classifier(classifier, SMALL, processor=tiny_fusion_processor(tokenizer)).save_pretrained(
        folder
    )


def _text_tower(folder: Path, tokenizer: Any) -> None:
    BertModel(BertConfig(vocab_size=len(tokenizer), **TINY)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _vision_tower(folder: Path, tokenizer: Any) -> None:
    ViTModel(ViTConfig(image_size=16, patch_size=4, **TINY)).save_pretrained(folder)
    ViTImageProcessorPil(size={"height": 16, "width": 16}).save_pretrained(folder)


def _image_checkpoint(folder: Path, tokenizer: Any) -> None:
    tiny_image_model().save_pretrained(folder)


def _dog(path: Path, tokenizer: Any) -> None:
    _picture(0).save(path)


#: every Hub id, folder and file the examples name -> how its local stand-in is made (at that relative path)
STAND_INS: dict[str, Callable[[Path, Any], None]] = {
    "my-finetuned-classifier": _classifier_folder,
    "google-bert/bert-base-uncased": _classifier_folder,
    "stanfordnlp/sst2": _sst2,
    "checkpoint": _text_checkpoint,
    "user/imdb-roberta-ssxai": _text_checkpoint,
    "user/imdb-roberta-scorer": _scorer_only,
    "user/imdb-roberta": _base_classifier,
    "user/vit-ssxai": _image_checkpoint,
    "user/caption-matching-ssxai": _pair_checkpoint,
    "caption-matching-ssxai": _pair_checkpoint,
    "sentence-transformers/all-MiniLM-L6-v2": _text_tower,
    "google/vit-base-patch16-224-in21k": _vision_tower,
    "dog.jpg": _dog,
}


def make_stand_ins(root: Path, tokenizer: Any) -> None:
    """Build every stand-in under ``root`` (the folder the examples then run in)."""
    for name, make in STAND_INS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        make(root / name, tokenizer)


def _tokenized(tokenizer: Any, texts: list[str], labels: list[int]) -> Dataset:
    raw = Dataset.from_dict({"text": texts, "label": labels})
    return raw.map(lambda batch: tokenizer(batch["text"], truncation=True), batched=True)


def _text_context(tokenizer: Any, root: Path) -> dict[str, Any]:
    model = _text_model(tokenizer)
    inputs = dict(tokenizer(TEXTS[:2], padding=True, return_tensors="pt"))
    raw = Dataset.from_dict({"sentence": TEXTS * 4, "label": LABELS * 4})  # the benchmark takes 20 baselines
    from transformers import AutoModelForSequenceClassification

    return {
        "tokenizer": tokenizer,
        "classifier": model.classifier,
        "model": model,
        "inputs": inputs,
        "batch": inputs,
        "train": _tokenized(tokenizer, TEXTS, LABELS),
        "dev": _tokenized(tokenizer, TEXTS[:4], LABELS[:4]),
        "raw_train": raw,
        "raw_test": raw,
        "train_inputs": dict(tokenizer(TEXTS[2:], padding=True, return_tensors="pt")),
        "my_classifier": AutoModelForSequenceClassification.from_pretrained(root / "user/imdb-roberta"),
        "result": small_benchmark(),
    }


def _image_context(planted_resnet: tuple[AutoModelWithScorer, Any], root: Path) -> dict[str, Any]:
    """The planted-squares ResNet (four classes, trained: the grid game needs images it gets right)."""
    from transformers import ViTImageProcessor

    model, test = planted_resnet
    model.processor = ViTImageProcessor(size={"height": 16, "width": 16}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    pixel_values, labels = test["pixel_values"][:40], test["label"][:40]
    batches = [{"pixel_values": pixel_values[start : start + 8]} for start in (0, 8)]
    shuffled = AutoModelWithScorer.from_classifier(tiny_image_classifier("resnet", num_labels=4), SMALL).eval()
    steps = ScorerTrainingArguments(root / "retrained", max_steps=1, per_device_train_batch_size=8, use_cpu=True)
    train = Dataset.from_dict({"pixel_values": pixel_values.numpy(), "label": labels.tolist()}).with_format("torch")

    def train_fn(randomized: AutoModelWithScorer) -> None:
        ScorerTrainer(model=randomized, args=steps, train_dataset=train).train()

    return {
        "model": model,
        "inputs": batches[0],
        "batch": batches[0],
        "pixel_values": pixel_values,
        "labels": labels,
        "batches": batches,
        "train_fn": train_fn,
        "model_trained_on_shuffled_labels": shuffled,
        "image": _picture(1),
    }


def _text_image_context() -> dict[str, Any]:
    image = _picture(2, (24, 24))
    return {"image": image, "pairs": [("a dog runs on the beach", image), ("a red car", _picture(3))]}


def contexts(tokenizer: Any, root: Path, planted_resnet: Callable[[], Any]) -> dict[str, Callable[[], dict[str, Any]]]:
    """The names a page's examples take as given, by the page's context (``<!-- examples: image -->``; default
    ``text``), each made when a page asks for it (``planted_resnet`` gives the trained ResNet fixture)."""
    return {
        "text": lambda: _text_context(tokenizer, root),
        "image": lambda: _image_context(planted_resnet(), root),
        "text-image": _text_image_context,
    }


def word_tokenizer() -> Any:
    """The examples' tokenizer: a fast word-level tokenizer whose vocabulary covers their words."""
    words = {
        word for text in [*TEXTS, "a great movie", "a dull plot", "a dog runs on the beach"] for word in text.split()
    }
    return build_word_tokenizer(sorted(words | set(FILLER_WORDS) | set(EVIDENCE_WORDS[0]) | set(EVIDENCE_WORDS[1])))
