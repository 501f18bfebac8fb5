// vsnic plugin: one user block (the vsnic core behind its adaptor) on PF 0 / CMAC port 0.
initial begin
  if (NUM_PHYS_FUNC != 1 || NUM_CMAC_PORT != 1) begin
    $fatal(1, "vsnic plugin: built for NUM_PHYS_FUNC = 1 and NUM_CMAC_PORT = 1");
  end
end

// reset pairs other than 0 are unused: report them done
assign mod_rst_done[15:1] = {15{1'b1}};

vsnic_opennic_250mhz vsnic_inst (
  .s_axil_awvalid                   (axil_vsnic_awvalid),
  .s_axil_awaddr                    (axil_vsnic_awaddr),
  .s_axil_awready                   (axil_vsnic_awready),
  .s_axil_wvalid                    (axil_vsnic_wvalid),
  .s_axil_wdata                     (axil_vsnic_wdata),
  .s_axil_wready                    (axil_vsnic_wready),
  .s_axil_bvalid                    (axil_vsnic_bvalid),
  .s_axil_bresp                     (axil_vsnic_bresp),
  .s_axil_bready                    (axil_vsnic_bready),
  .s_axil_arvalid                   (axil_vsnic_arvalid),
  .s_axil_araddr                    (axil_vsnic_araddr),
  .s_axil_arready                   (axil_vsnic_arready),
  .s_axil_rvalid                    (axil_vsnic_rvalid),
  .s_axil_rdata                     (axil_vsnic_rdata),
  .s_axil_rresp                     (axil_vsnic_rresp),
  .s_axil_rready                    (axil_vsnic_rready),
  .s_axis_qdma_h2c_tvalid           (s_axis_qdma_h2c_tvalid),
  .s_axis_qdma_h2c_tdata            (s_axis_qdma_h2c_tdata),
  .s_axis_qdma_h2c_tkeep            (s_axis_qdma_h2c_tkeep),
  .s_axis_qdma_h2c_tlast            (s_axis_qdma_h2c_tlast),
  .s_axis_qdma_h2c_tuser_size       (s_axis_qdma_h2c_tuser_size),
  .s_axis_qdma_h2c_tuser_src        (s_axis_qdma_h2c_tuser_src),
  .s_axis_qdma_h2c_tuser_dst        (s_axis_qdma_h2c_tuser_dst),
  .s_axis_qdma_h2c_tready           (s_axis_qdma_h2c_tready),
  .m_axis_qdma_c2h_tvalid           (m_axis_qdma_c2h_tvalid),
  .m_axis_qdma_c2h_tdata            (m_axis_qdma_c2h_tdata),
  .m_axis_qdma_c2h_tkeep            (m_axis_qdma_c2h_tkeep),
  .m_axis_qdma_c2h_tlast            (m_axis_qdma_c2h_tlast),
  .m_axis_qdma_c2h_tuser_size       (m_axis_qdma_c2h_tuser_size),
  .m_axis_qdma_c2h_tuser_src        (m_axis_qdma_c2h_tuser_src),
  .m_axis_qdma_c2h_tuser_dst        (m_axis_qdma_c2h_tuser_dst),
  .m_axis_qdma_c2h_tready           (m_axis_qdma_c2h_tready),
  .m_axis_adap_tx_250mhz_tvalid     (m_axis_adap_tx_250mhz_tvalid),
  .m_axis_adap_tx_250mhz_tdata      (m_axis_adap_tx_250mhz_tdata),
  .m_axis_adap_tx_250mhz_tkeep      (m_axis_adap_tx_250mhz_tkeep),
  .m_axis_adap_tx_250mhz_tlast      (m_axis_adap_tx_250mhz_tlast),
  .m_axis_adap_tx_250mhz_tuser_size (m_axis_adap_tx_250mhz_tuser_size),
  .m_axis_adap_tx_250mhz_tuser_src  (m_axis_adap_tx_250mhz_tuser_src),
  .m_axis_adap_tx_250mhz_tuser_dst  (m_axis_adap_tx_250mhz_tuser_dst),
  .m_axis_adap_tx_250mhz_tready     (m_axis_adap_tx_250mhz_tready),
  .s_axis_adap_rx_250mhz_tvalid     (s_axis_adap_rx_250mhz_tvalid),
  .s_axis_adap_rx_250mhz_tdata      (s_axis_adap_rx_250mhz_tdata),
  .s_axis_adap_rx_250mhz_tkeep      (s_axis_adap_rx_250mhz_tkeep),
  .s_axis_adap_rx_250mhz_tlast      (s_axis_adap_rx_250mhz_tlast),
  .s_axis_adap_rx_250mhz_tuser_size (s_axis_adap_rx_250mhz_tuser_size),
  .s_axis_adap_rx_250mhz_tuser_src  (s_axis_adap_rx_250mhz_tuser_src),
  .s_axis_adap_rx_250mhz_tuser_dst  (s_axis_adap_rx_250mhz_tuser_dst),
  .s_axis_adap_rx_250mhz_tready     (s_axis_adap_rx_250mhz_tready),
  .mod_rstn                         (mod_rstn[0]),
  .mod_rst_done                     (mod_rst_done[0]),
  .axil_aclk                        (axil_aclk),
  .axis_aclk                        (axis_aclk)
);
