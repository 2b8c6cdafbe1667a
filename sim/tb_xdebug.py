import cocotb
from cocotb.simtime import get_sim_time
from cocotb.triggers import RisingEdge, ReadOnly, ClockCycles
from . import tb_bn_unit

@cocotb.test()
async def saturation_x(dut):
    async def watch():
        await ClockCycles(dut.clk, 6)
        was = {}
        n = 0
        while n < 40:
            await RisingEdge(dut.clk)
            await ReadOnly()
            for h in dut:
                name = h._name
                if name.startswith("_"):
                    continue
                try:
                    v = str(h.value)
                except Exception:
                    continue
                bad = "x" in v.lower() or "z" in v.lower()
                if bad and not was.get(name, False):
                    n += 1
                    dut._log.warning("X at %d: %s = %s", get_sim_time("ns"), name, v)
                was[name] = bad
    cocotb.start_soon(watch())
    await tb_bn_unit.saturation.func(dut)
