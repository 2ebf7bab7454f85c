//! CPU time of the engine's threads, so a summary can tell conversion work from waiting.
//!
//! The engine runs on a few dedicated threads (the decoder, the encoder and its helpers). Each
//! of them enters a [`CpuMeter`] for as long as it works for a run; leaving adds the thread's
//! CPU time over that span to the run's counter. The thread's CPU clock is read from
//! `/proc/thread-self/schedstat` (nanoseconds; `unsafe` is forbidden here, so no
//! `clock_gettime`); where that file does not exist, nothing is counted and the summary says
//! the figure is unknown.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A run's engine CPU time, in nanoseconds, summed over its threads. Cheap to clone.
#[derive(Clone, Debug)]
pub struct CpuMeter {
    nanos: Arc<AtomicU64>,
    /// False once a thread could not read its CPU clock: the total is then unknown.
    known: Arc<std::sync::atomic::AtomicBool>,
}

thread_local! {
    /// The meter the current thread works for, so the threads it starts can count there too.
    static CURRENT: RefCell<Option<CpuMeter>> = const { RefCell::new(None) };
}

impl Default for CpuMeter {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuMeter {
    /// A meter at zero.
    pub fn new() -> Self {
        CpuMeter {
            nanos: Arc::new(AtomicU64::new(0)),
            known: Arc::new(std::sync::atomic::AtomicBool::new(true)),
        }
    }

    /// Counts the current thread's CPU time from now until the guard is dropped (and makes
    /// this the meter [`CpuMeter::current`] returns on this thread meanwhile).
    pub fn enter(&self) -> CpuGuard {
        let previous = CURRENT.with(|c| c.replace(Some(self.clone())));
        CpuGuard {
            meter: self.clone(),
            start: thread_cpu_time(),
            previous,
        }
    }

    /// The meter the current thread counts for, if any: a thread started from an engine thread
    /// enters it to count there too.
    pub fn current() -> Option<CpuMeter> {
        CURRENT.with(|c| c.borrow().clone())
    }

    /// The CPU time counted so far; `None` when a thread's clock could not be read.
    pub fn total(&self) -> Option<Duration> {
        self.known
            .load(Ordering::Relaxed)
            .then(|| Duration::from_nanos(self.nanos.load(Ordering::Relaxed)))
    }
}

/// See [`CpuMeter::enter`].
#[derive(Debug)]
pub struct CpuGuard {
    meter: CpuMeter,
    start: Option<Duration>,
    previous: Option<CpuMeter>,
}

impl Drop for CpuGuard {
    fn drop(&mut self) {
        match (self.start, thread_cpu_time()) {
            (Some(start), Some(end)) => {
                let spent = end.saturating_sub(start).as_nanos() as u64;
                self.meter.nanos.fetch_add(spent, Ordering::Relaxed);
            }
            _ => self.meter.known.store(false, Ordering::Relaxed),
        }
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// Enters `meter` when there is one (for a thread started by an engine thread).
pub fn enter_optional(meter: Option<&CpuMeter>) -> Option<CpuGuard> {
    meter.map(CpuMeter::enter)
}

/// The CPU time the current thread has used, when the platform tells it.
pub fn thread_cpu_time() -> Option<Duration> {
    // First field of schedstat: time spent on the CPU, in nanoseconds.
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_thread_counts_its_cpu_time_and_its_children_inherit_the_meter() {
        let meter = CpuMeter::new();
        {
            let _g = meter.enter();
            assert!(CpuMeter::current().is_some());
            let inherited = CpuMeter::current();
            std::thread::spawn(move || {
                let _g = enter_optional(inherited.as_ref());
                let mut x = 0u64;
                for i in 0..2_000_000u64 {
                    x = x.wrapping_mul(31).wrapping_add(i);
                }
                std::hint::black_box(x);
            })
            .join()
            .unwrap();
        }
        assert!(CpuMeter::current().is_none());
        if thread_cpu_time().is_some() {
            assert!(meter.total().unwrap() > Duration::ZERO);
        } else {
            assert_eq!(meter.total(), None);
        }
    }
}
