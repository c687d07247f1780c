//! The command line of the real binary: `--help`, `--version`,
//! `--list-events` and `check` answer without serving, and `check` gives the
//! error the server would give (exit 1) or a summary (exit 0), writing nothing.

mod common;

use common::bin::{run, serve};
use common::{held_port, SECRETS};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_and_version_answer_and_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let (_held, port) = held_port();
    let port = port.to_string();
    let help = run(dir.path(), &["--help"], &[("PORT", &port)]);
    assert!(help.status.success(), "{help:?}");
    let out = text(&help.stdout);
    for word in [
        "check",
        "healthcheck",
        "--config",
        "--env-file",
        "--list-events",
        "--version",
    ] {
        assert!(out.contains(word), "--help mentions {word}:\n{out}");
    }
    let version = run(dir.path(), &["--version"], &[("PORT", &port)]);
    assert!(version.status.success());
    assert_eq!(
        text(&version.stdout).trim(),
        format!("webrtc-workspaces-server {}", wrw::VERSION)
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing written"
    );
}

#[test]
fn list_events_is_the_servers_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--list-events"], &[]);
    assert!(out.status.success());
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    let table: Vec<&str> = wrw::signaling::EventName::ALL.iter().map(|e| e.wire()).collect();
    assert_eq!(names, table);
    // Each token-checked event with its rule, as the guard has it.
    let guarded: Vec<(&str, &str, bool, bool)> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["guarded"] == true)
        .map(|e| {
            let flag = |k: &str| e[k].as_bool().unwrap_or_else(|| panic!("{k} of {e}"));
            let sender = e["sender"].as_str().unwrap_or_else(|| panic!("sender of {e}"));
            (
                e["name"].as_str().unwrap(),
                sender,
                flag("owner_only"),
                flag("restores_lapsed"),
            )
        })
        .collect();
    let rules: Vec<(&str, &str, bool, bool)> = wrw::signaling::EventName::ALL
        .iter()
        .filter_map(|e| e.rule().map(|r| (e.wire(), r.sender, r.owner_only, r.restores_lapsed)))
        .collect();
    assert_eq!(guarded, rules);
    assert!(
        !rules.is_empty() && rules.len() < table.len(),
        "both token-checked and unchecked events: {listed}"
    );
}

#[test]
fn check_accepts_a_good_configuration_without_binding_or_writing() {
    let dir = tempfile::tempdir().unwrap();
    let (_held, port) = held_port();
    let port = port.to_string();
    std::fs::write(
        dir.path().join("config.js.toml"),
        "json_storage_file = \"store.json\"\n",
    )
    .unwrap();
    let out = run(dir.path(), &["check"], &[("PORT", &port), SECRETS[0], SECRETS[1]]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(summary.starts_with("configuration OK"), "{summary}");
    assert!(summary.contains("store.json (0 workspaces"), "{summary}");
    assert!(!dir.path().join("store.json").exists(), "check creates no storage file");
}

/// What is wrong, the config file, extra env, a file to put in the dir, and
/// what the error must name.
type BadCase<'a> = (
    &'a str,
    Option<&'a str>,
    Vec<(&'a str, &'a str)>,
    Option<(&'a str, &'a [u8])>,
    &'a str,
);

