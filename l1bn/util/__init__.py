"""Utilities below every other floor: tool discovery (:mod:`~l1bn.util.toolchain`), atomic
writes under an output directory (:mod:`~l1bn.util.files`) and command-line argument types
(:mod:`~l1bn.util.argtypes`). They import nothing from the project."""
