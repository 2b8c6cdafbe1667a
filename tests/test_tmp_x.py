import pytest
from l1bn.hdl.generate import generate
from l1bn.sim import runner
import json
from .blocksim import SEED
@pytest.mark.sim
def test_x(build_root):
    v, m = generate("bn_unit", build_root / "xd", norm="l2", stats="two-pass", width=8, frac=4, lanes=3, guard=4, max_batch=48)
    man = json.loads(m.read_text())
    try:
        runner.run(verilog=v, toplevel=man["name"], test_module="l1bn.sim.tb_xdebug", simulator="icarus", build_dir=build_root / "xd" / "icarus", testcase="saturation_x", config={"manifest": man, "seed": SEED})
    except Exception as e:
        print(e)
