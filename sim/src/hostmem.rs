//! Simulated host memory: the buffers the driver allocates for DMA, addressed by the device
//! through IOVAs (as VFIO maps them) and by the host through (buffer id, offset).
//!
//! A device access outside every buffer is a DMA fault: it fails and is counted, as an IOMMU
//! would block it; nothing panics.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmaFault {
    pub iova: u64,
    pub len: usize,
}

impl fmt::Display for DmaFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DMA fault: {} bytes at IOVA {:#x}", self.len, self.iova)
    }
}

impl std::error::Error for DmaFault {}

struct Region {
    iova: u64,
    data: Vec<u8>,
}

/// Host memory visible to the simulated device.
pub struct HostMem {
    regions: Vec<Region>,
    next_iova: u64,
    /// Device accesses that hit no buffer.
    pub faults: u64,
}

impl Default for HostMem {
    fn default() -> Self {
        Self::new()
    }
}

const PAGE: u64 = 4096;

impl HostMem {
    pub fn new() -> HostMem {
        HostMem {
            regions: Vec::new(),
            next_iova: 1 << 32,
            faults: 0,
        }
    }

    /// Allocate `len` zeroed bytes; returns (buffer id, IOVA).
    pub fn alloc(&mut self, len: usize) -> (usize, u64) {
        let iova = self.next_iova;
        self.next_iova += (len as u64).div_ceil(PAGE).max(1) * PAGE;
        self.regions.push(Region {
            iova,
            data: vec![0; len],
        });
        (self.regions.len() - 1, iova)
    }

    /// Free buffer `id` (as the IOMMU unmaps a closed VFIO container's buffers): device
    /// accesses to it fault from now on, host accesses fail. Ids are not reused.
    pub fn free(&mut self, id: usize) -> bool {
        match self.regions.get_mut(id) {
            Some(r) if !r.data.is_empty() => {
                r.data = Vec::new();
                true
            }
            _ => false,
        }
    }

    fn find(&self, iova: u64, len: usize) -> Option<(usize, usize)> {
        self.regions.iter().enumerate().find_map(|(i, r)| {
            let off = iova.checked_sub(r.iova)? as usize;
            (off.checked_add(len)? <= r.data.len()).then_some((i, off))
        })
    }

    /// Device read at an IOVA.
    pub fn dma_read(&mut self, iova: u64, out: &mut [u8]) -> Result<(), DmaFault> {
        match self.find(iova, out.len()) {
            Some((i, off)) => {
                out.copy_from_slice(&self.regions[i].data[off..off + out.len()]);
                Ok(())
            }
            None => {
                self.faults += 1;
                Err(DmaFault {
                    iova,
                    len: out.len(),
                })
            }
        }
    }

    /// Device write at an IOVA.
    pub fn dma_write(&mut self, iova: u64, data: &[u8]) -> Result<(), DmaFault> {
        match self.find(iova, data.len()) {
            Some((i, off)) => {
                self.regions[i].data[off..off + data.len()].copy_from_slice(data);
                Ok(())
            }
            None => {
                self.faults += 1;
                Err(DmaFault {
                    iova,
                    len: data.len(),
                })
            }
        }
    }

    /// Host access to buffer `id`; `None` if out of bounds.
    pub fn host_read(&self, id: usize, off: usize, out: &mut [u8]) -> Option<()> {
        let r = self.regions.get(id)?;
        out.copy_from_slice(r.data.get(off..off.checked_add(out.len())?)?);
        Some(())
    }

    pub fn host_write(&mut self, id: usize, off: usize, data: &[u8]) -> Option<()> {
        let r = self.regions.get_mut(id)?;
        r.data
            .get_mut(off..off.checked_add(data.len())?)?
            .copy_from_slice(data);
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iova_and_host_views_agree_and_faults_are_counted() {
        let mut m = HostMem::new();
        let (a, ia) = m.alloc(100);
        let (b, ib) = m.alloc(5000);
        assert!(ib >= ia + 4096);
        m.host_write(b, 4990, &[1, 2, 3]).unwrap();
        let mut out = [0u8; 3];
        m.dma_read(ib + 4990, &mut out).unwrap();
        assert_eq!(out, [1, 2, 3]);
        assert!(m.dma_read(ib + 4999, &mut out).is_err());
        assert!(m.dma_write(ia + 100, &[0]).is_err());
        assert_eq!(m.faults, 2);
        assert!(m.host_write(a, 99, &[1, 2]).is_none());
        assert!(m.host_read(7, 0, &mut out).is_none());
        // a freed buffer is gone for both sides
        assert!(m.free(b));
        assert!(m.dma_read(ib, &mut out).is_err());
        assert!(m.host_read(b, 0, &mut out).is_none());
        assert!(!m.free(b), "freed once");
    }
}
