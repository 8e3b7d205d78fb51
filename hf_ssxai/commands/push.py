"""``hf-ssxai push``: upload a checkpoint with its model card to the Hugging Face Hub."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, InvalidInputError, SSXAIError
from .base import Command


def _read_file(path: str | None, read: Callable[[str], Any]) -> Any:
    """``read(path)``, None without a path; unreadable or invalid files become :class:`InvalidInputError`."""
    if path is None:
        return None
    try:
        return read(path)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InvalidInputError(f"Cannot read {path}: {error}") from error


class PushCommand(Command):
    name = "push"
    help = "upload a checkpoint with a model card to the Hugging Face Hub"
    description = (
        "Upload a checkpoint folder (classifier, processor, scorer; or only the scorer) to a Hub repository in one "
        "commit, with a README.md model card: what the scorer is, how it was trained, its benchmark table (with "
        "--benchmark), its limits and a usage snippet. The repository (and --revision branch) is created if needed. "
        "Authenticates as huggingface_hub does: HF_TOKEN or `hf auth login`."
    )
    epilog = (
        "Examples:\n"
        "  hf-ssxai push --model ./checkpoint --repo-id user/imdb-roberta-ssxai --benchmark bench/results.json "
        "--license apache-2.0\n"
        "  hf-ssxai push --model ./checkpoint --repo-id user/imdb-scorer --scorer-only --revision v1 --private\n"
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--model", required=True, metavar="PATH", help="the checkpoint folder save_pretrained() wrote"
        )
        parser.add_argument("--repo-id", required=True, metavar="USER/REPO", help="the Hub repository to upload to")
        parser.add_argument("--revision", help="branch to commit to (created from main if missing; default: main)")
        parser.add_argument("--private", action="store_true", help="create the repository private (if it is created)")
        parser.add_argument(
            "--scorer-only",
            action="store_true",
            help="upload only scorer/; its config names the base classifier, which must then be on the Hub",
        )
        parser.add_argument(
            "--benchmark", metavar="RESULTS_JSON", help="results.json of `hf-ssxai benchmark`, tabulated in the card"
        )
        parser.add_argument(
            "--training-info",
            metavar="JSON_FILE",
            help='a JSON object of training facts listed in the card, e.g. {"datasets": ["imdb"], "steps": 2000}',
        )
        parser.add_argument(
            "--license", metavar="ID", help="the card's license, a Hub license id such as apache-2.0 (default: none)"
        )
        parser.add_argument("--commit-message", help="default: Upload classifier and hf_ssxai scorer")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        # lazy: the model and the benchmark results import torch, transformers and matplotlib (keeps --help quick)
        from huggingface_hub.errors import HfHubHTTPError, HFValidationError, OfflineModeIsEnabled
        from huggingface_hub.utils import validate_repo_id

        from ..benchmark.results import BenchmarkResult
        from ..modeling import AutoModelWithScorer

        try:  # before anything is loaded: a name the Hub refuses fails at once
            validate_repo_id(args.repo_id)
        except HFValidationError as error:
            raise InvalidInputError(f"--repo-id {args.repo_id!r} is no Hub repository id: {error}") from error
        if not Path(args.model).is_dir():
            raise CheckpointError(
                f"No checkpoint folder at {args.model}: give the folder that save_pretrained() wrote."
            )
        benchmark = _read_file(args.benchmark, BenchmarkResult.from_json)
        training_info = _read_file(args.training_info, lambda path: json.loads(Path(path).read_text()))
        if training_info is not None and not isinstance(training_info, dict):
            raise InvalidInputError(f'{args.training_info} must hold a JSON object, e.g. {{"datasets": ["imdb"]}}.')
        model = AutoModelWithScorer.from_pretrained(args.model)
        try:
            commit = model.push_to_hub(
                args.repo_id,
                revision=args.revision,
                private=args.private or None,
                commit_message=args.commit_message,
                scorer_only=args.scorer_only,
                license=args.license,
                benchmark=benchmark,
                training_info=training_info,
            )
        except (HfHubHTTPError, OfflineModeIsEnabled) as error:
            raise SSXAIError(f"Upload to {args.repo_id} failed: {error}") from error
        print(f"Pushed {args.model} to {args.repo_id}: {commit.commit_url}")
        return 0
