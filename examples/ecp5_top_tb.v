`timescale 1ns/1ps
// Simulation of examples/ecp5_top.v (no Python): the button released, the top runs its vectors
// until two runs have completed; prints "PASS: ..." or "FAIL: ..." (and calls $fatal).
//
//   cd build/ecp5 && iverilog -g2012 -I. -o top ../../examples/ecp5_top_tb.v \
//       ../../examples/ecp5_top.v bn_infer_*.v && vvp top
`include "vectors.vh"

module ecp5_top_tb;
  reg clk = 1'b0;
  always #20 clk = ~clk;          // 25 MHz
  wire led_n;
  integer cycles = 0;
  ecp5_top top (.clk(clk), .btn_n(1'b1), .led_n(led_n));

  always @(posedge clk) begin
    cycles <= cycles + 1;
    if (top.fail) begin
      $display("FAIL: mismatch or err after %0d cycles (y beat %0d)", cycles, top.fail_beat);
      $fatal(1);
    end
    if (top.runs == 2) begin
      if (led_n !== 1'b0) begin
        $display("FAIL: two runs completed but the LED is off");
        $fatal(1);
      end
      $display("PASS: two runs of %0d y beats, %0d cycles, LED on", `L1BN_N_Y, cycles);
      $finish;
    end
    if (cycles > 20 * (`L1BN_N_COEF + `L1BN_N_X) + 1000) begin
      $display("FAIL: timeout after %0d cycles, %0d runs", cycles, top.runs);
      $fatal(1);
    end
  end
endmodule
