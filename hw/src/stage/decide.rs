//! Stage 2: classify, hash, look up, decide, rewrite.
//!
//! Ten register stages behind the parser, each with at most about two adders' or five LUTs'
//! worth of logic so the core closes timing at 156.25 MHz on an ECP5 (one frame may enter every
//! cycle; nothing stalls). Cycle `k` works on the registers `s<k>_*` (cycle 0 on the parser's
//! window) and loads `s<k+1>_*`:
//! * **0**: header fields, the classification conditions (one flag each), the flow hash of the
//!   5-tuple into a register (its set bits), the IPv4 header words in four partial sums.
//! * **1**: every way's table RAM is addressed by the set; the reason by the contract's
//!   classification order except the checksum; the partial sums added.
//! * **2**: the set's entries arrive, one per way, and are registered as they are (nothing
//!   follows the block RAMs' slow outputs); the header checksum check completes the reason.
//! * **3**: every way's key compared with the frame's; the lowest matching way's entry and its
//!   bucket (`way << set_bits | set`) chosen.
//! * **4**: hit; the sequence deltas and both candidates of each fixed number; the rewrite's
//!   address and port and their RFC 1624 terms.
//! * **5**: the ack deltas and the history check; checksum partial sums.
//! * **6**: the decision (forward / exception, the reasons a hit still goes to the host) and the
//!   fixed sequence and ack numbers with their checksum terms.
//! * **7–9**: the TCP/UDP checksum sum, the folds, the rewritten header window; the window and
//!   the decision word leave for `emit` from registers.
//!
//! All header arithmetic is done on lane-order (byte-swapped) 16-bit words: the ones'-complement
//! sum is byte-order independent (RFC 1071 §2(B)), so no byte swapping is needed.
//!
//! Table writes come from the CSR block as whole entries (one RAM write per entry), so a lookup
//! sees either the old entry or the new one.

use super::hash::{self, FlowHash};
use super::sack::SackEdge;
use super::table::TableRam;
use super::{HDR_BITS, OPT_BITS};
use rust_hdl::prelude::*;
use vsnic_contract::{entry, stream, Reason};

/// Cycles from a header window at the input (`hdr_valid`) to its decision at the output
/// (`m_valid`).
pub const LATENCY: usize = 10;
/// Cycles from a header window at the input to its activity event (`act_valid`).
pub const ACT_LATENCY: usize = 7;

/// log2 of the most ways a table may have: one block RAM each (`way0..way3`), compared in
/// cycle 3. A build chooses how many it uses ([`Decide::set_ways`]; the contract's default,
/// `hash::WAYS_LOG2`, until then).
pub const MAX_WAYS_LOG2: usize = 2;
const _: () = assert!(
    vsnic_contract::hash::WAYS_LOG2 as usize <= MAX_WAYS_LOG2,
    "the decide stage has four way RAMs"
);
const _: () = assert!(
    entry::KEY_SADDR.start == 0
        && entry::KEY_DADDR.start == 32
        && entry::KEY_SPORT.start == 64
        && entry::KEY_DPORT.start == 80
        && entry::KEY_PROTO.start == 96
        && entry::KEY_PROTO.end == 104,
    "cycle 3 compares the key as one 104-bit field laid out like the header's addresses and ports"
);

/// Bits of the header flags registers `s<k>_hflags`: 0 UDP, 1 ACK, 2 ack-relevant options,
/// 3 payload, and from [`HF_ACT`] the activity flags (TCP SYN, FIN, RST in the order of
/// `super::activity::flag`).
const HF_ACT: usize = 4;
const _: () = assert!(
    HF_ACT == 4
        && super::activity::flag::SYN == 0
        && super::activity::flag::FIN == 1
        && super::activity::flag::RST == 2,
    "cycle 0 packs the activity flags at bits 4, 5, 6 of s1_hflags"
);

/// Bit positions in the decision word passed to `emit` (internal to the core).
pub mod dec {
    pub const EXC: usize = 0;
    pub const REWRITE: usize = 1;
    pub const PORT: usize = 2; // 2 bits: egress port, or ingress port of an exception
    pub const HIT: usize = 4;
    pub const FASTPATH: usize = 5;
    pub const SACK: usize = 6; // the option window's SACK edges were moved (emit patches it)
    pub const REASON: usize = 8; // 8 bits
    pub const INDEX: usize = 16; // 16 bits
}

