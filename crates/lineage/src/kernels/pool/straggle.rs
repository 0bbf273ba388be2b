//! When to leave the workers out: another process sharing a core.
//!
//! With a busy loop on one of two cores, three threads want two cores. The scheduler
//! then takes the caller off its core for whole time slices, or a worker in the middle
//! of a task (and the join waits for it), and a spinning worker takes the caller's
//! share of a core. Every fork-join pays for it: without this, 2-thread SmolLM2 decode
//! fell to 31 tok/s against 113 on 1 thread. Running the jobs on the caller alone, with
//! the workers asleep, gives the caller a core of its own again.
//!
//! The sign is the caller's time lost while it runs parallel jobs, over a window of
//! [`WINDOW`]: its time off the CPU while it could run (wall time less its thread CPU
//! time, less the time it chose to sleep in joins), plus the joins that waited for a
//! late worker (longer than twice the caller's own share and over 0.1 ms; an unlucky
//! split of the tasks costs less than that). On an idle machine it is a few percent;
//! with a core shared it is a third of the window or more. When it is over [`OFF_CPU`]
//! of the window, the next jobs run solo, then the workers are tried for another
//! window. A retry that loses time again makes the next solo stretch four times longer
//! (up to [`SOLO_MAX`] jobs; a short benchmark would spend its time on retries
//! otherwise); one that does not resets it.

use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// Solo stretches, in jobs: ~4 SmolLM2 tokens at first, ~4 s at most.
const SOLO_MIN: usize = 512;
const SOLO_MAX: usize = 65536;
/// The window over which the caller's time off the CPU is weighed: several scheduler
/// time slices.
const WINDOW: Duration = Duration::from_millis(20);
/// The fraction of a window lost that means a shared core.
const OFF_CPU: f64 = 0.2;
/// A pause between parallel jobs longer than this (the caller waiting for a request,
/// say) starts a new window: a thread that sleeps of its own accord is not contended.
const GAP: Duration = Duration::from_millis(2);

/// A window of parallel jobs on one thread.
struct Window {
    thread: ThreadId,
    start: Instant,
    /// The thread's CPU time at `start`.
    cpu: Duration,
    /// When the last parallel job ended.
    last: Instant,
    /// Time asleep in joins, and time in joins that waited for a late worker.
    slept: Duration,
    late: Duration,
}

impl Window {
    fn new(thread: ThreadId, at: Instant, cpu: Duration) -> Self {
        Self {
            thread,
            start: at,
            cpu,
            last: at,
            slept: Duration::ZERO,
            late: Duration::ZERO,
        }
    }
}

#[derive(Default)]
pub(super) struct Straggle {
    window: Option<Window>,
    /// Jobs left to run on the caller alone.
    solo: usize,
    /// Whether the current window is the retry after a solo stretch.
    probing: bool,
    /// Length of the last solo stretch (0 = none since the workers were trusted).
    backoff: usize,
}

impl Straggle {
    /// Whether this job should skip the workers (and counts it down).
    pub(super) fn solo(&mut self) -> bool {
        if self.solo == 0 {
            return false;
        }
        self.solo -= 1;
        self.window = None;
        true
    }

    /// Records a parallel job on the calling thread: it began at `start`, the caller ran
    /// out of tasks at `drained`, the join ended at `end` and slept `slept` of it.
    pub(super) fn note(&mut self, start: Instant, drained: Instant, end: Instant, slept: Duration) {
        if !enabled() {
            return;
        }
        let thread = std::thread::current().id();
        let w = match &mut self.window {
            Some(w) if w.thread == thread && start.duration_since(w.last) <= GAP => w,
            _ => {
                self.window = thread_cpu().map(|cpu| Window::new(thread, end, cpu));
                return;
            }
        };
        let (own, wait) = (drained.duration_since(start), end.duration_since(drained));
        if wait > (2 * own).max(Duration::from_micros(100)) {
            w.late += wait;
        }
        w.slept += slept;
        w.last = end;
        let wall = end.duration_since(w.start);
        if wall < WINDOW {
            return;
        }
        let Some(cpu) = thread_cpu() else {
            self.window = None;
            return;
        };
        let lost = lost_fraction(wall, cpu.saturating_sub(w.cpu), w.slept, w.late);
        self.window = Some(Window::new(thread, end, cpu));
        self.weigh(lost > OFF_CPU);
    }

