"""Which rows of a dataset to evaluate: by label, and by a condition on its columns, without writing a new file.

A condition is a small, safe expression language, read with :mod:`ast` and evaluated by the interpreter below (no
``eval``): columns by name, literal values (strings, numbers, ``True``, ``False``, ``None``, lists), the comparisons
``== != < <= > >= in not in``, ``len(column)``, and ``and`` / ``or`` / ``not`` with parentheses::

    label != 'neutral'
    sentiment in ['positive', 'negative'] and len(text) > 20
    not (source == 'web' or score < 0.5)

Anything else (attribute access, calls other than ``len``, arithmetic, comprehensions) is refused with a message
that says what the language allows.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from datasets import ClassLabel, Dataset

from ..errors import InvalidInputError
from ..registry import nearest

#: what a condition may hold, for messages
GRAMMAR = (
    "a condition compares columns with values: COLUMN == 'value', COLUMN != 3, COLUMN in ['a', 'b'], "
    "len(COLUMN) > 20, joined with and / or / not and parentheses"
)
COMPARISONS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda value, values: value in values,
    ast.NotIn: lambda value, values: value not in values,
}


class NamedLabel(int):
    """A class index of a ``ClassLabel`` column that also equals its name, so a condition may name classes
    (``label != 'neutral'``) or number them (``label != 1``)."""

    name: str

    def __new__(cls, index: int, name: str) -> NamedLabel:
        label = super().__new__(cls, index)
        label.name = name
        return label

    def __eq__(self, other: object) -> bool:
        return other == self.name if isinstance(other, str) else int(self) == other

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = int.__hash__


class RowCondition:
    """A parsed condition over a row's columns; call it with a row (a mapping column -> value)."""

    def __init__(self, expression: str):
        self.expression = expression
        try:
            tree = ast.parse(expression.strip(), mode="eval")
        except SyntaxError as error:
            raise InvalidInputError(f"Cannot read the condition {expression!r} ({error.msg}): {GRAMMAR}.") from None
        self._body = tree.body
        self.columns: set[str] = set()
        self._literals: dict[int, Any] = {}  # id(node) -> value of each literal, read once
        self._check(self._body)

    def _refuse(self, node: ast.AST) -> InvalidInputError:
        piece = ast.get_source_segment(self.expression.strip(), node) or type(node).__name__
        return InvalidInputError(f"The condition {self.expression!r} holds {piece!r}, which is not allowed: {GRAMMAR}.")

    def _check(self, node: ast.AST) -> None:
        """Refuse every construct outside the language; collect the columns named."""
        if isinstance(node, ast.BoolOp) or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)):
            for child in node.values if isinstance(node, ast.BoolOp) else [node.operand]:
                self._check(child)
        elif isinstance(node, ast.Compare) and all(type(op) in COMPARISONS for op in node.ops):
            for child in [node.left, *node.comparators]:
                self._check_operand(child)
        else:
            raise self._refuse(node)

    def _check_operand(self, node: ast.AST) -> None:
        if isinstance(node, ast.Name):
            self.columns.add(node.id)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len":
            if node.keywords or len(node.args) != 1 or not isinstance(node.args[0], ast.Name):
                raise self._refuse(node)
            self.columns.add(node.args[0].id)
        else:
            try:  # strings, numbers, booleans, None, lists and tuples of them, -1
                self._literals[id(node)] = ast.literal_eval(node)
            except ValueError:
                raise self._refuse(node) from None

    def compared_with(self, column: str) -> list[Any]:
        """The literal values ``column`` is compared with directly (lists flattened), e.g. to check class names."""
        values = []
        for node in ast.walk(self._body):
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                for a, b in zip(operands, operands[1:], strict=False):
                    for named, other in ((a, b), (b, a)):
                        if isinstance(named, ast.Name) and named.id == column and id(other) in self._literals:
                            value = self._literals[id(other)]
                            values += list(value) if isinstance(value, (list, tuple, set)) else [value]
        return values

    def __call__(self, row: Mapping[str, Any]) -> bool:
        return bool(self._evaluate(self._body, row))

    def _evaluate(self, node: ast.AST, row: Mapping[str, Any]) -> Any:
        if isinstance(node, ast.BoolOp):
            combine = all if isinstance(node.op, ast.And) else any
            return combine(self._evaluate(value, row) for value in node.values)
        if isinstance(node, ast.UnaryOp):
            return not self._evaluate(node.operand, row)
        left = self._operand(node.left, row)  # a comparison (checked when parsed), possibly chained: 0 < x < 5
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self._operand(comparator, row)
            if not COMPARISONS[type(op)](left, right):
                return False
            left = right
        return True

    def _operand(self, node: ast.AST, row: Mapping[str, Any]) -> Any:
        if isinstance(node, ast.Name):
            return row[node.id]
        if isinstance(node, ast.Call):
            return len(row[node.args[0].id])
        return self._literals[id(node)]


