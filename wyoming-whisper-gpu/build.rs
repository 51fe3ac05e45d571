//! Records where the shared CTranslate2 lives (`WYOMING_CT2_RPATH`, set by `scripts/setup.sh`) in the
//! binaries' rpath, so they start without `LD_LIBRARY_PATH`. Nothing is downloaded or compiled here.

fn main() {
    println!("cargo:rerun-if-env-changed=WYOMING_CT2_RPATH");
    if cfg!(all(feature = "ct2-system", feature = "ct2-bundled"))
        || !cfg!(any(feature = "ct2-system", feature = "ct2-bundled"))
    {
        // Reported by the compile_error! in main.rs with a clearer message.
        return;
    }
    if let Ok(dirs) = std::env::var("WYOMING_CT2_RPATH") {
        for dir in dirs.split(':').filter(|d| !d.is_empty()) {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        }
    }
}
