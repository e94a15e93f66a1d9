"""The import rules of docs/architecture.md, checked on every module of the product packages.

features <- models <- training / serving; serving never imports training; nothing imports the CLI;
inside models, each subpackage is reached through its ``__init__`` and only along the arrows below.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("features", "models", "training", "serving")
MAY_IMPORT = {
    "features": {"features"},
    "models": {"features", "models"},
    "training": {"features", "models", "training"},
    "serving": {"features", "models", "serving"},
}
# models' subpackages: who may use whom (errors is shared by all).
SUBPACKAGES = {
    "potential": set(),
    "explain": {"potential"},
    "repfit": {"potential"},
    "solver": set(),
    "planning": {"solver", "potential", "repfit"},
    "capacity_exact": {"solver"},
    "kpis": set(),
}
SHARED_MODELS_MODULES = {"errors"}
CLI = "training.cli"


def _modules() -> list[tuple[str, Path]]:
    found = []
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found.append((name, path))
    return found


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            out.append((node.lineno, target))
            # `from models.planning import matcher` reaches a submodule unless the package's
            # public API names it
            public = _public_names(target)
            out += [
                (node.lineno, f"{target}.{alias.name}")
                for alias in node.names
                if alias.name not in public
            ]
    return out


def _public_names(package: str) -> set[str]:
    """The names in a package's ``__all__`` (empty for a module or a package without one)."""
    init = ROOT.joinpath(*package.split("."), "__init__.py")
    if not init.exists():
        return set()
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return {ast.literal_eval(e) for e in node.value.elts}
    return set()


def _ours(target: str) -> bool:
    return target.split(".")[0] in PRODUCT


def _broken_rules(module: str, target: str) -> str | None:
    top, dest = module.split(".")[0], target.split(".")[0]
    if dest not in MAY_IMPORT[top]:
        return f"{top} may not import {dest}"
    if (target == CLI or target.startswith(CLI + ".")) and not module.startswith(CLI):
        return "nothing but the CLI imports the CLI"
    if dest != "models" or target == "models":
        return None
    parts = target.split(".")
    if parts[1] in SHARED_MODELS_MODULES:
        return None
    here = module.split(".")
    own = here[1] if top == "models" and len(here) > 1 else None
    if parts[1] not in SUBPACKAGES:
        return None  # `from models.x import name` where name is not a module: checked via x
    if own == parts[1]:
        return None
    if own is not None and parts[1] not in SUBPACKAGES.get(own, set()):
        return f"models.{own} may not import models.{parts[1]}"
    if len(parts) > 2 and (ROOT / "models" / parts[1] / f"{parts[2]}.py").exists():
        return f"reaches past models.{parts[1]}'s public API (import from models.{parts[1]})"
    return None


def _violations() -> list[str]:
    found = []
    for module, path in _modules():
        for line, target in _imports(path, module):
            if not _ours(target):
                continue
            why = _broken_rules(module, target)
            if why:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {target}: {why}")
    return sorted(set(found))


def test_every_import_follows_the_architecture():
    violations = _violations()
    assert not violations, "\n".join(violations)


@pytest.mark.parametrize(
    ("module", "target", "expected"),
    [
        ("serving.service", "training.train", "serving may not import training"),
        ("features.pipeline", "models.potential", "features may not import models"),
        ("serving.store", "training.cli", "serving may not import training"),
        ("training.batch", "training.cli.app", "nothing but the CLI imports the CLI"),
        ("models.solver.engine", "models.planning", "models.solver may not import models.planning"),
        (
            "models.planning.matcher",
            "models.solver.engine",
            "reaches past models.solver's public API (import from models.solver)",
        ),
        ("models.planning.matcher", "models.solver", None),
        (
            "models.planning.matcher",
            "models.capacity_exact",
            "models.planning may not import models.capacity_exact",
        ),
        ("training.cli.plan", "models.errors", None),
    ],
)
def test_the_rule_checker_catches_each_kind_of_edge(module, target, expected):
    assert _broken_rules(module, target) == expected
