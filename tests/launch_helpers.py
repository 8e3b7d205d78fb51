"""Two data-parallel CPU processes under `accelerate launch` (gloo), as docs/recipes.md and docs/scale.md tell users."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A port no process listens on (not the default 29500, which an earlier run may still hold)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch_two_processes(arguments: Sequence[str]) -> subprocess.CompletedProcess:
    """``accelerate launch`` of ``arguments`` (a script and its options, or ``-m module ...``) as two CPU processes,
    one thread each, offline; the finished process with its captured output."""
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(ROOT / "recipes" / "accelerate" / "cpu_ddp.yaml"),
        "--main_process_port", str(free_port()),
        *arguments,
    ]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600)
