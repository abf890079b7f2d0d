//! Released contract versions are never edited (`wit/README.md`): every WIT file of a released
//! package must keep the bytes it was released with. A change to the contract goes into a new
//! version directory; this test fails if a released one is touched.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use sha2::{Digest as _, Sha256};

/// (file under `wit/`, SHA-256 of its bytes at release).
const RELEASED: &[(&str, &str)] = &[
    (
        "0.1.0/types.wit",
        "798d26c8df87f6a1947ffb04520bdd4f869ac9e2686216a405e974574c4832d8",
    ),
    (
        "0.1.0/worlds.wit",
        "ce98556a109254584e1784d3e6fad8cc67a569544eb900a21278a45b098af393",
    ),
    (
        "0.2.0/types.wit",
        "35758c8792828789922b28ea1ba8e1c94669f6fec7f4cea9e6d67724c30051e6",
    ),
    (
        "0.2.0/worlds.wit",
        "f3aa06fbd0efcc0303a0c532266538c7d755efbf14e1deb90c9999cc238a7e1c",
    ),
];

#[test]
fn released_contract_versions_keep_their_bytes() {
    let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    for (file, released) in RELEASED {
        let bytes =
            std::fs::read(wit.join(file)).unwrap_or_else(|e| panic!("reading wit/{file}: {e}"));
        let now = hex::encode(Sha256::digest(&bytes));
        assert_eq!(
            &now, released,
            "wit/{file} changed after its release: released versions are frozen; put the \
             change in a new version directory (wit/README.md)"
        );
    }
    // Every WIT file of a released version is pinned above.
    for version in ["0.1.0", "0.2.0"] {
        for entry in std::fs::read_dir(wit.join(version)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".wit") {
                let file = format!("{version}/{name}");
                assert!(
                    RELEASED.iter().any(|(f, _)| *f == file),
                    "wit/{file} is not pinned in this test"
                );
            }
        }
    }
}
