//! The `redlock` binary: everything happens in the library; this only exits with its code.

fn main() {
    std::process::exit(redlock::main_with(std::env::args_os()));
}