#[derive(LogicBlock)]
pub struct Decide<const T: usize> {
    pub clock: Signal<In, Clock>,
    pub hdr_valid: Signal<In, Bit>,
    pub hdr: Signal<In, Bits<HDR_BITS>>,
    pub hdr_len: Signal<In, Bits<16>>,
    pub hdr_user: Signal<In, Bits<8>>,
    /// The option window (frame bytes 64..96), with the header window.
    pub opt: Signal<In, Bits<OPT_BITS>>,
    /// Table write port (from the CSR block).
    pub tw_enable: Signal<In, Bit>,
    pub tw_index: Signal<In, Bits<T>>,
    pub tw_entry: Signal<In, Bits<{ entry::BITS }>>,
    /// The flow hash key (from the CSR block).
    pub hash_key: Signal<In, Bits<{ hash::KEY_BITS }>>,
    /// One pulse per frame: its rewritten header window and decision.
    pub m_valid: Signal<Out, Bit>,
    pub m_hdr: Signal<Out, Bits<HDR_BITS>>,
    pub m_dec: Signal<Out, Bits<64>>,
    /// The rewritten option window (SACK edges moved when the decision's `SACK` bit is set).
    pub m_opt: Signal<Out, Bits<OPT_BITS>>,
    /// The entry at `tw_index` one cycle later (the table's host port, for the CSR's reads).
    pub tr_entry: Signal<Out, Bits<{ entry::BITS }>>,
    /// One pulse per frame, [`ACT_LATENCY`] cycles after its window: whether it hit (the
    /// decision's `HIT` bit), its bucket and its TCP SYN/FIN/RST flags, for the activity stage.
    pub act_valid: Signal<Out, Bit>,
    pub act_hit: Signal<Out, Bit>,
    pub act_index: Signal<Out, Bits<16>>,
    pub act_flags: Signal<Out, Bits<3>>,
    /// The table, one block RAM per way (`hash::WAYS_LOG2`), each addressed by the set.
    way0: TableRam<T>,
    way1: TableRam<T>,
    way2: TableRam<T>,
    way3: TableRam<T>,
    /// The way of the host port's last access (`tr_entry` is that way's entry).
    tr_way: DFF<Bits<2>>,
    fh: FlowHash,
    // cycle 1 registers
    s1_valid: DFF<Bit>,
    s1_hdr: DFF<Bits<HDR_BITS>>,
    s1_user: DFF<Bits<8>>,
    s1_index: DFF<Bits<16>>,
    s1_hflags: DFF<Bits<8>>,
    s1_f_t14: DFF<Bit>,
    s1_f_eth: DFF<Bit>,
    s1_f_t34: DFF<Bit>,
    s1_f_ver: DFF<Bit>,
    s1_f_ihl: DFF<Bit>,
    s1_f_frag: DFF<Bit>,
    s1_f_l4p: DFF<Bit>,
    s1_f_t4: DFF<Bit>,
    s1_f_syn: DFF<Bit>,
    s1_pa: DFF<Bits<20>>,
    s1_pb: DFF<Bits<20>>,
    s1_pc: DFF<Bits<20>>,
    s1_pd: DFF<Bits<20>>,
    // cycle 2 registers
    s2_valid: DFF<Bit>,
    s2_hdr: DFF<Bits<HDR_BITS>>,
    s2_user: DFF<Bits<8>>,
    s2_index: DFF<Bits<16>>,
    s2_hflags: DFF<Bits<8>>,
    s2_rpre: DFF<Bits<8>>,
    s2_cchk: DFF<Bit>,
    s2_a: DFF<Bits<20>>,
    s2_b: DFF<Bits<20>>,
    // cycle 3 registers: the set's entries, one per way
    s3_valid: DFF<Bit>,
    s3_hdr: DFF<Bits<HDR_BITS>>,
    s3_user: DFF<Bits<8>>,
    s3_index: DFF<Bits<16>>,
    s3_hflags: DFF<Bits<8>>,
    s3_reason: DFF<Bits<8>>,
    s3_e0: DFF<Bits<{ entry::BITS }>>,
    s3_e1: DFF<Bits<{ entry::BITS }>>,
    s3_e2: DFF<Bits<{ entry::BITS }>>,
    s3_e3: DFF<Bits<{ entry::BITS }>>,
    // cycle 4 registers
    s4_valid: DFF<Bit>,
    s4_hdr: DFF<Bits<HDR_BITS>>,
    s4_user: DFF<Bits<8>>,
    s4_index: DFF<Bits<16>>,
    s4_hflags: DFF<Bits<8>>,
    s4_reason: DFF<Bits<8>>,
    s4_entry: DFF<Bits<{ entry::BITS }>>,
    /// Some way of the set holds the frame's key (`s4_entry` is the lowest such way's entry).
    s4_match: DFF<Bit>,
    // cycle 5 registers
    s5_valid: DFF<Bit>,
    s5_hdr: DFF<Bits<HDR_BITS>>,
    s5_user: DFF<Bits<8>>,
    s5_index: DFF<Bits<16>>,
    s5_hflags: DFF<Bits<8>>,
    s5_reason: DFF<Bits<8>>,
    s5_entry: DFF<Bits<{ entry::BITS }>>,
    s5_hit: DFF<Bit>,
    s5_seq_after: DFF<Bit>,
    s5_seq_hist: DFF<Bit>,
    s5_app: DFF<Bit>,
    s5_a_orig: DFF<Bits<32>>,
    s5_seq_pa: DFF<Bits<32>>,
    s5_seq_pb: DFF<Bits<32>>,
    s5_ack_ma: DFF<Bits<32>>,
    s5_x: DFF<Bits<20>>,
    s5_pc: DFF<Bits<20>>,
    s5_ipc: DFF<Bits<20>>,
    s5_sa12: DFF<Bits<20>>,
    s5_new_addr: DFF<Bits<32>>,
    s5_new_port: DFF<Bits<16>>,
    // cycle 6 registers
    s6_valid: DFF<Bit>,
    s6_hdr: DFF<Bits<HDR_BITS>>,
    s6_user: DFF<Bits<8>>,
    s6_index: DFF<Bits<16>>,
    s6_hflags: DFF<Bits<8>>,
    s6_reason: DFF<Bits<8>>,
    s6_entry: DFF<Bits<{ entry::BITS }>>,
    s6_hit: DFF<Bit>,
    s6_seq_after: DFF<Bit>,
    s6_ack_after: DFF<Bit>,
    s6_hist: DFF<Bit>,
    s6_app: DFF<Bit>,
    s6_a_orig: DFF<Bits<32>>,
    s6_seq_pa: DFF<Bits<32>>,
    s6_seq_pb: DFF<Bits<32>>,
    s6_ack_ma: DFF<Bits<32>>,
    s6_ip_sum: DFF<Bits<20>>,
    s6_t1: DFF<Bits<20>>,
    s6_new_addr: DFF<Bits<32>>,
    s6_new_port: DFF<Bits<16>>,
    // cycle 7 registers
    s7_valid: DFF<Bit>,
    s7_hdr: DFF<Bits<HDR_BITS>>,
    s7_hflags: DFF<Bits<8>>,
    s7_entry: DFF<Bits<{ entry::BITS }>>,
    s7_dec: DFF<Bits<64>>,
    s7_seq: DFF<Bits<32>>,
    s7_ack: DFF<Bits<32>>,
    s7_ip_f1: DFF<Bits<20>>,
    s7_t1: DFF<Bits<20>>,
    s7_sa3: DFF<Bits<20>>,
    s7_sa4: DFF<Bits<20>>,
    s7_new_addr: DFF<Bits<32>>,
    s7_new_port: DFF<Bits<16>>,
    // cycle 8 registers
    s8_valid: DFF<Bit>,
    s8_hdr: DFF<Bits<HDR_BITS>>,
    s8_hflags: DFF<Bits<8>>,
    s8_entry: DFF<Bits<{ entry::BITS }>>,
    s8_dec: DFF<Bits<64>>,
    s8_seq: DFF<Bits<32>>,
    s8_ack: DFF<Bits<32>>,
    s8_ip_f1: DFF<Bits<20>>,
    s8_tcp_sum: DFF<Bits<20>>,
    s8_new_addr: DFF<Bits<32>>,
    s8_new_port: DFF<Bits<16>>,
    // cycle 9 registers
    s9_valid: DFF<Bit>,
    s9_hdr: DFF<Bits<HDR_BITS>>,
    s9_hflags: DFF<Bits<8>>,
    s9_entry: DFF<Bits<{ entry::BITS }>>,
    s9_dec: DFF<Bits<64>>,
    s9_seq: DFF<Bits<32>>,
    s9_ack: DFF<Bits<32>>,
    s9_ip_f1: DFF<Bits<20>>,
    s9_tcp_f1: DFF<Bits<20>>,
    s9_new_addr: DFF<Bits<32>>,
    s9_new_port: DFF<Bits<16>>,
    s9_full: DFF<Bit>,
    s9_l4zero: DFF<Bit>,
    // cycle 10 registers
    s10_valid: DFF<Bit>,
    s10_hdr: DFF<Bits<HDR_BITS>>,
    s10_dec: DFF<Bits<64>>,
    // SACK edges: the option window, layout, used slots, fixed edges and their checksum sums
    s1_sack: DFF<Bit>,
    s1_slb: DFF<Bit>,
    s1_slen: DFF<Bits<8>>,
    s1_flen: DFF<Bits<16>>,
    s1_opt: DFF<Bits<OPT_BITS>>,
    s2_slb: DFF<Bit>,
    s2_sused: DFF<Bits<8>>,
    s2_scnt: DFF<Bits<2>>,
    s2_opt: DFF<Bits<OPT_BITS>>,
    s3_slb: DFF<Bit>,
    s3_sused: DFF<Bits<8>>,
    s3_scnt: DFF<Bits<2>>,
    s3_opt: DFF<Bits<OPT_BITS>>,
    s4_slb: DFF<Bit>,
    s4_sused: DFF<Bits<8>>,
    s4_scnt: DFF<Bits<2>>,
    s4_opt: DFF<Bits<OPT_BITS>>,
    s5_slb: DFF<Bit>,
    s5_sused: DFF<Bits<8>>,
    s5_scnt: DFF<Bits<2>>,
    s5_opt: DFF<Bits<OPT_BITS>>,
    s6_slb: DFF<Bit>,
    s6_sused: DFF<Bits<8>>,
    s6_scnt: DFF<Bits<2>>,
    s6_opt: DFF<Bits<OPT_BITS>>,
    s7_slb: DFF<Bit>,
    s7_scnt: DFF<Bits<2>>,
    s7_opt: DFF<Bits<OPT_BITS>>,
    s7_sfix: DFF<Bit>,
    s7_sedge: DFF<Bits<OPT_BITS>>,
    s7_sp0: DFF<Bits<20>>,
    s7_sp1: DFF<Bits<20>>,
    s7_sp2: DFF<Bits<20>>,
    s7_sp3: DFF<Bits<20>>,
    s8_slb: DFF<Bit>,
    s8_scnt: DFF<Bits<2>>,
    s8_opt: DFF<Bits<OPT_BITS>>,
    s8_sfix: DFF<Bit>,
    s8_sedge: DFF<Bits<OPT_BITS>>,
    s8_ss: DFF<Bits<24>>,
    s9_opt: DFF<Bits<OPT_BITS>>,
    s10_opt: DFF<Bits<OPT_BITS>>,
    /// One SACK edge slot each (`super::sack`).
    se0: SackEdge,
    se1: SackEdge,
    se2: SackEdge,
    se3: SackEdge,
    se4: SackEdge,
    se5: SackEdge,
    se6: SackEdge,
    se7: SackEdge,
    // combinational
    ethertype: Signal<Local, Bits<16>>,
    ver_ihl: Signal<Local, Bits<8>>,
    frag: Signal<Local, Bits<16>>,
    proto: Signal<Local, Bits<8>>,
    tcp_flags: Signal<Local, Bits<8>>,
    saddr: Signal<Local, Bits<32>>,
    daddr: Signal<Local, Bits<32>>,
    sport: Signal<Local, Bits<16>>,
    dport: Signal<Local, Bits<16>>,
    tuple: Signal<Local, Bits<{ hash::TUPLE_BITS }>>,
    udp0: Signal<Local, Bit>,
    tcp_hlen0: Signal<Local, Bits<16>>,
    ip_len0: Signal<Local, Bits<16>>,
    ts_only0: Signal<Local, Bit>,
    ack_flag0: Signal<Local, Bit>,
    ackopt0: Signal<Local, Bit>,
    payload0: Signal<Local, Bit>,
    act_syn0: Signal<Local, Bit>,
    act_fin0: Signal<Local, Bit>,
    act_rst0: Signal<Local, Bit>,
    rpre: Signal<Local, Bits<8>>,
    ip_sum: Signal<Local, Bits<20>>,
    ip_ok: Signal<Local, Bit>,
    lookup_ok: Signal<Local, Bit>,
    hit: Signal<Local, Bit>,
    /// The frame's 104-bit key, laid out as the entry's key field.
    key3: Signal<Local, Bits<104>>,
    m0: Signal<Local, Bit>,
    m1: Signal<Local, Bit>,
    m2: Signal<Local, Bit>,
    m3: Signal<Local, Bit>,
    hit_way: Signal<Local, Bits<16>>,
    tw_way: Signal<Local, Bits<2>>,
    seq_n4: Signal<Local, Bits<32>>,
    ack_n4: Signal<Local, Bits<32>>,
    udp4: Signal<Local, Bit>,
    s_pos: Signal<Local, Bits<32>>,
    s_before: Signal<Local, Bits<32>>,
    s_after: Signal<Local, Bits<32>>,
    s_floor: Signal<Local, Bits<32>>,
    a_before: Signal<Local, Bits<32>>,
    a_after: Signal<Local, Bits<32>>,
    d_seq: Signal<Local, Bits<32>>,
    d_seq_floor: Signal<Local, Bits<32>>,
    seq_en4: Signal<Local, Bit>,
    action4: Signal<Local, Bits<2>>,
    old_addr: Signal<Local, Bits<32>>,
    old_port: Signal<Local, Bits<16>>,
    new_addr: Signal<Local, Bits<32>>,
    new_port: Signal<Local, Bits<16>>,
    n_ip_csum: Signal<Local, Bits<16>>,
    l4_csum3: Signal<Local, Bits<16>>,
    n_l4_csum: Signal<Local, Bits<16>>,
    n_old_lo: Signal<Local, Bits<16>>,
    n_old_hi: Signal<Local, Bits<16>>,
    n_old_port: Signal<Local, Bits<16>>,
    n_os_lo: Signal<Local, Bits<16>>,
    n_os_hi: Signal<Local, Bits<16>>,
    n_oa_lo: Signal<Local, Bits<16>>,
    n_oa_hi: Signal<Local, Bits<16>>,
    a_pos: Signal<Local, Bits<32>>,
    a_floor: Signal<Local, Bits<32>>,
    d_ack: Signal<Local, Bits<32>>,
    d_ack_floor: Signal<Local, Bits<32>>,
    ack_en5: Signal<Local, Bit>,
    ack_hist: Signal<Local, Bit>,
    seq_n6: Signal<Local, Bits<32>>,
    ack_n6: Signal<Local, Bits<32>>,
    seq_en6: Signal<Local, Bit>,
    ack_en6: Signal<Local, Bit>,
    seq_fixed: Signal<Local, Bits<32>>,
    ack_fixed: Signal<Local, Bits<32>>,
    hit_reason: Signal<Local, Bits<8>>,
    lookup_ok6: Signal<Local, Bit>,
    decision: Signal<Local, Bits<64>>,
    seq_lane6: Signal<Local, Bits<32>>,
    ack_lane6: Signal<Local, Bits<32>>,
    action9: Signal<Local, Bits<2>>,
    udp9: Signal<Local, Bit>,
    seq_lane: Signal<Local, Bits<32>>,
    ack_lane: Signal<Local, Bits<32>>,
    ip_nib: Signal<Local, Bits<4>>,
    ip_fold2: Signal<Local, Bits<16>>,
    ip_csum_new: Signal<Local, Bits<16>>,
    tcp_nib: Signal<Local, Bits<8>>,
    tcp_fold2: Signal<Local, Bits<16>>,
    tcp_csum_new: Signal<Local, Bits<16>>,
    tcp_is_ffff: Signal<Local, Bit>,
    macs: Signal<Local, Bits<HDR_BITS>>,
    a_pos4: Signal<Local, Bits<32>>,
    a_floor4: Signal<Local, Bits<32>>,
    slen_a0: Signal<Local, Bits<8>>,
    slen_b0: Signal<Local, Bits<8>>,
    sack_a0: Signal<Local, Bit>,
    sack_b0: Signal<Local, Bit>,
    send1: Signal<Local, Bits<16>>,
    sack1: Signal<Local, Bit>,
    el0: Signal<Local, Bits<32>>,
    el1: Signal<Local, Bits<32>>,
    el2: Signal<Local, Bits<32>>,
    el3: Signal<Local, Bits<32>>,
    el4: Signal<Local, Bits<32>>,
    el5: Signal<Local, Bits<32>>,
    el6: Signal<Local, Bits<32>>,
    el7: Signal<Local, Bits<32>>,
    sack_hist5: Signal<Local, Bit>,
    sfix6: Signal<Local, Bit>,
    sedge6: Signal<Local, Bits<OPT_BITS>>,
    tcp_total8: Signal<Local, Bits<24>>,
    smask8: Signal<Local, Bits<OPT_BITS>>,
    sval8: Signal<Local, Bits<OPT_BITS>>,
    ha_m8: Signal<Local, Bits<HDR_BITS>>,
    ha_v8: Signal<Local, Bits<HDR_BITS>>,
    oa_m8: Signal<Local, Bits<OPT_BITS>>,
    oa_v8: Signal<Local, Bits<OPT_BITS>>,
    ob_m8: Signal<Local, Bits<OPT_BITS>>,
    ob_v8: Signal<Local, Bits<OPT_BITS>>,
    fields: Signal<Local, Bits<HDR_BITS>>,
    // constants: reason codes and contract offsets
    r_none: Constant<Bits<8>>,
    r_miss: Constant<Bits<8>>,
    r_syn: Constant<Bits<8>>,
    r_ip_options: Constant<Bits<8>>,
    r_fragment: Constant<Bits<8>>,
    r_non_tcp: Constant<Bits<8>>,
    r_non_ipv4: Constant<Bits<8>>,
    r_bad_csum: Constant<Bits<8>>,
    r_truncated: Constant<Bits<8>>,
    r_app_payload: Constant<Bits<8>>,
    r_seq_history: Constant<Bits<8>>,
    r_ack_options: Constant<Bits<8>>,
    e_app_bound: Constant<Bits<16>>,
    e_seq_en: Constant<Bits<16>>,
    e_ack_en: Constant<Bits<16>>,
    e_seq_pos: Constant<Bits<16>>,
    e_seq_before: Constant<Bits<16>>,
    e_seq_after: Constant<Bits<16>>,
    e_seq_floor: Constant<Bits<16>>,
    e_ack_pos: Constant<Bits<16>>,
    e_ack_before: Constant<Bits<16>>,
    e_ack_after: Constant<Bits<16>>,
    e_ack_floor: Constant<Bits<16>>,
    e_saddr: Constant<Bits<16>>,
    e_valid: Constant<Bits<16>>,
    e_action: Constant<Bits<16>>,
    e_egress: Constant<Bits<16>>,
    e_nat_addr: Constant<Bits<16>>,
    e_nat_port: Constant<Bits<16>>,
    e_dmac: Constant<Bits<16>>,
    e_smac: Constant<Bits<16>>,
    u_from_host: Constant<Bits<8>>,
    u_bypass: Constant<Bits<8>>,
    k_exc: Constant<Bits<64>>,
    k_rewrite: Constant<Bits<64>>,
    k_hit: Constant<Bits<64>>,
    /// The set index bits of a bucket, where its way bits start, and which ways exist.
    k_set_mask: Constant<Bits<16>>,
    k_wshift: Constant<Bits<16>>,
    k_ways: Constant<Bits<4>>,
    /// log2 of the ways this build uses.
    _ways_log2: usize,
    k_fastpath: Constant<Bits<64>>,
    s_rewrite: Constant<Bits<16>>,
    s_port: Constant<Bits<16>>,
    s_reason: Constant<Bits<16>>,
    s_index: Constant<Bits<16>>,
    h_act: Constant<Bits<16>>,
    keep_mac: Constant<Bits<HDR_BITS>>,
    keep_dnat: Constant<Bits<HDR_BITS>>,
    keep_snat: Constant<Bits<HDR_BITS>>,
    keep_dnat_udp: Constant<Bits<HDR_BITS>>,
    keep_snat_udp: Constant<Bits<HDR_BITS>>,
    /// NOP, NOP, Timestamps: the only TCP options an ack delta has nothing to fix in.
    ts_opts: Constant<Bits<32>>,
    /// NOP, NOP, SACK kind: the option bytes before a SACK option's length.
    sack_opts: Constant<Bits<24>>,
    /// The used slots' bits of the edge vector for 1..4 SACK blocks.
    k_sack_m1: Constant<Bits<OPT_BITS>>,
    k_sack_m2: Constant<Bits<OPT_BITS>>,
    k_sack_m3: Constant<Bits<OPT_BITS>>,
    k_sack_m4: Constant<Bits<OPT_BITS>>,
    k_sack: Constant<Bits<64>>,
    _evaluated: bool,
}

fn field_mask(fields: &[(usize, usize)]) -> Bits<HDR_BITS> {
    let mut m: Bits<HDR_BITS> = Bits::default();
    for &(off, len) in fields {
        for b in off..off + len {
            m = m.replace_bit(b, true);
        }
    }
    !m
}

/// The low `slots` 32-bit edge slots of the option-sized edge vector.
fn slot_mask(slots: usize) -> Bits<OPT_BITS> {
    let mut m: Bits<OPT_BITS> = Bits::default();
    for b in 0..32 * slots {
        m = m.replace_bit(b, true);
    }
    m
}

fn c8(v: u64) -> Constant<Bits<8>> {
    Constant::new(v.into())
}

fn off(f: vsnic_contract::Field) -> Constant<Bits<16>> {
    Constant::new((f.start as u64).into())
}

// Header window bit offsets (lane order: frame byte i at bits 8i..8i+8).
const MACS: (usize, usize) = (0, 96);
const IP_CSUM: (usize, usize) = (192, 16);
const SADDR: (usize, usize) = (208, 32);
const DADDR: (usize, usize) = (240, 32);
const SPORT: (usize, usize) = (272, 16);
const DPORT: (usize, usize) = (288, 16);
const SEQ_ACK: (usize, usize) = (304, 64);
const TCP_CSUM: (usize, usize) = (400, 16);
const UDP_CSUM: (usize, usize) = (320, 16);

