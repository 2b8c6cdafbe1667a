"""Every manifest validates against the published schema (``hdl/manifest.schema.json``), and
says what an integrator needs: lane signedness, encodings, clock and reset, the time unit."""

import json

import jsonschema
import pytest

from l1bn.hdl.emit import TIMESCALE
from l1bn.hdl.generate import generate
from l1bn.hdl.manifest import SCHEMA
from l1bn.hdl.registry import BLOCKS

VALIDATOR = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))


def _designs():
    for block in BLOCKS:
        yield pytest.param(block, {}, id=block)
    for block, extra in (("bn_unit", {"norm": "l2", "stats": "one-pass", "lanes": 4}),
                         ("bn_unit", {"lanes": 4, "width": 8, "frac": 4}),
                         ("bn_backward", {"norm": "l1", "lanes": 4})):
        yield pytest.param(block, extra, id=f"{block}-" + "-".join(f"{v}" for v in extra.values()))


@pytest.fixture(scope="module")
def emitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("manifests")

    def make(block, extra):
        params = dict(extra)
        if "norm" in BLOCKS[block].params:
            params.setdefault("norm", "l1")
        verilog, manifest = generate(block, root, **params)
        return verilog.read_text(), json.loads(manifest.read_text())
    return make


@pytest.mark.parametrize("block, extra", list(_designs()))
def test_manifest_validates(emitted, block, extra):
    text, manifest = emitted(block, extra)
    errors = sorted(VALIDATOR.iter_errors(manifest), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
    assert text.startswith(TIMESCALE + "\n")
    assert manifest["reset"] == {"port": "rst", "kind": "synchronous", "active": "high",
                                 "effect": manifest["reset"]["effect"]}


def test_unit_manifest_states_lanes_encodings_and_flags(emitted):
    _text, man = emitted("bn_unit", {"norm": "l1", "lanes": 4})
    ports = {p["name"]: p for p in man["ports"]}
    fields = {f["name"]: f for f in ports["channel__payload"]["fields"]}
    assert fields["mode"]["encoding"] == {"train": 0, "infer": 1}
    x = {f["name"]: f for f in ports["x__payload"]["fields"]}
    assert x["data"]["elements"] == {"count": 4, "width": 16, "signed": True}
    assert (x["data"]["offset"], x["data"]["width"], x["last"]["offset"]) == (0, 64, 64)
    sat = {f["name"]: f for f in ports["stats__payload"]["fields"]}["sat"]
    assert [(f["name"], f["offset"]) for f in sat["fields"]] == \
        [("sigma", 0), ("a", 1), ("b", 2), ("running", 3)]


def test_schema_rejects_what_it_should():
    bad = {"name": "x", "block": "x", "parameters": {}, "latency": -1}
    assert not VALIDATOR.is_valid(bad)
