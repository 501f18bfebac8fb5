// vsnic: capture FIFO for the board's CSR frame port, written for this project.
// Beats written at line rate (in_valid) are stored while there is room (else counted in
// `overflows`); each `pop` strobe moves the oldest entry into `out_data` (out_valid says whether
// there was one). The memory has a registered read port, so it maps to block RAM.
`default_nettype none
module vsnic_capture #(
    parameter integer W  = 136,
    parameter integer AW = 9
) (
    input  wire         clk,
    input  wire         in_valid,
    input  wire [W-1:0] in_data,
    input  wire         pop,
    output reg  [W-1:0] out_data,
    output reg          out_valid,
    output reg  [31:0]  overflows
);
    reg [W-1:0] mem [0:(1<<AW)-1];
    reg [AW:0]  wp = {(AW+1){1'b0}};
    reg [AW:0]  rp = {(AW+1){1'b0}};
    wire empty = wp == rp;
    wire full  = wp == {~rp[AW], rp[AW-1:0]};

    initial begin
        out_data  = {W{1'b0}};
        out_valid = 1'b0;
        overflows = 32'd0;
    end

    always @(posedge clk) begin
        if (in_valid) begin
            if (!full) begin
                mem[wp[AW-1:0]] <= in_data;
                wp <= wp + 1'b1;
            end else begin
                overflows <= overflows + 1'b1;
            end
        end
        if (pop) begin
            out_valid <= !empty;
            if (!empty) begin
                out_data <= mem[rp[AW-1:0]];
                rp <= rp + 1'b1;
            end
        end
    end
endmodule
`default_nettype wire
