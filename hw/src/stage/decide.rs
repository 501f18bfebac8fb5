//! Stage 2: classify, hash, look up, decide, rewrite.
//!
//! Three register stages behind the parser:
//! * **L0** (combinational on the parser's window): header fields, the exception reason by the
//!   contract's classification order, the flow hash; the table RAM is addressed with the bucket.
//! * **L1**: the bucket's entry arrives; key compare, decision (forward / exception).
//! * **L2**: RFC 1624 incremental updates of the IPv4 and TCP checksums for the action's address
//!   and port change; the rewritten header window and the decision word are pushed to `emit`.
//!
//! All header arithmetic is done on lane-order (byte-swapped) 16-bit words: the ones'-complement
//! sum is byte-order independent (RFC 1071 §2(B)), so no byte swapping is needed.
//!
//! Table writes come from the CSR block as whole entries (one RAM write per entry), so a lookup
//! sees either the old entry or the new one.

use super::hash::{self, FlowHash};
use super::table::TableRam;
use super::HDR_BITS;
use rust_hdl::prelude::*;
use vsnic_contract::{entry, stream, Reason};

/// Bit positions in the decision word passed to `emit` (internal to the core).
pub mod dec {
    pub const EXC: usize = 0;
    pub const REWRITE: usize = 1;
    pub const PORT: usize = 2; // 2 bits: egress port, or ingress port of an exception
    pub const HIT: usize = 4;
    pub const FASTPATH: usize = 5;
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
    /// The entry at `tw_index` one cycle later (the table's host port, for the CSR's reads).
    pub tr_entry: Signal<Out, Bits<{ entry::BITS }>>,
    conns: TableRam<T>,
    fh: FlowHash,
    // L0 fields (lane order)
    ethertype: Signal<Local, Bits<16>>,
    ver_ihl: Signal<Local, Bits<8>>,
    frag: Signal<Local, Bits<16>>,
    proto: Signal<Local, Bits<8>>,
    tcp_flags: Signal<Local, Bits<8>>,
    saddr: Signal<Local, Bits<32>>,
    daddr: Signal<Local, Bits<32>>,
    sport: Signal<Local, Bits<16>>,
    dport: Signal<Local, Bits<16>>,
    ip_sum: Signal<Local, Bits<20>>,
    ip_fold1: Signal<Local, Bits<20>>,
    ip_fold2: Signal<Local, Bits<20>>,
    reason: Signal<Local, Bits<8>>,
    tuple: Signal<Local, Bits<{ hash::TUPLE_BITS }>>,
    hash: Signal<Local, Bits<16>>,
    // L1
    l1_valid: DFF<Bit>,
    l1_hdr: DFF<Bits<HDR_BITS>>,
    l1_reason: DFF<Bits<8>>,
    l1_user: DFF<Bits<8>>,
    l1_index: DFF<Bits<16>>,
    hit: Signal<Local, Bit>,
    lookup_ok: Signal<Local, Bit>,
    decision: Signal<Local, Bits<64>>,
    // L1: sequence deltas and the reasons a hit still goes to the host
    seq_n: Signal<Local, Bits<32>>,
    ack_n: Signal<Local, Bits<32>>,
    ip_len_n: Signal<Local, Bits<16>>,
    tcp_hlen: Signal<Local, Bits<16>>,
    /// The options are exactly NOP, NOP, Timestamps (nothing for an ack delta to fix).
    ts_only: Signal<Local, Bit>,
    ts_opts: Constant<Bits<32>>,
    ack_flag: Signal<Local, Bit>,
    seq_en: Signal<Local, Bit>,
    ack_en: Signal<Local, Bit>,
    s_pos: Signal<Local, Bits<32>>,
    s_before: Signal<Local, Bits<32>>,
    s_after: Signal<Local, Bits<32>>,
    s_floor: Signal<Local, Bits<32>>,
    a_pos: Signal<Local, Bits<32>>,
    a_before: Signal<Local, Bits<32>>,
    a_after: Signal<Local, Bits<32>>,
    a_floor: Signal<Local, Bits<32>>,
    d_seq: Signal<Local, Bits<32>>,
    d_seq_floor: Signal<Local, Bits<32>>,
    a_orig: Signal<Local, Bits<32>>,
    d_ack: Signal<Local, Bits<32>>,
    d_ack_floor: Signal<Local, Bits<32>>,
    seq_hist: Signal<Local, Bit>,
    ack_hist: Signal<Local, Bit>,
    hist: Signal<Local, Bit>,
    seq_fixed: Signal<Local, Bits<32>>,
    ack_fixed: Signal<Local, Bits<32>>,
    hit_reason: Signal<Local, Bits<8>>,
    // L2
    l2_seq: DFF<Bits<32>>,
    l2_ack: DFF<Bits<32>>,
    full: Signal<Local, Bit>,
    seq_lane: Signal<Local, Bits<32>>,
    ack_lane: Signal<Local, Bits<32>>,
    n_os_lo: Signal<Local, Bits<16>>,
    n_os_hi: Signal<Local, Bits<16>>,
    n_oa_lo: Signal<Local, Bits<16>>,
    n_oa_hi: Signal<Local, Bits<16>>,
    l2_valid: DFF<Bit>,
    l2_hdr: DFF<Bits<HDR_BITS>>,
    l2_entry: DFF<Bits<{ entry::BITS }>>,
    l2_dec: DFF<Bits<64>>,
    action: Signal<Local, Bits<2>>,
    old_addr: Signal<Local, Bits<32>>,
    old_port: Signal<Local, Bits<16>>,
    new_addr: Signal<Local, Bits<32>>,
    new_port: Signal<Local, Bits<16>>,
    n_ip_csum: Signal<Local, Bits<16>>,
    n_tcp_csum: Signal<Local, Bits<16>>,
    n_old_lo: Signal<Local, Bits<16>>,
    n_old_hi: Signal<Local, Bits<16>>,
    n_old_port: Signal<Local, Bits<16>>,
    ip_upd: Signal<Local, Bits<20>>,
    ip_upd1: Signal<Local, Bits<20>>,
    ip_upd2: Signal<Local, Bits<20>>,
    ip_sum16: Signal<Local, Bits<16>>,
    ip_csum_new: Signal<Local, Bits<16>>,
    tcp_upd: Signal<Local, Bits<20>>,
    tcp_upd1: Signal<Local, Bits<20>>,
    tcp_upd2: Signal<Local, Bits<20>>,
    tcp_sum16: Signal<Local, Bits<16>>,
    tcp_csum_new: Signal<Local, Bits<16>>,
    macs: Signal<Local, Bits<HDR_BITS>>,
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
    e_daddr: Constant<Bits<16>>,
    e_sport: Constant<Bits<16>>,
    e_dport: Constant<Bits<16>>,
    e_proto: Constant<Bits<16>>,
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
    k_fastpath: Constant<Bits<64>>,
    s_rewrite: Constant<Bits<16>>,
    s_port: Constant<Bits<16>>,
    s_reason: Constant<Bits<16>>,
    s_index: Constant<Bits<16>>,
    keep_mac: Constant<Bits<HDR_BITS>>,
    keep_dnat: Constant<Bits<HDR_BITS>>,
    keep_snat: Constant<Bits<HDR_BITS>>,
    keep_dnat_udp: Constant<Bits<HDR_BITS>>,
    keep_snat_udp: Constant<Bits<HDR_BITS>>,
    l1_udp: Signal<Local, Bit>,
    l2_udp: Signal<Local, Bit>,
    l4_csum: Signal<Local, Bits<16>>,
    sa_upd: Signal<Local, Bits<20>>,
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
            tw_enable: Default::default(),
            tw_index: Default::default(),
            tw_entry: Default::default(),
            hash_key: Default::default(),
            m_valid: Default::default(),
            m_hdr: Default::default(),
            m_dec: Default::default(),
            tr_entry: Default::default(),
            conns: Default::default(),
            fh: Default::default(),
            ethertype: Default::default(),
            ver_ihl: Default::default(),
            frag: Default::default(),
            proto: Default::default(),
            tcp_flags: Default::default(),
            saddr: Default::default(),
            daddr: Default::default(),
            sport: Default::default(),
            dport: Default::default(),
            ip_sum: Default::default(),
            ip_fold1: Default::default(),
            ip_fold2: Default::default(),
            reason: Default::default(),
            tuple: Default::default(),
            hash: Default::default(),
            l1_valid: Default::default(),
            l1_hdr: Default::default(),
            l1_reason: Default::default(),
            l1_user: Default::default(),
            l1_index: Default::default(),
            hit: Default::default(),
            lookup_ok: Default::default(),
            decision: Default::default(),
            l2_valid: Default::default(),
            l2_hdr: Default::default(),
            l2_entry: Default::default(),
            l2_dec: Default::default(),
            action: Default::default(),
            old_addr: Default::default(),
            old_port: Default::default(),
            new_addr: Default::default(),
            new_port: Default::default(),
            n_ip_csum: Default::default(),
            n_tcp_csum: Default::default(),
            n_old_lo: Default::default(),
            n_old_hi: Default::default(),
            n_old_port: Default::default(),
            ip_upd: Default::default(),
            ip_upd1: Default::default(),
            ip_upd2: Default::default(),
            ip_sum16: Default::default(),
            ip_csum_new: Default::default(),
            tcp_upd: Default::default(),
            tcp_upd1: Default::default(),
            tcp_upd2: Default::default(),
            tcp_sum16: Default::default(),
            tcp_csum_new: Default::default(),
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
            seq_n: Default::default(),
            ack_n: Default::default(),
            ip_len_n: Default::default(),
            tcp_hlen: Default::default(),
            ts_only: Default::default(),
            // bytes 01 01 08 0a at TCP offset 20, as the header window holds them
            ts_opts: Constant::new(0x0a08_0101u64.into()),
            ack_flag: Default::default(),
            seq_en: Default::default(),
            ack_en: Default::default(),
            s_pos: Default::default(),
            s_before: Default::default(),
            s_after: Default::default(),
            s_floor: Default::default(),
            a_pos: Default::default(),
            a_before: Default::default(),
            a_after: Default::default(),
            a_floor: Default::default(),
            d_seq: Default::default(),
            d_seq_floor: Default::default(),
            a_orig: Default::default(),
            d_ack: Default::default(),
            d_ack_floor: Default::default(),
            seq_hist: Default::default(),
            ack_hist: Default::default(),
            hist: Default::default(),
            seq_fixed: Default::default(),
            ack_fixed: Default::default(),
            hit_reason: Default::default(),
            l2_seq: Default::default(),
            l2_ack: Default::default(),
            full: Default::default(),
            seq_lane: Default::default(),
            ack_lane: Default::default(),
            n_os_lo: Default::default(),
            n_os_hi: Default::default(),
            n_oa_lo: Default::default(),
            n_oa_hi: Default::default(),
            e_saddr: off(entry::KEY_SADDR),
            e_daddr: off(entry::KEY_DADDR),
            e_sport: off(entry::KEY_SPORT),
            e_dport: off(entry::KEY_DPORT),
            e_proto: off(entry::KEY_PROTO),
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
            k_fastpath: Constant::new((1u64 << dec::FASTPATH).into()),
            s_rewrite: Constant::new((dec::REWRITE as u64).into()),
            s_port: Constant::new((dec::PORT as u64).into()),
            s_reason: Constant::new((dec::REASON as u64).into()),
            s_index: Constant::new((dec::INDEX as u64).into()),
            keep_mac: Constant::new(field_mask(&[MACS])),
            keep_dnat: Constant::new(field_mask(&[
                MACS, IP_CSUM, DADDR, DPORT, SEQ_ACK, TCP_CSUM,
            ])),
            keep_dnat_udp: Constant::new(field_mask(&[MACS, IP_CSUM, DADDR, DPORT, UDP_CSUM])),
            keep_snat_udp: Constant::new(field_mask(&[MACS, IP_CSUM, SADDR, SPORT, UDP_CSUM])),
            l1_udp: Default::default(),
            l2_udp: Default::default(),
            l4_csum: Default::default(),
            sa_upd: Default::default(),
            keep_snat: Constant::new(field_mask(&[
                MACS, IP_CSUM, SADDR, SPORT, SEQ_ACK, TCP_CSUM,
            ])),
            _evaluated: false,
        }
    }
}

