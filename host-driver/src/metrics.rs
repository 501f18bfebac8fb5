//! The Prometheus text exposition of the NIC's and the daemon's counters, served over plain
//! HTTP (`GET` anything → the metrics) on the address configured as `metrics_listen`.

use std::fmt::Write;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tracing::debug;
use vsnic_contract::Reason;

use crate::backend::DeviceFigure;
use crate::control::{ControlMsg, Request, Response};
use crate::daemon::DaemonStats;
use crate::driver::NicCounters;
use crate::service::ServiceInfo;

fn metric(o: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, u64)]) {
    let _ = writeln!(o, "# HELP vsnic_{name} {help}");
    let _ = writeln!(o, "# TYPE vsnic_{name} {kind}");
    for (labels, v) in samples {
        if labels.is_empty() {
            let _ = writeln!(o, "vsnic_{name} {v}");
        } else {
            let _ = writeln!(o, "vsnic_{name}{{{labels}}} {v}");
        }
    }
}

fn one(v: u64) -> Vec<(String, u64)> {
    vec![(String::new(), v)]
}

/// Render every counter.
pub fn render(
    nic: Option<&NicCounters>,
    device: &[DeviceFigure],
    d: &DaemonStats,
    services: &[ServiceInfo],
    connections: usize,
    templates: usize,
) -> String {
    let mut o = String::new();
    if let Some(n) = nic {
        for (name, help, v) in [
            (
                "nic_rx_frames_total",
                "Frames entering the NIC core.",
                n.rx_frames,
            ),
            (
                "nic_tx_frames_total",
                "Frames leaving on network ports.",
                n.tx_frames,
            ),
            (
                "nic_fastpath_total",
                "Frames forwarded by a table hit.",
                n.fastpath,
            ),
            (
                "nic_exceptions_total",
                "Frames sent to the host.",
                n.exc_frames,
            ),
            (
                "nic_exception_drops_total",
                "Exceptions dropped, stream not ready.",
                n.exc_drop,
            ),
            (
                "nic_exq_ring_full_drops_total",
                "Exceptions dropped, ring full.",
                n.exq_ring_full_drops,
            ),
            (
                "nic_txq_bad_descriptors_total",
                "TX descriptors skipped.",
                n.txq_bad_desc,
            ),
        ] {
            metric(&mut o, name, "counter", help, &one(v as u64));
        }
        let by_reason: Vec<_> = n
            .exc_reason
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                Reason::from_code(i as u8).map(|r| (format!("reason=\"{}\"", r.name()), *v as u64))
            })
            .collect();
        metric(
            &mut o,
            "nic_exceptions_by_reason_total",
            "counter",
            "Exceptions per reason (NIC).",
            &by_reason,
        );
        let ports = &n.ports[..(n.num_ports as usize).min(n.ports.len())];
        for (name, help, get) in [
            (
                "nic_port_rx_frames_total",
                "Frames received on a network port (NIC).",
                (|p| p.rx) as fn(&crate::driver::NicPortCounters) -> u32,
            ),
            (
                "nic_port_tx_frames_total",
                "Frames sent on a network port (NIC).",
                |p| p.tx,
            ),
            (
                "nic_port_exceptions_total",
                "Exceptions raised by frames received on a port (NIC).",
                |p| p.exc,
            ),
            (
                "nic_port_exception_drops_total",
                "Exceptions of a port dropped, stream not ready (NIC).",
                |p| p.exc_drop,
            ),
        ] {
            let samples: Vec<_> = ports
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("port=\"{i}\""), get(p) as u64))
                .collect();
            if !samples.is_empty() {
                metric(&mut o, name, "counter", help, &samples);
            }
        }
    }
    // The device's own figures, one metric per name (labelled samples grouped).
    let mut i = 0;
    while i < device.len() {
        let f = &device[i];
        let n = device[i..].iter().take_while(|g| g.name == f.name).count();
        let samples: Vec<_> = device[i..i + n]
            .iter()
            .map(|g| (g.labels.clone(), g.value))
            .collect();
        let kind = if f.counter { "counter" } else { "gauge" };
        metric(&mut o, &f.name, kind, &f.help, &samples);
        i += n;
    }
    let by_reason: Vec<_> = d
        .exceptions
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            Reason::from_code(i as u8).map(|r| (format!("reason=\"{}\"", r.name()), *v))
        })
        .collect();
    metric(
        &mut o,
        "daemon_exceptions_total",
        "counter",
        "Exceptions handled by the daemon, per reason.",
        &by_reason,
    );
    for (name, help, v) in [
        (
            "daemon_malformed_total",
            "Exception frames that did not parse.",
            d.malformed,
        ),
        ("daemon_ignored_total", "Exceptions not for us.", d.ignored),
        (
            "daemon_arp_replies_total",
            "ARP replies sent.",
            d.arp_replies_sent,
        ),
        (
            "daemon_arp_requests_total",
            "ARP requests sent.",
            d.arp_requests_sent,
        ),
        (
            "daemon_connections_created_total",
            "Connections installed.",
            d.connections_created,
        ),
        (
            "daemon_connections_expired_total",
            "Connections expired.",
            d.connections_expired,
        ),
        (
            "daemon_table_collisions_total",
            "New connections refused: table bucket taken.",
            d.table_collisions,
        ),
        (
            "daemon_table_full_total",
            "New connections refused: connection table full.",
            d.table_full,
        ),
        (
            "daemon_tunnel_sent_total",
            "Frames sent to tunnelled (IPIP) real servers by the host.",
            d.tunnel_sent,
        ),
        (
            "daemon_tunnel_fragmented_total",
            "Tunnelled packets over the tunnel MTU sent as outer fragments.",
            d.tunnel_fragmented,
        ),
        (
            "daemon_tunnel_frag_needed_total",
            "Tunnelled packets over the tunnel MTU with DF: ICMP fragmentation needed sent.",
            d.tunnel_frag_needed,
        ),
        (
            "daemon_tunnel_no_neighbour_total",
            "Tunnelled packets dropped while the real server's MAC was unknown.",
            d.tunnel_no_neighbour,
        ),
        (
            "daemon_tunnel_errors_total",
            "Tunnelled frames that could not be encapsulated.",
            d.tunnel_errors,
        ),
        (
            "daemon_udp_not_forwarded_total",
            "UDP frames for a VIP dropped (no UDP service, or not rewritable by the NIC).",
            d.udp_not_forwarded,
        ),
        (
            "daemon_udp_parked_replaced_total",
            "UDP datagrams waiting for ARP replaced by a newer one of the same flow.",
            d.udp_parked_replaced,
        ),
        (
            "daemon_syn_retransmits_total",
            "SYNs re-injected for existing connections.",
            d.syn_retransmits,
        ),
        (
            "daemon_connections_reused_total",
            "SYNs that reused an existing connection's addresses: old connection removed.",
            d.connections_reused,
        ),
        (
            "daemon_segments_reinjected_total",
            "Other segments re-injected.",
            d.segments_reinjected,
        ),
        (
            "daemon_syn_no_real_server_total",
            "SYNs without an available real server.",
            d.syn_no_real_server,
        ),
        (
            "daemon_syn_no_route_total",
            "SYNs whose real server is on no port's subnet.",
            d.syn_no_route,
        ),
        (
            "daemon_syn_park_expired_total",
            "Parked SYNs dropped without ARP reply.",
            d.syn_park_expired,
        ),
        (
            "daemon_syn_park_full_total",
            "SYNs dropped, park queue full.",
            d.syn_park_full_drops,
        ),
        (
            "daemon_syn_rate_limited_total",
            "SYNs dropped by the new-connection rate limit.",
            d.syn_rate_limited,
        ),
        (
            "daemon_poll_budget_exhausted_total",
            "Wakeups that stopped at the poll budget with exceptions possibly left in the ring.",
            d.poll_budget_exhausted,
        ),
        (
            "daemon_activity_reads_total",
            "NIC per-entry activity records read.",
            d.activity_reads,
        ),
        (
            "daemon_activity_read_errors_total",
            "NIC activity record or time reads that failed.",
            d.activity_read_errors,
        ),
        (
            "daemon_expiry_saved_by_activity_total",
            "Connections kept at their expiry by traffic the NIC carried.",
            d.expiry_saved_by_activity,
        ),
        (
            "daemon_housekeeping_polls_total",
            "Exception-ring drains made between the tick's activity reads.",
            d.housekeeping_polls,
        ),
        (
            "daemon_templates_created_total",
            "Persistence templates created.",
            d.templates_created,
        ),
        (
            "daemon_templates_expired_total",
            "Persistence templates expired.",
            d.templates_expired,
        ),
        (
            "daemon_state_transitions_total",
            "TCP state changes.",
            d.state_transitions,
        ),
        (
            "daemon_config_reloads_total",
            "Configuration reloads applied.",
            d.config_reloads,
        ),
        (
            "daemon_config_reload_errors_total",
            "Configuration reloads refused.",
            d.config_reload_errors,
        ),
        ("daemon_tx_errors_total", "Transmit failures.", d.tx_errors),
        (
            "daemon_table_write_errors_total",
            "Table write failures.",
            d.table_write_errors,
        ),
    ] {
        metric(&mut o, name, "counter", help, &one(v));
    }
    metric(
        &mut o,
        "connections",
        "gauge",
        "Connections in the table.",
        &one(connections as u64),
    );
    metric(
        &mut o,
        "persistence_templates",
        "gauge",
        "Persistence templates.",
        &one(templates as u64),
    );
    let svc = |f: &dyn Fn(&ServiceInfo) -> u64| -> Vec<(String, u64)> {
        services
            .iter()
            .map(|s| {
                (
                    format!("protocol=\"{}\",vip=\"{}\"", s.proto.label(), s.vip),
                    f(s),
                )
            })
            .collect()
    };
    metric(
        &mut o,
        "service_connections_total",
        "counter",
        "Connections scheduled per service.",
        &svc(&|s| s.stats.conns),
    );
    metric(
        &mut o,
        "service_in_packets_total",
        "counter",
        "Packets client to server per service.",
        &svc(&|s| s.stats.inpkts),
    );
    metric(
        &mut o,
        "service_out_packets_total",
        "counter",
        "Packets server to client per service.",
        &svc(&|s| s.stats.outpkts),
    );
    let real = |f: &dyn Fn(&crate::service::RealServer) -> u64| -> Vec<(String, u64)> {
        services
            .iter()
            .flat_map(|s| {
                s.reals.iter().map(move |r| {
                    (
                        format!(
                            "protocol=\"{}\",vip=\"{}\",real=\"{}\"",
                            s.proto.label(),
                            s.vip,
                            r.addr
                        ),
                        f(r),
                    )
                })
            })
            .collect()
    };
    metric(
        &mut o,
        "real_active_connections",
        "gauge",
        "Active connections per real server.",
        &real(&|r| r.active_conns as u64),
    );
    metric(
        &mut o,
        "real_inactive_connections",
        "gauge",
        "Inactive connections per real server.",
        &real(&|r| r.inactive_conns as u64),
    );
    metric(
        &mut o,
        "real_weight",
        "gauge",
        "Weight per real server.",
        &real(&|r| r.weight as u64),
    );
    metric(
        &mut o,
        "real_connections_total",
        "counter",
        "Connections scheduled per real server.",
        &real(&|r| r.stats.conns),
    );
    o
}

