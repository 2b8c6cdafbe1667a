`timescale 1ns/1ps
// Plain Verilog testbench of the forward BN unit, or of the single-stream layer (the same ports;
// its x.hex holds every channel once). No Python, no cocotb.
//
// Drives the vectors of `l1bn vectors` (vectors.vh, channel.hex, x.hex, y.hex, stats.hex in the
// working directory) through the generated design: every descriptor, then every beat of every
// pass in the order the unit expects, with random gaps on x and random backpressure on y and
// stats (a 32-bit LFSR, seed `L1BN_TB_SEED, default 1), and compares every y and stats transfer
// with the expected one. Prints "PASS: ..." or "FAIL: ..." and finishes; a failure also calls
// $fatal (a non-zero exit code on both simulators).
//
//   l1bn vectors --lanes 4 -m 5,40,3 -o build/ex
//   cd build/ex && iverilog -g2012 -I. -o tb ../../examples/bn_unit_tb.v bn_unit_*.v && vvp tb
`include "vectors.vh"
`ifndef L1BN_TB_SEED
`define L1BN_TB_SEED 1
`endif
`define L1BN_TB_TIMEOUT 200000

module bn_unit_tb;
  reg clk = 1'b0;
  reg rst = 1'b1;
  always #5 clk = ~clk;

  reg [`L1BN_CHANNEL_W-1:0] chan_mem [0:`L1BN_N_CHANNEL];
  reg [`L1BN_X_W-1:0] x_mem [0:`L1BN_N_X];
  reg [`L1BN_Y_W-1:0] y_mem [0:`L1BN_N_Y];
  reg [`L1BN_STATS_W-1:0] stats_mem [0:`L1BN_N_STATS];

  integer ci = 0, xi = 0, yi = 0, si = 0, errors = 0, cycles = 0;
  reg [31:0] lfsr = `L1BN_TB_SEED;
  reg x_valid = 1'b0, y_ready = 1'b0, stats_ready = 1'b0;

  wire channel_ready, x_ready, y_valid, stats_valid, err;
  wire [`L1BN_Y_W-1:0] y_payload;
  wire [`L1BN_STATS_W-1:0] stats_payload;
  wire channel_valid = ci < `L1BN_N_CHANNEL;

  `L1BN_DESIGN dut (
    .clk(clk), .rst(rst),
    .channel__payload(chan_mem[ci]), .channel__valid(channel_valid),
    .channel__ready(channel_ready),
    .x__payload(x_mem[xi]), .x__valid(x_valid), .x__ready(x_ready),
    .y__payload(y_payload), .y__valid(y_valid), .y__ready(y_ready),
    .stats__payload(stats_payload), .stats__valid(stats_valid), .stats__ready(stats_ready),
    .err(err), .status());

  initial begin
    $readmemh("channel.hex", chan_mem, 0, `L1BN_N_CHANNEL - 1);
    $readmemh("x.hex", x_mem, 0, `L1BN_N_X - 1);
    $readmemh("y.hex", y_mem, 0, `L1BN_N_Y - 1);
    if (`L1BN_N_STATS > 0) $readmemh("stats.hex", stats_mem, 0, `L1BN_N_STATS - 1);
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
    y_ready <= lfsr[7:5] != 3'd0;
    stats_ready <= lfsr[11:9] != 3'd0;
    if (y_valid && y_ready) begin
      if (yi >= `L1BN_N_Y || y_payload !== y_mem[yi]) begin
        errors <= errors + 1;
        $display("FAIL: y transfer %0d: got %h, expected %h", yi, y_payload, y_mem[yi]);
      end
      yi <= yi + 1;
    end
    if (stats_valid && stats_ready) begin
      if (si >= `L1BN_N_STATS || stats_payload !== stats_mem[si]) begin
        errors <= errors + 1;
        $display("FAIL: stats transfer %0d: got %h, expected %h", si, stats_payload,
                 stats_mem[si]);
      end
      si <= si + 1;
    end
    if (yi == `L1BN_N_Y && si == `L1BN_N_STATS && xi == `L1BN_N_X) begin
      if (errors == 0 && !err) begin
        $display("PASS: %0d descriptors, %0d x beats, %0d y beats, %0d stats in %0d cycles",
                 ci, xi, yi, si, cycles);
        $finish;
      end else
        $fatal(1, "FAIL: %0d mismatches, err = %0d", errors, err);
    end
    if (cycles > `L1BN_TB_TIMEOUT)
      $fatal(1, "FAIL: timeout after %0d cycles (%0d of %0d y beats)", cycles, yi, `L1BN_N_Y);
  end
endmodule
