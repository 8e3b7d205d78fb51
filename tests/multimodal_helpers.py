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


def train_digit_caption_model(output_dir, num_samples: int = 3000, seed: int = 0):
    """The whole text-image stack on generated digit-caption data; returns ``(model with scorer, test dataset)``.

    A tiny ResNet is first trained to read the digits (one pretrained tower, as in practice), a 2-layer fusion
    classifier over it and a tiny BERT learns match/mismatch, then the scorers are trained against it.
    """
    from transformers import AutoModelForImageClassification, BertConfig, Trainer

    from hf_ssxai import AutoModelWithScorer, ScorerConfig, ScorerTrainer
    from hf_ssxai.data.digit_caption import (
        CAPTION_WORDS,
        ID2LABEL,
        digit_caption_pairs,
        encode_digit_captions,
        generate_digits,
    )
    from hf_ssxai.data.synthetic import build_word_tokenizer
    from hf_ssxai.training.phases import fine_tune_classifier
    from tests.helpers import training_args

    torch.manual_seed(seed)
    tokenizer = build_word_tokenizer(list(CAPTION_WORDS))
    processor = tiny_fusion_processor(tokenizer)
    images, digits, evidence = generate_digits(num_samples + 200, digits=(2, 4, 7), size=16, seed=seed)
    data = encode_digit_captions(digit_caption_pairs(images, digits, evidence, seed=seed), processor, max_length=12)
    train, test = data.select(range(num_samples)), data.select(range(num_samples, num_samples + 200))

    vision_config = tiny_vision_config("resnet")
    vision_config.num_labels = 10
    reader = AutoModelForImageClassification.from_config(vision_config)
    digit_labels = train.select_columns(["pixel_values", "digit"]).rename_column("digit", "label")
    Trainer(
        model=reader, args=training_args(output_dir / "reader", num_train_epochs=4), train_dataset=digit_labels
    ).train()

    fusion = {"fusion_num_layers": 2, "fusion_hidden_size": 64, "fusion_intermediate_size": 128}
    classifier = FusionForSequenceClassification.from_text_vision_pretrained(
        BertConfig(vocab_size=len(tokenizer), **TINY),
        reader.base_model,
        num_labels=2,
        id2label=ID2LABEL,
        fusion_num_attention_heads=2,
        fusion_dropout=0.0,
        classifier_dropout=0.0,
        **fusion,
    )
    columns = ["input_ids", "attention_mask", "pixel_values", "label"]
    args = training_args(output_dir / "classifier", num_train_epochs=8, learning_rate=1e-3)
    fine_tune_classifier(classifier, processor, args, train.select_columns(columns), mask_probability=0.0)

    config = ScorerConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2)
    model = AutoModelWithScorer.from_classifier(classifier, config, processor=processor)
    args = training_args(output_dir / "scorer", num_train_epochs=4)
    ScorerTrainer(model=model, args=args, train_dataset=train.select_columns(columns)).train()
    return model.eval(), test
