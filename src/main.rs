use std::process::ExitCode;

// mimalloc: a decision makes a few dozen small allocations (hyper, http, tower); glibc's malloc
// and free were an eighth of a cached decision's instructions, mimalloc's a fraction of that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    portcullis::cli::run()
}
