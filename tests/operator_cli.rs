//! `workspaces …`, the operator API from a shell, run as the real binary
//! against the real binary serving: the address and the key come from the
//! settings the server reads, the API's errors reach stderr with exit 1, and
//! a configuration without the API is exit 2 before any request.

mod common;

use std::path::Path;
use std::process::Output;

use common::bin::run;
use common::{free_port, SECRETS};

const KEY: &str = "operator-test-key-5b1e0c9d";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `workspaces args…` in `dir` with `env`, and checks that the key is
/// nowhere in what it printed.
fn workspaces(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = run(dir, &[&["workspaces"], args].concat(), env);
    for printed in [&out.stdout, &out.stderr] {
        assert!(!text(printed).contains(KEY), "{args:?} printed the key: {out:?}");
    }
    out
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{out:?}");
    text(&out.stdout)
}

#[test]
fn without_operator_api_keys_it_is_a_configuration_problem() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    for args in [
        &["list"][..],
        &["show", "_x"],
        &["destroy", "_x"],
        &["kick", "_x", "_y"],
    ] {
        let out = workspaces(dir.path(), args, &[("PORT", &port), SECRETS[0], SECRETS[1]]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert_eq!(
            text(&out.stderr).trim(),
            "OPERATOR_API_KEYS is not set: the operator API is off",
            "{args:?}"
        );
        assert!(out.stdout.is_empty());
    }
    // A settings error is the server's, with its exit code.
    let out = workspaces(dir.path(), &["list"], &[("OPERATOR_API_KEYS", "short")]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        text(&out.stderr).contains("configuration error: OPERATOR_API_KEYS"),
        "{out:?}"
    );
    // So is a port that names no server.
    let out = workspaces(
        dir.path(),
        &["list"],
        &[("PORT", "0"), ("OPERATOR_API_KEYS", KEY), SECRETS[0], SECRETS[1]],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out.stderr).contains("PORT is 0"), "{out:?}");
}

#[test]
fn help_lists_the_four_commands() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(&workspaces(dir.path(), &["--help"], &[]));
    for command in ["list", "show", "destroy", "kick", "--url", "--json"] {
        assert!(out.contains(command), "--help names {command}:\n{out}");
    }
    let out = ok(&run(dir.path(), &["--help"], &[]));
    assert!(out.contains("workspaces"), "{out}");
}

#[test]
fn no_server_is_exit_1_naming_where_it_called() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let env = [
        ("PORT", port.as_str()),
        ("OPERATOR_API_KEYS", KEY),
        SECRETS[0],
        SECRETS[1],
    ];
    let out = workspaces(dir.path(), &["list"], &env);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        text(&out.stderr).contains(&format!("GET http://127.0.0.1:{port}/api/v1/workspaces")),
        "{out:?}"
    );
}
