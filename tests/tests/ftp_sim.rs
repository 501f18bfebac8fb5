//! FTP through the load balancer on the simulated NIC: an in-process FTP client and server
//! (smoltcp) download a file in passive mode (PASV, the 227 reply rewritten to the VIP) and in
//! active mode (PORT, the real server connects back from port 20), through the daemon's FTP
//! helper. The rewrite changes the control stream's length, so the NIC's seq/ack fixup carries
//! the rest of the control connection.

use vsnic_contract::Reason;
use vsnic_host::ftpdemo::{self, ClientStatus, FtpDemoConfig, Mode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftp_passive_and_active_through_the_simulated_nic() {
    let r = ftpdemo::run(FtpDemoConfig::default())
        .await
        .expect("scenario runs");
    ftpdemo::print(&r);
    assert_eq!(r.sessions.len(), 2);
    for s in &r.sessions {
        assert_eq!(
            s.status,
            ClientStatus::Done,
            "{:?}: {:?}",
            s.mode,
            s.replies
        );
        assert!(
            s.received_ok,
            "{:?}: {} bytes, wrong",
            s.mode, s.received_len
        );
    }
    assert_eq!(r.server_transfers, 2);
    // The 227: the server named itself, the client got the VIP (same port).
    let pasv = &r.sessions[0];
    assert_eq!(pasv.mode, Mode::Passive);
    let sent = r
        .server_replies
        .iter()
        .find(|l| l.starts_with("227 "))
        .expect("server sent a 227");
    assert_eq!(sent, "227 Entering Passive Mode (10,1,0,2,195,80).");
    let got = pasv
        .replies
        .iter()
        .find(|l| l.starts_with("227 "))
        .expect("client got a 227");
    assert_eq!(got, "227 Entering Passive Mode (10,0,0,100,195,80).");
    assert_eq!(pasv.pasv_addr, Some("10.0.0.100:50000".parse().unwrap()));
    assert_eq!(r.rewrite_delta, 2);
    // The helper and the NIC.
    let d = &r.daemon;
    assert_eq!(d.app_bound, 2, "both control connections bound");
    assert_eq!(d.app_rewrites, 1);
    assert_eq!(d.app_delta_updates, 1);
    assert_eq!(d.data_expected_passive, 1);
    assert_eq!(d.data_expected_active, 1);
    assert_eq!(d.data_connections, 2);
    assert_eq!(d.app_errors, 0);
    // Pure ACKs after the rewrite stayed on the fast path with their ack fixed by the NIC.
    assert!(r.fixed_pure_acks > 0, "no fixed pure ACK of the 227 seen");
    assert_eq!(r.unfixed_pure_acks, 0);
    let n = &r.nic;
    for reason in [Reason::SeqHistory, Reason::AckOptions, Reason::Miss] {
        assert_eq!(n.exc_reason[reason as usize], 0, "{}", reason.name());
    }
    assert_eq!(d.app_host_fixed, 0);
    // Only payload segments of the control connections reached the host through AppPayload.
    assert_eq!(
        n.exc_reason[Reason::AppPayload as usize] as u64,
        d.app_segments
    );
    assert!(d.app_frames_sent <= d.app_segments);
    assert!(n.fastpath > 0);
    assert_eq!(n.exc_drop, 0);
    assert_eq!(r.wire_bad_checksums, 0);
}