def _resolve_labels(labels: Sequence[Any], feature: Any, label2id: Mapping[str, int] | None) -> set[Any]:
    """The label values to keep: class indices, or names read through the column's ClassLabel or ``label2id``."""
    names = dict(label2id or {})
    if isinstance(feature, ClassLabel):
        names.update({name: index for index, name in enumerate(feature.names)})
    wanted = set()
    for label in labels:
        text = str(label).strip()
        if text in names:
            wanted.add(names[text])
        elif text.lstrip("-").isdigit():
            wanted.add(int(text))
        else:
            wanted.add(text)  # a column of label strings
    return wanted


def matching_rows(
    dataset: Dataset,
    *,
    where: str | None = None,
    labels: Sequence[Any] | None = None,
    label_column: str | None = None,
    label2id: Mapping[str, int] | None = None,
) -> list[int]:
    """The rows (positions, in order) whose label is one of ``labels`` and for which ``where`` holds.

    Labels are class indices or names (the label column's ``ClassLabel`` names, or ``label2id``, e.g. the
    classifier's). A condition that names no column of the dataset, or compares values that cannot be compared,
    raises :class:`InvalidInputError` naming it.
    """
    condition = RowCondition(where) if where else None
    needed = set(condition.columns if condition else ())
    if labels:
        if label_column is None or label_column not in dataset.column_names:
            raise InvalidInputError(f"Filtering by label needs a label column; the dataset has {dataset.column_names}.")
        needed.add(label_column)
    if unknown := sorted(needed - set(dataset.column_names)):
        raise InvalidInputError(
            f"The condition {where!r} names no column {unknown[0]!r}{nearest(unknown[0], dataset.column_names)}; "
            f"the dataset has {', '.join(dataset.column_names)}."
        )
    table = dataset.select_columns(sorted(needed))[:] if needed else {}
    for column in needed:
        feature = dataset.features[column]
        if isinstance(feature, ClassLabel):
            compared = condition.compared_with(column) if condition else []
            if missing := [v for v in compared if isinstance(v, str) and v not in feature.names]:
                raise InvalidInputError(
                    f"The condition {where!r} compares {column!r} with {missing[0]!r}, which is none of its "
                    f"classes: {', '.join(feature.names)}."
                )
            table[column] = [NamedLabel(value, feature.int2str(value)) for value in table[column]]
    wanted = _resolve_labels(labels, dataset.features[label_column], label2id) if labels else None
    rows = []
    for position in range(len(dataset)):
        row = {column: values[position] for column, values in table.items()}
        if wanted is not None and row[label_column] not in wanted:
            continue
        try:
            keep = condition is None or condition(row)
        except TypeError as error:
            raise InvalidInputError(
                f"The condition {where!r} cannot be evaluated on row {position} ({error}); its values: "
                f"{ {column: row[column] for column in condition.columns} }."
            ) from None
        if keep:
            rows.append(position)
    return rows
