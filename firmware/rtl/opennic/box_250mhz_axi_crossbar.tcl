# vsnic plugin: the box has a single AXI-Lite slave, so no crossbar IP is created.
