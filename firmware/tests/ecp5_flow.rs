//! The ECP5 flow end to end on the CI configuration: the Versa board top around the 64-bit core
//! with a 2^8-bucket table (about 5 minutes on a 2-core machine; the full 2^12 table takes
//! longer and is run by hand: docs/firmware-results.md). Synthesis, place and route and the
//! bitstream must succeed, the nextpnr report must parse, timing must be met at the board's
//! core clock (62.5 MHz), and the manifest must describe every output.
mod common;
use vsnic_firmware::boards;
use vsnic_firmware::flow::{self, Options};
use vsnic_firmware::tools::Kind;

#[test]
fn versa5g_ci_configuration_builds_and_meets_timing() {
    for k in [Kind::Yosys, Kind::NextpnrEcp5, Kind::Ecppack] {
        if common::require(k).is_none() {
            return;
        }
    }
    let out = common::scratch("ecp5_flow_versa5g_t8");
    let opts = Options {
        board: boards::find("versa5g").unwrap(),
        table_bits: 8,
        out_dir: out.clone(),
        target_mhz: None,
        device: None,
        allow_timing_failure: false,
        seed: None,
        progress: true,
    };
    let o = match flow::build(&opts) {
        Ok(o) => o,
        Err(e) => panic!("ECP5 build failed: {e}"),
    };
    // the image
    let image = o.image.as_ref().expect("bitstream");
    let len = std::fs::metadata(image).unwrap().len();
    assert!(len > 100_000, "bitstream is {len} bytes");
    // the report
    let pnr = o.pnr.as_ref().expect("nextpnr report");
    assert!(pnr.timing_met(), "timing: {:?}", pnr.fmax);
    assert_eq!(pnr.fmax.len(), 1, "one clock domain: {:?}", pnr.fmax);
    // the core clock's constraint is derived through the PLL from the 100 MHz input
    let c = pnr.fmax[0].constraint_mhz;
    assert!((c - 62.5).abs() < 0.1, "core clock constraint {c} MHz");
    for res in ["TRELLIS_COMB", "TRELLIS_FF", "DP16KD", "EHXPLLL"] {
        let u = pnr
            .used(res)
            .unwrap_or_else(|| panic!("{res} missing from the report"));
        assert!(u.used > 0 && u.used <= u.available, "{res}: {u:?}");
    }
    // the manifest
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["board"], "versa5g");
    assert_eq!(m["timing_met"], true);
    assert_eq!(m["device"], "LFE5UM5G-45F-8BG381C");
    assert_eq!(m["tools"].as_array().unwrap().len(), 3);
    let files = m["files"].as_array().unwrap();
    let bit = files
        .iter()
        .find(|f| f["path"] == "vsnic_versa5g.bit")
        .expect("bitstream in the manifest");
    assert_eq!(bit["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(bit["bytes"], len);
    assert!(files.iter().any(|f| f["path"] == "src/vsnic_core.v"));
    assert!(out.join("reports.txt").is_file());
}
