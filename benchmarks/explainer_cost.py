"""Cost of every explainer that supports a model: milliseconds, forward equivalents and classifier forwards per sample.

    python benchmarks/explainer_cost.py              # CPU, 2 threads, batch 16: the table in docs/explainers.md
    python benchmarks/explainer_cost.py --device cuda
    python benchmarks/explainer_cost.py --model resnet   # the Imagenette recipe's ResNet (docs/relevance.md)
    python benchmarks/explainer_cost.py --model vit      # the MNIST recipe's ViT (docs/relevance.md)

``text`` has the architecture of the ``planted_text`` test fixture (tests/conftest.py); ``resnet`` and ``vit`` those
of recipes/configs/imagenette_local.yaml and mnist_local.yaml. All are left untrained: cost does not depend on the
weights, so no training is spent here. Each method runs once to warm up, then ``--repeats`` times; the median is
reported. Forward equivalents divide a method's time by that of one plain no-grad forward of the same batch.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    ResNetConfig,
    ResNetForImageClassification,
    ViTConfig,
    ViTForImageClassification,
)

from hf_ssxai import AutoModelWithScorer, ScorerConfig
from hf_ssxai.data.synthetic import as_batch, build_word_tokenizer, planted_text_dataset
from hf_ssxai.explainers import count_forwards, get_explainer, supported_explainers

COLUMNS = ("input_ids", "attention_mask")


def _to(batch: dict[str, torch.Tensor], device: str) -> dict[str, torch.Tensor]:
    return {key: value.to(device) for key, value in batch.items()}


def build_text_model(device: str) -> tuple[AutoModelWithScorer, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The planted_text fixture's tiny BERT + scorer (untrained), a batch source and 20 baseline samples."""
    tokenizer = build_word_tokenizer()
    torch.manual_seed(0)
    classifier = BertForSequenceClassification(
        BertConfig(
            vocab_size=len(tokenizer),
            num_labels=2,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
        )
    )
    config = ScorerConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2)
    model = AutoModelWithScorer.from_classifier(classifier.to(device), config, processor=tokenizer).eval()
    test = as_batch(planted_text_dataset(tokenizer, 200, seed=1), COLUMNS)
    train = as_batch(planted_text_dataset(tokenizer, 20, seed=0), COLUMNS)
    return model, _to(test, device), _to(train, device)


def build_image_model(
    kind: str, device: str
) -> tuple[AutoModelWithScorer, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The Imagenette recipe's ResNet (64x64) or the MNIST recipe's ViT (28x28, grey) + scorer (untrained), random
    normalized images as the batch source and 20 more as baseline samples."""
    torch.manual_seed(0)
    if kind == "resnet":
        config = ResNetConfig(
            embedding_size=32, hidden_sizes=[32, 64, 128, 256], depths=[1, 1, 1, 1], layer_type="basic", num_labels=10
        )
        classifier, shape = ResNetForImageClassification(config), (3, 64, 64)
    else:
        config = ViTConfig(
            image_size=28,
            patch_size=4,
            num_channels=1,
            hidden_size=64,
            num_hidden_layers=4,
            num_attention_heads=4,
            intermediate_size=128,
            num_labels=10,
        )
        classifier, shape = ViTForImageClassification(config), (1, 28, 28)
    model = AutoModelWithScorer.from_classifier(
        classifier.to(device), ScorerConfig(hidden_size=64, num_hidden_layers=1)
    )
    images = torch.randn(220, *shape, device=device)
    return model.eval(), {"pixel_values": images[:200]}, {"pixel_values": images[200:]}


def _timed(run: Callable[[], object], repeats: int, cuda: bool) -> float:
    """Median seconds of ``run()`` over ``repeats`` calls, after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, model: AutoModelWithScorer, batch: dict, baselines: dict, repeats: int) -> tuple[float, float]:
    """(median milliseconds per sample, classifier forwards per sample) of one method."""
    explainer = get_explainer(name, model, **({"baselines": baselines} if name.endswith("shap") else {}))
    size = len(next(iter(batch.values())))
    cuda = next(iter(batch.values())).is_cuda
    with count_forwards(model.classifier) as count:
        explainer.attribute(batch)
    return 1000 * _timed(lambda: explainer.attribute(batch), repeats, cuda) / size, count.per_sample(size)


def forward_milliseconds(model: AutoModelWithScorer, batch: dict, repeats: int) -> float:
    """Median milliseconds per sample of one plain no-grad classifier forward: the unit of forward equivalents."""
    cuda = next(iter(batch.values())).is_cuda
    with torch.no_grad():
        seconds = _timed(lambda: model.classifier(**batch), repeats, cuda)
    return 1000 * seconds / len(next(iter(batch.values())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", choices=("text", "resnet", "vit"), default="text")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.model == "text":
        model, test, baselines = build_text_model(args.device)
    else:
        model, test, baselines = build_image_model(args.model, args.device)
    batch = {key: value[: args.batch_size] for key, value in test.items()}
    shape = "x".join(map(str, next(iter(batch.values())).shape))
    print(f"{args.model}, batch {shape}, {args.device}, {args.threads} CPU threads, torch {torch.__version__}\n")
    unit = forward_milliseconds(model, batch, args.repeats)
    print("| method | ms / sample | forward equivalents | classifier forwards / sample |\n|---|---:|---:|---:|")
    print(f"| (one no-grad forward) | {unit:.3f} | 1.0 | 1 |")
    for name in supported_explainers(model):
        milliseconds, forwards = measure(name, model, batch, baselines, args.repeats)
        print(f"| {name} | {milliseconds:.3f} | {milliseconds / unit:.1f} | {forwards:g} |")


if __name__ == "__main__":
    main()
