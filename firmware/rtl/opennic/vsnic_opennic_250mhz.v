// vsnic: adaptor from the OpenNIC shell's 250 MHz user-plugin box to the vsnic core (512-bit),
// written for this project. Instantiated by user_plugin_250mhz_inst.vh inside the shell's
// box_250mhz; see docs/firmware.md for the gaps (no packet FIFOs, no queue engine).
//
// * AXI-Lite (axil_aclk) -> the core's CSR bus (axis_aclk) through a request/acknowledge
//   handshake; one transaction at a time; addresses are taken modulo 64 KiB.
// * RX: CMAC port 0 (s_axis_adap_rx) and QDMA H2C (s_axis_qdma_h2c) are merged frame by frame
//   into the core's one input stream; a frame, once started, holds the input until its tlast.
//   H2C frames carry the contract's stream side band in tuser_dst[7:0] (from_host is forced).
// * TX: m_tx -> CMAC port 0 (m_axis_adap_tx); m_exc -> QDMA C2H (m_axis_qdma_c2h), whose tready
//   is the core's m_exc_ready (the core drops and counts exceptions it cannot deliver).
`default_nettype none
module vsnic_opennic_250mhz (
    input  wire         s_axil_awvalid,
    input  wire [31:0]  s_axil_awaddr,
    output reg          s_axil_awready,
    input  wire         s_axil_wvalid,
    input  wire [31:0]  s_axil_wdata,
    output reg          s_axil_wready,
    output reg          s_axil_bvalid,
    output wire [1:0]   s_axil_bresp,
    input  wire         s_axil_bready,
    input  wire         s_axil_arvalid,
    input  wire [31:0]  s_axil_araddr,
    output reg          s_axil_arready,
    output reg          s_axil_rvalid,
    output reg  [31:0]  s_axil_rdata,
    output wire [1:0]   s_axil_rresp,
    input  wire         s_axil_rready,

    input  wire         s_axis_qdma_h2c_tvalid,
    input  wire [511:0] s_axis_qdma_h2c_tdata,
    input  wire [63:0]  s_axis_qdma_h2c_tkeep,
    input  wire         s_axis_qdma_h2c_tlast,
    input  wire [15:0]  s_axis_qdma_h2c_tuser_size,
    input  wire [15:0]  s_axis_qdma_h2c_tuser_src,
    input  wire [15:0]  s_axis_qdma_h2c_tuser_dst,
    output wire         s_axis_qdma_h2c_tready,

    output wire         m_axis_qdma_c2h_tvalid,
    output wire [511:0] m_axis_qdma_c2h_tdata,
    output wire [63:0]  m_axis_qdma_c2h_tkeep,
    output wire         m_axis_qdma_c2h_tlast,
    output wire [15:0]  m_axis_qdma_c2h_tuser_size,
    output wire [15:0]  m_axis_qdma_c2h_tuser_src,
    output wire [15:0]  m_axis_qdma_c2h_tuser_dst,
    input  wire         m_axis_qdma_c2h_tready,

    output wire         m_axis_adap_tx_250mhz_tvalid,
    output wire [511:0] m_axis_adap_tx_250mhz_tdata,
    output wire [63:0]  m_axis_adap_tx_250mhz_tkeep,
    output wire         m_axis_adap_tx_250mhz_tlast,
    output wire [15:0]  m_axis_adap_tx_250mhz_tuser_size,
    output wire [15:0]  m_axis_adap_tx_250mhz_tuser_src,
    output wire [15:0]  m_axis_adap_tx_250mhz_tuser_dst,
    input  wire         m_axis_adap_tx_250mhz_tready,

    input  wire         s_axis_adap_rx_250mhz_tvalid,
    input  wire [511:0] s_axis_adap_rx_250mhz_tdata,
    input  wire [63:0]  s_axis_adap_rx_250mhz_tkeep,
    input  wire         s_axis_adap_rx_250mhz_tlast,
    input  wire [15:0]  s_axis_adap_rx_250mhz_tuser_size,
    input  wire [15:0]  s_axis_adap_rx_250mhz_tuser_src,
    input  wire [15:0]  s_axis_adap_rx_250mhz_tuser_dst,
    output wire         s_axis_adap_rx_250mhz_tready,

    input  wire         mod_rstn,
    output reg          mod_rst_done,

    input  wire         axil_aclk,
    input  wire         axis_aclk
);
    // ---- reset handshake: the core needs no reset (registers start from initial values) ----
    initial mod_rst_done = 1'b0;
    always @(posedge axil_aclk) mod_rst_done <= mod_rstn;

    // ---- AXI-Lite slave (axil_aclk) --------------------------------------------------------
    assign s_axil_bresp = 2'b00;
    assign s_axil_rresp = 2'b00;
    reg        busy = 1'b0;
    reg        req_write = 1'b0;
    reg [15:0] req_addr = 16'd0;
    reg [31:0] req_wdata = 32'd0;
    reg        req_tgl = 1'b0;           // toggles once per request (axil_aclk)
    reg [2:0]  ack_sync = 3'd0;          // ack toggle synchronised into axil_aclk
    reg [31:0] rsp_rdata = 32'd0;        // written in axis_aclk, stable while busy

    initial begin
        s_axil_awready = 1'b0;
        s_axil_wready  = 1'b0;
        s_axil_bvalid  = 1'b0;
        s_axil_arready = 1'b0;
        s_axil_rvalid  = 1'b0;
        s_axil_rdata   = 32'd0;
    end

    always @(posedge axil_aclk) begin
        ack_sync       <= {ack_sync[1:0], ack_tgl};
        s_axil_awready <= 1'b0;
        s_axil_wready  <= 1'b0;
        s_axil_arready <= 1'b0;
        if (s_axil_bvalid && s_axil_bready) s_axil_bvalid <= 1'b0;
        if (s_axil_rvalid && s_axil_rready) s_axil_rvalid <= 1'b0;
        if (!busy && !s_axil_bvalid && !s_axil_rvalid) begin
            if (s_axil_awvalid && s_axil_wvalid && !s_axil_awready) begin
                s_axil_awready <= 1'b1;
                s_axil_wready  <= 1'b1;
                req_write <= 1'b1;
                req_addr  <= s_axil_awaddr[15:0];
                req_wdata <= s_axil_wdata;
                req_tgl   <= ~req_tgl;
                busy      <= 1'b1;
            end else if (s_axil_arvalid && !s_axil_arready) begin
                s_axil_arready <= 1'b1;
                req_write <= 1'b0;
                req_addr  <= s_axil_araddr[15:0];
                req_tgl   <= ~req_tgl;
                busy      <= 1'b1;
            end
        end else if (busy && (ack_sync[2] != ack_sync[1])) begin
            busy <= 1'b0;
            if (req_write) begin
                s_axil_bvalid <= 1'b1;
            end else begin
                s_axil_rvalid <= 1'b1;
                s_axil_rdata  <= rsp_rdata;
            end
        end
    end

    // ---- CSR side (axis_aclk) --------------------------------------------------------------
    reg  [2:0]  req_sync = 3'd0;
    reg         ack_tgl = 1'b0;
    reg         csr_write = 1'b0, csr_read = 1'b0, read_wait = 1'b0;
    wire [31:0] csr_rdata;
    always @(posedge axis_aclk) begin
        req_sync  <= {req_sync[1:0], req_tgl};
        csr_write <= 1'b0;
        csr_read  <= 1'b0;
        read_wait <= csr_read;
        if (req_sync[2] != req_sync[1]) begin
            // request fields were stable for two cycles before the toggle arrived
            if (req_write) begin
                csr_write <= 1'b1;
                ack_tgl   <= ~ack_tgl;
            end else begin
                csr_read <= 1'b1;
            end
        end
        if (read_wait) begin
            rsp_rdata <= csr_rdata;
            ack_tgl   <= ~ack_tgl;
        end
    end

    // ---- RX: frame-locked arbiter, CMAC port 0 first ---------------------------------------
    reg  in_frame = 1'b0;
    reg  from_h2c = 1'b0;
    wire pick_h2c = in_frame ? from_h2c : !s_axis_adap_rx_250mhz_tvalid;
    assign s_axis_adap_rx_250mhz_tready = !pick_h2c;
    assign s_axis_qdma_h2c_tready       = pick_h2c;
    wire         in_valid = pick_h2c ? s_axis_qdma_h2c_tvalid : s_axis_adap_rx_250mhz_tvalid;
    wire         in_last  = pick_h2c ? s_axis_qdma_h2c_tlast  : s_axis_adap_rx_250mhz_tlast;
    wire [511:0] in_data  = pick_h2c ? s_axis_qdma_h2c_tdata  : s_axis_adap_rx_250mhz_tdata;
    wire [63:0]  in_keep  = pick_h2c ? s_axis_qdma_h2c_tkeep  : s_axis_adap_rx_250mhz_tkeep;
    // stream side band per the contract: port, from_host, bypass
    wire [7:0]   in_user  = pick_h2c ? (s_axis_qdma_h2c_tuser_dst[7:0] | 8'h04) : 8'h00;
    always @(posedge axis_aclk) begin
        if (in_valid) begin
            in_frame <= !in_last;
            from_h2c <= pick_h2c;
        end
    end

    // bytes in a beat: tkeep is contiguous from lane 0, so count the ones
    function automatic [6:0] keep_bytes(input [63:0] keep);
        integer i;
        begin
            keep_bytes = 7'd0;
            for (i = 0; i < 64; i = i + 1) keep_bytes = keep_bytes + {6'd0, keep[i]};
        end
    endfunction
    function automatic [63:0] bytes_keep(input [6:0] n);
        integer i;
        begin
            for (i = 0; i < 64; i = i + 1) bytes_keep[i] = i < n;
        end
    endfunction

    // register the merged beat once (the core accepts one beat per cycle, no ready)
    reg         s_valid = 1'b0, s_last = 1'b0;
    reg [511:0] s_data = 512'd0;
    reg [6:0]   s_bytes = 7'd0;
    reg [7:0]   s_user = 8'd0;
    always @(posedge axis_aclk) begin
        s_valid <= in_valid;
        s_last  <= in_last;
        s_data  <= in_data;
        s_bytes <= keep_bytes(in_keep);
        s_user  <= in_user;
    end

    // ---- the core ----------------------------------------------------------------------------
    wire         m_tx_valid, m_tx_last, m_exc_valid, m_exc_last;
    wire [511:0] m_tx_data, m_exc_data;
    wire [6:0]   m_tx_bytes, m_exc_bytes;
    wire [1:0]   m_tx_port;
    wire [63:0]  m_exc_meta;
    // NIC time (activity records, the table block's NOW) at the 250 MHz box clock
    wire [31:0] now;
    vsnic_nic_time #(.CLK_HZ(64'd250_000_000)) nic_time (.clk(axis_aclk), .now(now));

    vsnic_core core (
        .clock(axis_aclk), .now(now),
        .s_valid(s_valid), .s_data(s_data), .s_last(s_last), .s_bytes(s_bytes), .s_user(s_user),
        .m_tx_valid(m_tx_valid), .m_tx_data(m_tx_data), .m_tx_last(m_tx_last),
        .m_tx_bytes(m_tx_bytes), .m_tx_port(m_tx_port),
        .m_exc_valid(m_exc_valid), .m_exc_data(m_exc_data), .m_exc_last(m_exc_last),
        .m_exc_bytes(m_exc_bytes), .m_exc_meta(m_exc_meta), .m_exc_ready(m_axis_qdma_c2h_tready),
        .csr_addr(req_addr), .csr_wdata(req_wdata), .csr_write(csr_write && req_write),
        .csr_read(csr_read), .csr_rdata(csr_rdata));

    // ---- TX: straight through (no packet FIFO yet: tready low loses beats, see docs) --------
    assign m_axis_adap_tx_250mhz_tvalid     = m_tx_valid;
    assign m_axis_adap_tx_250mhz_tdata      = m_tx_data;
    assign m_axis_adap_tx_250mhz_tkeep      = bytes_keep(m_tx_bytes == 7'd0 ? 7'd64 : m_tx_bytes);
    assign m_axis_adap_tx_250mhz_tlast      = m_tx_last;
    assign m_axis_adap_tx_250mhz_tuser_size = 16'd0; // needs a packet FIFO (length at first beat)
    assign m_axis_adap_tx_250mhz_tuser_src  = {14'd0, m_tx_port};
    assign m_axis_adap_tx_250mhz_tuser_dst  = 16'd1;  // CMAC port 0

    assign m_axis_qdma_c2h_tvalid     = m_exc_valid;
    assign m_axis_qdma_c2h_tdata      = m_exc_data;
    assign m_axis_qdma_c2h_tkeep      = bytes_keep(m_exc_bytes == 7'd0 ? 7'd64 : m_exc_bytes);
    assign m_axis_qdma_c2h_tlast      = m_exc_last;
    assign m_axis_qdma_c2h_tuser_size = 16'd0; // needs a packet FIFO (length at first beat)
    assign m_axis_qdma_c2h_tuser_src  = 16'd0;
    assign m_axis_qdma_c2h_tuser_dst  = 16'd0;

    // Inputs the adaptor does not use yet (lengths are recomputed from tkeep; the exception
    // metadata has no C2H field until the queue engine exists).
    /* verilator lint_off UNUSEDSIGNAL */
    wire unused = &{1'b0, s_axis_qdma_h2c_tuser_size, s_axis_qdma_h2c_tuser_src,
                    s_axis_qdma_h2c_tuser_dst[15:8], s_axis_adap_rx_250mhz_tuser_size,
                    s_axis_adap_rx_250mhz_tuser_src, s_axis_adap_rx_250mhz_tuser_dst,
                    m_axis_adap_tx_250mhz_tready, m_exc_meta,
                    s_axil_awaddr[31:16], s_axil_araddr[31:16]};
    /* verilator lint_on UNUSEDSIGNAL */
endmodule
`default_nettype wire
