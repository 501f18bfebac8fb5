//! New-connection admission: a token bucket in front of the daemon's scheduling of a SYN.
//!
//! A SYN flood reaches the host as exceptions at whatever rate the NIC's exception queue
//! delivers. Each SYN the daemon admits costs a scheduling decision, two NIC table writes and a
//! re-injection; each one it refuses costs a parse and a counter. The bucket holds at most
//! `burst` tokens and gains `rate` per second; a new connection takes one, and without one it is
//! refused (the daemon drops the SYN and counts it in `syn_rate_limited`). Connections already
//! installed never pass here: their packets are forwarded by the NIC.
//!
//! The clock is the caller's ([`tokio::time::Instant`] in the daemon), so tests drive it with
//! tokio's paused clock. Arithmetic is in integer nano-tokens: no drift, no floating point.

use std::time::Duration;

use tokio::time::Instant;

const NANO: u128 = 1_000_000_000;

/// A token bucket admitting `rate` events per second with bursts of up to `burst`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    /// Tokens per second; 0 means unlimited.
    rate: u32,
    /// Capacity in tokens (at least 1 when limited).
    burst: u32,
    /// Tokens held, in 10^-9 tokens.
    nanotokens: u128,
    /// When `nanotokens` was last brought up to date (`None`: never used, the bucket is full).
    last: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket. `rate` 0: unlimited (every event admitted). A `burst` of 0 with a
    /// non-zero rate is taken as 1 (a bucket must hold a token to admit anything).
    pub fn new(rate: u32, burst: u32) -> TokenBucket {
        let burst = burst.max(1);
        TokenBucket {
            rate,
            burst,
            nanotokens: burst as u128 * NANO,
            last: None,
        }
    }

    /// Tokens per second (0: unlimited).
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Capacity in tokens.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Change the rate and burst, keeping the tokens held (capped at the new burst).
    pub fn reconfigure(&mut self, rate: u32, burst: u32) {
        let burst = burst.max(1);
        self.rate = rate;
        self.burst = burst;
        self.nanotokens = self.nanotokens.min(burst as u128 * NANO);
    }

    fn refill(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let elapsed = now.saturating_duration_since(last);
            let gained = elapsed.as_nanos().saturating_mul(self.rate as u128);
            self.nanotokens = self
                .nanotokens
                .saturating_add(gained)
                .min(self.burst as u128 * NANO);
        }
        // a clock that goes backwards gains nothing, and the next refill starts from here
        if self.last.is_none_or(|l| now > l) {
            self.last = Some(now);
        }
    }

    /// Whether an event at `now` is admitted (taking a token if so).
    pub fn admit(&mut self, now: Instant) -> bool {
        if self.rate == 0 {
            return true;
        }
        self.refill(now);
        if self.nanotokens >= NANO {
            self.nanotokens -= NANO;
            true
        } else {
            false
        }
    }

    /// Whole tokens available at `now` (without taking any).
    pub fn available(&mut self, now: Instant) -> u64 {
        if self.rate == 0 {
            return u64::MAX;
        }
        self.refill(now);
        (self.nanotokens / NANO) as u64
    }

    /// How long from `now` until a token is available (zero if one is).
    pub fn wait(&mut self, now: Instant) -> Duration {
        if self.rate == 0 {
            return Duration::ZERO;
        }
        self.refill(now);
        let missing = NANO.saturating_sub(self.nanotokens);
        let ns = missing.div_ceil(self.rate as u128);
        Duration::from_nanos(ns.min(u64::MAX as u128) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(b: &mut TokenBucket, n: usize) -> usize {
        (0..n).filter(|_| b.admit(Instant::now())).count()
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_then_the_rate() {
        let mut b = TokenBucket::new(1000, 100);
        // a full bucket: the burst passes at once, then nothing while the clock stands still
        assert_eq!(admitted(&mut b, 250), 100);
        assert_eq!(b.available(Instant::now()), 0);
        // 1000/s: one token per millisecond
        assert_eq!(b.wait(Instant::now()), Duration::from_millis(1));
        tokio::time::advance(Duration::from_micros(999)).await;
        assert!(!b.admit(Instant::now()), "999 µs is not a whole token");
        tokio::time::advance(Duration::from_micros(1)).await;
        assert!(b.admit(Instant::now()));
        assert!(!b.admit(Instant::now()));
        // 50 ms: 50 tokens
        tokio::time::advance(Duration::from_millis(50)).await;
        assert_eq!(admitted(&mut b, 80), 50);
        // one second at a steady 2000 offered per second: 1000 admitted, none lost to rounding
        let mut ok = 0;
        for _ in 0..2000 {
            tokio::time::advance(Duration::from_micros(500)).await;
            ok += admitted(&mut b, 1);
        }
        assert_eq!(ok, 1000);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_bucket_fills_to_its_burst_only() {
        let mut b = TokenBucket::new(10, 5);
        assert_eq!(admitted(&mut b, 5), 5);
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(b.available(Instant::now()), 5);
        assert_eq!(admitted(&mut b, 100), 5);
        // fractional rates accumulate: 10/s is one token per 100 ms, reached in 7 steps of 15 ms
        for _ in 0..6 {
            tokio::time::advance(Duration::from_millis(15)).await;
            assert!(!b.admit(Instant::now()));
        }
        tokio::time::advance(Duration::from_millis(15)).await;
        assert!(b.admit(Instant::now()), "105 ms hold one token");
        assert!(!b.admit(Instant::now()));
    }

    #[tokio::test(start_paused = true)]
    async fn unlimited_zero_burst_and_reconfiguration() {
        let mut b = TokenBucket::new(0, 0);
        assert_eq!(admitted(&mut b, 100_000), 100_000, "rate 0: unlimited");
        assert_eq!(b.wait(Instant::now()), Duration::ZERO);
        // a limited bucket without a burst still admits one at a time
        let mut b = TokenBucket::new(1, 0);
        assert_eq!(b.burst(), 1);
        assert_eq!(admitted(&mut b, 3), 1);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(admitted(&mut b, 3), 1);
        // shrinking the burst drops the tokens above it; growing it adds none at once
        let mut b = TokenBucket::new(100, 50);
        b.reconfigure(100, 10);
        assert_eq!(b.available(Instant::now()), 10);
        b.reconfigure(100, 1000);
        assert_eq!(admitted(&mut b, 1000), 10);
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(admitted(&mut b, 1000), 10);
        b.reconfigure(0, 1);
        assert_eq!(admitted(&mut b, 1000), 1000);
        assert_eq!(b.rate(), 0);
    }

    #[test]
    fn extreme_settings_do_not_overflow() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(u32::MAX, u32::MAX);
        assert!(b.admit(t0));
        // a clock read far in the future, then one in the past
        let later = t0 + Duration::from_secs(100 * 365 * 24 * 3600);
        assert_eq!(b.available(later), u32::MAX as u64);
        assert!(b.admit(t0));
        assert!(b.admit(later));
        assert_eq!(b.wait(later), Duration::ZERO);
    }
}
