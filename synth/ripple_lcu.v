// Ripple carry for Yosys' $lcu cell (every adder and comparator of a design): the carry of bit
// i is g[i] | p[i] & carry[i - 1]. l1bn's standard-cell flow maps $lcu with it for the
// "ripple" adder architecture (-extra-map ripple_lcu.v); Brent-Kung is Yosys' own default and
// Kogge-Stone its +/choices/kogge-stone.v.
(* techmap_celltype = "$lcu" *)
module _80_lcu_ripple (P, G, CI, CO);
	parameter WIDTH = 2;

	(* force_downto *)
	input [WIDTH-1:0] P, G;
	input CI;

	(* force_downto *)
	output [WIDTH-1:0] CO;

	genvar i;
	generate
		for (i = 0; i < WIDTH; i = i + 1) begin : carry
			if (i == 0)
				assign CO[0] = G[0] | (P[0] & CI);
			else
				assign CO[i] = G[i] | (P[i] & CO[i - 1]);
		end
	endgenerate
endmodule
