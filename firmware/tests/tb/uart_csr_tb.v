// vsnic: testbench for the board glue (UART bridge + board registers) around the core, run by
// tests/board_sim.rs under Verilator (--binary --timing). Drives the UART like a host would.
`timescale 1ns/1ps
module uart_csr_tb;
    localparam integer CPB = 8;  // clocks per UART bit
    reg clk = 1'b0;
    always #5 clk = ~clk;

    reg  rx = 1'b1;
    wire tx;
    wire [15:0] csr_addr;
    wire [31:0] csr_wdata, csr_rdata, core_csr_rdata;
    wire csr_write, csr_read, core_csr_write, core_csr_read;
    wire s_valid, s_last, m_tx_valid, m_tx_last, m_exc_valid, m_exc_last, m_exc_ready;
    wire [63:0] s_data, m_tx_data, m_exc_data, m_exc_meta;
    wire [6:0] s_bytes, m_tx_bytes, m_exc_bytes;
    wire [7:0] s_user;
    wire [1:0] m_tx_port;

    vsnic_uart_csr #(.CLKS_PER_BIT(CPB)) bridge (
        .clk(clk), .uart_rx(rx), .uart_tx(tx), .csr_addr(csr_addr), .csr_wdata(csr_wdata),
        .csr_write(csr_write), .csr_read(csr_read), .csr_rdata(csr_rdata));
    vsnic_board_regs #(.BOARD_ID(32'h5635_4700), .BUILD_TIME(32'h1234_5678)) board (
        .clk(clk), .csr_addr(csr_addr), .csr_wdata(csr_wdata), .csr_write(csr_write),
        .csr_read(csr_read), .csr_rdata(csr_rdata), .core_csr_write(core_csr_write),
        .core_csr_read(core_csr_read), .core_csr_rdata(core_csr_rdata),
        .s_valid(s_valid), .s_data(s_data), .s_last(s_last), .s_bytes(s_bytes), .s_user(s_user),
        .m_tx_valid(m_tx_valid), .m_tx_data(m_tx_data), .m_tx_last(m_tx_last),
        .m_tx_bytes(m_tx_bytes), .m_tx_port(m_tx_port), .m_exc_valid(m_exc_valid),
        .m_exc_data(m_exc_data), .m_exc_last(m_exc_last), .m_exc_bytes(m_exc_bytes),
        .m_exc_meta(m_exc_meta), .m_exc_ready(m_exc_ready));
    // NIC time at a pretend 953.675 kHz clock: one tick (2^20 ns) per 1000 cycles
    wire [31:0] now;
    vsnic_nic_time #(.CLK_HZ(64'd953_675)) nic_time (.clk(clk), .now(now));
    vsnic_core core (
        .clock(clk), .now(now), .s_valid(s_valid), .s_data(s_data), .s_last(s_last), .s_bytes(s_bytes),
        .s_user(s_user), .m_tx_valid(m_tx_valid), .m_tx_data(m_tx_data),
        .m_tx_last(m_tx_last), .m_tx_bytes(m_tx_bytes), .m_tx_port(m_tx_port),
        .m_exc_valid(m_exc_valid), .m_exc_data(m_exc_data), .m_exc_last(m_exc_last),
        .m_exc_bytes(m_exc_bytes), .m_exc_meta(m_exc_meta), .m_exc_ready(m_exc_ready),
        .csr_addr(csr_addr), .csr_wdata(csr_wdata), .csr_write(core_csr_write),
        .csr_read(core_csr_read), .csr_rdata(core_csr_rdata));

    // ---- host side of the UART ----------------------------------------------------------
    reg [7:0] got [0:15];
    integer ngot = 0;
    integer errors = 0;
    initial begin : receiver
        integer i;
        reg [7:0] b;
        forever begin
            @(negedge tx);
            repeat (CPB / 2) @(posedge clk);
            for (i = 0; i < 8; i = i + 1) begin
                repeat (CPB) @(posedge clk);
                b[i] = tx;
            end
            repeat (CPB) @(posedge clk);
            if (tx !== 1'b1) begin
                $display("FAIL: stop bit");
                errors = errors + 1;
            end
            got[ngot % 16] = b;
            ngot = ngot + 1;
        end
    end

    task send_byte(input [7:0] b);
        integer i;
        begin
            rx = 1'b0;
            repeat (CPB) @(posedge clk);
            for (i = 0; i < 8; i = i + 1) begin
                rx = b[i];
                repeat (CPB) @(posedge clk);
            end
            rx = 1'b1;
            repeat (CPB) @(posedge clk);
        end
    endtask

    task wait_bytes(input integer n);
        integer t;
        begin
            t = 0;
            while (ngot < n && t < 100000) begin
                @(posedge clk);
                t = t + 1;
            end
            if (ngot < n) begin
                $display("FAIL: timeout waiting for %0d reply bytes (have %0d)", n, ngot);
                $finish;
            end
        end
    endtask

    task csr_wr(input [15:0] a, input [31:0] d);
        integer base;
        begin
            base = ngot;
            send_byte(8'h77);
            send_byte(a[15:8]); send_byte(a[7:0]);
            send_byte(d[31:24]); send_byte(d[23:16]); send_byte(d[15:8]); send_byte(d[7:0]);
            wait_bytes(base + 1);
            if (got[base % 16] != 8'h6B) begin
                $display("FAIL: write %h: ack %h", a, got[base % 16]);
                errors = errors + 1;
            end
        end
    endtask

    task csr_rd(input [15:0] a, output [31:0] d);
        integer base;
        begin
            base = ngot;
            send_byte(8'h72);
            send_byte(a[15:8]); send_byte(a[7:0]);
            wait_bytes(base + 4);
            d = {got[base % 16], got[(base + 1) % 16], got[(base + 2) % 16], got[(base + 3) % 16]};
        end
    endtask

    task expect_rd(input [15:0] a, input [31:0] want);
        reg [31:0] d;
        begin
            csr_rd(a, d);
            if (d !== want) begin
                $display("FAIL: read %h = %h, want %h", a, d, want);
                errors = errors + 1;
            end else begin
                $display("ok: read %h = %h", a, d);
            end
        end
    endtask

    // one 64-bit beat through the frame port
    task push_beat(input [63:0] data, input [6:0] bytes, input last);
        begin
            csr_wr(16'h060C, data[31:0]);
            csr_wr(16'h0610, data[63:32]);
            csr_wr(16'h0614, {8'd0, 8'd0 /* user: port 0, from network */, 7'd0, last, 1'b0, bytes});
        end
    endtask

    reg [31:0] d, t0;
    integer k;
    initial begin
        repeat (20) @(posedge clk);
        // garbage byte first: the bridge must ignore it
        send_byte(8'h00);
        // the core's id block and the board's blocks
        expect_rd(16'h0000, 32'h5653_0001);
        expect_rd(16'h000C, 32'h5653_4E43);
        expect_rd(16'h0500, 32'h5653_0006);
        expect_rd(16'h0508, 32'h0000_0600);
        expect_rd(16'h050C, 32'h5635_4700);
        expect_rd(16'h0510, 32'h1234_5678);
        expect_rd(16'h0600, 32'h5653_0007);
        expect_rd(16'h0300, 32'h0000_0000); // no queue engine on this board
        csr_wr(16'h060C, 32'hDEAD_BEEF);
        expect_rd(16'h060C, 32'hDEAD_BEEF);
        // a 60-byte ARP frame from port 0: not IPv4, so the core hands it to the host
        // (bytes in lane order: byte 0 of the frame in bits 7:0)
        push_beat(64'h0000_FFFF_FFFF_FFFF, 7'd8, 1'b0);  // dst ff.., src 00 00
        push_beat(64'h0008_0605_0403_0201, 7'd8, 1'b0);  // src ..01..05, ethertype 08 06
        for (k = 0; k < 5; k = k + 1) push_beat(64'h0, 7'd8, 1'b0);
        push_beat(64'h0, 7'd4, 1'b1);
        repeat (200) @(posedge clk);
        expect_rd(16'h020C, 32'd1);        // RX_FRAMES
        expect_rd(16'h0218, 32'd1);        // EXC_FRAMES
        expect_rd(16'h0210, 32'd0);        // TX_FRAMES
        // read the exception back: 8 beats, the first carries the destination MAC
        csr_wr(16'h0640, 32'd1);
        csr_rd(16'h0644, d);
        if (d[31] !== 1'b1) begin
            $display("FAIL: no exception beat captured (status %h)", d);
            errors = errors + 1;
        end
        expect_rd(16'h0648, 32'hFFFF_FFFF);
        for (k = 0; k < 7; k = k + 1) csr_wr(16'h0640, 32'd1);
        csr_rd(16'h0644, d);
        if (d[31] !== 1'b1 || d[8] !== 1'b1 || d[6:0] !== 7'd4) begin
            $display("FAIL: last exception beat status %h", d);
            errors = errors + 1;
        end
        csr_wr(16'h0640, 32'd1);
        csr_rd(16'h0644, d);
        if (d[31] !== 1'b0) begin
            $display("FAIL: capture should be empty (status %h)", d);
            errors = errors + 1;
        end
        // the table block's NOW (0x0170) follows the NIC time counter: one tick per 1000 cycles
        csr_rd(16'h0170, t0);
        repeat (5000) @(posedge clk);
        csr_rd(16'h0170, d);
        if (t0 == 32'd0 || d - t0 < 32'd5 || d - t0 > 32'd10) begin
            $display("FAIL: NOW went from %0d to %0d in 5000+ cycles", t0, d);
            errors = errors + 1;
        end
        if (errors == 0) $display("PASS");
        else $display("FAIL: %0d errors", errors);
        $finish;
    end
endmodule
