use std::process::ExitCode;

fn main() -> ExitCode {
    zsc::cli::run(std::env::args_os()).into()
}
