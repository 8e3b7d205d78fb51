"""Our ablation rows beside the thesis' tables 5.10 (text) and 5.11 (Imagenette): which way each switch moves each
metric, and whether the two agree.

The thesis' means are its published figures (tables 5.10 and 5.11, as summarized in the thesis README of this
workplace); its text table is Tweet Sentiment Extraction with RoBERTa, ours SST-2 with MiniLM, and its average drop and
deletion AUC were taken on logits, ours on probabilities, so only directions are compared, never values.

    python benchmarks/thesis_directions.py --ablation runs/abl/sst2_thesis/ablation.json --table text
    python benchmarks/thesis_directions.py --ablation runs/abl/imagenette_thesis/ablation.json --table image
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

#: the thesis' ablation means, (average drop, deletion AUC, complexity, sparsity): table 5.10 (Tweet Sentiment
#: Extraction) then table 5.11 (Imagenette), one line per variant
THESIS_TABLES = """
full method          | 1.11 1.61 2.71 87.21 | 0.02 0.27 60.43 7.02
no ReLU              | 0.38 0.66 2.40 81.95 | 0.02 0.30 64.89 4.74
no sigmoid           | 1.28 1.49 3.04 67.04 | 0.02 0.29 60.31 6.14
no rescale           | 0.00 0.17 4.25 32.32 | 0.34 0.45 43.44 22.03
no binary penalty    | 1.26 1.49 3.16 65.08 | 0.02 0.37 48.68 6.81
no magnitude penalty | 1.29 1.42 3.35 64.04 | 0.01 0.04 159.79 1.92
no penalty           | 1.27 1.40 3.37 63.76 | 0.01 0.08 149.04 1.98
nothing              | 0.06 0.97 3.19 43.03 | 0.01 0.06 161.76 1.56
"""


def thesis_table(table: str) -> dict[str, list[float]]:
    """``{variant: [average drop, deletion AUC, complexity, sparsity]}`` of the thesis' text or image table."""
    column = 1 if table == "text" else 2
    rows = (line.split("|") for line in THESIS_TABLES.strip().splitlines())
    return {cells[0].strip(): [float(value) for value in cells[column].split()] for cells in rows}


METRICS = ("average_drop", "deletion_auc", "complexity", "sparsity")
LOWER_IS_BETTER = (True, True, True, False)


def direction(value: float, full: float, lower_is_better: bool) -> str:
    """``better``, ``worse`` or ``same`` (within 2 % of the full method's value) against the full method."""
    if abs(value - full) <= 0.02 * max(abs(full), 1e-9):
        return "same"
    return "better" if (value < full) == lower_is_better else "worse"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ablation", required=True, help="ablation.json of benchmarks/ablation.py")
    parser.add_argument("--table", choices=["text", "image"], required=True)
    args = parser.parse_args()
    ours = json.loads(Path(args.ablation).read_text(encoding="utf-8"))
    thesis = thesis_table(args.table)
    full_ours = [ours["full method"][metric]["mean"] for metric in METRICS]
    print("| variant | " + " | ".join(f"{m}: ours / thesis" for m in METRICS) + " | agree |")
    print("|---" * (len(METRICS) + 2) + "|")
    for name, row in ours.items():
        if name == "full method" or name not in thesis:
            continue
        cells, agree = [], 0
        for index, metric in enumerate(METRICS):
            mine = direction(row[metric]["mean"], full_ours[index], LOWER_IS_BETTER[index])
            theirs = direction(thesis[name][index], thesis["full method"][index], LOWER_IS_BETTER[index])
            cells.append(f"{row[metric]['mean']:.3f} {mine} / {theirs}")
            agree += mine == theirs
        print(f"| {name} | " + " | ".join(cells) + f" | {agree} of {len(METRICS)} |")


if __name__ == "__main__":
    main()
