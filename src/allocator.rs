//! The exporter's memory allocator: jemalloc, set up for a small resident set.
//!
//! Why not glibc malloc: a collection allocates many short-lived answers (task results, detail
//! pages, connection buffers) between long-lived ones (caches, rendered snapshots). glibc keeps
//! the holes: at 2,000 certificates its heap held 3 MB in use in 9 MB resident, and
//! `malloc_trim` could give back little of it (the holes are smaller than pages). jemalloc's size
//! classes keep long- and short-lived objects apart, and these settings return freed pages at
//! once. Measured back to back at 2,000 certificates (37k series), peak RSS across three
//! collections under a scrape load: 23.6 MiB with glibc (one arena, fixed mmap threshold),
//! 20.3 MiB with this.
//!
//! - `narenas:1`: one arena. The exporter has two worker threads and allocates little per
//!   scrape; more arenas only multiply retained memory.
//! - `dirty_decay_ms:0,muzzy_decay_ms:0`: freed pages go back to the system immediately. A
//!   collection frees its answers and the previous snapshot in bursts once per run, so keeping
//!   them around buys nothing and shows as peak RSS.
//!
//! An SRE can still override any of these at run time with `_RJEM_MALLOC_CONF` (jemalloc's
//! `MALLOC_CONF`, as prefixed by the `tikv-jemallocator` build).

/// The global allocator of the exporter binary (declared in `main.rs`, so the library, its tests
/// and the fuzz targets keep the system allocator).
#[cfg(unix)]
pub type Allocator = tikv_jemallocator::Jemalloc;

/// jemalloc's compiled-in options (see the module docs).
pub const MALLOC_CONF: &std::ffi::CStr = c"narenas:1,dirty_decay_ms:0,muzzy_decay_ms:0";

/// A C string pointer jemalloc can read at start-up.
#[repr(transparent)]
pub struct ConfPointer(*const std::ffi::c_char);

// SAFETY: the pointer refers to a 'static, immutable C string; sharing it is sound.
unsafe impl Sync for ConfPointer {}

/// jemalloc reads this symbol (its `malloc_conf`, prefixed) before the first allocation.
#[cfg(unix)]
#[export_name = "_rjem_malloc_conf"]
pub static JEMALLOC_CONF: ConfPointer = ConfPointer(MALLOC_CONF.as_ptr());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_a_valid_jemalloc_option_string() {
        let conf = MALLOC_CONF.to_str().expect("ASCII");
        for option in conf.split(',') {
            let (key, value) = option.split_once(':').expect("key:value");
            assert!(!key.is_empty() && !value.is_empty(), "{option}");
        }
        assert!(conf.contains("narenas:1"));
    }
}
