//! Giving freed heap pages back to the system.
//!
//! The exporter's data turns over all the time: an account whose bots
//! changed gets a new snapshot and new rendered pieces (one whose bots did
//! not, only its few account samples), one account at a time, while scrapes
//! allocate and free their own short-lived buffers in between. glibc's
//! allocator keeps the pages such interleaving frees (it only returns memory
//! at the top of a heap), so the resident set grew during the first refresh
//! of 100,000 bots while the memory in use stayed flat (measured with
//! `mallinfo2`: the growth was free space inside the heaps). `malloc_trim`
//! hands back the pages that are wholly free; partly used ones stay. The
//! rest is done by allocating less that lives long: see [`crate::collect::BotList`] and
//! [`crate::expose::AccountsRenderer`], and the README's Performance section for the figures.
//!
//! It runs on its own thread, at most every [`INTERVAL`] and only after data
//! was replaced ([`note_freed`]), so an idle exporter never walks its heap.
//! Other allocators (musl's) return memory on their own: there it does
//! nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often freed memory is handed back, at most.
pub const INTERVAL: Duration = Duration::from_secs(10);

static FREED: AtomicBool = AtomicBool::new(false);

/// Records that a sizeable amount of long-lived data (snapshots, rendered
/// pieces) was freed.
pub fn note_freed() {
    FREED.store(true, Ordering::Relaxed);
}

/// Allocations at least this large are mapped on their own and unmapped
/// when freed (glibc's `M_MMAP_THRESHOLD`).
pub const MMAP_THRESHOLD: usize = 128 * 1024;

/// Starts the trimming thread (once per process), and fixes glibc's mmap
/// threshold: by default it rises to the size of every large block freed,
/// after which large short-lived buffers (a scrape's list of chunks, the
/// account views of a render) come from the heap, and the small long-lived
/// allocations made meanwhile pin the pages they leave.
pub fn start_trimming() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        fix_mmap_threshold();
        let spawned = std::thread::Builder::new()
            .name("memory-trim".into())
            .spawn(|| loop {
                std::thread::sleep(INTERVAL);
                if FREED.swap(false, Ordering::Relaxed) {
                    trim();
                }
            });
        if let Err(err) = spawned {
            tracing::warn!(error = %err, "could not start the memory trimming thread");
        }
    });
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    let started = std::time::Instant::now();
    // SAFETY: malloc_trim takes no pointers and may be called from any
    // thread at any time; it only releases free memory.
    let released = unsafe { libc::malloc_trim(0) };
    tracing::debug!(
        released = released != 0,
        elapsed_us = started.elapsed().as_micros() as u64,
        "returned free heap pages to the system"
    );
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn fix_mmap_threshold() {
    let threshold = libc::c_int::try_from(MMAP_THRESHOLD).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt only changes allocator parameters; called once, before
    // the server starts.
    if unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, threshold) } != 1 {
        tracing::debug!("could not set the malloc mmap threshold");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn fix_mmap_threshold() {}
