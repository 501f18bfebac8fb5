// vsnic plugin: the box's AXI-Lite port goes to one slave (the vsnic adaptor), so there is no
// crossbar; this include only names the wires user_plugin_250mhz_inst.vh connects.
wire        axil_vsnic_awvalid = s_axil_awvalid;
wire [31:0] axil_vsnic_awaddr  = s_axil_awaddr;
wire        axil_vsnic_awready;
wire        axil_vsnic_wvalid  = s_axil_wvalid;
wire [31:0] axil_vsnic_wdata   = s_axil_wdata;
wire        axil_vsnic_wready;
wire        axil_vsnic_bvalid;
wire [1:0]  axil_vsnic_bresp;
wire        axil_vsnic_bready  = s_axil_bready;
wire        axil_vsnic_arvalid = s_axil_arvalid;
wire [31:0] axil_vsnic_araddr  = s_axil_araddr;
wire        axil_vsnic_arready;
wire        axil_vsnic_rvalid;
wire [31:0] axil_vsnic_rdata;
wire [1:0]  axil_vsnic_rresp;
wire        axil_vsnic_rready  = s_axil_rready;
assign s_axil_awready = axil_vsnic_awready;
assign s_axil_wready  = axil_vsnic_wready;
assign s_axil_bvalid  = axil_vsnic_bvalid;
assign s_axil_bresp   = axil_vsnic_bresp;
assign s_axil_arready = axil_vsnic_arready;
assign s_axil_rvalid  = axil_vsnic_rvalid;
assign s_axil_rdata   = axil_vsnic_rdata;
assign s_axil_rresp   = axil_vsnic_rresp;