impl<const T: usize> Default for Decide<T> {
    fn default() -> Self {
        assert!(T <= 16, "table index is at most 16 bits");
        Self {
            clock: Default::default(),
            hdr_valid: Default::default(),
            hdr: Default::default(),
            hdr_len: Default::default(),
            hdr_user: Default::default(),
            opt: Default::default(),
            tw_enable: Default::default(),
            tw_index: Default::default(),
            tw_entry: Default::default(),
            hash_key: Default::default(),
            m_valid: Default::default(),
            m_hdr: Default::default(),
            m_dec: Default::default(),
            m_opt: Default::default(),
            tr_entry: Default::default(),
            act_valid: Default::default(),
            act_hit: Default::default(),
            act_index: Default::default(),
            act_flags: Default::default(),
            way0: Default::default(),
            way1: Default::default(),
            way2: Default::default(),
            way3: Default::default(),
            tr_way: Default::default(),
            fh: Default::default(),
            s1_valid: Default::default(),
            s1_hdr: Default::default(),
            s1_user: Default::default(),
            s1_index: Default::default(),
            s1_hflags: Default::default(),
            s1_f_t14: Default::default(),
            s1_f_eth: Default::default(),
            s1_f_t34: Default::default(),
            s1_f_ver: Default::default(),
            s1_f_ihl: Default::default(),
            s1_f_frag: Default::default(),
            s1_f_l4p: Default::default(),
            s1_f_t4: Default::default(),
            s1_f_syn: Default::default(),
            s1_pa: Default::default(),
            s1_pb: Default::default(),
            s1_pc: Default::default(),
            s1_pd: Default::default(),
            s2_valid: Default::default(),
            s2_hdr: Default::default(),
            s2_user: Default::default(),
            s2_index: Default::default(),
            s2_hflags: Default::default(),
            s2_rpre: Default::default(),
            s2_cchk: Default::default(),
            s2_a: Default::default(),
            s2_b: Default::default(),
            s3_valid: Default::default(),
            s3_hdr: Default::default(),
            s3_user: Default::default(),
            s3_index: Default::default(),
            s3_hflags: Default::default(),
            s3_reason: Default::default(),
            s3_e0: Default::default(),
            s3_e1: Default::default(),
            s3_e2: Default::default(),
            s3_e3: Default::default(),
            s4_valid: Default::default(),
            s4_hdr: Default::default(),
            s4_user: Default::default(),
            s4_index: Default::default(),
            s4_hflags: Default::default(),
            s4_reason: Default::default(),
            s4_entry: Default::default(),
            s4_match: Default::default(),
            s5_valid: Default::default(),
            s5_hdr: Default::default(),
            s5_user: Default::default(),
            s5_index: Default::default(),
            s5_hflags: Default::default(),
            s5_reason: Default::default(),
            s5_entry: Default::default(),
            s5_hit: Default::default(),
            s5_seq_after: Default::default(),
            s5_seq_hist: Default::default(),
            s5_app: Default::default(),
            s5_a_orig: Default::default(),
            s5_seq_pa: Default::default(),
            s5_seq_pb: Default::default(),
            s5_ack_ma: Default::default(),
            s5_x: Default::default(),
            s5_pc: Default::default(),
            s5_ipc: Default::default(),
            s5_sa12: Default::default(),
            s5_new_addr: Default::default(),
            s5_new_port: Default::default(),
            s6_valid: Default::default(),
            s6_hdr: Default::default(),
            s6_user: Default::default(),
            s6_index: Default::default(),
            s6_hflags: Default::default(),
            s6_reason: Default::default(),
            s6_entry: Default::default(),
            s6_hit: Default::default(),
            s6_seq_after: Default::default(),
            s6_ack_after: Default::default(),
            s6_hist: Default::default(),
            s6_app: Default::default(),
            s6_a_orig: Default::default(),
            s6_seq_pa: Default::default(),
            s6_seq_pb: Default::default(),
            s6_ack_ma: Default::default(),
            s6_ip_sum: Default::default(),
            s6_t1: Default::default(),
            s6_new_addr: Default::default(),
            s6_new_port: Default::default(),
            s7_valid: Default::default(),
            s7_hdr: Default::default(),
            s7_hflags: Default::default(),
            s7_entry: Default::default(),
            s7_dec: Default::default(),
            s7_seq: Default::default(),
            s7_ack: Default::default(),
            s7_ip_f1: Default::default(),
            s7_t1: Default::default(),
            s7_sa3: Default::default(),
            s7_sa4: Default::default(),
            s7_new_addr: Default::default(),
            s7_new_port: Default::default(),
            s8_valid: Default::default(),
            s8_hdr: Default::default(),
            s8_hflags: Default::default(),
            s8_entry: Default::default(),
            s8_dec: Default::default(),
            s8_seq: Default::default(),
            s8_ack: Default::default(),
            s8_ip_f1: Default::default(),
            s8_tcp_sum: Default::default(),
            s8_new_addr: Default::default(),
            s8_new_port: Default::default(),
            s9_valid: Default::default(),
            s9_hdr: Default::default(),
            s9_hflags: Default::default(),
            s9_entry: Default::default(),
            s9_dec: Default::default(),
            s9_seq: Default::default(),
            s9_ack: Default::default(),
            s9_ip_f1: Default::default(),
            s9_tcp_f1: Default::default(),
            s9_new_addr: Default::default(),
            s9_new_port: Default::default(),
            s9_full: Default::default(),
            s9_l4zero: Default::default(),
            s10_valid: Default::default(),
            s10_hdr: Default::default(),
            s10_dec: Default::default(),
            s1_sack: Default::default(),
            s1_slb: Default::default(),
            s1_slen: Default::default(),
            s1_flen: Default::default(),
            s1_opt: Default::default(),
            s2_slb: Default::default(),
            s2_sused: Default::default(),
            s2_scnt: Default::default(),
            s2_opt: Default::default(),
            s3_slb: Default::default(),
            s3_sused: Default::default(),
            s3_scnt: Default::default(),
            s3_opt: Default::default(),
            s4_slb: Default::default(),
            s4_sused: Default::default(),
            s4_scnt: Default::default(),
            s4_opt: Default::default(),
            s5_slb: Default::default(),
            s5_sused: Default::default(),
            s5_scnt: Default::default(),
            s5_opt: Default::default(),
            s6_slb: Default::default(),
            s6_sused: Default::default(),
            s6_scnt: Default::default(),
            s6_opt: Default::default(),
            s7_slb: Default::default(),
            s7_scnt: Default::default(),
            s7_opt: Default::default(),
            s7_sfix: Default::default(),
            s7_sedge: Default::default(),
            s7_sp0: Default::default(),
            s7_sp1: Default::default(),
            s7_sp2: Default::default(),
            s7_sp3: Default::default(),
            s8_slb: Default::default(),
            s8_scnt: Default::default(),
            s8_opt: Default::default(),
            s8_sfix: Default::default(),
            s8_sedge: Default::default(),
            s8_ss: Default::default(),
            s9_opt: Default::default(),
            s10_opt: Default::default(),
            a_pos4: Default::default(),
            a_floor4: Default::default(),
            slen_a0: Default::default(),
            slen_b0: Default::default(),
            sack_a0: Default::default(),
            sack_b0: Default::default(),
            send1: Default::default(),
            sack1: Default::default(),
            el0: Default::default(),
            el1: Default::default(),
            el2: Default::default(),
            el3: Default::default(),
            el4: Default::default(),
            el5: Default::default(),
            el6: Default::default(),
            el7: Default::default(),
            sack_hist5: Default::default(),
            sfix6: Default::default(),
            sedge6: Default::default(),
            tcp_total8: Default::default(),
            smask8: Default::default(),
            sval8: Default::default(),
            ha_m8: Default::default(),
            ha_v8: Default::default(),
            oa_m8: Default::default(),
            oa_v8: Default::default(),
            ob_m8: Default::default(),
            ob_v8: Default::default(),
            se0: Default::default(),
            se1: Default::default(),
            se2: Default::default(),
            se3: Default::default(),
            se4: Default::default(),
            se5: Default::default(),
            se6: Default::default(),
            se7: Default::default(),
            ethertype: Default::default(),
            ver_ihl: Default::default(),
            frag: Default::default(),
            proto: Default::default(),
            tcp_flags: Default::default(),
            saddr: Default::default(),
            daddr: Default::default(),
            sport: Default::default(),
            dport: Default::default(),
            tuple: Default::default(),
            udp0: Default::default(),
            tcp_hlen0: Default::default(),
            ip_len0: Default::default(),
            ts_only0: Default::default(),
            ack_flag0: Default::default(),
            ackopt0: Default::default(),
            payload0: Default::default(),
            act_syn0: Default::default(),
            act_fin0: Default::default(),
            act_rst0: Default::default(),
            rpre: Default::default(),
            ip_sum: Default::default(),
            ip_ok: Default::default(),
            lookup_ok: Default::default(),
            hit: Default::default(),
            key3: Default::default(),
            m0: Default::default(),
            m1: Default::default(),
            m2: Default::default(),
            m3: Default::default(),
            hit_way: Default::default(),
            tw_way: Default::default(),
            seq_n4: Default::default(),
            ack_n4: Default::default(),
            udp4: Default::default(),
            s_pos: Default::default(),
            s_before: Default::default(),
            s_after: Default::default(),
            s_floor: Default::default(),
            a_before: Default::default(),
            a_after: Default::default(),
            d_seq: Default::default(),
            d_seq_floor: Default::default(),
            seq_en4: Default::default(),
            action4: Default::default(),
            old_addr: Default::default(),
            old_port: Default::default(),
            new_addr: Default::default(),
            new_port: Default::default(),
            n_ip_csum: Default::default(),
            l4_csum3: Default::default(),
            n_l4_csum: Default::default(),
            n_old_lo: Default::default(),
            n_old_hi: Default::default(),
            n_old_port: Default::default(),
            n_os_lo: Default::default(),
            n_os_hi: Default::default(),
            n_oa_lo: Default::default(),
            n_oa_hi: Default::default(),
            a_pos: Default::default(),
            a_floor: Default::default(),
            d_ack: Default::default(),
            d_ack_floor: Default::default(),
            ack_en5: Default::default(),
            ack_hist: Default::default(),
            seq_n6: Default::default(),
            ack_n6: Default::default(),
            seq_en6: Default::default(),
            ack_en6: Default::default(),
            seq_fixed: Default::default(),
            ack_fixed: Default::default(),
            hit_reason: Default::default(),
            lookup_ok6: Default::default(),
            decision: Default::default(),
            seq_lane6: Default::default(),
            ack_lane6: Default::default(),
            action9: Default::default(),
            udp9: Default::default(),
            seq_lane: Default::default(),
            ack_lane: Default::default(),
            ip_nib: Default::default(),
            ip_fold2: Default::default(),
            ip_csum_new: Default::default(),
            tcp_nib: Default::default(),
            tcp_fold2: Default::default(),
            tcp_csum_new: Default::default(),
            tcp_is_ffff: Default::default(),
            macs: Default::default(),
            fields: Default::default(),
            r_none: c8(Reason::None as u64),
            r_miss: c8(Reason::Miss as u64),
            r_syn: c8(Reason::Syn as u64),
            r_ip_options: c8(Reason::IpOptions as u64),
            r_fragment: c8(Reason::Fragment as u64),
            r_non_tcp: c8(Reason::NonTcpUdp as u64),
            r_non_ipv4: c8(Reason::NonIpv4 as u64),
            r_bad_csum: c8(Reason::BadChecksum as u64),
            r_truncated: c8(Reason::Truncated as u64),
            r_app_payload: c8(Reason::AppPayload as u64),
            r_seq_history: c8(Reason::SeqHistory as u64),
            r_ack_options: c8(Reason::AckOptions as u64),
            e_app_bound: off(entry::APP_BOUND),
            e_seq_en: off(entry::SEQ_EN),
            e_ack_en: off(entry::ACK_EN),
            e_seq_pos: off(entry::SEQ_POS),
            e_seq_before: off(entry::SEQ_BEFORE),
            e_seq_after: off(entry::SEQ_AFTER),
            e_seq_floor: off(entry::SEQ_FLOOR),
            e_ack_pos: off(entry::ACK_POS),
            e_ack_before: off(entry::ACK_BEFORE),
            e_ack_after: off(entry::ACK_AFTER),
            e_ack_floor: off(entry::ACK_FLOOR),
            // bytes 01 01 08 0a at TCP offset 20, as the header window holds them
            ts_opts: Constant::new(0x0a08_0101u64.into()),
            sack_opts: Constant::new(0x05_0101u64.into()),
            k_sack_m1: Constant::new(slot_mask(2)),
            k_sack_m2: Constant::new(slot_mask(4)),
            k_sack_m3: Constant::new(slot_mask(6)),
            k_sack_m4: Constant::new(slot_mask(8)),
            k_sack: Constant::new((1u64 << dec::SACK).into()),
            e_saddr: off(entry::KEY_SADDR),
            e_valid: off(entry::VALID),
            e_action: off(entry::ACTION),
            e_egress: off(entry::EGRESS_PORT),
            e_nat_addr: off(entry::NAT_ADDR),
            e_nat_port: off(entry::NAT_PORT),
            e_dmac: off(entry::DMAC),
            e_smac: off(entry::SMAC),
            u_from_host: c8(1 << stream::FROM_HOST.start),
            u_bypass: c8(1 << stream::BYPASS.start),
            k_exc: Constant::new((1u64 << dec::EXC).into()),
            k_rewrite: Constant::new((1u64 << dec::REWRITE).into()),
            k_hit: Constant::new((1u64 << dec::HIT).into()),
            k_set_mask: Constant::new(0.into()),
            k_wshift: Constant::new(0.into()),
            k_ways: Constant::new(0.into()),
            _ways_log2: 0,
            k_fastpath: Constant::new((1u64 << dec::FASTPATH).into()),
            s_rewrite: Constant::new((dec::REWRITE as u64).into()),
            s_port: Constant::new((dec::PORT as u64).into()),
            s_reason: Constant::new((dec::REASON as u64).into()),
            s_index: Constant::new((dec::INDEX as u64).into()),
            h_act: Constant::new((HF_ACT as u64).into()),
            keep_mac: Constant::new(field_mask(&[MACS])),
            keep_dnat: Constant::new(field_mask(&[
                MACS, IP_CSUM, DADDR, DPORT, SEQ_ACK, TCP_CSUM,
            ])),
            keep_dnat_udp: Constant::new(field_mask(&[MACS, IP_CSUM, DADDR, DPORT, UDP_CSUM])),
            keep_snat_udp: Constant::new(field_mask(&[MACS, IP_CSUM, SADDR, SPORT, UDP_CSUM])),
            keep_snat: Constant::new(field_mask(&[
                MACS, IP_CSUM, SADDR, SPORT, SEQ_ACK, TCP_CSUM,
            ])),
            _evaluated: false,
        }
        .with_ways(vsnic_contract::hash::WAYS_LOG2 as usize)
    }
}

