"""Start-up cost: ``import hf_ssxai`` and ``hf-ssxai --help`` / ``--version`` against ``import transformers``.

Every figure is a ratio (or a difference) against a reference measured in the same session, interleaved, medians of
repeated runs, so a busy machine shifts both sides alike:

- import:  ``python -X importtime -c "import hf_ssxai"``, the package's cumulative import time, over the same for
           ``import transformers`` (the target: at most 1.5x)
- startup: wall time of ``hf-ssxai --help`` and ``hf-ssxai --version`` (``python -m hf_ssxai.cli``) and of the first
           public name (``from hf_ssxai import AutoModelWithScorer``, which loads torch and transformers' models, as
           ``from transformers import AutoModelForSequenceClassification`` does), against
           ``python -c "import transformers"`` (the target for the commands: under 1 s more)

    python benchmarks/import_time.py            # 7 rounds; writes benchmarks/results/import_time.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "import_time.json"
#: what each wall-time row runs (arguments of ``python``); "transformers" is the reference
WALL = {
    "transformers": ["-c", "import transformers"],
    "hf-ssxai --help": ["-m", "hf_ssxai.cli", "--help"],
    "hf-ssxai --version": ["-m", "hf_ssxai.cli", "--version"],
    "from hf_ssxai import AutoModelWithScorer": ["-c", "from hf_ssxai import AutoModelWithScorer"],
    # what the first public name costs a transformers user anyway: a model class loads torch and transformers' models
    "from transformers import AutoModelForSequenceClassification": [
        "-c",
        "from transformers import AutoModelForSequenceClassification",
    ],
}
#: the modules whose cumulative ``-X importtime`` is compared: the package, and the reference
IMPORTED = {"hf_ssxai": "transformers"}


def _environment() -> dict[str, str]:
    """This environment, with the repository first on the path (so the checkout is measured) and one thread."""
    root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(part for part in (root, os.environ.get("PYTHONPATH")) if part)
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def wall_seconds(arguments: list[str]) -> float:
    """Wall time of ``python ARGUMENTS`` (which must succeed)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, *arguments], env=_environment(), check=True, capture_output=True)
    return time.perf_counter() - start


def import_seconds(module: str) -> float:
    """The cumulative import time of ``module`` as ``python -X importtime -c "import MODULE"`` reports it."""
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=_environment(),
        check=True,
        capture_output=True,
        text=True,
    )
    [cumulative] = re.findall(rf"^import time:\s+\d+ \|\s+(\d+) \| {re.escape(module)}$", run.stderr, re.MULTILINE)
    return int(cumulative) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="measurements per row, interleaved (default: 7)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    modules = [name for pair in IMPORTED.items() for name in pair]
    walls: dict[str, list[float]] = {name: [] for name in WALL}
    imports: dict[str, list[float]] = {name: [] for name in modules}
    for _ in range(args.rounds):
        for name, arguments in WALL.items():
            walls[name].append(wall_seconds(arguments))
        for name in modules:
            imports[name].append(import_seconds(name))
    wall = {name: statistics.median(values) for name, values in walls.items()}
    imported = {name: statistics.median(values) for name, values in imports.items()}
    reference = wall["transformers"]
    result = {
        "rounds": args.rounds,
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "import_seconds": imported,
        "import_ratio": {name: imported[name] / imported[ref] for name, ref in IMPORTED.items()},
        "wall_seconds": wall,
        "wall_minus_transformers": {name: value - reference for name, value in wall.items()},
        "wall_ratio": {name: value / reference for name, value in wall.items()},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print("| measured | median (s) | vs `import transformers` |\n|---|---:|---:|")
    for name, ref in IMPORTED.items():
        print(f"| `-X importtime`: `import {name}` | {imported[name]:.3f} | {result['import_ratio'][name]:.2f}x "
              f"(`import {ref}`: {imported[ref]:.3f} s) |")  # fmt: skip
    for name, value in wall.items():
        print(f"| wall: `{name}` | {value:.3f} | {value - reference:+.3f} s ({value / reference:.2f}x) |")
    print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
