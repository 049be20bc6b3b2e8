"""How the modules depend on each other: no module imports a name from a package that contains it (from its
package's __init__, or one above), so each __init__ can import its package's modules without import cycles.
Importing a sibling module through its package (`from datagen import plots`) is fine."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "datagen"


def containing_packages(path: Path) -> set[str]:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]  # a package's __init__ is contained by the packages above it
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def is_module(package: str, name: str) -> bool:
    folder = PACKAGE.parent.joinpath(*package.split("."))
    return (folder / f"{name}.py").is_file() or (folder / name / "__init__.py").is_file()


def test_no_module_imports_a_package_that_contains_it():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        above = containing_packages(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                problems += [f"{path}: import {a.name}" for a in node.names if a.name in above]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in above:
                problems += [f"{path}: from {node.module} import {a.name}" for a in node.names
                             if not is_module(node.module, a.name)]
    assert problems == []


def test_the_check_sees_such_an_import():
    assert containing_packages(PACKAGE / "backends" / "pool.py") == {"datagen", "datagen.backends"}
    assert containing_packages(PACKAGE / "backends" / "__init__.py") == {"datagen"}
    assert is_module("datagen.backends", "build") and not is_module("datagen.backends", "build_backend")


def module_names() -> dict[str, Path]:
    return {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
            for p in PACKAGE.rglob("*.py")}


def test_no_two_modules_share_a_file_name():
    """Besides __init__.py and each extension point's base.py, a file name says which module it is."""
    seen: dict[str, list[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name not in ("__init__.py", "base.py"):
            seen.setdefault(path.name, []).append(str(path.relative_to(PACKAGE)))
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}


def test_the_import_graph_has_no_cycle():
    """Counting imports inside functions too: a cycle that only a late import hides is still a cycle."""
    import graphlib

    modules = module_names()

    def module_of(name: str) -> str:
        while name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps |= {module_of(a.name) for a in node.names if a.name.startswith("datagen")}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("datagen"):
                deps |= {module_of(f"{node.module}.{a.name}") for a in node.names}
        graph[name] = deps - {name}
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the cycle
