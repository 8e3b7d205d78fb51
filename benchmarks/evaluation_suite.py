"""The grid pointing game and the randomization sanity checks on a real dataset, every method (docs/evaluation.md).

Needs a recipe (the data, the scorer's settings) and the classifier + scorer it trained (recipes/train.py):

    python benchmarks/evaluation_suite.py --config recipes/configs/mnist_local.yaml --model runs/mnist/model \
        --output-dir benchmarks/results/evaluation/mnist --grid-size 28

Steps (each writes its own files under OUTPUT_DIR, so a later step can be rerun alone with --steps):
  class-conditional   trains two class-conditional scorers: on single images, and on 2x2 grids of training images
                      (the class to explain drawn among the grid's classes and the others, as the model draws)
  grid                the grid pointing game on grids of held-out images the classifier gets right, every method
                      with and without ClassDistribution
  cascading           cascading model randomization; the scorer unchanged and retrained after each step
  data                a classifier trained on shuffled labels (and its scorer) against the real one
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from transformers import AutoImageProcessor

from hf_ssxai import AutoModelWithScorer, ScorerConfig, get_explainer
from hf_ssxai.errors import UnsupportedClassifierError
from hf_ssxai.evaluation import cascading_randomization, data_randomization, make_grids, run_grid_pointing_game
from hf_ssxai.explainers import EXPLAINER_NAMES
from hf_ssxai.modalities import get_modality
from hf_ssxai.training.phases import fine_tune_classifier, train_scorer, training_arguments
from hf_ssxai.training.recipe import Recipe, load_recipe, new_classifier, prepare

STEPS = ("class-conditional", "grid", "cascading", "data")


def tensors(dataset: Dataset, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    rows = dataset if limit is None else dataset.select(range(min(limit, len(dataset))))
    rows = rows.with_format("numpy")
    return torch.as_tensor(np.asarray(rows["pixel_values"]), dtype=torch.float32), torch.as_tensor(rows["label"]).long()


def grid_dataset(pixel_values: torch.Tensor, labels: torch.Tensor, count: int, grid_size: int | None, seed: int):
    """Training grids, each labelled with one of its four classes at random (the class to explain)."""
    grids = make_grids(pixel_values, labels, count, grid_size=grid_size, seed=seed)
    pick = torch.randint(4, (count,), generator=torch.Generator().manual_seed(seed))
    label = grids.tile_classes[torch.arange(count), pick]
    return Dataset.from_dict({"pixel_values": grids.pixel_values.numpy(), "label": label.numpy()})


def scorer_settings(recipe: Recipe, args: argparse.Namespace) -> dict:
    """The recipe's scorer training settings, capped at ``--scorer-steps``, saving nothing on the way."""
    settings = {**recipe.scorer_training, "save_strategy": "no"}
    if args.scorer_steps:
        settings["max_steps"] = args.scorer_steps
    return settings


def usable_methods(model: AutoModelWithScorer, names: list[str], baselines: torch.Tensor) -> list[str]:
    """The methods that support this classifier (relevance methods support some families only)."""
    usable = []
    for name in names:
        try:
            build(name, model, baselines)
        except UnsupportedClassifierError:
            continue
        usable.append(name)
    return usable


