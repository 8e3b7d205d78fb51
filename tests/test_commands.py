"""The command line's structure: one module per command, a quick ``--help``, one implementation of the recipe runs."""

import re

from hf_ssxai.cli import build_parser
from hf_ssxai.commands import COMMANDS
from tests.helpers import ROOT, run_python

#: libraries no command needs to build its parser: they load only when a command runs
HEAVY = ("captum", "datasets", "evaluate", "matplotlib")


def test_help_loads_no_heavy_library():
    probe = (
        "import sys\n"
        "from hf_ssxai.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print(sorted({{name.split('.')[0] for name in sys.modules}} & set({HEAVY!r})))"
    )
    finished = run_python("-c", probe)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert finished.stdout.strip().splitlines()[-1] == "[]"


def test_every_command_is_its_own_module_and_documented():
    modules = {command.__module__ for command in COMMANDS}
    assert len(modules) == len(COMMANDS) - 1  # train-classifier and train-scorer share hf_ssxai.commands.train
    assert all(module.startswith("hf_ssxai.commands.") for module in modules)
    parser = build_parser()
    listed = parser._subparsers._group_actions[0].choices
    assert list(listed) == [command.name for command in COMMANDS]
    cli_page = (ROOT / "docs" / "cli.md").read_text()
    assert all(f"`{command.name}`" in cli_page for command in COMMANDS)


def _options(help_text: str) -> set[str]:
    return set(re.findall(r"--[a-z][a-z-]+", help_text))


def test_the_recipe_script_takes_the_options_of_the_train_commands():
    script = run_python(str(ROOT / "recipes" / "train.py"), "--help")
    assert script.returncode == 0, script.stderr[-2000:]
    classifier = build_parser().parse_args(["train-classifier", "--config", "c", "--output-dir", "o"])
    commands = build_parser()._subparsers._group_actions[0].choices
    both = _options(commands["train-classifier"].format_help()) | _options(commands["train-scorer"].format_help())
    assert classifier.command_class.phase == "classifier"
    assert _options(script.stdout) == both | {"--phase"}
    assert {"--classifier-training", "--scorer-training", "--scorer-option"} <= both
