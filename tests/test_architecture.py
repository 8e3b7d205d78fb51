"""The house rules, read from the source with ``ast``: declared import layers without cycles, no modality named
outside ``hf_ssxai/modalities/``, typed errors only, no file over 500 lines, no torchvision in the core.

The layer table below is the one source of the layering; docs/architecture.md draws it.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hf_ssxai.modalities import MODALITY_REGISTRY

PACKAGE = Path(__file__).resolve().parents[1] / "hf_ssxai"

#: the import layers, bottom-up: a module imports only from its own layer or the layers below
LAYERS: dict[int, tuple[str, ...]] = {
    1: ("errors", "configuration", "registry", "schema", "version", "finite", "markup"),  # configuration and errors
    # what a modality is; pure networks and losses; safe files, atomic saves; FSDP units and activation checkpointing
    2: ("modalities", "scorers", "losses", "targets", "checkpoint", "saving", "sizes", "scaling"),
    3: ("modeling", "model_card", "fusion", "training", "data"),  # the model with its scorer, its training, data
    4: ("explainers", "metrics", "visualization"),  # attributions, their measures and their pictures
    5: ("benchmark", "evaluation"),  # every method against every measure
    6: ("pipelines", "demo", "dataset_explanation"),  # raw inputs in, explanations out
    7: ("commands", "cli"),  # the hf-ssxai command
}
#: the package itself (``hf_ssxai/__init__.py``) is the public facade: it may import any layer, and no module
#: imports it
FACADE = "hf_ssxai"
#: where an import inside a function is allowed: command modules defer heavy imports to keep --help quick
LAZY_IMPORTS_ALLOWED = ("hf_ssxai.commands",)
#: the built-in exceptions a module of the package may not raise (it raises an SSXAIError subclass instead)
BUILTIN_ERRORS = frozenset(
    name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)
)
MAX_LINES = 500


@dataclass(frozen=True)
class Import:
    """One ``import`` of a package module: where, what, and how."""

    module: str
    target: str
    line: int
    in_function: bool
    type_only: bool


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def layer_of(module: str) -> int:
    top = module.split(".")[1]
    return next(layer for layer, names in LAYERS.items() if top in names)


def _resolve(module: str, path: Path, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The package modules an import statement loads (a name imported from a package may be a submodule)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == FACADE]
    if node.level:
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for _ in range(node.level - 1):
            package = package.rsplit(".", 1)[0]
        base = f"{package}.{node.module}" if node.module else package
    elif (node.module or "").split(".")[0] == FACADE:
        base = node.module
    else:
        return []
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]


def _imports(module: str, path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"))

    def walk(node: ast.AST, in_function: bool, type_only: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for target in _resolve(module, path, child):
                    yield Import(module, target, child.lineno, in_function, type_only)
            checks_types = isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test)
            is_function = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            yield from walk(child, in_function or is_function, type_only or checks_types)

    yield from walk(tree, False, False)


IMPORTS = [found for module, path in MODULES.items() if module != FACADE for found in _imports(module, path)]


def test_every_module_has_a_layer():
    assert [module for module in MODULES if module != FACADE and not _has_layer(module)] == []


def _has_layer(module: str) -> bool:
    return any(module.split(".")[1] in names for names in LAYERS.values())


def test_no_module_imports_from_a_higher_layer():
    upward = [
        f"{found.module}:{found.line} (layer {layer_of(found.module)}) imports {found.target} "
        f"(layer {layer_of(found.target)})"
        for found in IMPORTS
        if found.target != FACADE and layer_of(found.target) > layer_of(found.module)
    ]
    assert upward == []


def test_no_module_imports_the_public_facade():
    assert [f"{found.module}:{found.line}" for found in IMPORTS if found.target == FACADE] == []


def test_the_import_graph_has_no_cycle():
    """Runtime imports only: an import under ``if TYPE_CHECKING`` runs in no program."""
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for found in IMPORTS:
        if not found.type_only and found.target != found.module:
            graph[found.module].add(found.target)
    cycles, state = [], {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*trail[trail.index(target) :], target]))
            elif target not in state:
                visit(target, [*trail, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_imports_inside_functions_are_only_the_commands_lazy_ones():
    """No import is deferred into a function to dodge a cycle; commands defer heavy imports to keep --help quick."""
    deferred = [
        f"{found.module}:{found.line} imports {found.target}"
        for found in IMPORTS
        if found.in_function and not found.module.startswith(LAZY_IMPORTS_ALLOWED)
    ]
    assert deferred == []


def test_the_core_never_imports_torchvision():
    users = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            users += [f"{module}:{node.lineno}" for name in names if name.split(".")[0] == "torchvision"]
    assert users == []


def _modality_literals(node: ast.AST) -> list[ast.Constant]:
    """String constants equal to a registered modality's name in ``node`` (or in a tuple, list or set of them)."""
    if isinstance(node, ast.Constant) and node.value in MODALITY_REGISTRY:
        return [node]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [found for element in node.elts for found in _modality_literals(element)]
    return []


def modality_name_uses(tree: ast.AST) -> list[int]:
    """Lines where a modality's name is compared, tested with ``in``, matched, or used as a dict key (a dict
    display, a subscript, ``.get``/``.pop``/``.setdefault``): the ways code dispatches on a modality."""
    lines = []
    for node in ast.walk(tree):
        found: list[ast.Constant] = []
        if isinstance(node, ast.Compare):
            found = [c for operand in (node.left, *node.comparators) for c in _modality_literals(operand)]
        elif isinstance(node, ast.Dict):
            found = [c for key in node.keys if key is not None for c in _modality_literals(key)]
        elif isinstance(node, ast.Subscript):
            found = _modality_literals(node.slice)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            found = _modality_literals(node.args[0]) if node.func.attr in ("get", "pop", "setdefault") else []
        elif isinstance(node, ast.MatchValue):
            found = _modality_literals(node.value)
        lines += [constant.lineno for constant in found]
    return lines


def test_the_modality_name_counter_sees_each_kind_of_use():
    source = "\n".join(
        [
            'a == "text"; b in ("image", "x"); {"text-image": 1}',
            'c["text"]; d.get("image")',
            'match e:\n case "text": pass',
        ]
    )
    assert sorted(modality_name_uses(ast.parse(source))) == [1, 1, 1, 2, 2, 4]


def test_no_modality_is_named_outside_the_modalities_package():
    uses = {
        module: lines
        for module, path in MODULES.items()
        if not module.startswith("hf_ssxai.modalities")
        and (lines := modality_name_uses(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert sum(map(len, uses.values())) == 0, uses


def test_the_package_raises_only_its_own_typed_errors():
    """Every ``raise X(...)`` names an :class:`~hf_ssxai.SSXAIError` subclass, never a built-in exception (but the
    ``AttributeError`` a module's ``__getattr__`` must raise for a name it does not have)."""
    plain = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        protocol = {
            id(node)
            for function in ast.walk(tree)
            if isinstance(function, ast.FunctionDef) and function.name == "__getattr__"
            for node in ast.walk(function)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and node.exc is not None:
                raised = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                allowed = {"AttributeError"} if id(node) in protocol else set()
                if isinstance(raised, ast.Name) and raised.id in BUILTIN_ERRORS - allowed:
                    plain.append(f"{module}:{node.lineno} raises {raised.id}")
    assert plain == []


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_file_is_longer_than_500_lines(path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_LINES
