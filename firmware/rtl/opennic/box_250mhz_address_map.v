// vsnic plugin: no address-map module (see box_250mhz_address_map_inst.vh).
