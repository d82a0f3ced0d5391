//! Cargo's build script. Its one job: the container tests need an image that
//! `scripts/build-test-image.sh` builds and `SQLGRADE_TEST_IMAGE` names; when the variable
//! is set at build time the tests are compiled to run (`cfg(sqlgrade_test_image)`),
//! otherwise they are reported as ignored with that reason instead of passing unrun.

fn main() {
    println!("cargo::rerun-if-env-changed=SQLGRADE_TEST_IMAGE");
    println!("cargo::rustc-check-cfg=cfg(sqlgrade_test_image)");
    if std::env::var_os("SQLGRADE_TEST_IMAGE").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=sqlgrade_test_image");
    }
}