impl<const T: usize> Logic for Decide<T> {
    super::settled_update!(self; clocks: l1_valid.clock, l1_hdr.clock, l1_reason.clock, l1_user.clock,
        l1_index.clock, l2_valid.clock, l2_hdr.clock, l2_entry.clock, l2_dec.clock, l2_seq.clock, l2_ack.clock, conns.read_clock,
        conns.write_clock;
        reads: hdr_valid, hdr, hdr_len, hdr_user, tw_enable, tw_index,
        tw_entry, ethertype, ver_ihl, frag, proto, tcp_flags, saddr, daddr, sport, dport, ip_sum,
        ip_fold1, ip_fold2, reason, tuple, hash_key, fh.index, hash, hit, lookup_ok, decision, action, old_addr,
        old_port, new_addr, new_port, n_ip_csum, n_tcp_csum, n_old_lo, n_old_hi, n_old_port,
        ip_upd, ip_upd1, ip_upd2, ip_sum16, ip_csum_new, tcp_upd, tcp_upd1, tcp_upd2, tcp_sum16,
        tcp_csum_new, macs, fields, conns.read_data, conns.host_data, l1_valid.q, l1_hdr.q, l1_reason.q,
        l1_user.q, l1_index.q, l2_valid.q, l2_hdr.q, l2_entry.q, l2_dec.q, l2_seq.q, l2_ack.q,
        seq_n, ack_n, ip_len_n, tcp_hlen, ts_only, ack_flag, seq_en, ack_en, s_pos, s_before, s_after,
        s_floor, a_pos, a_before, a_after, a_floor, d_seq, d_seq_floor, a_orig, d_ack,
        d_ack_floor, seq_hist, ack_hist, hist, seq_fixed, ack_fixed, hit_reason, full, seq_lane,
        ack_lane, n_os_lo, n_os_hi, n_oa_lo, n_oa_hi, l1_udp, l2_udp, l4_csum, sa_upd);
}

