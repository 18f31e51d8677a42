//! One policy engine per core: detection, the gate and verification evaluate Rego on
//! whichever engine is free, so concurrent work is not serialised behind one lock.

use custos_policy::{Evaluator, PolicyBundle};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, TryLockError};

#[derive(Debug)]
pub(crate) struct Evaluators {
    pool: Vec<Mutex<Evaluator>>,
    next: AtomicUsize,
}

/// The policy engine could not be used (a panic while evaluating poisoned it).
pub(crate) const POISONED: &str = "policy evaluator lock poisoned";

impl Evaluators {
    /// As many engines as the machine has cores (at least one).
    pub(crate) fn new(bundle: &PolicyBundle) -> Self {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        Evaluators {
            pool: (0..n).map(|_| Mutex::new(bundle.evaluator())).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// Run `f` on a free engine; when all are busy, wait for one (round robin).
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Evaluator) -> T) -> Result<T, String> {
        let n = self.pool.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            match self.pool[(start + i) % n].try_lock() {
                Ok(mut ev) => return Ok(f(&mut ev)),
                Err(TryLockError::WouldBlock) => continue,
                Err(TryLockError::Poisoned(_)) => return Err(POISONED.into()),
            }
        }
        let mut ev = self.pool[start % n]
            .lock()
            .map_err(|_| POISONED.to_string())?;
        Ok(f(&mut ev))
    }
}
