"""The house: one installed name, floors that import only downwards, functions short enough to
read at once."""

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
#: Floor of every package of the l1bn namespace and its folder; a floor may import its own
#: package and those of lower floors only.
FLOORS = {"util": (0, "l1bn/util"), "examples": (0, "examples"), "golden": (1, "golden"),
          "hdl": (2, "hdl"), "sim": (3, "sim"),
          "synth": (4, "synth"), "report": (5, "report"), "experiments": (5, "experiments"),
          "bench": (5, "bench"), "cli": (6, "l1bn")}
#: Former top-level names of the floors: nothing may import them any more.
BARE = {"golden", "hdl", "sim", "synth", "report", "bench", "experiments"}
#: Folders whose functions must read at once, and how long "at once" is.
SHORT = ("hdl", "synth", "report")
MAX_FUNCTION_LINES = 150


def _package_of(path):
    for name, (_rank, folder) in FLOORS.items():
        if name != "cli" and (ROOT / folder) in path.parents:
            return name
    return "cli"


def _imports(path):
    """``(line, floor)`` of every l1bn floor ``path`` imports, module level or inside functions."""
    floor = _package_of(path)
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level:
            if node.level == 1:
                yield node.lineno, floor
            continue
        names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                 [node.module + "." + a.name for a in node.names]
                 if isinstance(node, ast.ImportFrom) else [])
        for name in names:
            parts = name.split(".")
            if parts[0] in BARE:
                yield node.lineno, "bare " + parts[0]
            elif parts[0] == "l1bn" and len(parts) > 1:
                yield node.lineno, parts[1] if parts[1] in FLOORS else "cli"


def _sources():
    for _rank, folder in FLOORS.values():
        base = ROOT / folder
        paths = base.rglob("*.py") if folder != "l1bn" else base.glob("*.py")
        yield from sorted(paths)


def test_floors_import_only_downwards():
    bad = []
    for path in _sources():
        own = FLOORS[_package_of(path)][0]
        for line, floor in _imports(path):
            if floor.startswith("bare ") or FLOORS[floor][0] > own or \
                    (FLOORS[floor][0] == own and floor != _package_of(path)):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {floor}")
    assert bad == []


def test_tests_use_the_namespace():
    bad = [f"{p.name}:{line}" for p in sorted((ROOT / "tests").glob("*.py"))
           for line, floor in _imports(p) if floor.startswith("bare ")]
    assert bad == []


def test_functions_read_at_once():
    long = []
    for folder in SHORT:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    n = node.end_lineno - node.lineno + 1
                    if n > MAX_FUNCTION_LINES:
                        long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} {n} lines")
    assert long == []


def test_wheel_installs_one_top_level_name(tmp_path):
    """The wheel holds l1bn and its metadata only: installing the project claims no generic
    top-level name (``sim``, ``bench``, ...); every floor and the benchmark's Verilog are in it."""
    src = tmp_path / "src"     # a copy: the build writes its scratch files into the tree
    for folder in {folder.split("/")[0] for _rank, folder in FLOORS.values()}:
        shutil.copytree(ROOT / folder, src / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "--disable-pip-version-check", "-w", str(tmp_path), str(src)],
                   check=True, cwd=tmp_path)
    wheel, = tmp_path.glob("l1bn-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"l1bn"}
    for floor in ("util", "golden", "hdl", "sim", "synth", "report", "experiments", "bench",
                  "examples"):
        assert f"l1bn/{floor}/__init__.py" in names, floor
    assert "l1bn/bench/bench_register.v" in names and "l1bn/hdl/manifest.schema.json" in names
    assert "l1bn/examples/ecp5_top.v" in names and "l1bn/examples/ecp5_top.lpf" in names
    assert "l1bn/cli.py" in names and not any("/tests/" in n for n in names)