impl<const T: usize> Decide<T> {
    #[hdl_gen]
    fn logic(&mut self) {
        dff_setup!(
            self, clock, l1_valid, l1_hdr, l1_reason, l1_user, l1_index, l2_valid, l2_hdr,
            l2_entry, l2_dec, l2_seq, l2_ack
        );
        self.conns.read_clock.next = self.clock.val();
        self.conns.write_clock.next = self.clock.val();
        self.conns.write_enable.next = self.tw_enable.val();
        self.conns.write_address.next = self.tw_index.val();
        self.conns.write_data.next = self.tw_entry.val();
        self.tr_entry.next = self.conns.host_data.val();

        // ---- L0: fields, classification, hash ----
        self.ethertype.next = self.hdr.val().get_bits::<16>(96);
        self.ver_ihl.next = self.hdr.val().get_bits::<8>(112);
        self.frag.next = self.hdr.val().get_bits::<16>(160) & 0xFF3F;
        self.proto.next = self.hdr.val().get_bits::<8>(184);
        self.tcp_flags.next = self.hdr.val().get_bits::<8>(376);
        self.saddr.next = self.hdr.val().get_bits::<32>(208);
        self.daddr.next = self.hdr.val().get_bits::<32>(240);
        self.sport.next = self.hdr.val().get_bits::<16>(272);
        self.dport.next = self.hdr.val().get_bits::<16>(288);
        self.ip_sum.next = bit_cast::<20, 16>(self.hdr.val().get_bits::<16>(112))
            + bit_cast::<20, 16>(self.hdr.val().get_bits::<16>(128))
            + bit_cast::<20, 16>(self.hdr.val().get_bits::<16>(144))
            + bit_cast::<20, 16>(self.hdr.val().get_bits::<16>(160))
            + bit_cast::<20, 16>(self.hdr.val().get_bits::<16>(176))
            + bit_cast::<20, 16>(self.hdr.val().get_bits::<16>(192))
            + bit_cast::<20, 16>(self.hdr.val().get_bits::<16>(208))
            + bit_cast::<20, 16>(self.hdr.val().get_bits::<16>(224))
            + bit_cast::<20, 16>(self.hdr.val().get_bits::<16>(240))
            + bit_cast::<20, 16>(self.hdr.val().get_bits::<16>(256));
        self.ip_fold1.next = bit_cast::<20, 16>(self.ip_sum.val().get_bits::<16>(0))
            + bit_cast::<20, 4>(self.ip_sum.val().get_bits::<4>(16));
        self.ip_fold2.next = bit_cast::<20, 16>(self.ip_fold1.val().get_bits::<16>(0))
            + bit_cast::<20, 4>(self.ip_fold1.val().get_bits::<4>(16));
        // EtherType 0x0800 and IPv4 version/IHL 0x45 read in lane order.
        if self.hdr_len.val() < 14 {
            self.reason.next = self.r_truncated.val();
        } else if self.ethertype.val() != 0x0008 {
            self.reason.next = self.r_non_ipv4.val();
        } else if self.hdr_len.val() < 34 {
            self.reason.next = self.r_truncated.val();
        } else if self.ver_ihl.val().get_bits::<4>(4) != 4 {
            self.reason.next = self.r_non_ipv4.val();
        } else if self.ver_ihl.val().get_bits::<4>(0) != 5 {
            self.reason.next = self.r_ip_options.val();
        } else if self.ip_fold2.val() != 0xFFFF {
            self.reason.next = self.r_bad_csum.val();
        } else if self.frag.val() != 0 {
            self.reason.next = self.r_fragment.val();
        } else if (self.proto.val() != 6) & (self.proto.val() != 17) {
            self.reason.next = self.r_non_tcp.val();
        } else if ((self.proto.val() == 6) & (self.hdr_len.val() < 54))
            | ((self.proto.val() == 17) & (self.hdr_len.val() < 42))
        {
            self.reason.next = self.r_truncated.val();
        } else if (self.proto.val() == 6)
            & self.tcp_flags.val().get_bit(1)
            & !self.tcp_flags.val().get_bit(4)
        {
            self.reason.next = self.r_syn.val();
        } else {
            self.reason.next = self.r_none.val();
        }
        // the entry's key field: saddr, daddr, sport, dport, proto (wire order)
        self.tuple.next = bit_cast::<104, 32>(self.saddr.val())
            | (bit_cast::<104, 32>(self.daddr.val()) << 32)
            | (bit_cast::<104, 16>(self.sport.val()) << 64)
            | (bit_cast::<104, 16>(self.dport.val()) << 80)
            | (bit_cast::<104, 8>(self.proto.val()) << 96);
        self.fh.tuple.next = self.tuple.val();
        self.fh.key.next = self.hash_key.val();
        self.hash.next = self.fh.index.val();
        self.conns.read_address.next = self.hash.val().get_bits::<T>(0);
        self.l1_valid.d.next = self.hdr_valid.val();
        self.l1_hdr.d.next = self.hdr.val();
        self.l1_reason.d.next = self.reason.val();
        self.l1_user.d.next = self.hdr_user.val();
        self.l1_index.d.next = bit_cast::<16, T>(self.hash.val().get_bits::<T>(0));

        // ---- L1: compare, decide ----
        self.lookup_ok.next = (self.l1_reason.q.val() == self.r_none.val())
            | (self.l1_reason.q.val() == self.r_syn.val());
        self.hit.next = self.lookup_ok.val()
            & self
                .conns
                .read_data
                .val()
                .get_bit(self.e_valid.val().index())
            & (self
                .conns
                .read_data
                .val()
                .get_bits::<32>(self.e_saddr.val().index())
                == self.l1_hdr.q.val().get_bits::<32>(208))
            & (self
                .conns
                .read_data
                .val()
                .get_bits::<32>(self.e_daddr.val().index())
                == self.l1_hdr.q.val().get_bits::<32>(240))
            & (self
                .conns
                .read_data
                .val()
                .get_bits::<16>(self.e_sport.val().index())
                == self.l1_hdr.q.val().get_bits::<16>(272))
            & (self
                .conns
                .read_data
                .val()
                .get_bits::<16>(self.e_dport.val().index())
                == self.l1_hdr.q.val().get_bits::<16>(288))
            & (self
                .conns
                .read_data
                .val()
                .get_bits::<8>(self.e_proto.val().index())
                == self.l1_hdr.q.val().get_bits::<8>(184));
        // Sequence deltas (numbers: lane-order fields byte-swapped). after(a, b) is
        // "a - b is positive as a 32-bit signed number".
        self.seq_n.next = (bit_cast::<32, 8>(self.l1_hdr.q.val().get_bits::<8>(304)) << 24)
            | (bit_cast::<32, 8>(self.l1_hdr.q.val().get_bits::<8>(312)) << 16)
            | (bit_cast::<32, 8>(self.l1_hdr.q.val().get_bits::<8>(320)) << 8)
            | bit_cast::<32, 8>(self.l1_hdr.q.val().get_bits::<8>(328));
        self.ack_n.next = (bit_cast::<32, 8>(self.l1_hdr.q.val().get_bits::<8>(336)) << 24)
            | (bit_cast::<32, 8>(self.l1_hdr.q.val().get_bits::<8>(344)) << 16)
            | (bit_cast::<32, 8>(self.l1_hdr.q.val().get_bits::<8>(352)) << 8)
            | bit_cast::<32, 8>(self.l1_hdr.q.val().get_bits::<8>(360));
        self.ip_len_n.next = (bit_cast::<16, 8>(self.l1_hdr.q.val().get_bits::<8>(128)) << 8)
            | bit_cast::<16, 8>(self.l1_hdr.q.val().get_bits::<8>(136));
        // UDP: an 8-byte header, no sequence numbers (the deltas never apply)
        self.l1_udp.next = self.l1_hdr.q.val().get_bits::<8>(184) == 17;
        if self.l1_udp.val() {
            self.tcp_hlen.next = 8.into();
        } else {
            self.tcp_hlen.next = bit_cast::<16, 4>(self.l1_hdr.q.val().get_bits::<4>(372)) << 2;
        }
        self.ack_flag.next = self.l1_hdr.q.val().get_bit(380) & !self.l1_udp.val();
        self.ts_only.next = (self.tcp_hlen.val() == 32)
            & (self.l1_hdr.q.val().get_bits::<32>(432) == self.ts_opts.val());
        self.seq_en.next = self
            .conns
            .read_data
            .val()
            .get_bit(self.e_seq_en.val().index())
            & !self.l1_udp.val();
        self.ack_en.next = self
            .conns
            .read_data
            .val()
            .get_bit(self.e_ack_en.val().index())
            & !self.l1_udp.val();
        self.s_pos.next = self
            .conns
            .read_data
            .val()
            .get_bits::<32>(self.e_seq_pos.val().index());
        self.s_before.next = self
            .conns
            .read_data
            .val()
            .get_bits::<32>(self.e_seq_before.val().index());
        self.s_after.next = self
            .conns
            .read_data
            .val()
            .get_bits::<32>(self.e_seq_after.val().index());
        self.s_floor.next = self
            .conns
            .read_data
            .val()
            .get_bits::<32>(self.e_seq_floor.val().index());
        self.a_pos.next = self
            .conns
            .read_data
            .val()
            .get_bits::<32>(self.e_ack_pos.val().index());
        self.a_before.next = self
            .conns
            .read_data
            .val()
            .get_bits::<32>(self.e_ack_before.val().index());
        self.a_after.next = self
            .conns
            .read_data
            .val()
            .get_bits::<32>(self.e_ack_after.val().index());
        self.a_floor.next = self
            .conns
            .read_data
            .val()
            .get_bits::<32>(self.e_ack_floor.val().index());
        self.d_seq.next = self.seq_n.val() - self.s_pos.val();
        self.d_seq_floor.next = self.seq_n.val() - self.s_floor.val();
        self.a_orig.next = self.ack_n.val() - self.a_before.val();
        self.d_ack.next = self.a_orig.val() - self.a_pos.val();
        self.d_ack_floor.next = self.a_orig.val() - self.a_floor.val();
        self.seq_hist.next = self.seq_en.val()
            & (self.s_floor.val() != self.s_pos.val())
            & (self.d_seq_floor.val().get_bit(31) | (self.d_seq_floor.val() == 0));
        self.ack_hist.next = self.ack_en.val()
            & self.ack_flag.val()
            & (self.a_floor.val() != self.a_pos.val())
            & (self.d_ack_floor.val().get_bit(31) | (self.d_ack_floor.val() == 0));
        self.hist.next = self.seq_hist.val() | self.ack_hist.val();
        self.seq_fixed.next = self.seq_n.val();
        if self.seq_en.val() & !self.hist.val() {
            if !self.d_seq.val().get_bit(31) & (self.d_seq.val() != 0) {
                self.seq_fixed.next = self.seq_n.val() + self.s_after.val();
            } else {
                self.seq_fixed.next = self.seq_n.val() + self.s_before.val();
            }
        }
        self.ack_fixed.next = self.ack_n.val();
        if self.ack_en.val() & self.ack_flag.val() & !self.hist.val() {
            if !self.d_ack.val().get_bit(31) & (self.d_ack.val() != 0) {
                self.ack_fixed.next = self.ack_n.val() - self.a_after.val();
            } else {
                self.ack_fixed.next = self.ack_n.val() - self.a_before.val();
            }
        }
        self.hit_reason.next = self.r_none.val();
        if self
            .conns
            .read_data
            .val()
            .get_bit(self.e_app_bound.val().index())
            & (self.ip_len_n.val() > self.tcp_hlen.val() + 20)
        {
            self.hit_reason.next = self.r_app_payload.val();
        } else if self.hist.val() {
            self.hit_reason.next = self.r_seq_history.val();
        } else if self.ack_en.val()
            & self.ack_flag.val()
            & (self.tcp_hlen.val() > 20)
            & !self.ts_only.val()
        {
            self.hit_reason.next = self.r_ack_options.val();
        }
        self.l2_seq.d.next = self.seq_fixed.val();
        self.l2_ack.d.next = self.ack_fixed.val();
        // The bucket is reported only for frames that were looked up.
        self.decision.next = 0.into();
        if self.lookup_ok.val() {
            self.decision.next = bit_cast::<64, 16>(self.l1_index.q.val()) << self.s_index.val();
        }
        if self.hit.val() {
            self.decision.next = (bit_cast::<64, 16>(self.l1_index.q.val()) << self.s_index.val())
                | self.k_hit.val();
        }
        if (self.l1_user.q.val() & self.u_from_host.val()) != 0 {
            // Host frames are never exceptions: rewritten on a hit unless bypassing, else sent
            // unchanged on the port of their descriptor.
            if self.hit.val() & ((self.l1_user.q.val() & self.u_bypass.val()) == 0) {
                self.decision.next = self.decision.val()
                    | self.k_rewrite.val()
                    | (bit_cast::<64, 2>(
                        self.conns
                            .read_data
                            .val()
                            .get_bits::<2>(self.e_egress.val().index()),
                    ) << self.s_port.val());
            } else {
                self.decision.next = self.decision.val()
                    | (bit_cast::<64, 2>(self.l1_user.q.val().get_bits::<2>(0))
                        << self.s_port.val());
            }
        } else if self.hit.val()
            & (self.l1_reason.q.val() == self.r_none.val())
            & (self.hit_reason.val() != self.r_none.val())
        {
            self.decision.next = self.decision.val()
                | self.k_exc.val()
                | (bit_cast::<64, 2>(self.l1_user.q.val().get_bits::<2>(0)) << self.s_port.val())
                | (bit_cast::<64, 8>(self.hit_reason.val()) << self.s_reason.val());
        } else if self.hit.val() & (self.l1_reason.q.val() == self.r_none.val()) {
            self.decision.next = self.decision.val()
                | self.k_rewrite.val()
                | self.k_fastpath.val()
                | (bit_cast::<64, 2>(
                    self.conns
                        .read_data
                        .val()
                        .get_bits::<2>(self.e_egress.val().index()),
                ) << self.s_port.val());
        } else if self.l1_reason.q.val() == self.r_none.val() {
            self.decision.next = self.decision.val()
                | self.k_exc.val()
                | (bit_cast::<64, 2>(self.l1_user.q.val().get_bits::<2>(0)) << self.s_port.val())
                | (bit_cast::<64, 8>(self.r_miss.val()) << self.s_reason.val());
        } else {
            self.decision.next = self.decision.val()
                | self.k_exc.val()
                | (bit_cast::<64, 2>(self.l1_user.q.val().get_bits::<2>(0)) << self.s_port.val())
                | (bit_cast::<64, 8>(self.l1_reason.q.val()) << self.s_reason.val());
        }
        self.l2_valid.d.next = self.l1_valid.q.val();
        self.l2_hdr.d.next = self.l1_hdr.q.val();
        self.l2_entry.d.next = self.conns.read_data.val();
        self.l2_dec.d.next = self.decision.val();

        // ---- L2: rewrite ----
        self.action.next = self
            .l2_entry
            .q
            .val()
            .get_bits::<2>(self.e_action.val().index());
        self.new_addr.next = self
            .l2_entry
            .q
            .val()
            .get_bits::<32>(self.e_nat_addr.val().index());
        self.new_port.next = self
            .l2_entry
            .q
            .val()
            .get_bits::<16>(self.e_nat_port.val().index());
        // Forward with a seq/ack delta rewrites at the DNAT positions with unchanged values.
        self.l2_udp.next = self.l2_hdr.q.val().get_bits::<8>(184) == 17;
        self.full.next = (self.action.val() != 0)
            | (!self.l2_udp.val()
                & (self.l2_entry.q.val().get_bit(self.e_seq_en.val().index())
                    | self.l2_entry.q.val().get_bit(self.e_ack_en.val().index())));
        if self.action.val() == 2 {
            self.old_addr.next = self.l2_hdr.q.val().get_bits::<32>(208);
            self.old_port.next = self.l2_hdr.q.val().get_bits::<16>(272);
        } else {
            self.old_addr.next = self.l2_hdr.q.val().get_bits::<32>(240);
            self.old_port.next = self.l2_hdr.q.val().get_bits::<16>(288);
        }
        if self.action.val() == 0 {
            self.new_addr.next = self.old_addr.val();
            self.new_port.next = self.old_port.val();
        }
        self.seq_lane.next = (bit_cast::<32, 8>(self.l2_seq.q.val().get_bits::<8>(0)) << 24)
            | (bit_cast::<32, 8>(self.l2_seq.q.val().get_bits::<8>(8)) << 16)
            | (bit_cast::<32, 8>(self.l2_seq.q.val().get_bits::<8>(16)) << 8)
            | bit_cast::<32, 8>(self.l2_seq.q.val().get_bits::<8>(24));
        self.ack_lane.next = (bit_cast::<32, 8>(self.l2_ack.q.val().get_bits::<8>(0)) << 24)
            | (bit_cast::<32, 8>(self.l2_ack.q.val().get_bits::<8>(8)) << 16)
            | (bit_cast::<32, 8>(self.l2_ack.q.val().get_bits::<8>(16)) << 8)
            | bit_cast::<32, 8>(self.l2_ack.q.val().get_bits::<8>(24));
        self.n_os_lo.next = !self.l2_hdr.q.val().get_bits::<16>(304);
        self.n_os_hi.next = !self.l2_hdr.q.val().get_bits::<16>(320);
        self.n_oa_lo.next = !self.l2_hdr.q.val().get_bits::<16>(336);
        self.n_oa_hi.next = !self.l2_hdr.q.val().get_bits::<16>(352);
        self.n_ip_csum.next = !self.l2_hdr.q.val().get_bits::<16>(192);
        if self.l2_udp.val() {
            self.l4_csum.next = self.l2_hdr.q.val().get_bits::<16>(320);
        } else {
            self.l4_csum.next = self.l2_hdr.q.val().get_bits::<16>(400);
        }
        self.n_tcp_csum.next = !self.l4_csum.val();
        self.n_old_lo.next = !self.old_addr.val().get_bits::<16>(0);
        self.n_old_hi.next = !self.old_addr.val().get_bits::<16>(16);
        self.n_old_port.next = !self.old_port.val();
        self.ip_upd.next = bit_cast::<20, 16>(self.n_ip_csum.val())
            + bit_cast::<20, 16>(self.n_old_lo.val())
            + bit_cast::<20, 16>(self.n_old_hi.val())
            + bit_cast::<20, 16>(self.new_addr.val().get_bits::<16>(0))
            + bit_cast::<20, 16>(self.new_addr.val().get_bits::<16>(16));
        self.ip_upd1.next = bit_cast::<20, 16>(self.ip_upd.val().get_bits::<16>(0))
            + bit_cast::<20, 4>(self.ip_upd.val().get_bits::<4>(16));
        self.ip_upd2.next = bit_cast::<20, 16>(self.ip_upd1.val().get_bits::<16>(0))
            + bit_cast::<20, 4>(self.ip_upd1.val().get_bits::<4>(16));
        self.ip_sum16.next = self.ip_upd2.val().get_bits::<16>(0);
        self.ip_csum_new.next = !self.ip_sum16.val();
        // seq/ack terms (TCP only; UDP has no such fields)
        self.sa_upd.next = bit_cast::<20, 16>(self.n_os_lo.val())
            + bit_cast::<20, 16>(self.n_os_hi.val())
            + bit_cast::<20, 16>(self.n_oa_lo.val())
            + bit_cast::<20, 16>(self.n_oa_hi.val())
            + bit_cast::<20, 16>(self.seq_lane.val().get_bits::<16>(0))
            + bit_cast::<20, 16>(self.seq_lane.val().get_bits::<16>(16))
            + bit_cast::<20, 16>(self.ack_lane.val().get_bits::<16>(0))
            + bit_cast::<20, 16>(self.ack_lane.val().get_bits::<16>(16));
        if self.l2_udp.val() {
            self.sa_upd.next = 0.into();
        }
        self.tcp_upd.next = bit_cast::<20, 16>(self.n_tcp_csum.val())
            + bit_cast::<20, 16>(self.n_old_lo.val())
            + bit_cast::<20, 16>(self.n_old_hi.val())
            + bit_cast::<20, 16>(self.n_old_port.val())
            + bit_cast::<20, 16>(self.new_addr.val().get_bits::<16>(0))
            + bit_cast::<20, 16>(self.new_addr.val().get_bits::<16>(16))
            + bit_cast::<20, 16>(self.new_port.val())
            + self.sa_upd.val();
        self.tcp_upd1.next = bit_cast::<20, 16>(self.tcp_upd.val().get_bits::<16>(0))
            + bit_cast::<20, 4>(self.tcp_upd.val().get_bits::<4>(16));
        self.tcp_upd2.next = bit_cast::<20, 16>(self.tcp_upd1.val().get_bits::<16>(0))
            + bit_cast::<20, 4>(self.tcp_upd1.val().get_bits::<4>(16));
        self.tcp_sum16.next = self.tcp_upd2.val().get_bits::<16>(0);
        self.tcp_csum_new.next = !self.tcp_sum16.val();
        // UDP: a zero checksum means "none" and stays zero; a computed zero is sent as 0xFFFF
        if self.l2_udp.val() & (self.l4_csum.val() == 0) {
            self.tcp_csum_new.next = 0.into();
        } else if self.l2_udp.val() & (self.tcp_sum16.val() == 0xFFFF) {
            self.tcp_csum_new.next = 0xFFFF.into();
        }
        self.macs.next = bit_cast::<HDR_BITS, 48>(
            self.l2_entry
                .q
                .val()
                .get_bits::<48>(self.e_dmac.val().index()),
        ) | (bit_cast::<HDR_BITS, 48>(
            self.l2_entry
                .q
                .val()
                .get_bits::<48>(self.e_smac.val().index()),
        ) << 48);
        if !self.full.val() {
            self.fields.next = (self.l2_hdr.q.val() & self.keep_mac.val()) | self.macs.val();
        } else if self.l2_udp.val() & (self.action.val() == 2) {
            self.fields.next = (self.l2_hdr.q.val() & self.keep_snat_udp.val())
                | self.macs.val()
                | (bit_cast::<HDR_BITS, 16>(self.ip_csum_new.val()) << 192)
                | (bit_cast::<HDR_BITS, 32>(self.new_addr.val()) << 208)
                | (bit_cast::<HDR_BITS, 16>(self.new_port.val()) << 272)
                | (bit_cast::<HDR_BITS, 16>(self.tcp_csum_new.val()) << 320);
        } else if self.l2_udp.val() {
            self.fields.next = (self.l2_hdr.q.val() & self.keep_dnat_udp.val())
                | self.macs.val()
                | (bit_cast::<HDR_BITS, 16>(self.ip_csum_new.val()) << 192)
                | (bit_cast::<HDR_BITS, 32>(self.new_addr.val()) << 240)
                | (bit_cast::<HDR_BITS, 16>(self.new_port.val()) << 288)
                | (bit_cast::<HDR_BITS, 16>(self.tcp_csum_new.val()) << 320);
        } else if self.action.val() == 2 {
            self.fields.next = (self.l2_hdr.q.val() & self.keep_snat.val())
                | self.macs.val()
                | (bit_cast::<HDR_BITS, 16>(self.ip_csum_new.val()) << 192)
                | (bit_cast::<HDR_BITS, 32>(self.new_addr.val()) << 208)
                | (bit_cast::<HDR_BITS, 16>(self.new_port.val()) << 272)
                | (bit_cast::<HDR_BITS, 32>(self.seq_lane.val()) << 304)
                | (bit_cast::<HDR_BITS, 32>(self.ack_lane.val()) << 336)
                | (bit_cast::<HDR_BITS, 16>(self.tcp_csum_new.val()) << 400);
        } else {
            self.fields.next = (self.l2_hdr.q.val() & self.keep_dnat.val())
                | self.macs.val()
                | (bit_cast::<HDR_BITS, 16>(self.ip_csum_new.val()) << 192)
                | (bit_cast::<HDR_BITS, 32>(self.new_addr.val()) << 240)
                | (bit_cast::<HDR_BITS, 16>(self.new_port.val()) << 288)
                | (bit_cast::<HDR_BITS, 32>(self.seq_lane.val()) << 304)
                | (bit_cast::<HDR_BITS, 32>(self.ack_lane.val()) << 336)
                | (bit_cast::<HDR_BITS, 16>(self.tcp_csum_new.val()) << 400);
        }
        self.m_valid.next = self.l2_valid.q.val();
        self.m_dec.next = self.l2_dec.q.val();
        if self.l2_dec.q.val().get_bit(self.s_rewrite.val().index()) {
            self.m_hdr.next = self.fields.val();
        } else {
            self.m_hdr.next = self.l2_hdr.q.val();
        }
    }
}
