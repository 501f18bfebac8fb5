// vsnic: the NIC time for the core's `now` input, written for this project. A free-running
// count of ticks of 2^TICK_NS_LOG2 ns (the contract's activity::TICK_NS_LOG2; the contract check
// test keeps the two equal), each CYCLES_PER_TICK core cycles of a CLK_HZ clock (exact for the
// boards' clocks: 62.5 MHz 65 536, 156.25 MHz 163 840, 250 MHz 262 144). Starts at zero when the
// device is configured and wraps at 2^32 (52 days).
`default_nettype none
module vsnic_nic_time #(
    parameter [63:0] CLK_HZ       = 64'd62_500_000,
    parameter [63:0] TICK_NS_LOG2 = 64'd20
) (
    input  wire        clk,
    output reg  [31:0] now
);
    localparam [63:0] CYCLES_PER_TICK = (CLK_HZ << TICK_NS_LOG2) / 64'd1_000_000_000;
    localparam [31:0] LAST = CYCLES_PER_TICK[31:0] - 32'd1;

    reg [31:0] cycle = 32'd0;
    initial now = 32'd0;
    always @(posedge clk) begin
        if (cycle == LAST) begin
            cycle <= 32'd0;
            now   <= now + 32'd1;
        end else begin
            cycle <= cycle + 32'd1;
        end
    end
endmodule
`default_nettype wire
