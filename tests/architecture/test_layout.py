"""The house rules that a linter cannot see: module size, function-level imports that say why, and every package
placed in a layer of the import contracts (``[tool.importlinter]`` in pyproject.toml, run by ``lint-imports``)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("capacity", "api", "loadtests")
#: One module per concept: split a module before it passes this many lines.
MAX_LINES = 450
#: What a function-level import must say on its line (or the line above): why it cannot sit at the top.
DEFERRED = "# deferred:"


def _modules(*roots: str) -> list[Path]:
    return sorted(p for root in roots for p in (ROOT / root).rglob("*.py") if "migrations" not in p.parts)


def _contract(contract_id: str) -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return next(c for c in config["contracts"] if c.get("id") == contract_id)


def _layer_names(contract_id: str) -> set[str]:
    names = set()
    for layer in _contract(contract_id)["layers"]:  # type: ignore[union-attr]
        for part in str(layer).replace(":", "|").split("|"):
            names.add(part.strip().strip("()"))
    return names


def test_no_module_is_over_the_line_limit() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in _modules(*PACKAGES, "tests", "data")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines (split them by concept): {long}"


def test_a_function_level_import_says_why_it_is_deferred() -> None:
    bare = []
    for path in _modules(*PACKAGES):
        text = path.read_text()
        lines = text.splitlines()
        tree = ast.parse(text)
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    here = lines[node.lineno - 1]
                    above = lines[node.lineno - 2] if node.lineno > 1 else ""
                    if DEFERRED not in here and DEFERRED not in above:
                        bare.append(f"{path.relative_to(ROOT)}:{node.lineno}: {here.strip()}")
    assert not bare, (
        "imports inside functions hide cycles; keep one there only for a heavy or optional dependency, "
        f"with a '{DEFERRED} why' comment:\n" + "\n".join(sorted(set(bare)))
    )


def test_every_package_sits_in_a_layer() -> None:
    layered = _layer_names("layers")
    children = {
        f"capacity.{p.stem if p.is_file() else p.name}"
        for p in (ROOT / "capacity").iterdir()
        if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.stem != "__init__")
    }
    assert children <= layered, (
        f"add these to the layers contract in pyproject.toml: {sorted(children - layered)}"
    )
    api_layered = _layer_names("api-layers")
    api_children = {
        p.stem if p.is_file() else p.name
        for p in (ROOT / "api").iterdir()
        if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.stem != "__init__")
    }
    assert api_children <= api_layered, (
        f"add to the api-layers contract: {sorted(api_children - api_layered)}"
    )


def test_no_test_module_imports_another() -> None:
    shared = []
    for path in _modules("tests"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                leaf = name.rsplit(".", 1)[-1]
                if name.startswith("tests") and (leaf.startswith("test_") or leaf == "conftest"):
                    shared.append(f"{path.relative_to(ROOT)}: {name}")
    assert not shared, "share helpers through tests/support or fixtures in conftest.py:\n" + "\n".join(shared)
