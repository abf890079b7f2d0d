//! The `windlass` binary: see the `windlass_runner` library and `docs/runner.md`.

fn main() -> std::process::ExitCode {
    windlass_runner::main()
}
