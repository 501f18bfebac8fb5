//! Reading the tools' reports: nextpnr's JSON report (`--report`) and yosys's `stat`.
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClockFmax {
    pub clock: String,
    pub achieved_mhz: f64,
    pub constraint_mhz: f64,
}

impl ClockFmax {
    pub fn met(&self) -> bool {
        self.achieved_mhz >= self.constraint_mhz
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Use {
    pub resource: String,
    pub used: u64,
    pub available: u64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PnrReport {
    pub fmax: Vec<ClockFmax>,
    pub utilisation: Vec<Use>,
}

impl PnrReport {
    pub fn timing_met(&self) -> bool {
        !self.fmax.is_empty() && self.fmax.iter().all(ClockFmax::met)
    }
    pub fn used(&self, resource: &str) -> Option<&Use> {
        self.utilisation.iter().find(|u| u.resource == resource)
    }
}

/// Parse nextpnr's `--report` JSON: `{"utilization": {RES: {"used", "available"}},
/// "fmax": {CLOCK: {"achieved", "constraint"}}, ...}` (MHz).
pub fn parse_nextpnr(text: &str) -> Result<PnrReport, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("report is not JSON: {e}"))?;
    let num = |x: &Value, k: &str| -> Result<f64, String> {
        x.get(k)
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("report field `{k}` missing or not a number"))
    };
    let fmax_obj = v
        .get("fmax")
        .and_then(Value::as_object)
        .ok_or("report has no `fmax` object")?;
    let mut fmax = Vec::new();
    for (clock, f) in fmax_obj {
        fmax.push(ClockFmax {
            clock: clock.clone(),
            achieved_mhz: num(f, "achieved")?,
            constraint_mhz: num(f, "constraint")?,
        });
    }
    let util_obj = v
        .get("utilization")
        .and_then(Value::as_object)
        .ok_or("report has no `utilization` object")?;
    let mut utilisation = Vec::new();
    for (resource, u) in util_obj {
        utilisation.push(Use {
            resource: resource.clone(),
            used: num(u, "used")? as u64,
            available: num(u, "available")? as u64,
        });
    }
    Ok(PnrReport { fmax, utilisation })
}

/// Cell counts from yosys `stat` output (the last count seen for each cell type wins, which for
/// a flattened design is the top module's).
pub fn parse_yosys_stat(text: &str) -> Vec<(String, u64)> {
    let mut cells: Vec<(String, u64)> = Vec::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some(n), Some(name), None) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else { continue };
        let first = name.chars().next().unwrap_or(' ');
        if !(first.is_ascii_uppercase() || first == '$') || name == "$scopeinfo" {
            continue; // "cells", "wires", ...; $scopeinfo marks flattened scopes, not logic
        }
        match cells.iter_mut().find(|(c, _)| c == name) {
            Some(e) => e.1 = n,
            None => cells.push((name.to_string(), n)),
        }
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nextpnr_report() {
        let r = parse_nextpnr(
            r#"{"utilization": {"TRELLIS_COMB": {"available": 43848, "used": 9000},
                                "DP16KD": {"available": 108, "used": 58}},
                "fmax": {"$glbnet$clk": {"achieved": 72.5, "constraint": 100.0}},
                "critical_paths": []}"#,
        )
        .unwrap();
        assert_eq!(r.used("DP16KD").unwrap().used, 58);
        assert_eq!(r.fmax[0].achieved_mhz, 72.5);
        assert!(!r.timing_met());
        assert!(parse_nextpnr("{}").is_err());
    }

    #[test]
    fn yosys_stat() {
        let s = "   Number of cells:   100\n     58   DP16KD\n    4718   LUT4\n  100 cells\n";
        assert_eq!(
            parse_yosys_stat(s),
            vec![("DP16KD".to_string(), 58), ("LUT4".to_string(), 4718)]
        );
    }
}
