//! Fixed-window counters keyed by address or workspace, bounded in memory.

use std::hash::Hash;
use std::time::{Duration, Instant};

use dashmap::DashMap;

pub struct WindowCounter<K: Eq + Hash> {
    window: Duration,
    max_keys: usize,
    counts: DashMap<K, (Instant, usize)>,
}

impl<K: Eq + Hash + Clone> WindowCounter<K> {
    pub fn new(window: Duration, max_keys: usize) -> Self {
        WindowCounter {
            window,
            max_keys,
            counts: DashMap::new(),
        }
    }

    /// Events counted for `key` in its current window.
    pub fn count(&self, key: &K) -> usize {
        match self.counts.get(key) {
            Some(entry) if entry.0.elapsed() < self.window => entry.1,
            _ => 0,
        }
    }

    /// How long until `key`'s current window ends (zero when it has none).
    pub fn remaining(&self, key: &K) -> Duration {
        match self.counts.get(key) {
            Some(entry) => self.window.saturating_sub(entry.0.elapsed()),
            None => Duration::ZERO,
        }
    }

    pub fn add(&self, key: &K) {
        if self.counts.len() >= self.max_keys {
            self.evict();
        }
        let now = Instant::now();
        let mut entry = self.counts.entry(key.clone()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }

    /// Drops expired windows; if that is not enough, the oldest half.
    fn evict(&self) {
        let window = self.window;
        self.counts.retain(|_, (start, _)| start.elapsed() < window);
        if self.counts.len() >= self.max_keys {
            let mut starts: Vec<Instant> = self.counts.iter().map(|e| e.value().0).collect();
            starts.sort_unstable();
            let cutoff = starts[starts.len() / 2];
            self.counts.retain(|_, (start, _)| *start > cutoff);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_expire_and_memory_stays_bounded() {
        let c = WindowCounter::new(Duration::from_millis(30), 100);
        c.add(&1);
        c.add(&1);
        assert_eq!(c.count(&1), 2);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(c.count(&1), 0);
        for k in 0..10_000 {
            c.add(&k);
        }
        assert!(c.counts.len() <= 100);
    }
}
