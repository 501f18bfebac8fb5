//! The simulator's settings for `vsnicd --backend sim` and `vsnic-simd`: the `[sim]` section of the config file
//! merged with the command line (a flag given on the command line wins; attachments given for a
//! port on the command line replace the file's attachments for that port). A port may carry
//! several attachments (they all see what the NIC sends there).
//!
//! ```toml
//! [sim]
//! width = 64              # data-path bits: 64 or 512
//! table_bits = 12         # log2 of the table's buckets: 8, 12 or 16
//! clock_mhz = 156.25
//! attach = ["0=tap:vs0", "1=pcap:in.pcap,out.pcap"]   # PORT=SPEC, as `--port`
//! vcd = { path = "core.vcd", start = 0, cycles = 10000 }   # waveforms (off when absent)
//! ```
//! The daemon itself ignores the section; a SIGHUP reload does not change the simulator.

use std::path::PathBuf;

use serde::Deserialize;
use vsnic_sim::attach::PortAttachment;
use vsnic_sim::vcd::Window;
use vsnic_sim::{SimConfig, VcdTrace};

/// The `[sim]` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimSection {
    pub width: Option<usize>,
    pub table_bits: Option<usize>,
    pub clock_mhz: Option<f64>,
    #[serde(default)]
    pub attach: Vec<String>,
    pub vcd: Option<VcdSection>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VcdSection {
    pub path: PathBuf,
    #[serde(default)]
    pub start: u64,
    #[serde(default = "default_vcd_cycles")]
    pub cycles: u64,
}

fn default_vcd_cycles() -> u64 {
    10_000
}

/// Only the `[sim]` section of a whole config file (everything else is the daemon's).
#[derive(Debug, Default, Deserialize)]
struct FileView {
    #[serde(default)]
    sim: SimSection,
}

impl SimSection {
    /// The `[sim]` section of a config file's text (absent: empty).
    pub fn from_toml(text: &str) -> Result<SimSection, String> {
        toml::from_str::<FileView>(text)
            .map(|v| v.sim)
            .map_err(|e| e.to_string())
    }
}

/// The simulator's command-line flags, shared by `vsnicd` (for its in-process simulator) and
/// `vsnic-simd`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SimFlags {
    /// Simulator: data-path width in bits (64 or 512) [default: 64, or the config's [sim]].
    #[arg(long)]
    pub width: Option<usize>,
    /// Simulator: log2 of the number of table buckets (8, 12 or 16) [default: 12].
    #[arg(long)]
    pub table_bits: Option<usize>,
    /// Simulator: core clock in MHz [default: 156.25].
    #[arg(long)]
    pub clock_mhz: Option<f64>,
    /// Simulator: attach something to NIC port PORT (repeatable): `0=tap:NAME` (a TAP device),
    /// `1=pcap:IN.pcap,OUT.pcap` (replay IN, capture what the NIC sends to OUT; either may be
    /// empty), `1=server:ADDR/PREFIX,gw=GW,port=P,bytes=N` (an in-process TCP server).
    /// Replaces the config's `[sim] attach` for that port.
    #[arg(long = "port", value_name = "PORT=SPEC")]
    pub ports: Vec<PortAttachment>,
    /// Simulator: print live counters (cycles/s, frames, exceptions, drops) to stderr every this
    /// many seconds (0: never).
    #[arg(long, default_value_t = 0)]
    pub stats_every: u64,
}

impl SimFlags {
    /// As [`SimArgs`], with waveforms `vcd` if any.
    pub fn args(&self, vcd: Option<VcdSection>) -> SimArgs {
        SimArgs {
            width: self.width,
            table_bits: self.table_bits,
            clock_mhz: self.clock_mhz,
            ports: self.ports.clone(),
            vcd,
        }
    }
}

/// What the command line said (`None`: not given).
#[derive(Debug, Clone, Default)]
pub struct SimArgs {
    pub width: Option<usize>,
    pub table_bits: Option<usize>,
    pub clock_mhz: Option<f64>,
    pub ports: Vec<PortAttachment>,
    pub vcd: Option<VcdSection>,
}

/// The simulator's configuration and its port attachments, from the file's section and the
/// command line.
pub fn merge(file: &SimSection, cli: &SimArgs) -> Result<(SimConfig, Vec<PortAttachment>), String> {
    let d = SimConfig::default();
    let clock_mhz = cli.clock_mhz.or(file.clock_mhz).unwrap_or(d.clock_hz / 1e6);
    if !(clock_mhz.is_finite() && clock_mhz > 0.0 && clock_mhz <= 10_000.0) {
        return Err(format!("clock {clock_mhz} MHz: must be in (0, 10000]"));
    }
    let vcd = cli.vcd.as_ref().or(file.vcd.as_ref());
    if let Some(v) = vcd {
        if v.cycles == 0 {
            return Err("the VCD window must be at least 1 cycle".into());
        }
    }
    let cfg = SimConfig {
        width: cli.width.or(file.width).unwrap_or(d.width),
        table_bits: cli.table_bits.or(file.table_bits).unwrap_or(d.table_bits),
        clock_hz: clock_mhz * 1e6,
        vcd: vcd.map(|v| VcdTrace {
            path: v.path.clone(),
            window: Window {
                start: v.start,
                cycles: v.cycles,
            },
        }),
    };
    let mut ports: Vec<PortAttachment> = Vec::new();
    for a in &file.attach {
        let a: PortAttachment = a.parse().map_err(|e| format!("[sim] attach: {e}"))?;
        if ports.contains(&a) {
            return Err(format!("[sim] attach: `{}={}` given twice", a.port, a.spec));
        }
        ports.push(a);
    }
    ports.retain(|p| !cli.ports.iter().any(|c| c.port == p.port));
    ports.extend(cli.ports.iter().cloned());
    // stable: a port's attachments keep their order
    ports.sort_by_key(|p| p.port);
    Ok((cfg, ports))
}

