"""Randomization sanity checks (Adebayo et al., "Sanity Checks for Saliency Maps", 2018).

A map that explains the classifier must change when what the classifier learned is destroyed:

* **cascading model randomization**: the classifier's layers are re-drawn at random from the top (the head) down
  to the embeddings, one step at a time; after each step every method explains the same inputs again and its
  maps are compared with the originals. High similarity after the head is gone means the method shows the input,
  not the model.
* **data randomization**: a classifier trained on shuffled labels (and a scorer trained on it) against the real
  one, on the same inputs.

Similarity is the Spearman rank correlation of the maps' magnitudes over valid features and, for images, SSIM
(:mod:`.similarity`). Every map explains the same class before and after: the original model's prediction (a
scorer that explains the prediction only explains the randomized model's own).

    result = cascading_randomization(model, batches, methods=("scorer", "saliency"))
    print(result.to_markdown()); result.plot("cascading.png")
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure
from torch import nn

from ..errors import InvalidInputError, UnsupportedClassifierError
from ..explainers import Explainer, ScorerExplainer, get_explainer
from ..modalities.base import each_map
from ..modeling import AutoModelWithScorer
from .similarity import spearman, ssim

#: the row of a method applied to the classifier before any randomization
ORIGINAL = "original"
#: the row name of a scorer retrained on each randomized classifier
RETRAINED_SCORER = "scorer (retrained)"
#: builds an explainer for a model: a registered name or a callable (e.g. a ClassDistribution around one)
ExplainerFactory = Callable[[AutoModelWithScorer], Explainer]


#: what one step of the cascade redraws: whole modules (a block, the head) and single parameters that a module owns
#: directly (an embedding table, a class token), without the module's children
StepItem = nn.Module | nn.Parameter
#: the attributes of a two-tower base model (the text-image fusion classifier): one encoder per modality
TOWERS = ("text_model", "vision_model")


def _split_at_blocks(
    root: nn.Module, excluded: frozenset[int] = frozenset()
) -> tuple[list[StepItem], list[nn.Module], list[StepItem]]:
    """``(before, blocks, after)`` of ``root``: the parameters owned by modules before its first non-empty
    ``nn.ModuleList``, that list's blocks, the parameters owned by modules after it. ``excluded`` holds the ids of
    modules (with their children) to leave out."""
    skipped = {id(m) for module in root.modules() if id(module) in excluded for m in module.modules()}
    modules = [module for module in root.modules() if id(module) not in skipped]
    lists = [index for index, module in enumerate(modules) if isinstance(module, nn.ModuleList) and len(module) > 0]
    if not lists:
        raise UnsupportedClassifierError(f"Found no list of blocks (nn.ModuleList) in {type(root).__name__}.")
    block_list = modules[lists[0]]
    inside = {id(module) for module in block_list.modules()}
    last_inside = max(index for index, module in enumerate(modules) if id(module) in inside)

    def owned(selected: Iterable[nn.Module]) -> list[StepItem]:
        return [p for module in selected if id(module) not in inside for p in module.parameters(recurse=False)]

    before = owned(m for index, m in enumerate(modules) if index < lists[0])
    after = owned(m for index, m in enumerate(modules) if index > last_inside)
    blocks = [block for block in block_list if any(True for _ in block.parameters())]
    return before, blocks, after


def randomization_steps(classifier: nn.Module) -> list[tuple[str, list[StepItem]]]:
    """The classifier cut into layers, top down: ``head`` (the classification head and pooler: everything outside
    the base model, and the base model's modules after its blocks, such as a final norm), then each block of the
    base model's block list from the last to the first (transformer layers, ResNet stages), then ``embeddings``
    (what comes before the blocks: patch or token embeddings, a CNN's stem).

    A two-tower base model (``text_model`` and ``vision_model``, the text-image fusion classifier) is cut as
    ``head``, each fusion block top down, ``fusion inputs`` (the projections into the fusion width), then both
    encoders' blocks from the top, the k-th from the top of each in one step, then both encoders' ``embeddings``.
    """
    base = getattr(classifier, "base_model", None)
    if base is None or base is classifier:
        raise UnsupportedClassifierError(
            f"{type(classifier).__name__} has no separate base model and head (transformers' *For*Classification "
            "classes have both), so there is no top-down order of layers to randomize."
        )
    head: list[StepItem] = [module for module in classifier.children() if module is not base]
    towers = [getattr(base, name, None) for name in TOWERS]
    if not all(isinstance(tower, nn.Module) for tower in towers):
        before, blocks, after = _split_at_blocks(base)
        steps = [("head", head + after)]
        steps += [(f"block {index}", [block]) for index, block in reversed(list(enumerate(blocks)))]
        return steps + [("embeddings", before)]
    fusion_inputs, fusion_blocks, fusion_after = _split_at_blocks(base, frozenset(id(tower) for tower in towers))
    splits = {name.split("_")[0]: _split_at_blocks(tower) for name, tower in zip(TOWERS, towers, strict=True)}
    steps = [("head", head + fusion_after + [p for _, _, after in splits.values() for p in after])]
    steps += [(f"fusion block {index}", [block]) for index, block in reversed(list(enumerate(fusion_blocks)))]
    steps.append(("fusion inputs", fusion_inputs))
    depth = max(len(blocks) for _, blocks, _ in splits.values())
    for from_top in range(depth):
        name, items = [], []
        for tower, (_, blocks, _) in splits.items():
            if from_top < len(blocks):
                index = len(blocks) - 1 - from_top
                name.append(f"{tower} block {index}")
                items.append(blocks[index])
        steps.append((" + ".join(name), items))
    return steps + [("embeddings", [p for before, _, _ in splits.values() for p in before])]


def step_parameters(items: Iterable[StepItem]) -> list[nn.Parameter]:
    """Every parameter of a step's modules and single parameters, each once."""
    unique = {}
    for item in items:
        for parameter in [item] if isinstance(item, nn.Parameter) else item.parameters():
            unique[id(parameter)] = parameter
    return list(unique.values())


@torch.no_grad()
def randomize_(items: Iterable[StepItem], generator: torch.Generator) -> None:
    """Redraw every parameter of a step (:func:`randomization_steps`) in place from a Gaussian with that tensor's
    own mean and standard deviation: the learned structure goes, the scale (and with it the activations' range)
    stays."""
    for parameter in step_parameters(items):
        values = parameter.detach().float()
        std = values.std() if values.numel() > 1 else values.abs()
        noise = torch.randn(values.shape, generator=generator).to(values.device)
        parameter.copy_((values.mean() + std * noise).to(parameter.dtype))


def _factory(method: str | ExplainerFactory) -> ExplainerFactory:
    return (lambda model: get_explainer(method, model)) if isinstance(method, str) else method


@dataclass
class SanityCheckResult:
    """Similarity of each method's maps to its original maps, per step (rows in the order run).

    ``values[step][method]`` holds per-sample ``{"spearman": [...], "ssim": [...]}`` (SSIM for images only).
    """

    check: str
    values: dict[str, dict[str, dict[str, list[float]]]] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> list[str]:
        return list(self.values)

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys(method for row in self.values.values() for method in row))

    def mean(self, step: str, method: str, measure: str = "spearman") -> float:
        """Mean similarity of ``method`` after ``step`` (NaN when not measured)."""
        values = self.values.get(step, {}).get(method, {}).get(measure)
        return float(torch.tensor(values).mean()) if values else float("nan")

    def to_markdown(self, measure: str = "spearman") -> str:
        """One row per step, one column per method: the mean similarity to the original maps."""
        methods = self.methods
        lines = ["| step | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
        for step in self.steps:
            cells = [f"{self.mean(step, method, measure):.3f}" for method in methods]
            lines.append(f"| {step} | " + " | ".join(c if c != "nan" else "–" for c in cells) + " |")
        return "\n".join(lines)

    def plot(self, path: str | Path | None = None, measure: str = "spearman") -> Figure:
        """Similarity against step, one line per method (Adebayo et al.'s figure)."""
        figure = Figure(figsize=(1.0 + 0.7 * len(self.steps), 3.6))
        axes = figure.subplots()
        for method in self.methods:
            axes.plot(
                range(len(self.steps)), [self.mean(s, method, measure) for s in self.steps], marker="o", label=method
            )
        axes.set_xticks(range(len(self.steps)), self.steps, rotation=45, ha="right")
        axes.set_ylabel(f"{measure} similarity to original")
        axes.axhline(0.0, color="grey", linewidth=0.5)
        axes.set_title(self.check)
        axes.legend(fontsize="small")
        figure.tight_layout()
        if path is not None:
            figure.savefig(path, dpi=120)
        return figure

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(
            json.dumps({"check": self.check, "values": self.values, "metadata": self.metadata}, indent=1) + "\n"
        )

    @classmethod
    def from_json(cls, path: str | Path) -> SanityCheckResult:
        data = json.loads(Path(path).read_text())
        return cls(data["check"], data["values"], data.get("metadata", {}))


def _explain_all(
    model: AutoModelWithScorer,
    methods: Mapping[str, ExplainerFactory],
    batches: Sequence[Mapping[str, torch.Tensor]],
    targets: Sequence[torch.Tensor],
) -> dict[str, list[tuple[torch.Tensor, torch.Tensor]]]:
    """``{method: [(maps, feature_mask) per batch]}`` for fixed targets."""
    maps: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}
    for name, build in methods.items():
        explainer = build(model)
        maps[name] = []
        # a scorer that explains the prediction only takes no target (its map would be the same)
        fixed = not isinstance(explainer, ScorerExplainer) or explainer.scorer_config.class_conditional
        for batch, target in zip(batches, targets, strict=True):
            out = explainer.attribute(dict(batch), target=target if fixed else None)
            maps[name].append(
                (each_map(lambda m: m.float().cpu(), out.attributions), each_map(torch.Tensor.cpu, out.feature_mask))
            )
    return maps


def _similarities(
    reference: list[tuple[torch.Tensor, torch.Tensor]], maps: list[tuple[torch.Tensor, torch.Tensor]]
) -> dict[str, list[float]]:
    result: dict[str, list[float]] = {"spearman": []}
    for (first, mask), (second, _) in zip(reference, maps, strict=True):
        result["spearman"] += spearman(first, second, mask).tolist()
        if first.dim() == 3:
            result.setdefault("ssim", []).extend(ssim(first, second).tolist())
    return result


def per_map(name: str, *runs: list[tuple[Any, Any]]) -> dict[str, tuple[list[tuple[Any, Any]], ...]]:
    """Batches of ``(maps, feature mask)`` of one method, from one or more runs, by row: ``{name: runs}``, or, when
    the method gives one map per modality (a text-image classifier), ``{"NAME (MODALITY)": each run's part}``."""
    if not isinstance(runs[0][0][0], Mapping):
        return {name: runs}
    return {
        f"{name} ({modality})": tuple([(values[modality], mask[modality]) for values, mask in run] for run in runs)
        for modality in runs[0][0][0]
    }


def _rows(name: str, reference: list[tuple[Any, Any]], maps: list[tuple[Any, Any]]) -> dict[str, dict]:
    """The similarity row of one method, or one row per map (:func:`per_map`), each compared with its original."""
    return {row: _similarities(first, second) for row, (first, second) in per_map(name, reference, maps).items()}


def _all_rows(reference: Mapping[str, list], maps: Mapping[str, list]) -> dict[str, dict]:
    """:func:`_rows` of every method."""
    return {row: values for name in reference for row, values in _rows(name, reference[name], maps[name]).items()}


def _method_factories(methods: Mapping[str, str | ExplainerFactory] | Sequence[str]) -> dict[str, ExplainerFactory]:
    named = methods if isinstance(methods, Mapping) else {name: name for name in methods}
    if not named:
        raise InvalidInputError("Give at least one method to check.")
    return {name: _factory(method) for name, method in named.items()}


def _targets(model: AutoModelWithScorer, batches: Sequence[Mapping[str, torch.Tensor]]) -> list[torch.Tensor]:
    targets = []
    with torch.no_grad():
        for batch in batches:
            inputs = model.modality.classifier_inputs({k: v for k, v in batch.items() if k != "labels"})
            targets.append(model.classifier(**inputs).logits.argmax(dim=-1))
    return targets


def cascading_randomization(
    model: AutoModelWithScorer,
    batches: Sequence[Mapping[str, torch.Tensor]],
    methods: Mapping[str, str | ExplainerFactory] | Sequence[str] = ("scorer",),
    *,
    retrain_scorer: Callable[[AutoModelWithScorer], None] | None = None,
    seed: int = 0,
) -> SanityCheckResult:
    """Randomize a copy of the classifier top down (:func:`randomization_steps`) and compare every method's maps
    with its maps on the intact classifier after each step. ``model`` itself is left untouched.

    Args:
        batches: the inputs to explain (the model's own inputs, on its device).
        methods: registered names, or ``{row name: name or factory}`` (e.g. a ClassDistribution around one).
        retrain_scorer: if given, after each step a copy of the randomized model gets a freshly initialised scorer
            and this function trains it in place; its maps are the row ``"scorer (retrained)"``. The ``"scorer"`` row is
            always the original scorer applied unchanged to the randomized classifier.
        seed: the random draw of the new weights.
    """
    factories = _method_factories(methods)
    targets = _targets(model, batches)
    original = _explain_all(model, factories, batches, targets)
    randomized = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    result = SanityCheckResult(
        "cascading model randomization", metadata={"seed": seed, "samples": sum(len(t) for t in targets)}
    )
    result.values[ORIGINAL] = _all_rows(original, original)
    for step, items in randomization_steps(randomized.classifier):
        randomize_(items, generator)
        row = _all_rows(original, _explain_all(randomized, factories, batches, targets))
        if retrain_scorer is not None and "scorer" in original:
            retrained = copy.deepcopy(randomized)
            retrained.scorer = retrained.modality.build_scorer(retrained.scorer_config).to(retrained.device)
            retrain_scorer(retrained)
            retrained.eval()
            maps = _explain_all(retrained, {"scorer": factories["scorer"]}, batches, targets)
            row.update(_rows(RETRAINED_SCORER, original["scorer"], maps["scorer"]))
        result.values[step] = row
    return result


def data_randomization(
    model: AutoModelWithScorer,
    randomized_model: AutoModelWithScorer,
    batches: Sequence[Mapping[str, torch.Tensor]],
    methods: Mapping[str, str | ExplainerFactory] | Sequence[str] = ("scorer",),
) -> SanityCheckResult:
    """Compare every method's maps on ``model`` with its maps on ``randomized_model`` (the same architecture
    trained on shuffled labels, with its own scorer) for the same inputs and the same targets (``model``'s
    predictions)."""
    if type(model.classifier) is not type(randomized_model.classifier):
        raise InvalidInputError(
            f"The two classifiers differ ({type(model.classifier).__name__} vs "
            f"{type(randomized_model.classifier).__name__}); data randomization compares one architecture."
        )
    factories = _method_factories(methods)
    targets = _targets(model, batches)
    original = _explain_all(model, factories, batches, targets)
    shuffled = _explain_all(randomized_model, factories, batches, targets)
    result = SanityCheckResult("data randomization", metadata={"samples": sum(len(t) for t in targets)})
    result.values[ORIGINAL] = _all_rows(original, original)
    result.values["shuffled labels"] = _all_rows(original, shuffled)
    return result