    /// Acts on a finished window: `contended` when the caller was off the CPU too long.
    fn weigh(&mut self, contended: bool) {
        let probing = std::mem::take(&mut self.probing);
        if !contended {
            self.backoff = 0;
            return;
        }
        self.backoff = if probing && self.backoff > 0 {
            (self.backoff * 4).min(SOLO_MAX)
        } else {
            SOLO_MIN
        };
        self.solo = self.backoff;
        self.probing = true;
    }
}

/// The part of a window of `wall` lost: the time the caller was off the CPU though it
/// could run (not in its `cpu` time, nor asleep in joins by choice), plus the joins that
/// waited for a `late` worker.
fn lost_fraction(wall: Duration, cpu: Duration, slept: Duration, late: Duration) -> f64 {
    let off = wall.saturating_sub(cpu + slept);
    (off + late).as_secs_f64() / wall.as_secs_f64().max(1e-9)
}

/// Whether contention is watched at all (`LINEAGE_POOL_SOLO=0` turns it off).
fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("LINEAGE_POOL_SOLO").as_deref() != Ok("0"))
}

/// The calling thread's CPU time, where the OS reports it.
#[cfg(unix)]
fn thread_cpu() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

#[cfg(not(unix))]
fn thread_cpu() -> Option<Duration> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contended_windows_send_jobs_solo_and_repeats_back_off() {
        let mut s = Straggle::default();
        s.weigh(false);
        assert!(!s.solo(), "an uncontended window keeps the workers");
        s.weigh(true);
        assert_eq!(s.solo, SOLO_MIN);
        (0..SOLO_MIN).for_each(|_| assert!(s.solo()));
        assert!(!s.solo());
        // The retry is contended again: a four times longer stretch.
        s.weigh(true);
        assert_eq!(s.solo, 4 * SOLO_MIN);
        s.solo = 0;
        // A clean retry resets the stretch.
        s.weigh(false);
        assert_eq!(s.backoff, 0);
        s.weigh(true);
        assert_eq!(s.solo, SOLO_MIN);
    }

    /// Busy on the CPU for `d`.
    fn spin(d: Duration) {
        let t = Instant::now();
        while t.elapsed() < d {
            std::hint::spin_loop();
        }
    }

    /// Runs `job` (which calls `note`) for three windows or until the jobs go solo;
    /// whether they did.
    fn went_solo(job: impl Fn(&mut Straggle)) -> bool {
        let mut s = Straggle::default();
        let until = Instant::now() + 3 * WINDOW;
        while Instant::now() < until && s.solo == 0 {
            job(&mut s);
        }
        s.solo()
    }

    /// A thread that sleeps between jobs of its own accord is not taken for a
    /// contended one; one that sleeps inside its jobs (off the CPU, as when the
    /// scheduler takes it off) is.
    #[test]
    fn time_off_the_cpu_inside_jobs_counts_and_pauses_between_them_do_not() {
        let paused = went_solo(|s| {
            let t0 = Instant::now();
            spin(Duration::from_micros(300));
            let t = Instant::now();
            s.note(t0, t, t, Duration::ZERO);
            std::thread::sleep(GAP + Duration::from_millis(1));
        });
        assert!(!paused, "sleeping between jobs was taken for contention");
        let off = went_solo(|s| {
            let t0 = Instant::now();
            spin(Duration::from_micros(300));
            std::thread::sleep(Duration::from_millis(1));
            let t = Instant::now();
            s.note(t0, t, t, Duration::ZERO);
        });
        assert!(
            thread_cpu().is_none() || off,
            "time off the CPU went unseen"
        );
    }

    /// A join that sleeps while a worker finishes its share of a long job is not
    /// contention; joins that wait for a late worker are, on the CPU or not. (The first
    /// half on the window's arithmetic: on a loaded test machine the scheduler may well
    /// take this thread off its core, which is contention.)
    #[test]
    fn joins_count_only_when_a_worker_is_late() {
        let ms = Duration::from_millis;
        assert_eq!(
            lost_fraction(ms(20), ms(15), ms(5), ms(0)),
            0.0,
            "sleep by choice"
        );
        assert_eq!(
            lost_fraction(ms(20), ms(15), ms(0), ms(0)),
            0.25,
            "off the CPU"
        );
        assert_eq!(
            lost_fraction(ms(20), ms(20), ms(0), ms(5)),
            0.25,
            "late, spinning"
        );
        let late = went_solo(|s| {
            let t0 = Instant::now();
            spin(Duration::from_micros(100));
            let drained = Instant::now();
            spin(Duration::from_millis(1));
            s.note(t0, drained, Instant::now(), Duration::ZERO);
        });
        assert!(
            thread_cpu().is_none() || late,
            "joins waiting for a late worker went unseen"
        );
    }
}
