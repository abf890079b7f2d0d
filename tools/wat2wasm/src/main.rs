//! `wat2wasm IN.wat OUT.wasm`: parses a WebAssembly text file (a core module or a component),
//! validates the binary with every feature the host's wasmtime accepts, and writes it to `OUT`
//! through a temporary file, so a failed run never leaves a half-written component behind.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: wat2wasm IN.wat OUT.wasm");
        return ExitCode::from(2);
    };
    match convert(input, output) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("wat2wasm: {}: {message}", input.display());
            ExitCode::FAILURE
        }
    }
}

fn convert(input: &PathBuf, output: &PathBuf) -> Result<(), String> {
    let binary = wat::parse_file(input).map_err(|e| e.to_string())?;
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(&binary)
        .map_err(|e| format!("not valid: {e}"))?;
    let tmp = output.with_extension("wasm.tmp");
    std::fs::write(&tmp, &binary).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, output).map_err(|e| format!("renaming to {}: {e}", output.display()))
}
