//! Secrets never reach the logs: a `-vv` run of `snapshot` to the S3 and Azure test servers
//! (credentials from the environment) and to a directory is scanned for the credentials it
//! was given and for a string that lives only in the profiled program's heap.
#![allow(clippy::unwrap_used)]

mod common;

use common::{openprofiling, text};

/// `name`'s value; fails the test, saying how to start the servers, when it is not set.
fn env(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!(
            "{name} is not set: this test needs the S3 and Azure test servers; run it with \
             `bash scripts/test.sh` (it starts SeaweedFS and Azurite and sets the variables)"
        ),
    }
}

#[test]
fn credentials_and_profile_bytes_never_show_in_verbose_logs() {
    let s3 = env("OPENPROFILING_TEST_S3_URL");
    let azure = env("OPENPROFILING_TEST_AZURE_URL");
    let secrets = [
        env("AWS_SECRET_ACCESS_KEY"),
        env("AZURE_STORAGE_ACCOUNT_KEY"),
    ];
    // Built at run time, so the program's source (which may be logged) does not hold it.
    let marker = "heap-only-marker-7f3a9c";
    let program = "globalThis.kept = ['heap-only', 'marker', '7f3a9c'].join('-'); setInterval(() => {}, 1000);";
    let dir = tempfile::tempdir().unwrap();
    let s3_destination = format!("{s3}secrets-{}/", std::process::id());
    let azure_destination = format!("{azure}secrets-{}/", std::process::id());
    let output = openprofiling(
        &[
            "snapshot",
            "-vv",
            "--to",
            &s3_destination,
            "--to",
            &azure_destination,
            "--to",
            "profiles",
            "--",
            "node",
            "-e",
            program,
        ],
        dir.path(),
    );
    let stdout = text(&output.stdout);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout.lines().count(), 3, "three destinations: {stdout}");
    assert!(
        stderr.contains("DEBUG"),
        "-vv logs at debug level: {stderr}"
    );

    // The marker really is in the profile, so its absence from the logs means something.
    let saved = std::fs::read_dir(dir.path().join("profiles"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|ext| ext == "heapsnapshot"))
        .unwrap();
    let snapshot = std::fs::read_to_string(saved).unwrap();
    assert!(snapshot.contains(marker), "the marker is in the heap");

    let logs = format!("{stdout}\n{stderr}");
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a credential was logged");
    }
    assert!(!logs.contains(marker), "profile bytes were logged");
}
