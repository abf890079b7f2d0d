use super::*;

/// A fresh directory under the system temp dir with `files`, removed on drop.
struct Tree(PathBuf);

impl Tree {
    fn with(files: &[(&str, &str)]) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("build-nix-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (path, text) in files {
            let at = dir.join(path);
            std::fs::create_dir_all(at.parent().expect("a parent")).expect("mkdir");
            std::fs::write(at, text).expect("write");
        }
        std::fs::create_dir_all(&dir).expect("mkdir");
        Self(dir)
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn options(sub: Option<&str>) -> BuildOptions {
    BuildOptions {
        image_tag: "acme/site:rev-1".into(),
        build_args: Vec::new(),
        subdirectory: sub.map(str::to_owned),
    }
}

fn config(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn env_of<'a>(step: &'a BuilderStep, key: &str) -> Option<&'a str> {
    step.env
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[test]
fn detects_flakes_before_default_nix() {
    let flake = Tree::with(&[
        ("flake.nix", "{}"),
        ("flake.lock", "{}"),
        ("default.nix", ""),
    ]);
    let found = detect(&flake.0).expect("a flake");
    assert_eq!(found.language, "nix");
    assert_eq!(found.framework.as_deref(), Some("flake"));
    assert_eq!(found.confidence, 95);
    assert_eq!(found.evidence, vec!["flake.nix", "flake.lock"]);

    let plain = Tree::with(&[("default.nix", "")]);
    let found = detect(&plain.0).expect("a default.nix");
    assert_eq!((found.framework, found.confidence), (None, 90));

    let other = Tree::with(&[("index.html", "")]);
    assert_eq!(detect(&other.0), None);
}

#[test]
fn a_default_nix_plan_builds_in_the_builder_and_copies_into_the_runtime() {
    let tree = Tree::with(&[("default.nix", "")]);
    let plan = plan(
        &tree.0,
        options(None),
        &config(&[
            ("nix_image", "windlass-test/nix:2"),
            ("runtime_image", "windlass-test/busybox:1"),
        ]),
    )
    .expect("a plan");
    assert_eq!(plan.language, "nix");
    assert_eq!(plan.context, ".");
    assert_eq!(plan.ports, vec![8080]);
    assert_eq!(
        plan.start_command,
        Some(vec!["/result/bin/start".to_owned()])
    );
    let DockerfileSource::Inline(dockerfile) = &plan.dockerfile else {
        panic!("an inline Dockerfile, got {:?}", plan.dockerfile);
    };
    assert_eq!(
        dockerfile,
        "FROM windlass-test/busybox:1\nCOPY . /\nENV PORT=8080\nEXPOSE 8080\nCMD [\"/result/bin/start\"]\n"
    );
    let step = plan.builder.expect("a builder step");
    assert_eq!(step.image, "windlass-test/nix:2");
    assert_eq!(step.output, OUTPUT);
    assert_eq!(
        step.caches,
        vec![BuildCache {
            name: "nix-store".into(),
            path: "/nix".into()
        }]
    );
    assert_eq!(step.command[..2], ["sh".to_owned(), "-c".to_owned()]);
    assert_eq!(env_of(&step, "WINDLASS_NIX_KIND"), Some("default"));
    assert_eq!(env_of(&step, "WINDLASS_NIX_ATTR"), None);
    let nix_config = env_of(&step, "NIX_CONFIG").expect("NIX_CONFIG");
    assert!(nix_config.contains("sandbox = false"), "{nix_config}");
    assert!(
        nix_config.lines().any(|l| l == "substituters = "),
        "{nix_config}"
    );
    assert_eq!(plan.phases[0].commands, vec!["nix-build /src/default.nix"]);
}

#[test]
fn a_flake_with_an_attribute_a_cache_and_a_subdirectory() {
    let tree = Tree::with(&[("site/flake.nix", "{}")]);
    let plan = plan(
        &tree.0,
        options(Some("site")),
        &config(&[
            ("attribute", "packages.x86_64-linux.site"),
            ("binary_cache", "https://cache.example.invalid"),
            ("binary_cache_key", "example:AAAA"),
            ("start", "/result/bin/serve --port 9000"),
            ("port", "9000"),
            ("cache", "nix-shared"),
        ]),
    )
    .expect("a plan");
    assert_eq!(plan.context, "site");
    assert_eq!(plan.ports, vec![9000]);
    let step = plan.builder.expect("a builder step");
    assert_eq!(step.image, "nixos/nix");
    assert_eq!(step.caches[0].name, "nix-shared");
    assert_eq!(env_of(&step, "WINDLASS_NIX_KIND"), Some("flake"));
    assert_eq!(
        env_of(&step, "WINDLASS_NIX_ATTR"),
        Some("packages.x86_64-linux.site")
    );
    let nix_config = env_of(&step, "NIX_CONFIG").expect("NIX_CONFIG");
    assert!(
        nix_config.contains(
            "substituters = https://cache.example.invalid\ntrusted-public-keys = example:AAAA"
        ),
        "{nix_config}"
    );
    let DockerfileSource::Inline(dockerfile) = &plan.dockerfile else {
        panic!("inline");
    };
    assert!(dockerfile.starts_with("FROM scratch\n"), "{dockerfile}");
    assert!(
        dockerfile.contains("CMD [\"/result/bin/serve\", \"--port\", \"9000\"]"),
        "{dockerfile}"
    );
    assert_eq!(
        plan.phases[0].commands,
        vec!["nix build path:/src#packages.x86_64-linux.site"]
    );
}

#[test]
fn bad_config_names_the_key() {
    let tree = Tree::with(&[("default.nix", "")]);
    for (pairs, key) in [
        (vec![("nix_imgae", "x")], "nix_imgae"),
        (
            vec![("binary_cache", "cache.example.invalid")],
            "binary_cache",
        ),
        (
            vec![("binary_cache", "https://a.invalid\nsandbox = true")],
            "binary_cache",
        ),
        (vec![("attribute", "a; rm -rf /")], "attribute"),
        (vec![("port", "0")], "port"),
        (vec![("port", "http")], "port"),
        (vec![("start", "  ")], "start"),
        (vec![("cache", "../x")], "cache"),
        (vec![("runtime_image", "a b")], "runtime_image"),
    ] {
        let err = plan(&tree.0, options(None), &config(&pairs)).expect_err("a bad config");
        assert_eq!(err.code, "invalid-config", "{pairs:?}: {err:?}");
        assert_eq!(err.field.as_deref(), Some(key), "{pairs:?}: {err:?}");
    }
}

#[test]
fn a_tree_without_nix_files_is_no_match() {
    let tree = Tree::with(&[("README.md", "")]);
    let err = plan(&tree.0, options(None), &[]).expect_err("no match");
    assert_eq!(err.code, "no-match");
    assert!(err.message.contains("flake.nix or default.nix"), "{err:?}");
    let err = plan(&tree.0, options(Some("../x")), &[]).expect_err("outside");
    assert_eq!(err.code, "invalid-input");
}
