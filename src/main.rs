use std::process::ExitCode;

// The decision path allocates a little per request from many threads; mimalloc's per-thread
// heaps keep that off glibc's arena locks (measured with benches/load.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    portcullis::cli::run()
}
