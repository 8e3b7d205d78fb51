"""The architecture support matrix (``tests/support_matrix.py``) as tests.

Every architecture of transformers' sequence- and image-classification registries is checked by the slow tests
(``python -m pytest -m slow tests/test_support_matrix.py``); one architecture per family runs in the default suite.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import transformers

from tests.support_matrix import (
    FAILED,
    NOT_BUILT,
    PASS,
    REFUSED,
    REGISTRIES,
    Architecture,
    architectures,
    check_architecture,
    shares,
)
from tests.tiny_configs import tiny_config

DOCS = Path(__file__).resolve().parents[1] / "docs" / "models.md"

#: one architecture per family, in the default suite (each must pass)
FAMILIES = {
    "encoder": "roberta",
    "decoder-only": "llama",
    "encoder-decoder": "bart",
    "hybrid attention": "qwen3_next",
    "CNN": "convnext",
    "ViT": "vit",
    "windowed ViT": "swin",
    "CLIP-style": "clip",
}
ROWS = architectures()
_results: dict[Architecture, object] = {}


def _result(row: Architecture):
    if row not in _results:
        _results[row] = check_architecture(row)
    return _results[row]


@pytest.mark.parametrize("family", FAMILIES)
def test_one_architecture_per_family_passes_every_check(family):
    rows = [row for row in ROWS if row.model_type == FAMILIES[family]]
    assert rows, f"{FAMILIES[family]} is no longer registered by transformers {transformers.__version__}"
    for row in rows:
        result = _result(row)
        assert result.status == PASS, f"{row.model_type}: {result.status}: {result.reason}"


@pytest.mark.slow
@pytest.mark.parametrize("row", ROWS, ids=lambda row: f"{row.registry.split()[0]}-{row.model_type}")
def test_every_registered_architecture_passes_or_is_refused_with_a_reason(row):
    result = _result(row)
    assert result.status != FAILED, f"{row.model_type} fails with a raw error: {result.reason}"
    if result.status != PASS:
        assert result.reason, f"{row.model_type} is {result.status} without a reason"


@pytest.mark.slow
def test_the_builder_reaches_90_percent_and_95_percent_of_built_pass_in_each_registry():
    results = [_result(row) for row in ROWS]
    for registry, (total, built, passing) in shares(results).items():
        assert 100 * built >= 90 * total, f"{registry}: only {built} of {total} architectures built"
        assert 100 * passing >= 95 * built, f"{registry}: only {passing} of {built} built architectures pass"


def test_the_builder_shrinks_nested_and_per_stage_configs():
    clip = tiny_config("clip")
    assert clip.vision_config.hidden_size == 32 and clip.vision_config.image_size == 64
    assert clip.text_config.vocab_size == 128 and clip.text_config.eos_token_id < 128
    swin = tiny_config("swin")
    assert list(swin.depths) == [1] * len(swin.depths) and swin.window_size == 2
    convnext = tiny_config("convnext")
    assert max(convnext.hidden_sizes) == 64 and list(convnext.depths) == [1] * len(convnext.depths)
    gemma3 = tiny_config("gemma3")  # token ids of a composite config stay inside its text vocabulary
    assert gemma3.image_token_id < gemma3.text_config.vocab_size
    qwen3_next = tiny_config("qwen3_next")  # a hybrid model keeps one layer of each kind
    assert sorted(qwen3_next.layer_types) == ["full_attention", "linear_attention"]


def _documented_rows() -> dict[str, set[str]]:
    documented, registry = {}, None
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            registry = line[3:].strip().lower() if line[3:].strip().lower() in REGISTRIES else None
            documented.update({registry: set()} if registry else {})
        elif registry and (match := re.match(r"\| `([^`]+)` \|", line)):
            documented[registry].add(match.group(1))
    return documented


def test_docs_table_covers_the_installed_registries():
    """docs/models.md lists every architecture the installed transformers registers, each with a result: after
    upgrading transformers, regenerate it (the command is on the page)."""
    documented = _documented_rows()
    assert set(documented) == set(REGISTRIES)
    for registry, mapping in REGISTRIES.items():
        assert documented[registry] == set(mapping), (
            f"docs/models.md is stale for {registry}: regenerate it with "
            "`OMP_NUM_THREADS=1 python -m tests.support_matrix --write docs/models.md`"
        )
    text = DOCS.read_text(encoding="utf-8")
    assert all(status in text for status in (PASS, REFUSED, NOT_BUILT))
    assert f"| {FAILED} |" not in text, "docs/models.md records architectures failing with raw errors"
