//! glibc allocator settings the servers share.
//!
//! Why: the inference libraries (CTranslate2, ONNX Runtime) allocate and free large working sets from
//! several threads, and glibc keeps freed memory for reuse instead of returning it. For a home server that
//! mostly idles, resident memory after a request is what users see, so the servers hand it back at moments
//! that cost no latency. Elsewhere than glibc both calls do nothing.

/// Returns the allocator's free memory to the system. Call it where a pause of a few milliseconds costs no
/// latency: after a reply is sent, or after loading a model.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// One malloc arena for the whole process. By default every thread gets its own arena, and memory freed
/// across them is not reliably returned. Call it before any other thread starts.
pub fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; the caller runs before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
