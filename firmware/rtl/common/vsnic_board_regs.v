// vsnic: board-level register blocks beside the core, written for this project.
//
// Decodes the bridge's CSR bus: addresses below CORE_SPACE_END (0x300) go to the core; this
// module answers two blocks of its own (Type/Version/Next headers like the contract's blocks):
//   0x0500 build   (type 0x56530006): BOARD_ID, BUILD_TIME, GIT_HASH_HI/LO, FLAGS, CORE_CLK_KHZ
//   0x0600 frameport (type 0x56530007): inject frames into the core's input stream and read back
//          what it sends to the network (m_tx) and to the host (m_exc), one 64-bit beat at a time.
// Everything else reads 0 (on boards without a queue engine, 0x300..0x4FF are unanswered).
// Register offsets: see docs/firmware.md. Width: 64-bit core only.
`default_nettype none
module vsnic_board_regs #(
    parameter [31:0] BOARD_ID     = 32'h0,
    parameter [31:0] BUILD_TIME   = 32'h0,
    parameter [31:0] GIT_HASH_HI  = 32'h0,
    parameter [31:0] GIT_HASH_LO  = 32'h0,
    parameter [31:0] FLAGS        = 32'h0,
    parameter [31:0] CORE_CLK_KHZ = 32'h0
) (
    input  wire        clk,
    // from the bridge
    input  wire [15:0] csr_addr,
    input  wire [31:0] csr_wdata,
    input  wire        csr_write,
    input  wire        csr_read,
    output wire [31:0] csr_rdata,
    // to the core's CSR port
    output wire        core_csr_write,
    output wire        core_csr_read,
    input  wire [31:0] core_csr_rdata,
    // core input stream
    output reg         s_valid,
    output reg  [63:0] s_data,
    output reg         s_last,
    output reg  [6:0]  s_bytes,
    output reg  [7:0]  s_user,
    // core output streams
    input  wire        m_tx_valid,
    input  wire [63:0] m_tx_data,
    input  wire        m_tx_last,
    input  wire [6:0]  m_tx_bytes,
    input  wire [1:0]  m_tx_port,
    input  wire        m_exc_valid,
    input  wire [63:0] m_exc_data,
    input  wire        m_exc_last,
    input  wire [6:0]  m_exc_bytes,
    input  wire [63:0] m_exc_meta,
    output wire        m_exc_ready
);
    localparam [15:0] CORE_END = 16'h0300;
    localparam [15:0] BUILD    = 16'h0500;
    localparam [15:0] FPORT    = 16'h0600;

    wire in_core  = csr_addr < CORE_END;
    wire in_build = csr_addr[15:8] == BUILD[15:8];
    wire in_fport = csr_addr[15:8] == FPORT[15:8];
    wire [7:0] off = csr_addr[7:0];

    assign core_csr_write = csr_write && in_core;
    assign core_csr_read  = csr_read && in_core;

    // ---- frame port state -----------------------------------------------------------------
    reg  [63:0] in_data = 64'd0;
    reg         exc_ready = 1'b1;
    wire        tx_pop  = csr_write && in_fport && off == 8'h20;
    wire        exc_pop = csr_write && in_fport && off == 8'h40;

    wire [73:0]  tx_out;
    wire         tx_out_valid;
    wire [31:0]  tx_over;
    wire [135:0] exc_out;
    wire         exc_out_valid;
    wire [31:0]  exc_over;

    vsnic_capture #(.W(74), .AW(9)) tx_cap (
        .clk(clk), .in_valid(m_tx_valid),
        .in_data({m_tx_port, m_tx_last, m_tx_bytes, m_tx_data}),
        .pop(tx_pop), .out_data(tx_out), .out_valid(tx_out_valid), .overflows(tx_over));
    vsnic_capture #(.W(136), .AW(9)) exc_cap (
        .clk(clk), .in_valid(m_exc_valid && exc_ready),
        .in_data({m_exc_meta, m_exc_last, m_exc_bytes, m_exc_data}),
        .pop(exc_pop), .out_data(exc_out), .out_valid(exc_out_valid), .overflows(exc_over));
    assign m_exc_ready = exc_ready;

    initial begin
        s_valid = 1'b0;
        s_data  = 64'd0;
        s_last  = 1'b0;
        s_bytes = 7'd0;
        s_user  = 8'd0;
    end

    always @(posedge clk) begin
        s_valid <= 1'b0;
        if (csr_write && in_fport) begin
            case (off)
                8'h0C: in_data[31:0]  <= csr_wdata;
                8'h10: in_data[63:32] <= csr_wdata;
                8'h14: begin
                    // PUSH: one beat into the core's input stream
                    s_valid <= 1'b1;
                    s_data  <= in_data;
                    s_bytes <= csr_wdata[6:0];
                    s_last  <= csr_wdata[8];
                    s_user  <= csr_wdata[23:16];
                end
                8'h18: exc_ready <= csr_wdata[0];
                default: ;
            endcase
        end
    end

    // ---- read side: registered, valid the cycle after csr_read (as the core's) ------------
    reg        sel_core = 1'b0;
    reg [31:0] rdata = 32'd0;
    always @(posedge clk) begin
        if (csr_read) begin
            sel_core <= in_core;
            rdata    <= 32'd0;
            if (in_build) begin
                case (off)
                    8'h00: rdata <= 32'h5653_0006;
                    8'h04: rdata <= 32'h0001_0000;
                    8'h08: rdata <= {16'd0, FPORT};
                    8'h0C: rdata <= BOARD_ID;
                    8'h10: rdata <= BUILD_TIME;
                    8'h14: rdata <= GIT_HASH_HI;
                    8'h18: rdata <= GIT_HASH_LO;
                    8'h1C: rdata <= FLAGS;
                    8'h20: rdata <= CORE_CLK_KHZ;
                    default: ;
                endcase
            end else if (in_fport) begin
                case (off)
                    8'h00: rdata <= 32'h5653_0007;
                    8'h04: rdata <= 32'h0001_0000;
                    8'h08: rdata <= 32'd0;
                    8'h0C: rdata <= in_data[31:0];
                    8'h10: rdata <= in_data[63:32];
                    8'h18: rdata <= {31'd0, exc_ready};
                    8'h24: rdata <= {tx_out_valid, 13'd0, tx_out[73:72], 7'd0, tx_out[71], 1'b0, tx_out[70:64]};
                    8'h28: rdata <= tx_out[31:0];
                    8'h2C: rdata <= tx_out[63:32];
                    8'h30: rdata <= tx_over;
                    8'h44: rdata <= {exc_out_valid, 22'd0, exc_out[71], 1'b0, exc_out[70:64]};
                    8'h48: rdata <= exc_out[31:0];
                    8'h4C: rdata <= exc_out[63:32];
                    8'h50: rdata <= exc_over;
                    8'h54: rdata <= exc_out[103:72];
                    8'h58: rdata <= exc_out[135:104];
                    default: ;
                endcase
            end
        end
    end
    assign csr_rdata = sel_core ? core_csr_rdata : rdata;
endmodule
`default_nettype wire
