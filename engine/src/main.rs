//! The `windlass` runner. (Bring-up skeleton.)

fn main() {
    println!("windlass {}", env!("CARGO_PKG_VERSION"));
}
