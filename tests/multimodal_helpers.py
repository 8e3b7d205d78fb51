"""Tiny text-image fusion classifiers and processors, built from configs (nothing is downloaded)."""

from __future__ import annotations

import torch
from transformers import BertConfig, ResNetConfig, ViTConfig, ViTImageProcessorPil

from hf_ssxai.fusion import FusionConfig, FusionForSequenceClassification, FusionProcessor
from tests.helpers import TINY

FUSION_TINY = {
    "fusion_hidden_size": 32,
    "fusion_num_layers": 1,
    "fusion_num_attention_heads": 2,
    "fusion_intermediate_size": 64,
}


def tiny_vision_config(family: str = "vit", image_size: int = 16):
    if family == "vit":
        return ViTConfig(image_size=image_size, patch_size=4, **TINY)
    if family == "resnet":
        return ResNetConfig(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], downsample_in_first_stage=False)
    raise ValueError(family)


def tiny_fusion_classifier(vocab_size: int, vision: str = "vit", num_labels: int = 2, image_size: int = 16):
    config = FusionConfig(
        text_config=BertConfig(vocab_size=vocab_size, **TINY),
        vision_config=tiny_vision_config(vision, image_size),
        num_labels=num_labels,
        **FUSION_TINY,
    )
    return FusionForSequenceClassification(config).eval()


def tiny_image_processor(image_size: int = 16) -> ViTImageProcessorPil:
    """Resizes to ``image_size`` and normalizes with mean and std 0.5 (pixels in [-1, 1])."""
    return ViTImageProcessorPil(size={"height": image_size, "width": image_size})


def tiny_fusion_processor(tokenizer, image_size: int = 16) -> FusionProcessor:
    return FusionProcessor(image_processor=tiny_image_processor(image_size), tokenizer=tokenizer)


def random_images(count: int, size: int = 16, seed: int = 0) -> list:
    generator = torch.Generator().manual_seed(seed)
    return [torch.rand(size, size, 3, generator=generator).numpy() for _ in range(count)]
