//! Print docs/contract.md: `cargo run -p vsnic-contract --example gen-docs > docs/contract.md`.
fn main() {
    let mut s = String::new();
    vsnic_contract::doc::write_markdown(&mut s).expect("formatting to a String cannot fail");
    print!("{s}");
}