impl<const T: usize> Decide<T> {
    /// Use `2^ways_log2` ways (at most [`MAX_WAYS_LOG2`], fewer than `T`): each a RAM of
    /// `2^(T - ways_log2)` entries. Before connecting.
    pub fn with_ways(mut self, ways_log2: usize) -> Self {
        assert!(ways_log2 <= MAX_WAYS_LOG2, "at most four ways");
        assert!(ways_log2 < T, "a table has more buckets than ways");
        let set_bits = T - ways_log2;
        // an unused way is a 2-entry RAM no one writes, masked out of the compare (its never
        // written contents are undefined to synthesis, which then removes it)
        let ram = |w: usize| TableRam::with_depth(if w < 1 << ways_log2 { set_bits } else { 1 });
        self.way0 = ram(0);
        self.way1 = ram(1);
        self.way2 = ram(2);
        self.way3 = ram(3);
        self.k_set_mask = Constant::new(((1u64 << set_bits) - 1).into());
        self.k_wshift = Constant::new((set_bits as u64).into());
        self.k_ways = Constant::new(((1u64 << (1 << ways_log2)) - 1).into());
        self._ways_log2 = ways_log2;
        self
    }

    /// log2 of the ways in use.
    pub fn ways_log2(&self) -> usize {
        self._ways_log2
    }
}

impl<const T: usize> Logic for Decide<T> {
    super::settled_update!(self; clocks:
        s1_valid.clock, s1_hdr.clock, s1_user.clock, s1_index.clock, s1_hflags.clock,
        s1_f_t14.clock, s1_f_eth.clock, s1_f_t34.clock, s1_f_ver.clock, s1_f_ihl.clock,
        s1_f_frag.clock, s1_f_l4p.clock, s1_f_t4.clock, s1_f_syn.clock, s1_pa.clock, s1_pb.clock,
        s1_pc.clock, s1_pd.clock, s2_valid.clock, s2_hdr.clock, s2_user.clock, s2_index.clock,
        s2_hflags.clock, s2_rpre.clock, s2_cchk.clock, s2_a.clock, s2_b.clock, s3_valid.clock, s3_hdr.clock, s3_user.clock, s3_index.clock,
        s3_hflags.clock, s3_reason.clock, s3_e0.clock, s3_e1.clock, s3_e2.clock, s3_e3.clock,
        s4_match.clock, tr_way.clock, s4_valid.clock,
        s4_hdr.clock, s4_user.clock, s4_index.clock, s4_hflags.clock, s4_reason.clock,
        s4_entry.clock, s5_valid.clock, s5_hdr.clock, s5_user.clock, s5_index.clock,
        s5_hflags.clock, s5_reason.clock, s5_entry.clock, s5_hit.clock, s5_seq_after.clock,
        s5_seq_hist.clock, s5_app.clock, s5_a_orig.clock, s5_seq_pa.clock, s5_seq_pb.clock,
        s5_ack_ma.clock, s5_x.clock, s5_pc.clock, s5_ipc.clock, s5_sa12.clock, s5_new_addr.clock,
        s5_new_port.clock, s6_valid.clock, s6_hdr.clock, s6_user.clock, s6_index.clock,
        s6_hflags.clock, s6_reason.clock, s6_entry.clock, s6_hit.clock, s6_seq_after.clock,
        s6_ack_after.clock, s6_hist.clock, s6_app.clock, s6_a_orig.clock, s6_seq_pa.clock,
        s6_seq_pb.clock, s6_ack_ma.clock, s6_ip_sum.clock, s6_t1.clock, s6_new_addr.clock,
        s6_new_port.clock, s7_valid.clock, s7_hdr.clock, s7_hflags.clock, s7_entry.clock,
        s7_dec.clock, s7_seq.clock, s7_ack.clock, s7_ip_f1.clock, s7_t1.clock, s7_sa3.clock,
        s7_sa4.clock, s7_new_addr.clock, s7_new_port.clock, s8_valid.clock, s8_hdr.clock,
        s8_hflags.clock, s8_entry.clock, s8_dec.clock, s8_seq.clock, s8_ack.clock,
        s8_ip_f1.clock, s8_tcp_sum.clock, s8_new_addr.clock, s8_new_port.clock, s9_valid.clock,
        s9_hdr.clock, s9_hflags.clock, s9_entry.clock, s9_dec.clock, s9_seq.clock, s9_ack.clock,
        s9_ip_f1.clock, s9_tcp_f1.clock, s9_new_addr.clock, s9_new_port.clock, s9_full.clock,
        s9_l4zero.clock, s10_valid.clock, s10_hdr.clock, s10_dec.clock, way0.read_clock,
        way0.write_clock, way1.read_clock, way1.write_clock, way2.read_clock, way2.write_clock,
        way3.read_clock, way3.write_clock,
        s1_sack.clock, s1_slb.clock, s1_slen.clock, s1_flen.clock, s1_opt.clock, s2_slb.clock, s2_sused.clock, s2_scnt.clock, s2_opt.clock, s3_slb.clock, s3_sused.clock, s3_scnt.clock, s3_opt.clock, s4_slb.clock, s4_sused.clock, s4_scnt.clock, s4_opt.clock, s5_slb.clock, s5_sused.clock, s5_scnt.clock, s5_opt.clock, s6_slb.clock, s6_sused.clock, s6_scnt.clock, s6_opt.clock, s7_slb.clock, s7_scnt.clock, s7_opt.clock, s7_sfix.clock, s7_sedge.clock, s7_sp0.clock, s7_sp1.clock, s7_sp2.clock, s7_sp3.clock, s8_slb.clock, s8_scnt.clock, s8_opt.clock, s8_sfix.clock, s8_sedge.clock, s8_ss.clock, s9_opt.clock, s10_opt.clock,
        se0.clock, se1.clock, se2.clock, se3.clock, se4.clock, se5.clock, se6.clock, se7.clock;
        reads:
        hdr_valid, hdr, opt, hdr_len, hdr_user, tw_enable, tw_index, tw_entry, hash_key, fh.index,
        way0.read_data, way0.host_data, way1.read_data, way1.host_data, way2.read_data,
        way2.host_data, way3.read_data, way3.host_data, tr_way.q, s3_valid.q, s3_hdr.q, s3_user.q,
        s3_index.q, s3_hflags.q, s3_reason.q, s3_e0.q, s3_e1.q, s3_e2.q, s3_e3.q, s4_match.q,
        key3, m0, m1, m2, m3, hit_way, tw_way, s1_valid.q, s1_hdr.q, s1_user.q, s1_index.q, s1_hflags.q, s1_f_t14.q,
        s1_f_eth.q, s1_f_t34.q, s1_f_ver.q, s1_f_ihl.q, s1_f_frag.q, s1_f_l4p.q, s1_f_t4.q,
        s1_f_syn.q, s1_pa.q, s1_pb.q, s1_pc.q, s1_pd.q, s2_valid.q, s2_hdr.q, s2_user.q,
        s2_index.q, s2_hflags.q, s2_rpre.q, s2_cchk.q, s2_a.q, s2_b.q, s4_valid.q, s4_hdr.q,
        s4_user.q, s4_index.q, s4_hflags.q, s4_reason.q, s4_entry.q, s5_valid.q, s5_hdr.q,
        s5_user.q, s5_index.q, s5_hflags.q, s5_reason.q, s5_entry.q, s5_hit.q, s5_seq_after.q,
        s5_seq_hist.q, s5_app.q, s5_a_orig.q, s5_seq_pa.q, s5_seq_pb.q, s5_ack_ma.q, s5_x.q,
        s5_pc.q, s5_ipc.q, s5_sa12.q, s5_new_addr.q, s5_new_port.q, s6_valid.q, s6_hdr.q,
        s6_user.q, s6_index.q, s6_hflags.q, s6_reason.q, s6_entry.q, s6_hit.q, s6_seq_after.q,
        s6_ack_after.q, s6_hist.q, s6_app.q, s6_a_orig.q, s6_seq_pa.q, s6_seq_pb.q, s6_ack_ma.q,
        s6_ip_sum.q, s6_t1.q, s6_new_addr.q, s6_new_port.q, s7_valid.q, s7_hdr.q, s7_hflags.q,
        s7_entry.q, s7_dec.q, s7_seq.q, s7_ack.q, s7_ip_f1.q, s7_t1.q, s7_sa3.q, s7_sa4.q,
        s7_new_addr.q, s7_new_port.q, s8_valid.q, s8_hdr.q, s8_hflags.q, s8_entry.q, s8_dec.q,
        s8_seq.q, s8_ack.q, s8_ip_f1.q, s8_tcp_sum.q, s8_new_addr.q, s8_new_port.q, s9_valid.q,
        s9_hdr.q, s9_hflags.q, s9_entry.q, s9_dec.q, s9_seq.q, s9_ack.q, s9_ip_f1.q, s9_tcp_f1.q,
        s9_new_addr.q, s9_new_port.q, s9_full.q, s9_l4zero.q, s10_valid.q, s10_hdr.q, s10_dec.q,
        ethertype, ver_ihl, frag, proto, tcp_flags, saddr, daddr, sport, dport, tuple, udp0,
        tcp_hlen0, ip_len0, ts_only0, ack_flag0, ackopt0, payload0, act_syn0, act_fin0, act_rst0, rpre, ip_sum, ip_ok,
        lookup_ok, hit, seq_n4, ack_n4, udp4, s_pos, s_before, s_after, s_floor, a_before,
        a_after, d_seq, d_seq_floor, seq_en4, action4, old_addr, old_port, new_addr, new_port,
        n_ip_csum, l4_csum3, n_l4_csum, n_old_lo, n_old_hi, n_old_port, n_os_lo, n_os_hi,
        n_oa_lo, n_oa_hi, a_pos, a_floor, d_ack, d_ack_floor, ack_en5, ack_hist, seq_n6, ack_n6,
        seq_en6, ack_en6, seq_fixed, ack_fixed, hit_reason, lookup_ok6, decision, seq_lane6,
        ack_lane6, action9, udp9, seq_lane, ack_lane, ip_nib, ip_fold2, ip_csum_new, tcp_nib,
        tcp_fold2, tcp_csum_new, tcp_is_ffff, macs, fields,
        s1_sack.q, s1_slb.q, s1_slen.q, s1_flen.q, s1_opt.q, s2_slb.q, s2_sused.q, s2_scnt.q, s2_opt.q, s3_slb.q, s3_sused.q, s3_scnt.q, s3_opt.q, s4_slb.q, s4_sused.q, s4_scnt.q, s4_opt.q, s5_slb.q, s5_sused.q, s5_scnt.q, s5_opt.q, s6_slb.q, s6_sused.q, s6_scnt.q, s6_opt.q, s7_slb.q, s7_scnt.q, s7_opt.q, s7_sfix.q, s7_sedge.q, s7_sp0.q, s7_sp1.q, s7_sp2.q, s7_sp3.q, s8_slb.q, s8_scnt.q, s8_opt.q, s8_sfix.q, s8_sedge.q, s8_ss.q, s9_opt.q, s10_opt.q,
        a_pos4, a_floor4, slen_a0, slen_b0, sack_a0, sack_b0, send1, sack1, el0, el1, el2, el3, el4, el5, el6, el7, sack_hist5, sfix6, sedge6, tcp_total8, smask8, sval8, ha_m8, ha_v8, oa_m8, oa_v8, ob_m8, ob_v8,
        se0.hist, se0.fixed, se0.term, se1.hist, se1.fixed, se1.term, se2.hist, se2.fixed, se2.term, se3.hist, se3.fixed, se3.term, se4.hist, se4.fixed, se4.term, se5.hist, se5.fixed, se5.term, se6.hist, se6.fixed, se6.term, se7.hist, se7.fixed, se7.term);
}