/// Serve the metrics: each HTTP request is answered with the exposition the daemon renders.
pub async fn serve(listener: TcpListener, daemon: mpsc::Sender<ControlMsg>) {
    loop {
        let (mut stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                debug!(error = %e, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let daemon = daemon.clone();
        tokio::spawn(async move {
            // Read the request head (bounded); its content does not matter.
            let mut buf = vec![0u8; 4096];
            let mut got = 0;
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while got < buf.len() {
                    match stream.read(&mut buf[got..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got += n,
                    }
                    if buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            })
            .await;
            if read.is_err() {
                return;
            }
            let (reply, answer) = oneshot::channel();
            if daemon
                .send(ControlMsg {
                    request: Request::Metrics,
                    reply,
                })
                .await
                .is_err()
            {
                return;
            }
            let (status, body) = match answer.await {
                Ok(Response::Metrics { text }) => ("200 OK", text),
                Ok(other) => ("500 Internal Server Error", format!("{other:?}\n")),
                Err(_) => return,
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
            debug!(%peer, "metrics served");
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::NicPortCounters;

    #[test]
    fn nic_port_counters_are_labelled_by_port() {
        let mut nic = NicCounters {
            num_ports: 2,
            ..Default::default()
        };
        nic.ports[1] = NicPortCounters {
            rx: 3,
            tx: 4,
            exc: 5,
            exc_drop: 6,
        };
        nic.ports[2].rx = 9; // not a port of this device
        let out = render(Some(&nic), &[], &DaemonStats::default(), &[], 0, 0);
        for line in [
            "vsnic_nic_port_rx_frames_total{port=\"0\"} 0",
            "vsnic_nic_port_rx_frames_total{port=\"1\"} 3",
            "vsnic_nic_port_tx_frames_total{port=\"1\"} 4",
            "vsnic_nic_port_exceptions_total{port=\"1\"} 5",
            "vsnic_nic_port_exception_drops_total{port=\"1\"} 6",
            "# TYPE vsnic_nic_port_rx_frames_total counter",
        ] {
            assert!(out.lines().any(|l| l == line), "{line}: {out}");
        }
        assert!(!out.contains("port=\"2\""), "{out}");
        // a core without per-port counters exports none
        nic.num_ports = 0;
        let out = render(Some(&nic), &[], &DaemonStats::default(), &[], 0, 0);
        assert!(!out.contains("nic_port_"), "{out}");
    }
}