def build(name: str, model: AutoModelWithScorer, baselines: torch.Tensor):
    kwargs = {"baselines": {"pixel_values": baselines}} if name in ("deeplift_shap", "gradient_shap") else {}
    return get_explainer(name, model, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--model", required=True, help="classifier + scorer folder (recipes/train.py's model/)")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--grid-size", type=int, help="grid side in pixels (default: twice the image side)")
    parser.add_argument("--num-grids", type=int, default=200)
    parser.add_argument("--train-grids", type=int, default=20000, help="0: no scorer trained on grids")
    parser.add_argument("--sanity-samples", type=int, default=100)
    parser.add_argument("--scorer-steps", type=int, help="cap on scorer training steps (default: the recipe's)")
    parser.add_argument("--retrain-steps", type=int, default=300, help="0: no retrained scorer in cascading")
    parser.add_argument("--shuffled-samples", type=int, default=10000)
    parser.add_argument("--shuffled-epochs", type=float, default=30)
    parser.add_argument("--methods", default=",".join(EXPLAINER_NAMES))
    parser.add_argument("--batch-size", type=int, default=16, help="maps per call (IG holds 50x this many inputs)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    steps = args.steps.split(",")
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    recipe = load_recipe(args.config)
    processor = AutoImageProcessor.from_pretrained(args.model)
    data, labels_names = prepare(recipe, processor, recipe.max_train_samples)
    test = data.get("test", data.get("validation"))
    model = AutoModelWithScorer.from_pretrained(args.model).to(device).eval()
    scorer_options = recipe.scorer
    timings = {}

    # ---------------------------------------------------------------- class-conditional scorers
    train_x, train_y = tensors(data["train"])
    if "class-conditional" in steps:
        start = time.perf_counter()
        variants = {"single": data["train"]}
        if args.train_grids:
            variants["grids"] = grid_dataset(train_x, train_y, args.train_grids, args.grid_size, args.seed)
        for name, train_set in variants.items():
            trainer = train_scorer(
                model.classifier,
                processor,
                ScorerConfig(**{**scorer_options, "class_conditional": True}),
                training_arguments(output / f"run_cc_{name}", **scorer_settings(recipe, args)),
                train_set,
            )
            trainer.model.save_pretrained(output / f"class_conditional_{name}")
        timings["class-conditional"] = time.perf_counter() - start

    baselines = train_x[torch.randperm(len(train_x), generator=torch.Generator().manual_seed(args.seed))[:20]]
    baselines = baselines.to(device)
    methods = usable_methods(model, args.methods.split(","), baselines)

    # ---------------------------------------------------------------- grid pointing game
    if "grid" in steps:
        start = time.perf_counter()
        test_x, test_y = tensors(test)
        with torch.no_grad():
            probabilities = torch.cat(
                [model.classifier(pixel_values=b.to(device)).logits.softmax(-1).cpu() for b in test_x.split(256)]
            )
        confident = (probabilities.argmax(-1) == test_y) & (probabilities.max(-1).values > 0.5)
        grids = make_grids(
            test_x[confident], test_y[confident], args.num_grids, grid_size=args.grid_size, seed=args.seed
        )
        with torch.no_grad():
            grid_logits = torch.cat(
                [model.classifier(pixel_values=b.to(device)).logits.cpu() for b in grids.pixel_values.split(64)]
            )
        top4 = grid_logits.topk(4, dim=-1).indices.sort(-1).values
        top4_match = (top4 == grids.tile_classes.sort(-1).values).all(-1).float().mean().item()
        # the SHAP methods' baselines must look like what they explain: grids of training images
        grid_baselines = make_grids(train_x, train_y, 20, grid_size=args.grid_size, seed=args.seed + 1).pixel_values
        grid_baselines = grid_baselines.to(device)
        explainers = {name: build(name, model, grid_baselines) for name in methods}
        for name in ("single", "grids"):
            folder = output / f"class_conditional_{name}"
            if folder.is_dir():
                conditional = AutoModelWithScorer.from_pretrained(folder).to(device).eval()
                explainers[f"scorer (class-conditional, trained on {name})"] = get_explainer("scorer", conditional)
        result = run_grid_pointing_game(explainers, grids, class_distribution=True, batch_size=args.batch_size)
        result.metadata.update(
            confident_pool=int(confident.sum()), classifier_top4_is_grid_classes=top4_match, device=device
        )
        result.to_json(output / "grid_pointing_game.json")
        result.plot(output / "grid_pointing_game.png")
        timings["grid"] = time.perf_counter() - start

    sanity_x, _ = tensors(test, args.sanity_samples)
    batches = [{"pixel_values": chunk.to(device)} for chunk in sanity_x.split(args.batch_size)]

    def retrain(randomized: AutoModelWithScorer) -> None:
        from hf_ssxai import ScorerTrainer

        settings = {**scorer_settings(recipe, args), "max_steps": args.retrain_steps}
        settings["logging_steps"] = max(1, args.retrain_steps // 3)
        ScorerTrainer(
            model=randomized,
            args=training_arguments(output / "run_retrain", **settings),
            train_dataset=data["train"],
        ).train()

    # ---------------------------------------------------------------- cascading randomization
    sanity_methods = {name: (lambda m, n=name: build(n, m, baselines)) for name in methods}
    if "cascading" in steps:
        start = time.perf_counter()
        retrain_scorer = retrain if args.retrain_steps else None
        result = cascading_randomization(model, batches, sanity_methods, retrain_scorer=retrain_scorer, seed=args.seed)
        result.to_json(output / "cascading.json")
        result.plot(output / "cascading_spearman.png")
        result.plot(output / "cascading_ssim.png", measure="ssim")
        timings["cascading"] = time.perf_counter() - start

    # ---------------------------------------------------------------- data randomization
    if "data" in steps:
        start = time.perf_counter()
        generator = np.random.default_rng(args.seed)
        subset = data["train"].select(range(min(args.shuffled_samples, len(data["train"]))))
        shuffled = subset.add_column("shuffled", generator.permutation(subset["label"]).tolist())
        shuffled = shuffled.remove_columns("label").rename_column("shuffled", "label")
        classifier = new_classifier(recipe.classifier, get_modality(recipe.modality), labels_names)
        settings = {**recipe.classifier_training, "num_train_epochs": args.shuffled_epochs, "save_strategy": "no"}
        trainer = fine_tune_classifier(
            classifier, processor, training_arguments(output / "run_shuffled", **settings), shuffled, mask_probability=0
        )
        train_accuracy = trainer.evaluate(shuffled)["eval_accuracy"]
        test_accuracy = trainer.evaluate(test)["eval_accuracy"]
        scorer_trainer = train_scorer(
            classifier,
            processor,
            ScorerConfig(**scorer_options),
            training_arguments(output / "run_shuffled_scorer", **scorer_settings(recipe, args)),
            shuffled,
        )
        randomized = scorer_trainer.model.to(device).eval()
        result = data_randomization(model, randomized, batches, sanity_methods)
        result.metadata.update(
            shuffled_train_accuracy=train_accuracy, shuffled_test_accuracy=test_accuracy, samples_trained=len(shuffled)
        )
        result.to_json(output / "data_randomization.json")
        timings["data"] = time.perf_counter() - start
    (output / f"timings_{'_'.join(steps)}.json").write_text(json.dumps({**timings, "device": device}, indent=1) + "\n")


if __name__ == "__main__":
    main()
