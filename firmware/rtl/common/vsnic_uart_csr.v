// vsnic: UART to CSR-bus bridge (8N1), written for this project.
//
// Protocol (all bytes binary, multi-byte values big-endian):
//   host -> 'w' (0x77) A1 A0 D3 D2 D1 D0   write D to CSR address A;  reply 'k' (0x6B)
//   host -> 'r' (0x72) A1 A0               read CSR address A;        reply D3 D2 D1 D0
// Any other command byte is ignored, so a host can resynchronise by sending a few zero bytes.
// The CSR bus is the core's: one-cycle csr_write / csr_read strobes, csr_rdata valid the cycle
// after csr_read.
`default_nettype none
module vsnic_uart_csr #(
    parameter integer CLKS_PER_BIT = 868  // 100 MHz / 115200 baud
) (
    input  wire        clk,
    input  wire        uart_rx,
    output reg         uart_tx,
    output reg  [15:0] csr_addr,
    output reg  [31:0] csr_wdata,
    output reg         csr_write,
    output reg         csr_read,
    input  wire [31:0] csr_rdata
);
    localparam integer CW = $clog2(CLKS_PER_BIT * 3 / 2 + 1);
    // Parameter arithmetic is 32-bit; both values fit CW bits by the choice of CW.
    /* verilator lint_off WIDTH */
    localparam [CW-1:0] BIT_TIME = CLKS_PER_BIT - 1;
    localparam [CW-1:0] FIRST_SAMPLE = CLKS_PER_BIT * 3 / 2 - 1;
    /* verilator lint_on WIDTH */

    // ---- receiver -------------------------------------------------------------------------
    reg [2:0]    rx_sync = 3'b111;
    reg          rx_busy = 1'b0;
    reg [CW-1:0] rx_cnt = {CW{1'b0}};
    reg [3:0]    rx_bit = 4'd0;
    reg [7:0]    rx_shift = 8'd0;
    reg          rx_strobe = 1'b0;
    reg [7:0]    rx_byte = 8'd0;

    always @(posedge clk) begin
        rx_sync   <= {rx_sync[1:0], uart_rx};
        rx_strobe <= 1'b0;
        if (!rx_busy) begin
            if (!rx_sync[2]) begin
                // start bit seen: sample the first data bit 1.5 bit times later
                rx_busy <= 1'b1;
                rx_cnt  <= FIRST_SAMPLE;
                rx_bit  <= 4'd0;
            end
        end else if (rx_cnt != {CW{1'b0}}) begin
            rx_cnt <= rx_cnt - 1'b1;
        end else if (rx_bit == 4'd8) begin
            // stop bit: deliver the byte, then wait for the line to go idle again
            rx_busy <= 1'b0;
            if (rx_sync[2]) begin
                rx_strobe <= 1'b1;
                rx_byte   <= rx_shift;
            end
        end else begin
            rx_shift <= {rx_sync[2], rx_shift[7:1]};
            rx_bit   <= rx_bit + 1'b1;
            rx_cnt   <= BIT_TIME;
        end
    end

    // ---- transmitter ----------------------------------------------------------------------
    reg          tx_busy = 1'b0;
    reg [CW-1:0] tx_cnt = {CW{1'b0}};
    reg [3:0]    tx_bit = 4'd0;
    reg [9:0]    tx_shift = 10'h3FF;
    reg          tx_start = 1'b0;
    reg [7:0]    tx_byte = 8'd0;

    initial uart_tx = 1'b1;
    always @(posedge clk) begin
        if (!tx_busy) begin
            uart_tx <= 1'b1;
            if (tx_start) begin
                tx_busy  <= 1'b1;
                tx_shift <= {1'b1, tx_byte, 1'b0};
                tx_bit   <= 4'd0;
                tx_cnt   <= {CW{1'b0}};
            end
        end else if (tx_cnt != {CW{1'b0}}) begin
            tx_cnt <= tx_cnt - 1'b1;
        end else if (tx_bit == 4'd10) begin
            tx_busy <= 1'b0;
        end else begin
            uart_tx  <= tx_shift[0];
            tx_shift <= {1'b1, tx_shift[9:1]};
            tx_bit   <= tx_bit + 1'b1;
            tx_cnt   <= BIT_TIME;
        end
    end

    // ---- command engine -------------------------------------------------------------------
    localparam [2:0] S_CMD = 3'd0, S_ARG = 3'd1, S_WAIT = 3'd2, S_SEND = 3'd3, S_SENDING = 3'd4;
    reg [2:0]  state = S_CMD;
    reg        is_write = 1'b0;
    reg [2:0]  need = 3'd0;       // argument bytes still expected
    reg [47:0] args = 48'd0;
    reg [31:0] reply = 32'd0;
    reg [2:0]  reply_left = 3'd0; // reply bytes still to send
    reg        read_pending = 1'b0;

    initial begin
        csr_addr  = 16'd0;
        csr_wdata = 32'd0;
        csr_write = 1'b0;
        csr_read  = 1'b0;
    end

    always @(posedge clk) begin
        csr_write    <= 1'b0;
        csr_read     <= 1'b0;
        tx_start     <= 1'b0;
        read_pending <= csr_read;
        case (state)
            S_CMD: if (rx_strobe) begin
                if (rx_byte == 8'h77) begin
                    is_write <= 1'b1;
                    need     <= 3'd6;
                    state    <= S_ARG;
                end else if (rx_byte == 8'h72) begin
                    is_write <= 1'b0;
                    need     <= 3'd2;
                    state    <= S_ARG;
                end
            end
            S_ARG: if (rx_strobe) begin
                args <= {args[39:0], rx_byte};
                need <= need - 1'b1;
                if (need == 3'd1) state <= S_WAIT;
            end
            S_WAIT: begin
                // arguments complete: issue the bus cycle
                if (is_write) begin
                    csr_addr   <= args[47:32];
                    csr_wdata  <= args[31:0];
                    csr_write  <= 1'b1;
                    reply      <= {8'h6B, 24'd0};
                    reply_left <= 3'd1;
                    state      <= S_SEND;
                end else if (!csr_read && !read_pending) begin
                    csr_addr <= args[15:0];
                    csr_read <= 1'b1;
                end else if (read_pending) begin
                    reply      <= csr_rdata;
                    reply_left <= 3'd4;
                    state      <= S_SEND;
                end
            end
            S_SEND: begin
                if (reply_left == 3'd0) begin
                    state <= S_CMD;
                end else if (!tx_busy && !tx_start) begin
                    tx_byte    <= reply[31:24];
                    tx_start   <= 1'b1;
                    reply      <= {reply[23:0], 8'd0};
                    reply_left <= reply_left - 1'b1;
                    state      <= S_SENDING;
                end
            end
            S_SENDING: if (tx_busy) state <= S_SEND; // wait until the byte has started
            default: state <= S_CMD;
        endcase
    end
endmodule
`default_nettype wire
