"""Verilog emission: Amaranth's RTLIL through one Yosys pass to flat, lint-clean Verilog."""

from pathlib import Path

from l1bn.util.files import write_text
from l1bn.util.yosys import run_script

__all__ = ["emit_verilog", "TIMESCALE"]

#: The first line of every emitted file: simulators need a time unit, and a design without one
#: inherits whatever the file compiled before it declared.
TIMESCALE = "`timescale 1ns/1ps"


# Cells whose operands Yosys lets differ in width from the result; Verilog extends them
# implicitly, which `verilator -Wall` reports (WIDTHEXPAND). The map below rewrites each such cell
# with operands explicitly sign- or zero-extended (or truncated) to the result width, which keeps
# its value: the low Y_WIDTH bits of these operations depend only on the low Y_WIDTH operand bits.
_PAD_CELLS = ("$add", "$sub", "$mul", "$and", "$or", "$xor", "$xnor")


#: The parameters and ports of a Yosys binary cell, for the techmap modules below.
_CELL_PARAMS = "".join(f"  parameter {p} = {v};\n" for p, v in (
    ("A_SIGNED", 0), ("B_SIGNED", 0), ("A_WIDTH", 1), ("B_WIDTH", 1), ("Y_WIDTH", 1)))
_CELL_PORTS = ("  input [A_WIDTH-1:0] A;\n  input [B_WIDTH-1:0] B;\n"
               "  output [Y_WIDTH-1:0] Y;\n")


def _pad_operand(port):
    return f"""      if ({port}_WIDTH >= Y_WIDTH) begin : {port.lower()}_cut
        assign {port}{port} = {port}[Y_WIDTH-1:0];
      end else if (A_SIGNED && B_SIGNED) begin : {port.lower()}_sext
        assign {port}{port} = {{{{(Y_WIDTH-{port}_WIDTH){{{port}[{port}_WIDTH-1]}}}}, {port}}};
      end else begin : {port.lower()}_zext
        assign {port}{port} = {{{{(Y_WIDTH-{port}_WIDTH){{1'b0}}}}, {port}}};
      end
"""


def _pad_map():
    """Yosys techmap (Verilog) giving every cell of ``_PAD_CELLS`` operands as wide as its result,
    and both operands of every cell of ``_CMP_CELLS`` one width."""
    modules = []
    for i, cell in enumerate(_PAD_CELLS):
        modules.append(f"""(* techmap_celltype = "{cell}" *)
module _l1bn_pad_{i} (A, B, Y);
{_CELL_PARAMS}{_CELL_PORTS}  generate
    if (A_WIDTH == Y_WIDTH && B_WIDTH == Y_WIDTH) begin : keep
      wire _TECHMAP_FAIL_ = 1'b1;
    end else begin : pad
      wire [Y_WIDTH-1:0] AA, BB;
{_pad_operand("A")}{_pad_operand("B")}      \\{cell} #(.A_SIGNED(A_SIGNED), .B_SIGNED(B_SIGNED), .A_WIDTH(Y_WIDTH),
        .B_WIDTH(Y_WIDTH), .Y_WIDTH(Y_WIDTH)) _TECHMAP_REPLACE_ (.A(AA), .B(BB), .Y(Y));
    end
  endgenerate
endmodule
""")
    modules += [_cmp_map(i, cell) for i, cell in enumerate(_CMP_CELLS)]
    return "\n".join(modules)


#: Comparison cells whose operands :func:`_pad_map` makes equally wide (Yosys narrows constant
#: operands, which Verilator's WIDTHEXPAND rejects).
_CMP_CELLS = ("$lt", "$le", "$gt", "$ge", "$eq", "$ne")


def _cmp_map(i, cell):
    ext = {p: f"""    if ({p}_WIDTH < W && A_SIGNED && B_SIGNED) begin : {p.lower()}_sext
      assign {p}{p} = {{{{(W-{p}_WIDTH){{{p}[{p}_WIDTH-1]}}}}, {p}}};
    end else if ({p}_WIDTH < W) begin : {p.lower()}_zext
      assign {p}{p} = {{{{(W-{p}_WIDTH){{1'b0}}}}, {p}}};
    end else begin : {p.lower()}_keep
      assign {p}{p} = {p};
    end
""" for p in "AB"}
    return f"""(* techmap_celltype = "{cell}" *)
module _l1bn_cmp_{i} (A, B, Y);
{_CELL_PARAMS}  localparam W = A_WIDTH > B_WIDTH ? A_WIDTH : B_WIDTH;
{_CELL_PORTS}  generate
    if (A_WIDTH == B_WIDTH) begin : keep
      wire _TECHMAP_FAIL_ = 1'b1;
    end else begin : pad
      wire [W-1:0] AA, BB;
{ext["A"]}{ext["B"]}      \\{cell} #(.A_SIGNED(A_SIGNED), .B_SIGNED(B_SIGNED), .A_WIDTH(W), .B_WIDTH(W),
        .Y_WIDTH(Y_WIDTH)) _TECHMAP_REPLACE_ (.A(AA), .B(BB), .Y(Y));
    end
  endgenerate
endmodule
"""


def emit_verilog(rtlil_text, top, out, workdir):
    """Turn Amaranth's RTLIL into one flat, lint-clean Verilog module ``top`` written to ``out``.

    Amaranth's own Verilog trips ``verilator --lint-only -Wall`` (unused temporaries, initial
    values on procedurally assigned registers, implicitly extended operands). This pass flattens
    the hierarchy, removes what drives nothing, narrows cells to the bits that are used, pads the
    remaining operands explicitly (:data:`_PAD_CELLS`, :data:`_CMP_CELLS`), splits wires where their drivers change
    and drops ``init`` attributes: registers take their initial values from the synchronous
    ``rst`` only, as on an ASIC; the file starts with :data:`TIMESCALE`. The result is what
    every simulation and synthesis then reads.

    Parameters
    ----------
    rtlil_text : str
        From ``amaranth.back.rtlil.convert``.
    top : str
        Module name.
    out : pathlib.Path
        Verilog file to write (atomically).
    workdir : pathlib.Path
        Scratch directory for the script and log.
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    write_text(workdir / "design.il", rtlil_text)
    write_text(workdir / "pad.v", _pad_map())
    run_script(workdir, "emit", [
        "read_rtlil design.il",
        f"hierarchy -top {top}",
        "proc",
        "flatten",
        "opt",
        "wreduce",
        "opt_clean",
        "techmap -map pad.v",
        "splitnets -driver",
        "opt_clean -purge",
        "setattr -unset init",
        "write_verilog -noattr emit.v",
    ], ["emit.v"])
    text = (workdir / "emit.v").read_text()
    if "[-1:0]" in text:
        # Yosys writes a zero-width net as a 2-bit wire nothing drives: simulators read it
        # as x or 0. Its source is a zero-width constant in the design, which must be fixed.
        raise ValueError(f"{top}: the emitted Verilog has a zero-width wire ([-1:0])")
    return write_text(Path(out), f"{TIMESCALE}\n{text}")