impl<const T: usize> Decide<T> {
    #[hdl_gen]
    fn logic(&mut self) {
        dff_setup!(
            self,
            clock,
            s1_valid,
            s1_hdr,
            s1_user,
            s1_index,
            s1_hflags,
            s1_f_t14,
            s1_f_eth,
            s1_f_t34,
            s1_f_ver,
            s1_f_ihl,
            s1_f_frag,
            s1_f_l4p,
            s1_f_t4,
            s1_f_syn,
            s1_pa,
            s1_pb,
            s1_pc,
            s1_pd,
            s2_valid,
            s2_hdr,
            s2_user,
            s2_index,
            s2_hflags,
            s2_rpre,
            s2_cchk,
            s2_a,
            s2_b,
            s3_valid,
            s3_hdr,
            s3_user,
            s3_index,
            s3_hflags,
            s3_reason,
            s3_e0,
            s3_e1,
            s3_e2,
            s3_e3,
            s4_match,
            tr_way,
            s4_valid,
            s4_hdr,
            s4_user,
            s4_index,
            s4_hflags,
            s4_reason,
            s4_entry,
            s5_valid,
            s5_hdr,
            s5_user,
            s5_index,
            s5_hflags,
            s5_reason,
            s5_entry,
            s5_hit,
            s5_seq_after,
            s5_seq_hist,
            s5_app,
            s5_a_orig,
            s5_seq_pa,
            s5_seq_pb,
            s5_ack_ma,
            s5_x,
            s5_pc,
            s5_ipc,
            s5_sa12,
            s5_new_addr,
            s5_new_port,
            s6_valid,
            s6_hdr,
            s6_user,
            s6_index,
            s6_hflags,
            s6_reason,
            s6_entry,
            s6_hit,
            s6_seq_after,
            s6_ack_after,
            s6_hist,
            s6_app,
            s6_a_orig,
            s6_seq_pa,
            s6_seq_pb,
            s6_ack_ma,
            s6_ip_sum,
            s6_t1,
            s6_new_addr,
            s6_new_port,
            s7_valid,
            s7_hdr,
            s7_hflags,
            s7_entry,
            s7_dec,
            s7_seq,
            s7_ack,
            s7_ip_f1,
            s7_t1,
            s7_sa3,
            s7_sa4,
            s7_new_addr,
            s7_new_port,
            s8_valid,
            s8_hdr,
            s8_hflags,
            s8_entry,
            s8_dec,
            s8_seq,
            s8_ack,
            s8_ip_f1,
            s8_tcp_sum,
            s8_new_addr,
            s8_new_port,
            s9_valid,
            s9_hdr,
            s9_hflags,
            s9_entry,
            s9_dec,
            s9_seq,
            s9_ack,
            s9_ip_f1,
            s9_tcp_f1,
            s9_new_addr,
            s9_new_port,
            s9_full,
            s9_l4zero,
            s10_valid,
            s10_hdr,
            s10_dec,
            s1_sack,
            s1_slb,
            s1_slen,
            s1_flen,
            s1_opt,
            s2_slb,
            s2_sused,
            s2_scnt,
            s2_opt,
            s3_slb,
            s3_sused,
            s3_scnt,
            s3_opt,
            s4_slb,
            s4_sused,
            s4_scnt,
            s4_opt,
            s5_slb,
            s5_sused,
            s5_scnt,
            s5_opt,
            s6_slb,
            s6_sused,
            s6_scnt,
            s6_opt,
            s7_slb,
            s7_scnt,
            s7_opt,
            s7_sfix,
            s7_sedge,
            s7_sp0,
            s7_sp1,
            s7_sp2,
            s7_sp3,
            s8_slb,
            s8_scnt,
            s8_opt,
            s8_sfix,
            s8_sedge,
            s8_ss,
            s9_opt,
            s10_opt
        );
        // The host port: the bucket's way bits pick the RAM, its set bits the address; a read
        // returns the entry of the way the last access addressed.
        self.se0.clock.next = self.clock.val();
        self.se1.clock.next = self.clock.val();
        self.se2.clock.next = self.clock.val();
        self.se3.clock.next = self.clock.val();
        self.se4.clock.next = self.clock.val();
        self.se5.clock.next = self.clock.val();
        self.se6.clock.next = self.clock.val();
        self.se7.clock.next = self.clock.val();
        self.way0.read_clock.next = self.clock.val();
        self.way0.write_clock.next = self.clock.val();
        self.way0.write_address.next = self.tw_index.val();
        self.way0.write_data.next = self.tw_entry.val();
        self.way1.read_clock.next = self.clock.val();
        self.way1.write_clock.next = self.clock.val();
        self.way1.write_address.next = self.tw_index.val();
        self.way1.write_data.next = self.tw_entry.val();
        self.way2.read_clock.next = self.clock.val();
        self.way2.write_clock.next = self.clock.val();
        self.way2.write_address.next = self.tw_index.val();
        self.way2.write_data.next = self.tw_entry.val();
        self.way3.read_clock.next = self.clock.val();
        self.way3.write_clock.next = self.clock.val();
        self.way3.write_address.next = self.tw_index.val();
        self.way3.write_data.next = self.tw_entry.val();
        self.tw_way.next =
            bit_cast::<2, 16>(bit_cast::<16, T>(self.tw_index.val()) >> self.k_wshift.val());
        self.tr_way.d.next = self.tw_way.val();
        self.way0.write_enable.next =
            self.tw_enable.val() & (self.tw_way.val() == 0) & self.k_ways.val().get_bit(0);
        self.way1.write_enable.next =
            self.tw_enable.val() & (self.tw_way.val() == 1) & self.k_ways.val().get_bit(1);
        self.way2.write_enable.next =
            self.tw_enable.val() & (self.tw_way.val() == 2) & self.k_ways.val().get_bit(2);
        self.way3.write_enable.next =
            self.tw_enable.val() & (self.tw_way.val() == 3) & self.k_ways.val().get_bit(3);
        if self.tr_way.q.val() == 1 {
            self.tr_entry.next = self.way1.host_data.val();
        } else if self.tr_way.q.val() == 2 {
            self.tr_entry.next = self.way2.host_data.val();
        } else if self.tr_way.q.val() == 3 {
            self.tr_entry.next = self.way3.host_data.val();
        } else {
            self.tr_entry.next = self.way0.host_data.val();
        }

        // ---- cycle 0 (the parser's window): conditions, flow hash, partial header sums ----
        self.ethertype.next = self.hdr.val().get_bits::<16>(96);
        self.ver_ihl.next = self.hdr.val().get_bits::<8>(112);
        self.frag.next = self.hdr.val().get_bits::<16>(160) & 0xFF3F;
        self.proto.next = self.hdr.val().get_bits::<8>(184);
        self.tcp_flags.next = self.hdr.val().get_bits::<8>(376);
        self.saddr.next = self.hdr.val().get_bits::<32>(208);
        self.daddr.next = self.hdr.val().get_bits::<32>(240);
        self.sport.next = self.hdr.val().get_bits::<16>(272);
        self.dport.next = self.hdr.val().get_bits::<16>(288);
        self.s1_valid.d.next = self.hdr_valid.val();
        self.s1_hdr.d.next = self.hdr.val();
        self.s1_user.d.next = self.hdr_user.val();
        // EtherType 0x0800 and IPv4 version/IHL 0x45 read in lane order.
        self.s1_f_t14.d.next = self.hdr_len.val() < 14;
        self.s1_f_eth.d.next = self.ethertype.val() != 0x0008;
        self.s1_f_t34.d.next = self.hdr_len.val() < 34;
        self.s1_f_ver.d.next = self.ver_ihl.val().get_bits::<4>(4) != 4;
        self.s1_f_ihl.d.next = self.ver_ihl.val().get_bits::<4>(0) != 5;
        self.s1_f_frag.d.next = self.frag.val() != 0;
        self.s1_f_l4p.d.next = (self.proto.val() != 6) & (self.proto.val() != 17);
        self.s1_f_t4.d.next = ((self.proto.val() == 6) & (self.hdr_len.val() < 54))
            | ((self.proto.val() == 17) & (self.hdr_len.val() < 42));
        self.s1_f_syn.d.next = (self.proto.val() == 6)
            & self.tcp_flags.val().get_bit(1)
            & !self.tcp_flags.val().get_bit(4);
        // the IPv4 header's ten words in four partial sums
        self.s1_pa.d.next = bit_cast::<20, 16>(self.hdr.val().get_bits::<16>(112))
            + bit_cast::<20, 16>(self.hdr.val().get_bits::<16>(128))
            + bit_cast::<20, 16>(self.hdr.val().get_bits::<16>(144));
        self.s1_pb.d.next = bit_cast::<20, 16>(self.hdr.val().get_bits::<16>(160))
            + bit_cast::<20, 16>(self.hdr.val().get_bits::<16>(176))
            + bit_cast::<20, 16>(self.hdr.val().get_bits::<16>(192));
        self.s1_pc.d.next = bit_cast::<20, 16>(self.hdr.val().get_bits::<16>(208))
            + bit_cast::<20, 16>(self.hdr.val().get_bits::<16>(224));
        self.s1_pd.d.next = bit_cast::<20, 16>(self.hdr.val().get_bits::<16>(240))
            + bit_cast::<20, 16>(self.hdr.val().get_bits::<16>(256));
        // the entry's key field: saddr, daddr, sport, dport, proto (wire order)
        self.tuple.next = bit_cast::<104, 32>(self.saddr.val())
            | (bit_cast::<104, 32>(self.daddr.val()) << 32)
            | (bit_cast::<104, 16>(self.sport.val()) << 64)
            | (bit_cast::<104, 16>(self.dport.val()) << 80)
            | (bit_cast::<104, 8>(self.proto.val()) << 96);
        self.fh.tuple.next = self.tuple.val();
        self.fh.key.next = self.hash_key.val();
        self.s1_index.d.next = self.fh.index.val() & self.k_set_mask.val();
        // header facts the later cycles need (UDP: an 8-byte header, no sequence numbers)
        self.udp0.next = self.proto.val() == 17;
        if self.udp0.val() {
            self.tcp_hlen0.next = 8.into();
        } else {
            self.tcp_hlen0.next = bit_cast::<16, 4>(self.hdr.val().get_bits::<4>(372)) << 2;
        }
        self.ip_len0.next = (bit_cast::<16, 8>(self.hdr.val().get_bits::<8>(128)) << 8)
            | bit_cast::<16, 8>(self.hdr.val().get_bits::<8>(136));
        self.ack_flag0.next = self.hdr.val().get_bit(380) & !self.udp0.val();
        // the options are exactly NOP, NOP, Timestamps (nothing for an ack delta to fix)
        self.ts_only0.next = (self.tcp_hlen0.val() == 32)
            & (self.hdr.val().get_bits::<32>(432) == self.ts_opts.val());
        self.ackopt0.next =
            self.ack_flag0.val() & (self.tcp_hlen0.val() > 20) & !self.ts_only0.val();
        // a SACK layout the NIC fixes (`exception::sack`): NOP, NOP, SACK with 1..4 blocks, or
        // NOP, NOP, TS, NOP, NOP, SACK with 1..3, the TCP header ending with the option (whether
        // the frame holds all of it is checked in cycle 1)
        self.slen_a0.next = self.hdr.val().get_bits::<8>(456);
        self.slen_b0.next = self.opt.val().get_bits::<8>(40);
        self.sack_a0.next = (self.hdr.val().get_bits::<24>(432) == self.sack_opts.val())
            & (((self.slen_a0.val() == 10) & (self.tcp_hlen0.val() == 32))
                | ((self.slen_a0.val() == 18) & (self.tcp_hlen0.val() == 40))
                | ((self.slen_a0.val() == 26) & (self.tcp_hlen0.val() == 48))
                | ((self.slen_a0.val() == 34) & (self.tcp_hlen0.val() == 56)));
        self.sack_b0.next = (self.hdr.val().get_bits::<32>(432) == self.ts_opts.val())
            & (self.opt.val().get_bits::<24>(16) == self.sack_opts.val())
            & (((self.slen_b0.val() == 10) & (self.tcp_hlen0.val() == 44))
                | ((self.slen_b0.val() == 18) & (self.tcp_hlen0.val() == 52))
                | ((self.slen_b0.val() == 26) & (self.tcp_hlen0.val() == 60)));
        self.s1_sack.d.next = self.ack_flag0.val() & (self.sack_a0.val() | self.sack_b0.val());
        self.s1_slb.d.next = !self.sack_a0.val();
        if self.sack_a0.val() {
            self.s1_slen.d.next = self.slen_a0.val();
        } else {
            self.s1_slen.d.next = self.slen_b0.val();
        }
        self.s1_flen.d.next = self.hdr_len.val();
        self.s1_opt.d.next = self.opt.val();
        self.payload0.next = self.ip_len0.val() > self.tcp_hlen0.val() + 20;
        // the flags the activity record counts (TCP only)
        self.act_syn0.next = (self.proto.val() == 6) & self.tcp_flags.val().get_bit(1);
        self.act_fin0.next = (self.proto.val() == 6) & self.tcp_flags.val().get_bit(0);
        self.act_rst0.next = (self.proto.val() == 6) & self.tcp_flags.val().get_bit(2);
        self.s1_hflags.d.next = bit_cast::<8, 1>(self.udp0.val().into())
            | (bit_cast::<8, 1>(self.ack_flag0.val().into()) << 1)
            | (bit_cast::<8, 1>(self.ackopt0.val().into()) << 2)
            | (bit_cast::<8, 1>(self.payload0.val().into()) << 3)
            | (bit_cast::<8, 1>(self.act_syn0.val().into()) << 4)
            | (bit_cast::<8, 1>(self.act_fin0.val().into()) << 5)
            | (bit_cast::<8, 1>(self.act_rst0.val().into()) << 6);

        // ---- cycle 1: every way's RAM is addressed by the set; reason without the checksum ----
        self.way0.read_address.next = self.s1_index.q.val().get_bits::<T>(0);
        self.way1.read_address.next = self.s1_index.q.val().get_bits::<T>(0);
        self.way2.read_address.next = self.s1_index.q.val().get_bits::<T>(0);
        self.way3.read_address.next = self.s1_index.q.val().get_bits::<T>(0);
        if self.s1_f_t14.q.val() {
            self.rpre.next = self.r_truncated.val();
        } else if self.s1_f_eth.q.val() {
            self.rpre.next = self.r_non_ipv4.val();
        } else if self.s1_f_t34.q.val() {
            self.rpre.next = self.r_truncated.val();
        } else if self.s1_f_ver.q.val() {
            self.rpre.next = self.r_non_ipv4.val();
        } else if self.s1_f_ihl.q.val() {
            self.rpre.next = self.r_ip_options.val();
        } else if self.s1_f_frag.q.val() {
            self.rpre.next = self.r_fragment.val();
        } else if self.s1_f_l4p.q.val() {
            self.rpre.next = self.r_non_tcp.val();
        } else if self.s1_f_t4.q.val() {
            self.rpre.next = self.r_truncated.val();
        } else if self.s1_f_syn.q.val() {
            self.rpre.next = self.r_syn.val();
        } else {
            self.rpre.next = self.r_none.val();
        }
        self.s2_rpre.d.next = self.rpre.val();
        // the checksum decides when no earlier reason in the classification order applies
        self.s2_cchk.d.next = !(self.s1_f_t14.q.val()
            | self.s1_f_eth.q.val()
            | self.s1_f_t34.q.val()
            | self.s1_f_ver.q.val()
            | self.s1_f_ihl.q.val());
        self.s2_a.d.next = self.s1_pa.q.val() + self.s1_pb.q.val() + self.s1_pc.q.val();
        self.s2_b.d.next = self.s1_pd.q.val();
        self.s2_valid.d.next = self.s1_valid.q.val();
        self.s2_hdr.d.next = self.s1_hdr.q.val();
        self.s2_user.d.next = self.s1_user.q.val();
        self.s2_index.d.next = self.s1_index.q.val();
        // the SACK layout counts when the frame holds the whole TCP header: then the ack's
        // options are fixed here (hflags bit 7), not an `AckOptions` exception (bit 2)
        if self.s1_slb.q.val() {
            self.send1.next = bit_cast::<16, 8>(self.s1_slen.q.val()) + 68;
        } else {
            self.send1.next = bit_cast::<16, 8>(self.s1_slen.q.val()) + 56;
        }
        self.sack1.next = self.s1_sack.q.val() & (self.s1_flen.q.val() >= self.send1.val());
        if self.sack1.val() {
            self.s2_hflags.d.next = (self.s1_hflags.q.val() & 0x7B) | 0x80;
        } else {
            self.s2_hflags.d.next = self.s1_hflags.q.val();
        }
        self.s2_sused.d.next = 0.into();
        self.s2_scnt.d.next = 3.into();
        if self.s1_slen.q.val() == 10 {
            self.s2_sused.d.next = 0x03.into();
            self.s2_scnt.d.next = 0.into();
        } else if self.s1_slen.q.val() == 18 {
            self.s2_sused.d.next = 0x0F.into();
            self.s2_scnt.d.next = 1.into();
        } else if self.s1_slen.q.val() == 26 {
            self.s2_sused.d.next = 0x3F.into();
            self.s2_scnt.d.next = 2.into();
        } else if self.s1_slen.q.val() == 34 {
            self.s2_sused.d.next = 0xFF.into();
        }
        self.s2_slb.d.next = self.s1_slb.q.val();
        self.s2_opt.d.next = self.s1_opt.q.val();

        // ---- cycle 2: the set's entries arrive (registered as they are); header checksum ----
        self.s3_e0.d.next = self.way0.read_data.val();
        self.s3_e1.d.next = self.way1.read_data.val();
        self.s3_e2.d.next = self.way2.read_data.val();
        self.s3_e3.d.next = self.way3.read_data.val();
        self.ip_sum.next = self.s2_a.q.val() + self.s2_b.q.val();
        // The folded sum s[15:0] + s[19:16] is 0xFFFF exactly when s[15:4] is all ones and
        // s[3:0] is the complement of s[19:16] (a second fold can never give 0xFFFF).
        self.ip_ok.next = (self.ip_sum.val().get_bits::<12>(4) == 0xFFF)
            & ((self.ip_sum.val().get_bits::<4>(0) ^ self.ip_sum.val().get_bits::<4>(16)) == 0xF);
        self.s3_reason.d.next = self.s2_rpre.q.val();
        if self.s2_cchk.q.val() & !self.ip_ok.val() {
            self.s3_reason.d.next = self.r_bad_csum.val();
        }
        self.s3_valid.d.next = self.s2_valid.q.val();
        self.s3_hdr.d.next = self.s2_hdr.q.val();
        self.s3_user.d.next = self.s2_user.q.val();
        self.s3_index.d.next = self.s2_index.q.val();
        self.s3_hflags.d.next = self.s2_hflags.q.val();
        self.s3_slb.d.next = self.s2_slb.q.val();
        self.s3_sused.d.next = self.s2_sused.q.val();
        self.s3_scnt.d.next = self.s2_scnt.q.val();
        self.s3_opt.d.next = self.s2_opt.q.val();

        // ---- cycle 3: every way's key compared; the lowest matching way's entry chosen ----
        self.key3.next = bit_cast::<104, 96>(self.s3_hdr.q.val().get_bits::<96>(208))
            | (bit_cast::<104, 8>(self.s3_hdr.q.val().get_bits::<8>(184)) << 96);
        self.m0.next = self.k_ways.val().get_bit(0)
            & self.s3_e0.q.val().get_bit(self.e_valid.val().index())
            & (self
                .s3_e0
                .q
                .val()
                .get_bits::<104>(self.e_saddr.val().index())
                == self.key3.val());
        self.m1.next = self.k_ways.val().get_bit(1)
            & self.s3_e1.q.val().get_bit(self.e_valid.val().index())
            & (self
                .s3_e1
                .q
                .val()
                .get_bits::<104>(self.e_saddr.val().index())
                == self.key3.val());
        self.m2.next = self.k_ways.val().get_bit(2)
            & self.s3_e2.q.val().get_bit(self.e_valid.val().index())
            & (self
                .s3_e2
                .q
                .val()
                .get_bits::<104>(self.e_saddr.val().index())
                == self.key3.val());
        self.m3.next = self.k_ways.val().get_bit(3)
            & self.s3_e3.q.val().get_bit(self.e_valid.val().index())
            & (self
                .s3_e3
                .q
                .val()
                .get_bits::<104>(self.e_saddr.val().index())
                == self.key3.val());
        self.s4_entry.d.next = self.s3_e0.q.val();
        self.hit_way.next = 0.into();
        if self.m0.val() {
            self.s4_entry.d.next = self.s3_e0.q.val();
        } else if self.m1.val() {
            self.s4_entry.d.next = self.s3_e1.q.val();
            self.hit_way.next = 1.into();
        } else if self.m2.val() {
            self.s4_entry.d.next = self.s3_e2.q.val();
            self.hit_way.next = 2.into();
        } else if self.m3.val() {
            self.s4_entry.d.next = self.s3_e3.q.val();
            self.hit_way.next = 3.into();
        }
        self.s4_match.d.next = self.m0.val() | self.m1.val() | self.m2.val() | self.m3.val();
        // the bucket: the set with the hit way's bits (way 0 on a miss)
        self.s4_index.d.next = self.s3_index.q.val() | (self.hit_way.val() << self.k_wshift.val());
        self.s4_reason.d.next = self.s3_reason.q.val();
        self.s4_valid.d.next = self.s3_valid.q.val();
        self.s4_hdr.d.next = self.s3_hdr.q.val();
        self.s4_user.d.next = self.s3_user.q.val();
        self.s4_hflags.d.next = self.s3_hflags.q.val();
        self.s4_slb.d.next = self.s3_slb.q.val();
        self.s4_sused.d.next = self.s3_sused.q.val();
        self.s4_scnt.d.next = self.s3_scnt.q.val();
        self.s4_opt.d.next = self.s3_opt.q.val();

        // ---- cycle 4: hit; sequence deltas; the address/port checksum terms ----
        self.lookup_ok.next = (self.s4_reason.q.val() == self.r_none.val())
            | (self.s4_reason.q.val() == self.r_syn.val());
        self.hit.next = self.lookup_ok.val() & self.s4_match.q.val();
        self.s5_hit.d.next = self.hit.val();
        // Sequence deltas (numbers: lane-order fields byte-swapped). after(a, b) is
        // "a - b is positive as a 32-bit signed number".
        self.seq_n4.next = (bit_cast::<32, 8>(self.s4_hdr.q.val().get_bits::<8>(304)) << 24)
            | (bit_cast::<32, 8>(self.s4_hdr.q.val().get_bits::<8>(312)) << 16)
            | (bit_cast::<32, 8>(self.s4_hdr.q.val().get_bits::<8>(320)) << 8)
            | bit_cast::<32, 8>(self.s4_hdr.q.val().get_bits::<8>(328));
        self.ack_n4.next = (bit_cast::<32, 8>(self.s4_hdr.q.val().get_bits::<8>(336)) << 24)
            | (bit_cast::<32, 8>(self.s4_hdr.q.val().get_bits::<8>(344)) << 16)
            | (bit_cast::<32, 8>(self.s4_hdr.q.val().get_bits::<8>(352)) << 8)
            | bit_cast::<32, 8>(self.s4_hdr.q.val().get_bits::<8>(360));
        self.udp4.next = self.s4_hflags.q.val().get_bit(0);
        self.seq_en4.next =
            self.s4_entry.q.val().get_bit(self.e_seq_en.val().index()) & !self.udp4.val();
        self.s_pos.next = self
            .s4_entry
            .q
            .val()
            .get_bits::<32>(self.e_seq_pos.val().index());
        self.s_before.next = self
            .s4_entry
            .q
            .val()
            .get_bits::<32>(self.e_seq_before.val().index());
        self.s_after.next = self
            .s4_entry
            .q
            .val()
            .get_bits::<32>(self.e_seq_after.val().index());
        self.s_floor.next = self
            .s4_entry
            .q
            .val()
            .get_bits::<32>(self.e_seq_floor.val().index());
        self.a_before.next = self
            .s4_entry
            .q
            .val()
            .get_bits::<32>(self.e_ack_before.val().index());
        self.a_after.next = self
            .s4_entry
            .q
            .val()
            .get_bits::<32>(self.e_ack_after.val().index());
        self.d_seq.next = self.seq_n4.val() - self.s_pos.val();
        self.d_seq_floor.next = self.seq_n4.val() - self.s_floor.val();
        self.s5_seq_after.d.next =
            !self.d_seq.val().get_bit(31) & (self.seq_n4.val() != self.s_pos.val());
        self.s5_seq_hist.d.next = self.seq_en4.val()
            & (self.s_floor.val() != self.s_pos.val())
            & (self.d_seq_floor.val().get_bit(31) | (self.seq_n4.val() == self.s_floor.val()));
        // both candidates of each fixed number, chosen in cycle 6
        self.s5_seq_pa.d.next = self.seq_n4.val() + self.s_after.val();
        self.s5_seq_pb.d.next = self.seq_n4.val() + self.s_before.val();
        self.s5_a_orig.d.next = self.ack_n4.val() - self.a_before.val();
        self.s5_ack_ma.d.next = self.ack_n4.val() - self.a_after.val();
        self.s5_app.d.next = self
            .s4_entry
            .q
            .val()
            .get_bit(self.e_app_bound.val().index())
            & self.s4_hflags.q.val().get_bit(3);
        // The rewrite's address and port: forward with a seq/ack delta rewrites at the DNAT
        // positions with unchanged values.
        self.action4.next = self
            .s4_entry
            .q
            .val()
            .get_bits::<2>(self.e_action.val().index());
        if self.action4.val() == 2 {
            self.old_addr.next = self.s4_hdr.q.val().get_bits::<32>(208);
            self.old_port.next = self.s4_hdr.q.val().get_bits::<16>(272);
        } else {
            self.old_addr.next = self.s4_hdr.q.val().get_bits::<32>(240);
            self.old_port.next = self.s4_hdr.q.val().get_bits::<16>(288);
        }
        self.new_addr.next = self
            .s4_entry
            .q
            .val()
            .get_bits::<32>(self.e_nat_addr.val().index());
        self.new_port.next = self
            .s4_entry
            .q
            .val()
            .get_bits::<16>(self.e_nat_port.val().index());
        if self.action4.val() == 0 {
            self.new_addr.next = self.old_addr.val();
            self.new_port.next = self.old_port.val();
        }
        self.s5_new_addr.d.next = self.new_addr.val();
        self.s5_new_port.d.next = self.new_port.val();
        // RFC 1624 terms (sums of 16-bit words, folded at the end): the old values complemented,
        // the new ones as they are.
        self.n_ip_csum.next = !self.s4_hdr.q.val().get_bits::<16>(192);
        if self.udp4.val() {
            self.l4_csum3.next = self.s4_hdr.q.val().get_bits::<16>(320);
        } else {
            self.l4_csum3.next = self.s4_hdr.q.val().get_bits::<16>(400);
        }
        self.n_l4_csum.next = !self.l4_csum3.val();
        self.n_old_lo.next = !self.old_addr.val().get_bits::<16>(0);
        self.n_old_hi.next = !self.old_addr.val().get_bits::<16>(16);
        self.n_old_port.next = !self.old_port.val();
        self.n_os_lo.next = !self.s4_hdr.q.val().get_bits::<16>(304);
        self.n_os_hi.next = !self.s4_hdr.q.val().get_bits::<16>(320);
        self.n_oa_lo.next = !self.s4_hdr.q.val().get_bits::<16>(336);
        self.n_oa_hi.next = !self.s4_hdr.q.val().get_bits::<16>(352);
        // shared by both checksums: the address change
        self.s5_x.d.next = (bit_cast::<20, 16>(self.n_old_lo.val())
            + bit_cast::<20, 16>(self.n_old_hi.val()))
            + (bit_cast::<20, 16>(self.new_addr.val().get_bits::<16>(0))
                + bit_cast::<20, 16>(self.new_addr.val().get_bits::<16>(16)));
        self.s5_pc.d.next = (bit_cast::<20, 16>(self.n_old_port.val())
            + bit_cast::<20, 16>(self.new_port.val()))
            + bit_cast::<20, 16>(self.n_l4_csum.val());
        self.s5_ipc.d.next = bit_cast::<20, 16>(self.n_ip_csum.val());
        // the old sequence and ack numbers (TCP only; UDP has no such fields)
        self.s5_sa12.d.next = 0.into();
        if !self.udp4.val() {
            self.s5_sa12.d.next = (bit_cast::<20, 16>(self.n_os_lo.val())
                + bit_cast::<20, 16>(self.n_os_hi.val()))
                + (bit_cast::<20, 16>(self.n_oa_lo.val()) + bit_cast::<20, 16>(self.n_oa_hi.val()));
        }
        self.s5_valid.d.next = self.s4_valid.q.val();
        self.s5_hdr.d.next = self.s4_hdr.q.val();
        self.s5_user.d.next = self.s4_user.q.val();
        self.s5_index.d.next = self.s4_index.q.val();
        self.s5_hflags.d.next = self.s4_hflags.q.val();
        self.s5_reason.d.next = self.s4_reason.q.val();
        self.s5_entry.d.next = self.s4_entry.q.val();
        // the SACK edges of the layout, slot j at frame byte 58 + 4j (NOP, NOP, SACK) or
        // 70 + 4j (behind timestamps), spanning the header and option windows
        self.a_pos4.next = self
            .s4_entry
            .q
            .val()
            .get_bits::<32>(self.e_ack_pos.val().index());
        self.a_floor4.next = self
            .s4_entry
            .q
            .val()
            .get_bits::<32>(self.e_ack_floor.val().index());
        self.el0.next = self.s4_hdr.q.val().get_bits::<32>(464);
        self.el1.next = bit_cast::<32, 16>(self.s4_hdr.q.val().get_bits::<16>(496))
            | (bit_cast::<32, 16>(self.s4_opt.q.val().get_bits::<16>(0)) << 16);
        self.el2.next = self.s4_opt.q.val().get_bits::<32>(16);
        self.el3.next = self.s4_opt.q.val().get_bits::<32>(48);
        self.el4.next = self.s4_opt.q.val().get_bits::<32>(80);
        self.el5.next = self.s4_opt.q.val().get_bits::<32>(112);
        self.el6.next = self.s4_opt.q.val().get_bits::<32>(144);
        self.el7.next = self.s4_opt.q.val().get_bits::<32>(176);
        if self.s4_slb.q.val() {
            self.el0.next = self.s4_opt.q.val().get_bits::<32>(48);
            self.el1.next = self.s4_opt.q.val().get_bits::<32>(80);
            self.el2.next = self.s4_opt.q.val().get_bits::<32>(112);
            self.el3.next = self.s4_opt.q.val().get_bits::<32>(144);
            self.el4.next = self.s4_opt.q.val().get_bits::<32>(176);
            self.el5.next = self.s4_opt.q.val().get_bits::<32>(208);
        }
        self.se0.old.next = self.el0.val();
        self.se0.a_before.next = self.a_before.val();
        self.se0.a_after.next = self.a_after.val();
        self.se0.a_pos.next = self.a_pos4.val();
        self.se0.a_floor.next = self.a_floor4.val();
        self.se1.old.next = self.el1.val();
        self.se1.a_before.next = self.a_before.val();
        self.se1.a_after.next = self.a_after.val();
        self.se1.a_pos.next = self.a_pos4.val();
        self.se1.a_floor.next = self.a_floor4.val();
        self.se2.old.next = self.el2.val();
        self.se2.a_before.next = self.a_before.val();
        self.se2.a_after.next = self.a_after.val();
        self.se2.a_pos.next = self.a_pos4.val();
        self.se2.a_floor.next = self.a_floor4.val();
        self.se3.old.next = self.el3.val();
        self.se3.a_before.next = self.a_before.val();
        self.se3.a_after.next = self.a_after.val();
        self.se3.a_pos.next = self.a_pos4.val();
        self.se3.a_floor.next = self.a_floor4.val();
        self.se4.old.next = self.el4.val();
        self.se4.a_before.next = self.a_before.val();
        self.se4.a_after.next = self.a_after.val();
        self.se4.a_pos.next = self.a_pos4.val();
        self.se4.a_floor.next = self.a_floor4.val();
        self.se5.old.next = self.el5.val();
        self.se5.a_before.next = self.a_before.val();
        self.se5.a_after.next = self.a_after.val();
        self.se5.a_pos.next = self.a_pos4.val();
        self.se5.a_floor.next = self.a_floor4.val();
        self.se6.old.next = self.el6.val();
        self.se6.a_before.next = self.a_before.val();
        self.se6.a_after.next = self.a_after.val();
        self.se6.a_pos.next = self.a_pos4.val();
        self.se6.a_floor.next = self.a_floor4.val();
        self.se7.old.next = self.el7.val();
        self.se7.a_before.next = self.a_before.val();
        self.se7.a_after.next = self.a_after.val();
        self.se7.a_pos.next = self.a_pos4.val();
        self.se7.a_floor.next = self.a_floor4.val();
        self.s5_slb.d.next = self.s4_slb.q.val();
        self.s5_sused.d.next = self.s4_sused.q.val();
        self.s5_scnt.d.next = self.s4_scnt.q.val();
        self.s5_opt.d.next = self.s4_opt.q.val();

        // ---- cycle 5: ack deltas, history; checksum sums ----
        self.a_pos.next = self
            .s5_entry
            .q
            .val()
            .get_bits::<32>(self.e_ack_pos.val().index());
        self.a_floor.next = self
            .s5_entry
            .q
            .val()
            .get_bits::<32>(self.e_ack_floor.val().index());
        self.d_ack.next = self.s5_a_orig.q.val() - self.a_pos.val();
        self.d_ack_floor.next = self.s5_a_orig.q.val() - self.a_floor.val();
        self.ack_en5.next = self.s5_entry.q.val().get_bit(self.e_ack_en.val().index())
            & !self.s5_hflags.q.val().get_bit(0);
        self.ack_hist.next = self.ack_en5.val()
            & self.s5_hflags.q.val().get_bit(1)
            & (self.a_floor.val() != self.a_pos.val())
            & (self.d_ack_floor.val().get_bit(31) | (self.s5_a_orig.q.val() == self.a_floor.val()));
        self.s6_ack_after.d.next =
            !self.d_ack.val().get_bit(31) & (self.s5_a_orig.q.val() != self.a_pos.val());
        // a SACK edge older than the history sends the frame to the host like an old ack
        self.sack_hist5.next = self.ack_en5.val()
            & self.s5_hflags.q.val().get_bit(7)
            & (self.a_floor.val() != self.a_pos.val())
            & ((self.s5_sused.q.val().get_bit(0) & self.se0.hist.val())
                | (self.s5_sused.q.val().get_bit(1) & self.se1.hist.val())
                | (self.s5_sused.q.val().get_bit(2) & self.se2.hist.val())
                | (self.s5_sused.q.val().get_bit(3) & self.se3.hist.val())
                | (self.s5_sused.q.val().get_bit(4) & self.se4.hist.val())
                | (self.s5_sused.q.val().get_bit(5) & self.se5.hist.val())
                | (self.s5_sused.q.val().get_bit(6) & self.se6.hist.val())
                | (self.s5_sused.q.val().get_bit(7) & self.se7.hist.val()));
        self.s6_hist.d.next =
            self.s5_seq_hist.q.val() | self.ack_hist.val() | self.sack_hist5.val();
        self.s6_slb.d.next = self.s5_slb.q.val();
        self.s6_sused.d.next = self.s5_sused.q.val();
        self.s6_scnt.d.next = self.s5_scnt.q.val();
        self.s6_opt.d.next = self.s5_opt.q.val();
        self.s6_ip_sum.d.next = self.s5_x.q.val() + self.s5_ipc.q.val();
        self.s6_t1.d.next = self.s5_x.q.val() + self.s5_pc.q.val() + self.s5_sa12.q.val();
        self.s6_valid.d.next = self.s5_valid.q.val();
        self.s6_hdr.d.next = self.s5_hdr.q.val();
        self.s6_user.d.next = self.s5_user.q.val();
        self.s6_index.d.next = self.s5_index.q.val();
        self.s6_hflags.d.next = self.s5_hflags.q.val();
        self.s6_reason.d.next = self.s5_reason.q.val();
        self.s6_entry.d.next = self.s5_entry.q.val();
        self.s6_hit.d.next = self.s5_hit.q.val();
        self.s6_seq_after.d.next = self.s5_seq_after.q.val();
        self.s6_app.d.next = self.s5_app.q.val();
        self.s6_a_orig.d.next = self.s5_a_orig.q.val();
        self.s6_seq_pa.d.next = self.s5_seq_pa.q.val();
        self.s6_seq_pb.d.next = self.s5_seq_pb.q.val();
        self.s6_ack_ma.d.next = self.s5_ack_ma.q.val();
        self.s6_new_addr.d.next = self.s5_new_addr.q.val();
        self.s6_new_port.d.next = self.s5_new_port.q.val();

        // ---- cycle 6: fixed numbers, the reasons a hit still goes to the host, decision ----
        self.seq_n6.next = (bit_cast::<32, 8>(self.s6_hdr.q.val().get_bits::<8>(304)) << 24)
            | (bit_cast::<32, 8>(self.s6_hdr.q.val().get_bits::<8>(312)) << 16)
            | (bit_cast::<32, 8>(self.s6_hdr.q.val().get_bits::<8>(320)) << 8)
            | bit_cast::<32, 8>(self.s6_hdr.q.val().get_bits::<8>(328));
        self.ack_n6.next = (bit_cast::<32, 8>(self.s6_hdr.q.val().get_bits::<8>(336)) << 24)
            | (bit_cast::<32, 8>(self.s6_hdr.q.val().get_bits::<8>(344)) << 16)
            | (bit_cast::<32, 8>(self.s6_hdr.q.val().get_bits::<8>(352)) << 8)
            | bit_cast::<32, 8>(self.s6_hdr.q.val().get_bits::<8>(360));
        self.seq_en6.next = self.s6_entry.q.val().get_bit(self.e_seq_en.val().index())
            & !self.s6_hflags.q.val().get_bit(0);
        self.ack_en6.next = self.s6_entry.q.val().get_bit(self.e_ack_en.val().index())
            & !self.s6_hflags.q.val().get_bit(0);
        self.seq_fixed.next = self.seq_n6.val();
        if self.seq_en6.val() & !self.s6_hist.q.val() {
            if self.s6_seq_after.q.val() {
                self.seq_fixed.next = self.s6_seq_pa.q.val();
            } else {
                self.seq_fixed.next = self.s6_seq_pb.q.val();
            }
        }
        self.ack_fixed.next = self.ack_n6.val();
        if self.ack_en6.val() & self.s6_hflags.q.val().get_bit(1) & !self.s6_hist.q.val() {
            if self.s6_ack_after.q.val() {
                self.ack_fixed.next = self.s6_ack_ma.q.val();
            } else {
                self.ack_fixed.next = self.s6_a_orig.q.val();
            }
        }
        self.hit_reason.next = self.r_none.val();
        if self.s6_app.q.val() {
            self.hit_reason.next = self.r_app_payload.val();
        } else if self.s6_hist.q.val() {
            self.hit_reason.next = self.r_seq_history.val();
        } else if self.ack_en6.val() & self.s6_hflags.q.val().get_bit(2) {
            self.hit_reason.next = self.r_ack_options.val();
        }
        self.lookup_ok6.next = (self.s6_reason.q.val() == self.r_none.val())
            | (self.s6_reason.q.val() == self.r_syn.val());
        // The bucket is reported only for frames that were looked up.
        self.decision.next = 0.into();
        if self.lookup_ok6.val() {
            self.decision.next = bit_cast::<64, 16>(self.s6_index.q.val()) << self.s_index.val();
        }
        if self.s6_hit.q.val() {
            self.decision.next = (bit_cast::<64, 16>(self.s6_index.q.val()) << self.s_index.val())
                | self.k_hit.val();
        }
        if (self.s6_user.q.val() & self.u_from_host.val()) != 0 {
            // Host frames are never exceptions: rewritten on a hit unless bypassing, else sent
            // unchanged on the port of their descriptor.
            if self.s6_hit.q.val() & ((self.s6_user.q.val() & self.u_bypass.val()) == 0) {
                self.decision.next = self.decision.val()
                    | self.k_rewrite.val()
                    | (bit_cast::<64, 2>(
                        self.s6_entry
                            .q
                            .val()
                            .get_bits::<2>(self.e_egress.val().index()),
                    ) << self.s_port.val());
            } else {
                self.decision.next = self.decision.val()
                    | (bit_cast::<64, 2>(self.s6_user.q.val().get_bits::<2>(0))
                        << self.s_port.val());
            }
        } else if self.s6_hit.q.val()
            & (self.s6_reason.q.val() == self.r_none.val())
            & (self.hit_reason.val() != self.r_none.val())
        {
            self.decision.next = self.decision.val()
                | self.k_exc.val()
                | (bit_cast::<64, 2>(self.s6_user.q.val().get_bits::<2>(0)) << self.s_port.val())
                | (bit_cast::<64, 8>(self.hit_reason.val()) << self.s_reason.val());
        } else if self.s6_hit.q.val() & (self.s6_reason.q.val() == self.r_none.val()) {
            self.decision.next = self.decision.val()
                | self.k_rewrite.val()
                | self.k_fastpath.val()
                | (bit_cast::<64, 2>(
                    self.s6_entry
                        .q
                        .val()
                        .get_bits::<2>(self.e_egress.val().index()),
                ) << self.s_port.val());
        } else if self.s6_reason.q.val() == self.r_none.val() {
            self.decision.next = self.decision.val()
                | self.k_exc.val()
                | (bit_cast::<64, 2>(self.s6_user.q.val().get_bits::<2>(0)) << self.s_port.val())
                | (bit_cast::<64, 8>(self.r_miss.val()) << self.s_reason.val());
        } else {
            self.decision.next = self.decision.val()
                | self.k_exc.val()
                | (bit_cast::<64, 2>(self.s6_user.q.val().get_bits::<2>(0)) << self.s_port.val())
                | (bit_cast::<64, 8>(self.s6_reason.q.val()) << self.s_reason.val());
        }
        // the SACK edges move with the ack, whenever it is fixed and the layout is one the NIC
        // handles (host frames too); their checksum terms summed in pairs
        self.sfix6.next =
            self.s6_hflags.q.val().get_bit(7) & self.ack_en6.val() & !self.s6_hist.q.val();
        self.se0.en.next = self.sfix6.val() & self.s6_sused.q.val().get_bit(0);
        self.se1.en.next = self.sfix6.val() & self.s6_sused.q.val().get_bit(1);
        self.se2.en.next = self.sfix6.val() & self.s6_sused.q.val().get_bit(2);
        self.se3.en.next = self.sfix6.val() & self.s6_sused.q.val().get_bit(3);
        self.se4.en.next = self.sfix6.val() & self.s6_sused.q.val().get_bit(4);
        self.se5.en.next = self.sfix6.val() & self.s6_sused.q.val().get_bit(5);
        self.se6.en.next = self.sfix6.val() & self.s6_sused.q.val().get_bit(6);
        self.se7.en.next = self.sfix6.val() & self.s6_sused.q.val().get_bit(7);
        self.sedge6.next = bit_cast::<OPT_BITS, 32>(self.se0.fixed.val())
            | (bit_cast::<OPT_BITS, 32>(self.se1.fixed.val()) << 32)
            | (bit_cast::<OPT_BITS, 32>(self.se2.fixed.val()) << 64)
            | (bit_cast::<OPT_BITS, 32>(self.se3.fixed.val()) << 96)
            | (bit_cast::<OPT_BITS, 32>(self.se4.fixed.val()) << 128)
            | (bit_cast::<OPT_BITS, 32>(self.se5.fixed.val()) << 160)
            | (bit_cast::<OPT_BITS, 32>(self.se6.fixed.val()) << 192)
            | (bit_cast::<OPT_BITS, 32>(self.se7.fixed.val()) << 224);
        self.s7_sp0.d.next = self.se0.term.val() + self.se1.term.val();
        self.s7_sp1.d.next = self.se2.term.val() + self.se3.term.val();
        self.s7_sp2.d.next = self.se4.term.val() + self.se5.term.val();
        self.s7_sp3.d.next = self.se6.term.val() + self.se7.term.val();
        self.s7_sedge.d.next = self.sedge6.val();
        self.s7_sfix.d.next = self.sfix6.val();
        self.s7_slb.d.next = self.s6_slb.q.val();
        self.s7_scnt.d.next = self.s6_scnt.q.val();
        self.s7_opt.d.next = self.s6_opt.q.val();
        if self.sfix6.val() {
            self.s7_dec.d.next = self.decision.val() | self.k_sack.val();
        } else {
            self.s7_dec.d.next = self.decision.val();
        }
        self.s7_seq.d.next = self.seq_fixed.val();
        self.s7_ack.d.next = self.ack_fixed.val();
        // the new sequence and ack numbers' checksum terms (lane order)
        self.seq_lane6.next = (bit_cast::<32, 8>(self.seq_fixed.val().get_bits::<8>(0)) << 24)
            | (bit_cast::<32, 8>(self.seq_fixed.val().get_bits::<8>(8)) << 16)
            | (bit_cast::<32, 8>(self.seq_fixed.val().get_bits::<8>(16)) << 8)
            | bit_cast::<32, 8>(self.seq_fixed.val().get_bits::<8>(24));
        self.ack_lane6.next = (bit_cast::<32, 8>(self.ack_fixed.val().get_bits::<8>(0)) << 24)
            | (bit_cast::<32, 8>(self.ack_fixed.val().get_bits::<8>(8)) << 16)
            | (bit_cast::<32, 8>(self.ack_fixed.val().get_bits::<8>(16)) << 8)
            | bit_cast::<32, 8>(self.ack_fixed.val().get_bits::<8>(24));
        self.s7_sa3.d.next = 0.into();
        self.s7_sa4.d.next = 0.into();
        if !self.s6_hflags.q.val().get_bit(0) {
            self.s7_sa3.d.next = bit_cast::<20, 16>(self.seq_lane6.val().get_bits::<16>(0))
                + bit_cast::<20, 16>(self.seq_lane6.val().get_bits::<16>(16));
            self.s7_sa4.d.next = bit_cast::<20, 16>(self.ack_lane6.val().get_bits::<16>(0))
                + bit_cast::<20, 16>(self.ack_lane6.val().get_bits::<16>(16));
        }
        // first fold of the IPv4 checksum update
        self.s7_ip_f1.d.next = bit_cast::<20, 16>(self.s6_ip_sum.q.val().get_bits::<16>(0))
            + bit_cast::<20, 4>(self.s6_ip_sum.q.val().get_bits::<4>(16));
        self.s7_valid.d.next = self.s6_valid.q.val();
        self.s7_hdr.d.next = self.s6_hdr.q.val();
        self.s7_hflags.d.next = self.s6_hflags.q.val();
        self.s7_entry.d.next = self.s6_entry.q.val();
        self.s7_t1.d.next = self.s6_t1.q.val();
        self.s7_new_addr.d.next = self.s6_new_addr.q.val();
        self.s7_new_port.d.next = self.s6_new_port.q.val();

        // ---- cycle 7: the activity event (from registers); the TCP/UDP checksum sum ----
        self.act_valid.next = self.s7_valid.q.val();
        self.act_hit.next = (self.s7_dec.q.val() & self.k_hit.val()) != 0;
        self.act_index.next = self
            .s7_dec
            .q
            .val()
            .get_bits::<16>(self.s_index.val().index());
        self.act_flags.next = self
            .s7_hflags
            .q
            .val()
            .get_bits::<3>(self.h_act.val().index());
        self.s8_tcp_sum.d.next = self.s7_t1.q.val() + self.s7_sa3.q.val() + self.s7_sa4.q.val();
        self.s8_ss.d.next = (bit_cast::<24, 20>(self.s7_sp0.q.val())
            + bit_cast::<24, 20>(self.s7_sp1.q.val()))
            + (bit_cast::<24, 20>(self.s7_sp2.q.val()) + bit_cast::<24, 20>(self.s7_sp3.q.val()));
        self.s8_sedge.d.next = self.s7_sedge.q.val();
        self.s8_sfix.d.next = self.s7_sfix.q.val();
        self.s8_slb.d.next = self.s7_slb.q.val();
        self.s8_scnt.d.next = self.s7_scnt.q.val();
        self.s8_opt.d.next = self.s7_opt.q.val();
        self.s8_valid.d.next = self.s7_valid.q.val();
        self.s8_hdr.d.next = self.s7_hdr.q.val();
        self.s8_hflags.d.next = self.s7_hflags.q.val();
        self.s8_entry.d.next = self.s7_entry.q.val();
        self.s8_dec.d.next = self.s7_dec.q.val();
        self.s8_seq.d.next = self.s7_seq.q.val();
        self.s8_ack.d.next = self.s7_ack.q.val();
        self.s8_ip_f1.d.next = self.s7_ip_f1.q.val();
        self.s8_new_addr.d.next = self.s7_new_addr.q.val();
        self.s8_new_port.d.next = self.s7_new_port.q.val();

        // ---- cycle 8: its first fold; which fields the rewrite replaces ----
        self.tcp_total8.next = bit_cast::<24, 20>(self.s8_tcp_sum.q.val()) + self.s8_ss.q.val();
        self.s9_tcp_f1.d.next = bit_cast::<20, 16>(self.tcp_total8.val().get_bits::<16>(0))
            + bit_cast::<20, 8>(self.tcp_total8.val().get_bits::<8>(16));
        // the moved SACK edges into the windows (slot j of the edge vector at its frame bytes)
        self.smask8.next = 0.into();
        if self.s8_sfix.q.val() {
            if self.s8_scnt.q.val() == 0 {
                self.smask8.next = self.k_sack_m1.val();
            } else if self.s8_scnt.q.val() == 1 {
                self.smask8.next = self.k_sack_m2.val();
            } else if self.s8_scnt.q.val() == 2 {
                self.smask8.next = self.k_sack_m3.val();
            } else {
                self.smask8.next = self.k_sack_m4.val();
            }
        }
        self.sval8.next = self.s8_sedge.q.val() & self.smask8.val();
        self.ha_m8.next = bit_cast::<HDR_BITS, OPT_BITS>(self.smask8.val()) << 464;
        self.ha_v8.next = bit_cast::<HDR_BITS, OPT_BITS>(self.sval8.val()) << 464;
        self.oa_m8.next = self.smask8.val() >> 48;
        self.oa_v8.next = self.sval8.val() >> 48;
        self.ob_m8.next = self.smask8.val() << 48;
        self.ob_v8.next = self.sval8.val() << 48;
        if self.s8_slb.q.val() {
            self.s9_hdr.d.next = self.s8_hdr.q.val();
            self.s9_opt.d.next = (self.s8_opt.q.val() & !self.ob_m8.val()) | self.ob_v8.val();
        } else {
            self.s9_hdr.d.next = (self.s8_hdr.q.val() & !self.ha_m8.val()) | self.ha_v8.val();
            self.s9_opt.d.next = (self.s8_opt.q.val() & !self.oa_m8.val()) | self.oa_v8.val();
        }
        self.s9_full.d.next = (self
            .s8_entry
            .q
            .val()
            .get_bits::<2>(self.e_action.val().index())
            != 0)
            | (!self.s8_hflags.q.val().get_bit(0)
                & (self.s8_entry.q.val().get_bit(self.e_seq_en.val().index())
                    | self.s8_entry.q.val().get_bit(self.e_ack_en.val().index())));
        self.s9_l4zero.d.next =
            self.s8_hflags.q.val().get_bit(0) & (self.s8_hdr.q.val().get_bits::<16>(320) == 0);
        self.s9_valid.d.next = self.s8_valid.q.val();
        self.s9_hflags.d.next = self.s8_hflags.q.val();
        self.s9_entry.d.next = self.s8_entry.q.val();
        self.s9_dec.d.next = self.s8_dec.q.val();
        self.s9_seq.d.next = self.s8_seq.q.val();
        self.s9_ack.d.next = self.s8_ack.q.val();
        self.s9_ip_f1.d.next = self.s8_ip_f1.q.val();
        self.s9_new_addr.d.next = self.s8_new_addr.q.val();
        self.s9_new_port.d.next = self.s8_new_port.q.val();

        // ---- cycle 9: second folds, the rewritten window ----
        // After the IPv4 first fold f (at most 0xFFFF + 0xF) the end-around carry f[16] only
        // ever lands in a low nibble of at most 0xE, so its second fold is a 4-bit increment;
        // the TCP/UDP one (at most 0xFFFF + 0xFF, with the SACK terms) an 8-bit one.
        self.action9.next = self
            .s9_entry
            .q
            .val()
            .get_bits::<2>(self.e_action.val().index());
        self.udp9.next = self.s9_hflags.q.val().get_bit(0);
        self.ip_nib.next = self.s9_ip_f1.q.val().get_bits::<4>(0)
            + bit_cast::<4, 1>(self.s9_ip_f1.q.val().get_bits::<1>(16));
        self.ip_fold2.next = (self.s9_ip_f1.q.val().get_bits::<16>(0) & 0xFFF0)
            | bit_cast::<16, 4>(self.ip_nib.val());
        self.ip_csum_new.next = !self.ip_fold2.val();
        self.tcp_nib.next = self.s9_tcp_f1.q.val().get_bits::<8>(0)
            + bit_cast::<8, 1>(self.s9_tcp_f1.q.val().get_bits::<1>(16));
        self.tcp_fold2.next = (self.s9_tcp_f1.q.val().get_bits::<16>(0) & 0xFF00)
            | bit_cast::<16, 8>(self.tcp_nib.val());
        // the second fold is 0xFFFF exactly when the first one is
        self.tcp_is_ffff.next = self.s9_tcp_f1.q.val().get_bits::<17>(0) == 0xFFFF;
        self.tcp_csum_new.next = !self.tcp_fold2.val();
        // UDP: a zero checksum means "none" and stays zero; a computed zero is sent as 0xFFFF
        if self.udp9.val() & self.s9_l4zero.q.val() {
            self.tcp_csum_new.next = 0.into();
        } else if self.udp9.val() & self.tcp_is_ffff.val() {
            self.tcp_csum_new.next = 0xFFFF.into();
        }
        self.seq_lane.next = (bit_cast::<32, 8>(self.s9_seq.q.val().get_bits::<8>(0)) << 24)
            | (bit_cast::<32, 8>(self.s9_seq.q.val().get_bits::<8>(8)) << 16)
            | (bit_cast::<32, 8>(self.s9_seq.q.val().get_bits::<8>(16)) << 8)
            | bit_cast::<32, 8>(self.s9_seq.q.val().get_bits::<8>(24));
        self.ack_lane.next = (bit_cast::<32, 8>(self.s9_ack.q.val().get_bits::<8>(0)) << 24)
            | (bit_cast::<32, 8>(self.s9_ack.q.val().get_bits::<8>(8)) << 16)
            | (bit_cast::<32, 8>(self.s9_ack.q.val().get_bits::<8>(16)) << 8)
            | bit_cast::<32, 8>(self.s9_ack.q.val().get_bits::<8>(24));
        self.macs.next = bit_cast::<HDR_BITS, 48>(
            self.s9_entry
                .q
                .val()
                .get_bits::<48>(self.e_dmac.val().index()),
        ) | (bit_cast::<HDR_BITS, 48>(
            self.s9_entry
                .q
                .val()
                .get_bits::<48>(self.e_smac.val().index()),
        ) << 48);
        if !self.s9_full.q.val() {
            self.fields.next = (self.s9_hdr.q.val() & self.keep_mac.val()) | self.macs.val();
        } else if self.udp9.val() & (self.action9.val() == 2) {
            self.fields.next = (self.s9_hdr.q.val() & self.keep_snat_udp.val())
                | self.macs.val()
                | (bit_cast::<HDR_BITS, 16>(self.ip_csum_new.val()) << 192)
                | (bit_cast::<HDR_BITS, 32>(self.s9_new_addr.q.val()) << 208)
                | (bit_cast::<HDR_BITS, 16>(self.s9_new_port.q.val()) << 272)
                | (bit_cast::<HDR_BITS, 16>(self.tcp_csum_new.val()) << 320);
        } else if self.udp9.val() {
            self.fields.next = (self.s9_hdr.q.val() & self.keep_dnat_udp.val())
                | self.macs.val()
                | (bit_cast::<HDR_BITS, 16>(self.ip_csum_new.val()) << 192)
                | (bit_cast::<HDR_BITS, 32>(self.s9_new_addr.q.val()) << 240)
                | (bit_cast::<HDR_BITS, 16>(self.s9_new_port.q.val()) << 288)
                | (bit_cast::<HDR_BITS, 16>(self.tcp_csum_new.val()) << 320);
        } else if self.action9.val() == 2 {
            self.fields.next = (self.s9_hdr.q.val() & self.keep_snat.val())
                | self.macs.val()
                | (bit_cast::<HDR_BITS, 16>(self.ip_csum_new.val()) << 192)
                | (bit_cast::<HDR_BITS, 32>(self.s9_new_addr.q.val()) << 208)
                | (bit_cast::<HDR_BITS, 16>(self.s9_new_port.q.val()) << 272)
                | (bit_cast::<HDR_BITS, 32>(self.seq_lane.val()) << 304)
                | (bit_cast::<HDR_BITS, 32>(self.ack_lane.val()) << 336)
                | (bit_cast::<HDR_BITS, 16>(self.tcp_csum_new.val()) << 400);
        } else {
            self.fields.next = (self.s9_hdr.q.val() & self.keep_dnat.val())
                | self.macs.val()
                | (bit_cast::<HDR_BITS, 16>(self.ip_csum_new.val()) << 192)
                | (bit_cast::<HDR_BITS, 32>(self.s9_new_addr.q.val()) << 240)
                | (bit_cast::<HDR_BITS, 16>(self.s9_new_port.q.val()) << 288)
                | (bit_cast::<HDR_BITS, 32>(self.seq_lane.val()) << 304)
                | (bit_cast::<HDR_BITS, 32>(self.ack_lane.val()) << 336)
                | (bit_cast::<HDR_BITS, 16>(self.tcp_csum_new.val()) << 400);
        }
        self.s10_valid.d.next = self.s9_valid.q.val();
        self.s10_dec.d.next = self.s9_dec.q.val();
        self.s10_opt.d.next = self.s9_opt.q.val();
        if self.s9_dec.q.val().get_bit(self.s_rewrite.val().index()) {
            self.s10_hdr.d.next = self.fields.val();
        } else {
            self.s10_hdr.d.next = self.s9_hdr.q.val();
        }
        // ---- to emit, from registers ----
        self.m_valid.next = self.s10_valid.q.val();
        self.m_dec.next = self.s10_dec.q.val();
        self.m_hdr.next = self.s10_hdr.q.val();
        self.m_opt.next = self.s10_opt.q.val();
    }
}
