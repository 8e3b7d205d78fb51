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


def train_planted_text_image_model(output_dir, word_tokenizer, num_samples: int = 1500, seed: int = 0):
    """The text-image stack trained from scratch on planted pairs; returns ``(model with scorer, test dataset)``.

    Label = 2 x the evidence word's polarity + the square's colour: every class needs both modalities, and each
    modality's part of the label can be read off its own evidence, so a fusion classifier learns it from scratch.
    """
    from hf_ssxai import AutoModelWithScorer, ScorerConfig, ScorerTrainer
    from hf_ssxai.data.synthetic import planted_text_image_dataset
    from tests.helpers import fit_classifier, training_args

    torch.manual_seed(seed)
    train = planted_text_image_dataset(word_tokenizer, num_samples, seed=seed)
    test = planted_text_image_dataset(word_tokenizer, 200, seed=seed + 10)
    columns = ["input_ids", "attention_mask", "pixel_values", "label"]
    classifier = tiny_fusion_classifier(len(word_tokenizer), vision="resnet", num_labels=4).train()
    fit_classifier(
        classifier,
        train.select_columns(columns),
        output_dir / "classifier",
        epochs=4,
        special_token_ids=word_tokenizer.all_special_ids,
    )
    config = ScorerConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2)
    model = AutoModelWithScorer.from_classifier(classifier, config, processor=tiny_fusion_processor(word_tokenizer))
    args = training_args(output_dir / "scorer", num_train_epochs=4)
    ScorerTrainer(model=model, args=args, train_dataset=train.select_columns(columns)).train()
    return model.eval(), test
