// vsnic: board top for the Lattice ECP5-5G Versa (LFE5UM5G-45F-8BG381C), written for this project.
//
// Contents: a PLL makes the 62.5 MHz core clock from the 100 MHz board oscillator (the 64-bit core
// closes at 77-91 MHz on this device today, so 62.5 MHz keeps a margin: docs/firmware-results.md); the UART on the FT2232H's
// second channel carries CSR reads/writes (vsnic_uart_csr); vsnic_board_regs adds the build
// block and the CSR frame port, which stands in for the network ports: the two RGMII PHYs and
// the PCIe x1 edge connector are not connected (see docs/firmware.md for what is missing).
// LEDs (active low): 0 heartbeat, 1 frame in, 2 frame to network, 3 frame to host, 7 PLL unlocked.
`default_nettype none
module vsnic_versa5g_top #(
    parameter [31:0] BUILD_TIME   = 32'h0,
    parameter [31:0] GIT_HASH_HI  = 32'h0,
    parameter [31:0] GIT_HASH_LO  = 32'h0,
    parameter [31:0] FLAGS        = 32'h0,
    parameter integer CLK_HZ      = 62_500_000,  // must match the PLL below
    parameter integer BAUD        = 115_200
) (
    input  wire       clk100,
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire       rst_n,     // reset button; unused: registers start from their initial values
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire       uart_rx,
    output wire       uart_tx,
    output wire [7:0] led
);
    // 100 MHz / 8 * 5 = 62.5 MHz (PFD 12.5 MHz, VCO 625 MHz with CLKOP / 10 in the feedback path)
    wire clk;
    wire pll_locked;
    EHXPLLL #(
        .CLKI_DIV(8), .CLKFB_DIV(5), .CLKOP_DIV(10), .CLKOP_CPHASE(9), .CLKOP_FPHASE(0),
        .CLKOP_ENABLE("ENABLED"), .FEEDBK_PATH("CLKOP"), .OUTDIVIDER_MUXA("DIVA")
    ) pll (
        .CLKI(clk100), .CLKFB(clk), .CLKOP(clk), .LOCK(pll_locked),
        .RST(1'b0), .STDBY(1'b0), .PHASESEL0(1'b0), .PHASESEL1(1'b0), .PHASEDIR(1'b0),
        .PHASESTEP(1'b0), .PHASELOADREG(1'b0), .PLLWAKESYNC(1'b0), .ENCLKOP(1'b0),
        .ENCLKOS(1'b0), .ENCLKOS2(1'b0), .ENCLKOS3(1'b0)
    );

    wire [15:0] csr_addr;
    wire [31:0] csr_wdata;
    wire        csr_write, csr_read;
    wire [31:0] csr_rdata;
    wire        core_csr_write, core_csr_read;
    wire [31:0] core_csr_rdata;

    vsnic_uart_csr #(.CLKS_PER_BIT(CLK_HZ / BAUD)) bridge (
        .clk(clk), .uart_rx(uart_rx), .uart_tx(uart_tx),
        .csr_addr(csr_addr), .csr_wdata(csr_wdata), .csr_write(csr_write),
        .csr_read(csr_read), .csr_rdata(csr_rdata));

    wire        s_valid, s_last;
    wire [63:0] s_data;
    wire [6:0]  s_bytes;
    wire [7:0]  s_user;
    wire        m_tx_valid, m_tx_last, m_exc_valid, m_exc_last, m_exc_ready;
    wire [63:0] m_tx_data, m_exc_data, m_exc_meta;
    wire [6:0]  m_tx_bytes, m_exc_bytes;
    wire [1:0]  m_tx_port;

    vsnic_board_regs #(
        .BOARD_ID(32'h5635_4700), // "V5G"
        .BUILD_TIME(BUILD_TIME), .GIT_HASH_HI(GIT_HASH_HI), .GIT_HASH_LO(GIT_HASH_LO),
        .FLAGS(FLAGS), .CORE_CLK_KHZ(CLK_HZ / 1000)
    ) board (
        .clk(clk),
        .csr_addr(csr_addr), .csr_wdata(csr_wdata), .csr_write(csr_write),
        .csr_read(csr_read), .csr_rdata(csr_rdata),
        .core_csr_write(core_csr_write), .core_csr_read(core_csr_read),
        .core_csr_rdata(core_csr_rdata),
        .s_valid(s_valid), .s_data(s_data), .s_last(s_last), .s_bytes(s_bytes), .s_user(s_user),
        .m_tx_valid(m_tx_valid), .m_tx_data(m_tx_data), .m_tx_last(m_tx_last),
        .m_tx_bytes(m_tx_bytes), .m_tx_port(m_tx_port),
        .m_exc_valid(m_exc_valid), .m_exc_data(m_exc_data), .m_exc_last(m_exc_last),
        .m_exc_bytes(m_exc_bytes), .m_exc_meta(m_exc_meta), .m_exc_ready(m_exc_ready));

    // NIC time (activity records, the table block's NOW)
    wire [31:0] now;
    vsnic_nic_time #(.CLK_HZ(CLK_HZ)) nic_time (.clk(clk), .now(now));

    vsnic_core core (
        .clock(clk), .now(now),
        .s_valid(s_valid), .s_data(s_data), .s_last(s_last), .s_bytes(s_bytes), .s_user(s_user),
        .m_tx_valid(m_tx_valid), .m_tx_data(m_tx_data), .m_tx_last(m_tx_last),
        .m_tx_bytes(m_tx_bytes), .m_tx_port(m_tx_port),
        .m_exc_valid(m_exc_valid), .m_exc_data(m_exc_data), .m_exc_last(m_exc_last),
        .m_exc_bytes(m_exc_bytes), .m_exc_meta(m_exc_meta), .m_exc_ready(m_exc_ready),
        .csr_addr(csr_addr), .csr_wdata(csr_wdata), .csr_write(core_csr_write),
        .csr_read(core_csr_read), .csr_rdata(core_csr_rdata));

    // ---- LEDs -----------------------------------------------------------------------------
    reg [26:0] beat = 27'd0;
    reg [22:0] act_rx = 23'd0, act_tx = 23'd0, act_exc = 23'd0;
    always @(posedge clk) begin
        beat    <= beat + 1'b1;
        act_rx  <= s_valid ? {23{1'b1}} : act_rx - {22'd0, act_rx != 23'd0};
        act_tx  <= m_tx_valid ? {23{1'b1}} : act_tx - {22'd0, act_tx != 23'd0};
        act_exc <= m_exc_valid ? {23{1'b1}} : act_exc - {22'd0, act_exc != 23'd0};
    end
    // LED 7: PLL not locked
    assign led = ~{!pll_locked, 3'b000, act_exc != 23'd0, act_tx != 23'd0, act_rx != 23'd0,
                   beat[26]};
endmodule
`default_nettype wire
