//! docs/contract.md must be exactly what the contract generates.
#[test]
fn contract_doc_is_generated_not_hand_written() {
    let mut want = String::new();
    vsnic_contract::doc::write_markdown(&mut want).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/contract.md");
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        have == want,
        "docs/contract.md is stale: run `cargo run -p vsnic-contract --example gen-docs > docs/contract.md`"
    );
}
