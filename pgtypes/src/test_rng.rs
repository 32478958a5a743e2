//! A small deterministic generator for tests (no test depends on a seed from the clock).
//! The bulk cross-checks against PostgreSQL (`encode/tests.rs`) pin hashes of outputs
//! drawn from it: changing it changes their inputs.

pub(crate) struct Lcg(pub(crate) u64);

impl Lcg {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let x = self.0;
        (x ^ (x >> 29)).wrapping_mul(0xbf58476d1ce4e5b9) ^ (x >> 32)
    }
}
