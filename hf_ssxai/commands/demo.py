"""``hf-ssxai demo``: train small classifiers and scorers offline, then explain held-out inputs."""

from __future__ import annotations

import argparse

from .base import Command


class DemoCommand(Command):
    name = "demo"
    help = "train small classifiers and scorers offline, then explain held-out inputs"
    description = (
        "Fully offline: generates planted-evidence text and images, trains a small classifier and its scorer for "
        "each, and writes an HTML report with explanations of held-out examples."
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--output-dir", default="demo_output", help="where to write the report (default: demo_output)"
        )
        parser.add_argument("--quick", action="store_true", help="a much smaller run (seconds), for smoke tests")
        parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
        parser.add_argument("--quiet", action="store_true", help="no progress bars")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        from ..demo import run_demo  # lazy: the demo trains models and benchmarks them (keeps --help quick)

        summary = run_demo(args.output_dir, quick=args.quick, seed=args.seed, progress=not args.quiet)
        print(f"Wrote {args.output_dir}/index.html")
        for part in summary["benchmark"]:
            print(part + ": " + ", ".join(f"{name} {value:.3f}" for name, value in summary[part].items()))
        return 0
