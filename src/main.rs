use std::process::ExitCode;

// mimalloc: a decision makes a few dozen small allocations (hyper, http, tower); glibc's malloc
// and free were an eighth of a cached decision's instructions, mimalloc's a fraction of that.
// Built with `no_thp`: with transparent huge pages its first arena alone made idle RSS 27 MiB
// (16 MiB without).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    portcullis::cli::run()
}