#[test]
fn check_gives_the_servers_error_and_exit_1_for_each_kind_of_bad_configuration() {
    let with_secrets = |extra: &[(&'static str, &'static str)]| [&SECRETS[..], extra].concat();
    let cases: [BadCase; 15] = [
        (
            "a bad value",
            Some("max_capacity_of_workspace = 0\n"),
            with_secrets(&[]),
            None,
            "max_capacity_of_workspace",
        ),
        (
            "an unknown key",
            Some("max_capacity = 3\n"),
            with_secrets(&[]),
            None,
            "max_capacity",
        ),
        (
            "TOML that does not parse",
            Some("host = \n"),
            with_secrets(&[]),
            None,
            "config.js.toml",
        ),
        (
            "a missing secret in production",
            None,
            vec![("DEVELOPMENT", "false"), ("SALT_STRING", "x-secret-1")],
            None,
            "MAGICK_TOKEN",
        ),
        (
            "a .env holding only PORT (configured, so not development mode)",
            None,
            vec![],
            Some((".env", b"PORT=8080\n")),
            "MAGICK_TOKEN is not set",
        ),
        (
            "PORT and ENABLE_HTTPS in .env",
            None,
            vec![],
            Some((".env", b"PORT=8080\nENABLE_HTTPS=\"true\"\n")),
            "MAGICK_TOKEN is not set",
        ),
        (
            "a config file with a json_storage_file and no secrets",
            Some("json_storage_file = \"store.json\"\n"),
            vec![],
            None,
            "MAGICK_TOKEN is not set",
        ),
        (
            "the README's example secret",
            None,
            vec![
                ("MAGICK_TOKEN", "9f1c…(64 random hex characters)"),
                ("SALT_STRING", "x-secret-1"),
            ],
            None,
            "MAGICK_TOKEN is a placeholder",
        ),
        (
            "a missing certificate file",
            Some("[https]\nkey = \"nokey.pem\"\ncert = \"nocert.pem\"\n"),
            with_secrets(&[("ENABLE_HTTPS", "true")]),
            None,
            "nocert.pem",
        ),
        (
            "a certificate file that holds no certificate",
            Some("[https]\nkey = \"key.pem\"\ncert = \"cert.pem\"\n"),
            with_secrets(&[("ENABLE_HTTPS", "true")]),
            Some(("cert.pem", b"not a certificate\n")),
            "cert.pem",
        ),
        (
            "a corrupt storage file",
            Some("json_storage_file = \"store.json\"\n"),
            with_secrets(&[]),
            Some((
                "store.json",
                b"{\"format\":\"webrtc-workspaces-server/1\",\"workspaces\":[",
            )),
            "store.json",
        ),
        (
            "a storage file in neither format",
            Some("json_storage_file = \"store.json\"\n"),
            with_secrets(&[]),
            Some(("store.json", b"[1,2]")),
            "store.json",
        ),
        (
            "a storage file in a directory that does not exist",
            Some("json_storage_file = \"no-such-dir/store.json\"\n"),
            with_secrets(&[]),
            None,
            "no-such-dir",
        ),
        (
            "an origin with a path",
            Some("cors_origins = [\"https://example.com/path\"]\n"),
            with_secrets(&[]),
            None,
            "cors_origins",
        ),
        (
            "an origin with a trailing slash",
            Some("cors_origins = [\"https://example.com/\"]\n"),
            with_secrets(&[]),
            None,
            "cors_origins",
        ),
    ];
    for (what, config, env, file, names) in cases {
        let dir = tempfile::tempdir().unwrap();
        if let Some(c) = config {
            std::fs::write(dir.path().join("config.js.toml"), c).unwrap();
        }
        if let Some((name, bytes)) = file {
            std::fs::write(dir.path().join(name), bytes).unwrap();
        }
        let out = run(dir.path(), &["check"], &env);
        assert_eq!(out.status.code(), Some(1), "{what}: {out:?}");
        let err = text(&out.stderr);
        assert!(err.contains(names), "{what}: the error names {names}: {err}");
        if let Some((name, bytes)) = file {
            assert_eq!(
                std::fs::read(dir.path().join(name)).unwrap(),
                bytes,
                "{what}: file unchanged"
            );
        }
        // The server itself refuses the same configuration with the same words.
        let served = run(dir.path(), &[], &[env.as_slice(), &[("PORT", "0")]].concat());
        assert_eq!(served.status.code(), Some(2), "{what}: the server refuses to start");
        let first_line = err.lines().next().unwrap_or_default();
        assert!(
            text(&served.stderr).contains(first_line),
            "{what}: {}",
            text(&served.stderr)
        );
    }
}

#[test]
fn an_empty_directory_with_nothing_in_the_environment_is_development_mode() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["check"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(summary.contains("(development mode)"), "{summary}");
    assert!(
        summary.contains("not checked (only a start can tell): that 0.0.0.0:9090 is free"),
        "{summary}"
    );
    // RUST_LOG is a log filter, not a deployment.
    let out = run(dir.path(), &["check"], &[("RUST_LOG", "debug")]);
    assert!(text(&out.stdout).contains("(development mode)"), "{out:?}");
}

#[test]
fn check_names_an_explicit_config_or_env_file_that_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["check", "--config", "elsewhere.toml"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("elsewhere.toml"));
    let out = run(dir.path(), &["--env-file", "prod.env", "check"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("prod.env"));
    std::fs::write(
        dir.path().join("prod.env"),
        "MAGICK_TOKEN=\"from-env-file-1\"\nSALT_STRING=\"from-env-file-2\"\nDEVELOPMENT=false\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("other.toml"), "max_capacity_of_workspace = 7\n").unwrap();
    let out = run(
        dir.path(),
        &["--env-file", "prod.env", "--config", "other.toml", "check"],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stdout).contains("development mode"),
        "production secrets came from prod.env"
    );
}

#[test]
fn healthcheck_asks_the_server_its_settings_start_and_exits_0_only_on_a_200() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port().to_string();
    let url = format!("http://127.0.0.1:{port}/health");
    let env = [
        ("PORT", port.as_str()),
        ("HTTP_PROXY", "http://127.0.0.1:9"),
        SECRETS[0],
        SECRETS[1],
    ];

    let nobody = run(dir.path(), &["healthcheck"], &env);
    assert_eq!(nobody.status.code(), Some(1), "nothing listens: {nobody:?}");
    assert!(
        text(&nobody.stderr).contains(&url),
        "names the URL: {}",
        text(&nobody.stderr)
    );

    let _server = serve(dir.path(), &env);
    let ok = run(dir.path(), &["healthcheck"], &env);
    assert!(ok.status.success(), "stderr: {}", text(&ok.stderr));
    assert_eq!(
        text(&ok.stdout).trim(),
        format!("healthy: {url}"),
        "(HTTP_PROXY is not used)"
    );

    let any_port = run(dir.path(), &["healthcheck"], &[("PORT", "0"), SECRETS[0], SECRETS[1]]);
    assert_eq!(any_port.status.code(), Some(1));
    assert!(
        text(&any_port.stderr).contains("PORT is 0"),
        "{}",
        text(&any_port.stderr)
    );
}