/// Start the simulator with `cfg`, open and attach `ports` (each reported on stderr as
/// `<who>: port N: SPEC`) and, with `stats_every` > 0 seconds, print its live counters that
/// often (needs a tokio runtime).
pub fn start_simulator(
    who: &str,
    cfg: &SimConfig,
    ports: &[PortAttachment],
    stats_every: u64,
) -> Result<std::sync::Arc<vsnic_sim::Simulator>, String> {
    let sim = std::sync::Arc::new(vsnic_sim::Simulator::start(cfg)?);
    for a in ports {
        let opened = a
            .spec
            .open(sim.waker())
            .map_err(|e| format!("port {}: {e}", a.port))?;
        sim.attach(a.port, opened.into_attachment())?;
        eprintln!("{who}: port {}: {}", a.port, a.spec);
    }
    if stats_every > 0 {
        let (sim, who) = (sim.clone(), who.to_string());
        let every = std::time::Duration::from_secs(stats_every);
        tokio::spawn(async move {
            let mut meter = vsnic_sim::meter::RateMeter::new();
            meter.sample(sim.stats());
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Some(r) = meter.sample(sim.stats()) {
                    eprintln!("{who}: sim: {r}");
                }
            }
        });
    }
    Ok(sim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_is_read_beside_the_daemon_config() {
        let text = r#"
tick_ms = 1000
[sim]
width = 512
table_bits = 8
attach = ["0=tap:vs0", "1=pcap:in.pcap,out.pcap"]
vcd = { path = "core.vcd", cycles = 500 }

[[ports]]
mac = [2, 94, 0, 0, 0, 1]
addr = "10.0.0.1"
prefix = 24
"#;
        let s = SimSection::from_toml(text).unwrap();
        assert_eq!(s.width, Some(512));
        assert_eq!(s.attach.len(), 2);
        assert_eq!(s.vcd.as_ref().unwrap().start, 0);
        // the daemon's own parse is not disturbed by the section
        let d: crate::DaemonConfig = toml::from_str(text).unwrap();
        assert_eq!(d.ports.len(), 1);
        let (cfg, ports) = merge(&s, &SimArgs::default()).unwrap();
        assert_eq!((cfg.width, cfg.table_bits), (512, 8));
        assert_eq!(cfg.clock_hz, 156.25e6);
        assert_eq!(cfg.vcd.unwrap().window.cycles, 500);
        assert_eq!(ports.iter().map(|p| p.port).collect::<Vec<_>>(), [0, 1]);
    }

    #[test]
    fn no_section_means_defaults() {
        let s = SimSection::from_toml("tick_ms = 5\n").unwrap();
        assert_eq!(s, SimSection::default());
        let (cfg, ports) = merge(&s, &SimArgs::default()).unwrap();
        assert_eq!(cfg.width, SimConfig::default().width);
        assert!(cfg.vcd.is_none() && ports.is_empty());
    }

    #[test]
    fn the_command_line_wins() {
        let s = SimSection {
            width: Some(512),
            clock_mhz: Some(250.0),
            attach: vec!["0=tap:file0".into(), "1=tap:file1".into()],
            ..Default::default()
        };
        let cli = SimArgs {
            width: Some(64),
            ports: vec![
                "1=tap:cli1".parse().unwrap(),
                "1=pcap:,x.pcap".parse().unwrap(),
            ],
            ..Default::default()
        };
        let (cfg, ports) = merge(&s, &cli).unwrap();
        assert_eq!(cfg.width, 64);
        assert_eq!(cfg.clock_hz, 250e6);
        let shown: Vec<String> = ports
            .iter()
            .map(|p| format!("{}={}", p.port, p.spec))
            .collect();
        assert_eq!(shown, ["0=tap:file0", "1=tap:cli1", "1=pcap:,x.pcap"]);
        // several attachments on one port, from the file
        let s = SimSection {
            attach: vec!["1=server:10.1.0.2/24".into(), "1=server:10.1.0.3/24".into()],
            ..Default::default()
        };
        assert_eq!(merge(&s, &SimArgs::default()).unwrap().1.len(), 2);
    }

    #[test]
    fn bad_sections_are_clear_errors() {
        let e = SimSection::from_toml("[sim]\nwidht = 64\n").unwrap_err();
        assert!(e.contains("widht"), "{e}");
        let s = SimSection::from_toml("[sim]\nattach = [\"0=tap:a\", \"0=tap:a\"]\n").unwrap();
        assert!(merge(&s, &SimArgs::default())
            .unwrap_err()
            .contains("given twice"));
        let s = SimSection::from_toml("[sim]\nattach = [\"x=tap:a\"]\n").unwrap();
        assert!(merge(&s, &SimArgs::default())
            .unwrap_err()
            .contains("not a port number"));
        let s = SimSection::from_toml("[sim]\nclock_mhz = -1.0\n").unwrap();
        assert!(merge(&s, &SimArgs::default()).unwrap_err().contains("MHz"));
        let s = SimSection::from_toml("[sim]\nvcd = { path = \"x.vcd\", cycles = 0 }\n").unwrap();
        assert!(merge(&s, &SimArgs::default())
            .unwrap_err()
            .contains("at least 1 cycle"));
    }
}
