#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is the failure report
//! The OCI image (`scripts/oci-image.py`), built without a registry, a daemon or a base
//! image, checked by others' tools: the layout's digests recomputed with `sha256sum`, the
//! layer unpacked with GNU tar, and the binary run in a `chroot` of that layer alone as
//! user 65532 (so it starts with only the libraries the image holds, and no shell).
//! `chroot` needs root: the test machine runs the tests as root.

mod common;
use common::*;

use serde_json::Value;
use std::process::Command;

fn sha256(path: &std::path::Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn the_image_runs_as_a_non_root_user_with_nothing_but_custos() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("image");
    let out = Command::new("python3")
        .arg(repo().join("scripts/oci-image.py"))
        .arg(bin())
        .arg(&layout)
        .args(["--tag", "test"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let blob = |digest: &str| layout.join("blobs/sha256").join(&digest[7..]);

    // Every reference names the blob's own SHA-256.
    let index = read_json(&layout.join("index.json"));
    assert_eq!(
        read_json(&layout.join("oci-layout"))["imageLayoutVersion"],
        "1.0.0"
    );
    let m = &index["manifests"][0];
    let digest = m["digest"].as_str().unwrap();
    assert_eq!(format!("sha256:{}", sha256(&blob(digest))), digest);
    let manifest = read_json(&blob(digest));
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    assert_eq!(
        format!("sha256:{}", sha256(&blob(config_digest))),
        config_digest
    );
    let layer_digest = manifest["layers"][0]["digest"].as_str().unwrap();
    assert_eq!(
        format!("sha256:{}", sha256(&blob(layer_digest))),
        layer_digest
    );
    let config = read_json(&blob(config_digest));
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/usr/local/bin/custos"])
    );
    // The diff id is the uncompressed layer's digest.
    let tar = dir.path().join("layer.tar");
    let gunzip = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "gzip -dc {} > {}",
            blob(layer_digest).display(),
            tar.display()
        ))
        .status()
        .unwrap();
    assert!(gunzip.success());
    assert_eq!(
        config["rootfs"]["diff_ids"][0],
        format!("sha256:{}", sha256(&tar))
    );

    // The layer alone is enough to run custos, as 65532, with no shell in it.
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let untar = Command::new("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(&root)
        .status()
        .unwrap();
    assert!(untar.success());
    for shell in ["bin/sh", "bin/bash", "usr/bin/sh", "bin/busybox"] {
        assert!(!root.join(shell).exists(), "the image holds `{shell}`");
    }
    let run = |args: &[&str]| {
        Command::new("/usr/sbin/chroot")
            .arg("--userspec=65532:65532")
            .arg(&root)
            .arg("/usr/local/bin/custos")
            .args(args)
            .env_clear()
            .env(
                "CUSTOS_CONFIG_TOML",
                "[policy]\ndir = \"/etc/custos/rego\"\n[playbooks]\ndir = \"/etc/custos/playbooks\"\n",
            )
            .output()
            .unwrap()
    };
    let version = run(&["--version"]);
    assert!(
        version.status.success(),
        "{} (chroot needs root)",
        text(&version)
    );
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("custos "));
    // The shipped bundle is in the image and valid there.
    let check = run(&["policy", "check"]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
}
