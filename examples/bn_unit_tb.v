`timescale 1ns/1ps
// Plain Verilog testbench of the BN units and the single-stream layers (the same ports; a
// layer's x.hex holds every channel once): the forward unit (bn_unit, bn_layer: y and stats)
// or, when vectors.vh defines L1BN_BACKWARD, the backward unit (bn_backward, bn_backward_layer:
// dx and grads). No Python, no cocotb.
//
// Drives the vectors of `l1bn vectors` (vectors.vh, channel.hex, x.hex and the expected
// y.hex, stats.hex or dx.hex, grads.hex in the working directory) through the generated design:
// every descriptor, then every beat of every pass in the order the unit expects, with random
// gaps on x and random backpressure on both outputs (a 32-bit LFSR, seed `L1BN_TB_SEED,
// default 1), and compares every output transfer with the expected one. Prints "PASS: ..." or
// "FAIL: ..." and finishes; a failure also calls $fatal (a non-zero exit code on both
// simulators).
//
//   l1bn vectors --lanes 4 -m 5,40,3 -o build/ex
//   cd build/ex && iverilog -g2012 -I. -o tb ../../examples/bn_unit_tb.v bn_unit_*.v && vvp tb
`include "vectors.vh"
`ifndef L1BN_TB_SEED
`define L1BN_TB_SEED 1
`endif
`define L1BN_TB_TIMEOUT 200000
// The result stream (y or dx) and the per-channel stream (stats or grads).
`ifdef L1BN_BACKWARD
`define TB_OUT "dx"
`define TB_SIDE "grads"
`define TB_OUT_W `L1BN_DX_W
`define TB_N_OUT `L1BN_N_DX
`define TB_SIDE_W `L1BN_GRADS_W
`define TB_N_SIDE `L1BN_N_GRADS
`else
`define TB_OUT "y"
`define TB_SIDE "stats"
`define TB_OUT_W `L1BN_Y_W
`define TB_N_OUT `L1BN_N_Y
`define TB_SIDE_W `L1BN_STATS_W
`define TB_N_SIDE `L1BN_N_STATS
`endif

module bn_unit_tb;
  reg clk = 1'b0;
  reg rst = 1'b1;
  always #5 clk = ~clk;

  reg [`L1BN_CHANNEL_W-1:0] chan_mem [0:`L1BN_N_CHANNEL];
  reg [`L1BN_X_W-1:0] x_mem [0:`L1BN_N_X];
  reg [`TB_OUT_W-1:0] out_mem [0:`TB_N_OUT];
  reg [`TB_SIDE_W-1:0] side_mem [0:`TB_N_SIDE];

  integer ci = 0, xi = 0, oi = 0, si = 0, errors = 0, cycles = 0;
  reg [31:0] lfsr = `L1BN_TB_SEED;
  reg x_valid = 1'b0, out_ready = 1'b0, side_ready = 1'b0;

  wire channel_ready, x_ready, out_valid, side_valid, err;
  wire [`TB_OUT_W-1:0] out_payload;
  wire [`TB_SIDE_W-1:0] side_payload;
  wire channel_valid = ci < `L1BN_N_CHANNEL;

  `L1BN_DESIGN dut (
    .clk(clk), .rst(rst),
    .channel__payload(chan_mem[ci]), .channel__valid(channel_valid),
    .channel__ready(channel_ready),
    .x__payload(x_mem[xi]), .x__valid(x_valid), .x__ready(x_ready),
`ifdef L1BN_BACKWARD
    .dx__payload(out_payload), .dx__valid(out_valid), .dx__ready(out_ready),
    .grads__payload(side_payload), .grads__valid(side_valid), .grads__ready(side_ready),
`else
    .y__payload(out_payload), .y__valid(out_valid), .y__ready(out_ready),
    .stats__payload(side_payload), .stats__valid(side_valid), .stats__ready(side_ready),
`endif
    .err(err), .status());

  initial begin
    $readmemh("channel.hex", chan_mem, 0, `L1BN_N_CHANNEL - 1);
    $readmemh("x.hex", x_mem, 0, `L1BN_N_X - 1);
    $readmemh({`TB_OUT, ".hex"}, out_mem, 0, `TB_N_OUT - 1);
    if (`TB_N_SIDE > 0) $readmemh({`TB_SIDE, ".hex"}, side_mem, 0, `TB_N_SIDE - 1);
    repeat (3) @(posedge clk);
    rst <= 1'b0;
  end

  // Everything changes right after a rising edge (nonblocking): no race with the design.
  always @(posedge clk) if (!rst) begin
    cycles <= cycles + 1;
    lfsr <= {lfsr[30:0], lfsr[31] ^ lfsr[21] ^ lfsr[1] ^ lfsr[0]};
    if (channel_valid && channel_ready) ci <= ci + 1;
    if (x_valid && x_ready) xi <= xi + 1;
    if (!x_valid || x_ready)   // a beat offered stays offered until taken
      x_valid <= (xi + (x_valid && x_ready) < `L1BN_N_X) && lfsr[3:0] != 4'd0;
    out_ready <= lfsr[7:5] != 3'd0;
    side_ready <= lfsr[11:9] != 3'd0;
    if (out_valid && out_ready) begin
      if (oi >= `TB_N_OUT || out_payload !== out_mem[oi]) begin
        errors <= errors + 1;
        $display("FAIL: %s transfer %0d: got %h, expected %h", `TB_OUT, oi, out_payload,
                 out_mem[oi]);
      end
      oi <= oi + 1;
    end
    if (side_valid && side_ready) begin
      if (si >= `TB_N_SIDE || side_payload !== side_mem[si]) begin
        errors <= errors + 1;
        $display("FAIL: %s transfer %0d: got %h, expected %h", `TB_SIDE, si, side_payload,
                 side_mem[si]);
      end
      si <= si + 1;
    end
    if (oi == `TB_N_OUT && si == `TB_N_SIDE && xi == `L1BN_N_X) begin
      if (errors == 0 && !err) begin
        $display("PASS: %0d descriptors, %0d x beats, %0d %s beats, %0d %s in %0d cycles",
                 ci, xi, oi, `TB_OUT, si, `TB_SIDE, cycles);
        $finish;
      end else
        $fatal(1, "FAIL: %0d mismatches, err = %0d", errors, err);
    end
    if (cycles > `L1BN_TB_TIMEOUT)
      $fatal(1, "FAIL: timeout after %0d cycles (%0d of %0d %s beats)", cycles, oi, `TB_N_OUT,
             `TB_OUT);
  end
endmodule
