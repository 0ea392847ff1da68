//! Deterministic pseudo-random input for the robustness tests (no rand crate needed): every
//! function that takes bytes from a client or a file is fed random and truncated text and must
//! not panic.

/// Xorshift64: tiny, fast, and the same sequence on every run, so a failure reproduces.
#[derive(Debug)]
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
