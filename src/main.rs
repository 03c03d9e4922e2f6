//! The `lanyard` binary.

/// Worker stack size. Debug builds of deeply nested Leptos views (the SSO page with a SAML
/// connection and a test result) overflowed tokio's 2 MiB default and aborted the process.
#[cfg(feature = "ssr")]
const WORKER_STACK_BYTES: usize = 16 * 1024 * 1024;

/// mimalloc instead of glibc's allocator: under a SCIM create load glibc's malloc and free were
/// ~15 % of the server's CPU (benches/scim_sync.sh, issue 17).
#[cfg(feature = "ssr")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "ssr")]
fn main() -> std::process::ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(WORKER_STACK_BYTES)
        .build()
    {
        Ok(rt) => rt.block_on(lanyard::server::cli::run()),
        Err(e) => {
            eprintln!("could not start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(not(feature = "ssr"))]
fn main() {
    // The binary is built with the `ssr` feature; the `hydrate` build is the wasm library.
}
