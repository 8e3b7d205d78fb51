"""What the evaluation commands (``grid-pointing-game``, ``sanity-check``) share: how they write a result."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_evaluation(result: Any, output: Path, name: str, legend: str) -> int:
    """Write ``NAME.json`` and ``NAME.png`` of an evaluation result and print its table."""
    output.mkdir(parents=True, exist_ok=True)
    result.to_json(output / f"{name}.json")
    result.plot(output / f"{name}.png")
    print(result.to_markdown())
    print(f"\n{legend} Wrote {output / (name + '.json')} and {name}.png")
    return 0
