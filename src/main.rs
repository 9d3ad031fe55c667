use std::process::ExitCode;

/// mimalloc rather than the system allocator: a refresh or plan of a large tenant allocates
/// millions of small strings and frees them in bulk, which glibc's malloc spends a quarter of
/// its time consolidating (see README, Performance).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    zsc::cli::run(std::env::args_os()).into()
}
