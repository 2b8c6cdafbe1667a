// Trivial stream register: the per-cycle cost ceiling of the cocotb harness (bench/tb_register.py).
// One pipeline stage with a global stall, as the project's stream blocks: x is taken whenever
// the register is empty or its content is being taken; y shows the register.
module bench_register (
    input  wire        clk,
    input  wire        rst,
    input  wire [16:0] x__payload,
    input  wire        x__valid,
    output wire        x__ready,
    output reg  [16:0] y__payload,
    output reg         y__valid,
    input  wire        y__ready
);
    assign x__ready = y__ready | ~y__valid;
    always @(posedge clk) begin
        if (rst) begin
            y__valid <= 1'b0;
            y__payload <= 17'd0;
        end else if (x__ready) begin
            y__valid <= x__valid;
            y__payload <= x__payload;
        end
    end
endmodule
