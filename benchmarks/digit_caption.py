"""Digit-caption matching on real MNIST: a fusion classifier, its two scorers, and the benchmark of every method.

Pairs an MNIST digit with a caption naming a number (label: match / mismatch). The image tower is a small ResNet
first trained to read MNIST digits; the text tower a small BERT over a word-level tokenizer; a 2-layer fusion
transformer learns the matching; then the text and image scorers are trained (joint loss, eq. 3.5) and every
method is benchmarked per modality and jointly, with the number word and the digit's bounding box as evidence.

Run:  python benchmarks/digit_caption.py --mnist ../shared/data/mnist
Writes benchmarks/results/digit_caption/: result.json, tables.md, radar_{text,image,joint}.png, examples.png.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from digit_caption_data import (  # benchmarks/digit_caption_data.py, beside this script
    CAPTION_WORDS,
    ID2LABEL,
    digit_caption_pairs,
    encode_digit_captions,
    ink_boxes,
    load_mnist,
)
from text_image_examples import draw_examples
from transformers import (
    BertConfig,
    ResNetConfig,
    ResNetForImageClassification,
    Trainer,
    TrainingArguments,
    ViTImageProcessorPil,
)

from hf_ssxai import AutoModelWithScorer, FusionForSequenceClassification, FusionProcessor, ScorerConfig
from hf_ssxai.benchmark import dataset_to_batch, run_benchmark
from hf_ssxai.data.synthetic import build_word_tokenizer
from hf_ssxai.training.phases import LOCAL_RUN, fine_tune_classifier, train_scorer, training_arguments

RESULTS = Path(__file__).parent / "results" / "digit_caption"
TEXT = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128}
FUSION = {"fusion_hidden_size": 64, "fusion_num_layers": 2, "fusion_num_attention_heads": 2}
MAX_LENGTH = 12


def arguments(folder: str, epochs: float, learning_rate: float) -> TrainingArguments:
    return training_arguments(
        folder, **LOCAL_RUN, num_train_epochs=epochs, learning_rate=learning_rate, disable_tqdm=True,
        logging_steps=100, use_cpu=True, seed=0,
    )  # fmt: skip


def pairs(mnist: Path, split: str, count: int, seed: int, processor: FusionProcessor, kept: list[int]):
    images, digits = load_mnist(mnist, split)
    images, digits = images[np.isin(digits, kept)], digits[np.isin(digits, kept)]
    chosen = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:count].numpy()
    images, digits = images[chosen], digits[chosen]
    raw = digit_caption_pairs(images, digits, ink_boxes(images), seed=seed)
    return raw, encode_digit_captions(raw, processor, max_length=MAX_LENGTH)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist", type=Path, default=Path("../shared/data/mnist"))
    parser.add_argument("--train", type=int, default=8000, help="training pairs")
    parser.add_argument("--test", type=int, default=200, help="benchmarked pairs")
    parser.add_argument("--digits", default="0,1,2,3,4,5,6,7,8,9", help="the digits used, comma-separated")
    parser.add_argument("--classifier-epochs", type=float, default=6)
    parser.add_argument("--scorer-epochs", type=float, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    options = parser.parse_args()
    torch.manual_seed(0)
    started = time.time()
    work = Path(tempfile.mkdtemp(prefix="digit-caption-"))
    tokenizer = build_word_tokenizer(list(CAPTION_WORDS))
    processor = FusionProcessor(ViTImageProcessorPil(size={"height": 28, "width": 28}), tokenizer)
    kept = [int(digit) for digit in options.digits.split(",")]
    _, train = pairs(options.mnist, "train", options.train, 0, processor, kept)
    raw_test, test = pairs(options.mnist, "test", options.test, 1, processor, kept)
    columns = ["input_ids", "attention_mask", "pixel_values", "label"]

    # the image tower first learns to read digits (as a pretrained tower would), then the fusion learns to match
    reader = ResNetForImageClassification(
        ResNetConfig(embedding_size=32, hidden_sizes=[32, 64], depths=[1, 1], num_labels=10)
    )
    digits = train.select_columns(["pixel_values", "digit"]).rename_column("digit", "label")
    Trainer(model=reader, args=arguments(str(work / "reader"), 2, 2e-3), train_dataset=digits).train()
    classifier = FusionForSequenceClassification.from_text_vision_pretrained(
        BertConfig(vocab_size=len(tokenizer), **TEXT),
        reader.base_model,
        num_labels=2,
        id2label=ID2LABEL,
        fusion_dropout=0.0,
        classifier_dropout=0.0,
        **FUSION,
    )
    fine_tune_classifier(
        classifier,
        processor,
        arguments(str(work / "classifier"), options.classifier_epochs, 1e-3),
        train.select_columns(columns),
        mask_probability=0.0,
    )
    config = ScorerConfig(hidden_size=64, num_hidden_layers=1, num_attention_heads=2)
    trainer = train_scorer(
        classifier,
        processor,
        config,
        arguments(str(work / "scorer"), options.scorer_epochs, 3e-3),
        train.select_columns(columns),
    )
    model: AutoModelWithScorer = trainer.model.eval()
    trained = time.time() - started

    evidence = {"text": "evidence_tokens", "image": "evidence_pixels"}
    baselines = dataset_to_batch(model, train.select(range(20)).select_columns(columns[:-1]))
    result = run_benchmark(
        model,
        test.select_columns([*columns, *evidence.values()]),
        baseline_inputs=baselines,
        batch_size=25,
        evidence_column=evidence,
    )
    options.output.mkdir(parents=True, exist_ok=True)
    result.metadata.update({"train_pairs": options.train, "training_seconds": round(trained)})
    result.to_json(options.output / "result.json")
    tables = [f"accuracy on the benchmarked pairs: {result.metadata['accuracy']:.3f}\n"]
    for group in ("text", "image", "joint"):
        part = result.select([m for m in result.metrics if m.startswith(f"{group}_")])
        tables.append(f"### {group}\n\n{part.to_markdown()}\n")
        part.radar(options.output / f"radar_{group}.png", title=f"digit-caption (MNIST): {group}")
    (options.output / "tables.md").write_text("\n".join(tables), encoding="utf-8")

    # examples: the scorer and two baselines on four test pairs
    figures = [options.output / f"example_{index}.png" for index in range(4)]
    titles = [f"{raw_test[index]['text']!r}: {ID2LABEL[int(test[index]['label'])]}" for index in range(4)]
    draw_examples(model, test.select(range(4)), titles, figures)
    figures = [path.name for path in figures]
    summary = {"accuracy": result.metadata["accuracy"], "training_seconds": round(trained), "examples": figures}
    print(json.dumps(summary, indent=1))
    print("\n".join(tables))


if __name__ == "__main__":
    main()
