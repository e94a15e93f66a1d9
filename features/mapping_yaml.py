"""Reading a mapping's YAML strictly: keys written twice and wrong shapes, named by YAML path.

PyYAML keeps the last of two equal keys and accepts any shape; these helpers turn both into one
MappingError line that says where in the file, what was found and what to write instead.
"""

from __future__ import annotations

from typing import Any

import yaml

from features.errors import TerritoryError


class MappingError(TerritoryError):
    """An import mapping is malformed or does not fit the source files it is applied to."""


def reject_repeated_keys(node: yaml.Node | None, origin: str, path: str) -> None:
    """YAML keeps the last of two equal keys silently: a table written twice would vanish."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key, line = str(key_node.value), key_node.start_mark.line + 1
            where = f"{path}.{key}" if path else key
            if key in seen:
                raise MappingError(
                    f"{origin}: {where}: written twice (lines {seen[key]} and {line}); YAML would "
                    "keep only the last one. Merge them into one entry."
                )
            seen[key] = line
            reject_repeated_keys(value_node, origin, where)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            reject_repeated_keys(item, origin, f"{path}[{i}]")


def shape(value: object) -> str:
    if value is None:
        return "nothing"
    names = {dict: "a mapping", list: "a list", str: "text", bool: "true/false"}
    return f"{names.get(type(value), type(value).__name__)} {value!r}"


def expect_dict(
    value: object, where: str, allowed: tuple[str, ...] | None = None
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MappingError(f"{where}: expected a mapping of keys to values, got {shape(value)}.")
    unknown = [k for k in value if allowed is not None and k not in allowed]
    if unknown:
        raise MappingError(
            f"{where}: unknown key {unknown[0]!r}; use one of {', '.join(allowed or ())}."
        )
    return {str(k): v for k, v in value.items()}


def expect_name(value: object, where: str, what: str, hint: str = "") -> str:
    if not isinstance(value, str) or not value.strip():
        raise MappingError(f"{where}: expected {what}, got {shape(value)}.{hint}")
    return value


def expect_names(value: object, where: str, what: str) -> tuple[str, ...]:
    """One name or a non-empty list of names."""
    if isinstance(value, list) and value:
        return tuple(expect_name(v, f"{where}[{i}]", what) for i, v in enumerate(value))
    return (expect_name(value, where, f"{what} or a list of them"),)


def expect_list(value: object, where: str, what: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise MappingError(f"{where}: expected a list of {what}, got {shape(value)}.")
    return value


def expect_scalar(value: object, where: str) -> object:
    if isinstance(value, dict | list):
        raise MappingError(f"{where}: expected a single value, got {shape(value)}.")
    return value


def value_map(value: object, where: str) -> dict[str, str | None]:
    # YAML reads `yes:` or `1:` as bool/int: compare as text, so quote such keys in the file.
    pairs = expect_dict(value, where).items()
    return {k: (None if v is None else str(expect_scalar(v, f"{where}.{k}"))) for k, v in pairs}
