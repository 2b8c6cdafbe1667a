"""Generate a block: Amaranth design -> lint-clean Verilog and JSON manifest in a directory."""

import hashlib
import json
import os
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from l1bn.hdl.registry import design, module_name, resolve
from l1bn.util.files import check_output_dir, check_output_file

from l1bn.util.files import write_text
from .emit import emit_verilog

__all__ = ["check", "generate", "core", "CACHE_ENV", "SUFFIXES"]

#: Directory of emitted Verilog kept for reuse (default ``$XDG_CACHE_HOME/l1bn/emit``, else ``~/.cache/l1bn/emit``).
CACHE_ENV = "L1BN_EMIT_CACHE"
#: The files :func:`generate` writes for a design: Verilog, manifest, FuseSoC core.
SUFFIXES = (".v", ".json", ".core")
#: Vendor and library of the cores' VLNV names (``l1bn:l1bn:<design>:<version>``).
VLNV_PREFIX = "l1bn:l1bn"


def check(block, out_dir, **params):
    """Check a :func:`generate` call without doing anything: ``(params, out_dir)``, the block's
    full parameters and the output directory as an absolute path.

    Raises
    ------
    ValueError
        A bad block or parameter (:func:`l1bn.hdl.registry.resolve`).
    l1bn.util.files.PathError
        ``out_dir`` or one of the three files it would receive cannot be written (see
        :mod:`l1bn.util.files`: not a directory, a symbolic link or non-regular file in the way, ...).
    """
    params = resolve(block, **params)
    out = check_output_dir(out_dir)
    name = module_name(block, **params)
    for suffix in SUFFIXES:
        check_output_file(out / f"{name}{suffix}", create_parents=True)
    return params, out


def generate(block, out_dir, **params):
    """Write ``out_dir/<name>.v``, ``<name>.json`` and ``<name>.core`` (:func:`core`) for
    ``block``; return the paths of the Verilog and the manifest.

    Parameters and output paths are checked first (:func:`check`) and the Verilog is produced
    in a scratch directory, so on any error (``ValueError`` for bad parameters,
    :class:`~l1bn.util.files.PathError` for bad paths, :class:`~l1bn.util.tools.ToolMissing` or
    :class:`~l1bn.util.tools.ToolFailed` from Yosys) nothing is written to ``out_dir``.

    Elaboration and Yosys run once per distinct design: the Verilog and the manifest are kept
    in a cache directory (``$L1BN_EMIT_CACHE``, default ``~/.cache/l1bn/emit``) under a hash of
    everything they are made from (the block, its parameters, the source of the ``hdl`` and
    ``golden`` packages and of :mod:`l1bn.util.yosys`, the Amaranth and Yosys versions), so the
    tests that generate one design for each of their testcases elaborate and emit it once
    (a complete unit takes seconds).
    """
    params, out_dir = check(block, out_dir, **params)
    cache = _cache_dir()
    key = _key(block, params)
    cached_v, cached_m = cache / f"{key}.v", cache / f"{key}.json"
    if cached_v.is_file() and cached_m.is_file():
        text, manifest = cached_v.read_text(), json.loads(cached_m.read_text())
    else:
        d = design(block, **params)
        with tempfile.TemporaryDirectory(prefix="l1bn-emit-") as scratch:
            text = emit_verilog(d.rtlil, d.name, Path(scratch) / f"{d.name}.v",
                                Path(scratch)).read_text()
        manifest = d.manifest
        cache.mkdir(parents=True, exist_ok=True)
        write_text(cached_m, json.dumps(manifest))
        write_text(cached_v, text)
    out_dir.mkdir(parents=True, exist_ok=True)
    verilog = _update(out_dir / f"{manifest['name']}.v", text)
    manifest_path = _update(out_dir / f"{manifest['name']}.json",
                            json.dumps(dict(manifest, verilog=verilog.name), indent=2) + "\n")
    _update(out_dir / f"{manifest['name']}.core", core(manifest, verilog.name))
    return verilog, manifest_path


def core(manifest, verilog_name):
    """The FuseSoC CAPI2 core of a design: its Verilog as the one source, a ``default`` target
    and a ``lint`` target (``verilator --lint-only -Wall``)."""
    name = manifest["name"]
    doc = manifest["doc"].replace('"', "'")
    return f"""CAPI=2:
name: {VLNV_PREFIX}:{name}:{_version()}
description: "{doc}"

filesets:
  rtl:
    files:
      - {verilog_name}
    file_type: verilogSource

targets:
  default:
    filesets: [rtl]
    toplevel: {name}
  lint:
    default_tool: verilator
    filesets: [rtl]
    toplevel: {name}
    tools:
      verilator:
        mode: lint-only
        verilator_options: [-Wall]
"""


def _version():
    try:
        return version("l1bn")
    except PackageNotFoundError:
        return "0.0.0"


def _inputs():
    """Hash of what every design's Verilog depends on besides its parameters: the source of
    the ``hdl`` and ``golden`` packages and of the Yosys runner (:mod:`l1bn.util.yosys`), and
    the tool versions.

    Taken once, when this module is imported, right after ``l1bn.hdl.registry`` has imported every
    block: the hash describes the code this process elaborates, even if files change later.
    """
    from l1bn import golden, hdl
    from l1bn.util import yosys

    h = hashlib.sha256()
    for dist in ("amaranth", yosys.TOOL):
        try:
            h.update(f"{dist}={version(dist)}\0".encode())
        except PackageNotFoundError:
            h.update(f"{dist} missing\0".encode())
    files = [Path(yosys.__file__)]
    for package in (hdl, golden):
        root = Path(package.__file__).parent
        files += sorted(root.rglob("*.py"))
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _cache_dir():
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "l1bn" / "emit"
    return Path(os.environ.get(CACHE_ENV) or default)


_INPUTS = _inputs()


def _key(block, params):
    text = json.dumps([_INPUTS, block, params], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _update(path, text):
    """Write ``text`` atomically unless ``path`` already holds it (keeps mtimes for rebuilds)."""
    if not (path.is_file() and path.read_text() == text):
        write_text(path, text)
    return path
