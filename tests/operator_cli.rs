//! `workspaces …`, the operator API from a shell, run as the real binary
//! against the real binary serving: the address and the key come from the
//! settings the server reads, the API's errors reach stderr with exit 1, and
//! a configuration without the API is exit 2 before any request.

mod common;

use std::path::Path;
use std::process::Output;

use common::bin::{run, serve};
use common::{free_port, SECRETS};
use serde_json::{json, Value};

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

/// The value of `name:` in what `show` printed.
fn field<'a>(shown: &'a str, name: &str) -> &'a str {
    shown
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {name}: in {shown}"))
        .trim()
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{out:?}");
    text(&out.stdout)
}

/// One request to the API with `key`, as a backend would make it: the status and the JSON answer.
fn api(method: reqwest::Method, url: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut request = reqwest::Client::new().request(method, url).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    })
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

#[test]
fn list_show_kick_and_destroy_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let env = [
        ("PORT", port.as_str()),
        ("OPERATOR_API_KEYS", KEY),
        SECRETS[0],
        SECRETS[1],
    ];
    let _server = serve(dir.path(), &env);
    let root = format!("http://127.0.0.1:{port}/api/v1");

    let (status, created) = api(
        reqwest::Method::POST,
        &format!("{root}/workspaces"),
        KEY,
        Some(json!({"name": "Ops\nroom", "owner": {"name": "Olga"}})),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["workspace"]["id"].as_str().unwrap().to_string();
    let owner = created["attendee"]["id"].as_str().unwrap().to_string();
    let (status, seat) = api(
        reqwest::Method::POST,
        &format!("{root}/workspaces/{id}/attendees"),
        KEY,
        Some(json!({"name": "Guest"})),
    );
    assert_eq!(status, 201, "{seat}");
    let guest = seat["attendee"]["id"].as_str().unwrap().to_string();

    // One line per workspace under a header; the name cannot break the line.
    let listed = ok(&workspaces(dir.path(), &["list"], &env));
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header, ["ID", "ATTENDEES", "CONNECTED", "CREATED", "NAME"]);
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(row[0], id);
    assert_eq!(&row[1..3], ["2", "0"], "{listed}");
    assert!(row[3].ends_with('Z') && row[3].contains('T'), "ISO-8601 UTC: {listed}");
    assert_eq!(row[4], "Ops\\nroom");
    let listed: Value = serde_json::from_str(&ok(&workspaces(dir.path(), &["list", "--json"], &env))).unwrap();
    assert_eq!(listed["workspaces"][0]["id"], id.as_str(), "{listed}");
    assert_eq!(listed["workspaces"][0]["name"], "Ops\nroom", "as the API gave it");
    assert_eq!(listed["next_cursor"], Value::Null);

    // The workspace, then one line per attendee.
    let shown = ok(&workspaces(dir.path(), &["show", &id], &env));
    assert_eq!(field(&shown, "id"), id);
    assert_eq!(field(&shown, "name"), "Ops\\nroom");
    assert_eq!(field(&shown, "owner"), owner);
    assert_eq!(
        field(&shown, "invite token"),
        created["workspace"]["token"].as_str().unwrap()
    );
    assert_eq!(field(&shown, "attendees"), "2 (0 connected)");
    let mut members: Vec<Vec<&str>> = shown
        .lines()
        .skip_while(|l| !l.starts_with("ATTENDEE"))
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    let mut expected = vec![
        vec![owner.as_str(), "yes", "no", "Olga"],
        vec![guest.as_str(), "no", "no", "Guest"],
    ];
    expected.sort();
    members.sort();
    assert_eq!(members, expected, "{shown}");
    let shown: Value = serde_json::from_str(&ok(&workspaces(dir.path(), &["show", &id, "--json"], &env))).unwrap();
    assert_eq!(shown["id"], id.as_str());
    assert_eq!(shown["token"], created["workspace"]["token"]);

    // The owner stays, with the API's reason and exit 1.
    let out = workspaces(dir.path(), &["kick", &id, &owner], &env);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stderr).contains("owner_cannot_be_removed"), "{out:?}");

    assert_eq!(
        ok(&workspaces(dir.path(), &["kick", &id, &guest], &env)),
        format!("kicked attendee {guest} from workspace {id}\n")
    );
    let shown = ok(&workspaces(dir.path(), &["show", &id], &env));
    assert!(!shown.contains(&guest), "{shown}");
    let out = workspaces(dir.path(), &["kick", &id, &guest], &env);
    assert_eq!(out.status.code(), Some(1), "a second kick: {out:?}");
    assert!(text(&out.stderr).contains("not_found"), "{out:?}");

    assert_eq!(
        ok(&workspaces(dir.path(), &["destroy", &id], &env)),
        format!("destroyed workspace {id}\n")
    );
    let out = workspaces(dir.path(), &["show", &id], &env);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stderr).contains("not_found"), "{out:?}");
    assert_eq!(
        ok(&workspaces(dir.path(), &["list"], &env)).lines().count(),
        1,
        "the header only"
    );

    // A key the server does not hold: the API's own message, exit 1.
    let wrong = "not-the-servers-key-0000";
    let (status, refusal) = api(reqwest::Method::GET, &format!("{root}/workspaces"), wrong, None);
    assert_eq!(status, 401, "{refusal}");
    let message = refusal["error"]["message"].as_str().unwrap();
    let out = workspaces(
        dir.path(),
        &["list"],
        &[
            ("PORT", port.as_str()),
            ("OPERATOR_API_KEYS", wrong),
            SECRETS[0],
            SECRETS[1],
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stderr).contains(message), "{out:?}");
    assert!(!text(&out.stderr).contains(wrong), "the key is never printed: {out:?}");
}

#[test]
fn limit_stops_early_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let env = [
        ("PORT", port.as_str()),
        ("OPERATOR_API_KEYS", KEY),
        SECRETS[0],
        SECRETS[1],
    ];
    let _server = serve(dir.path(), &env);
    let root = format!("http://127.0.0.1:{port}/api/v1");
    let mut ids = Vec::new();
    for n in 0..3 {
        let (status, created) = api(
            reqwest::Method::POST,
            &format!("{root}/workspaces"),
            KEY,
            Some(json!({"name": format!("w{n}")})),
        );
        assert_eq!(status, 201, "{created}");
        ids.push(created["workspace"]["id"].as_str().unwrap().to_string());
    }
    ids.sort();
    let out = workspaces(dir.path(), &["list", "--limit", "2"], &env);
    let listed: Vec<String> = ok(&out)
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(listed, ids[..2], "the first two, in id order");
    assert!(text(&out.stderr).contains("stopped after 2 workspaces"), "{out:?}");
    let all = ok(&workspaces(dir.path(), &["list"], &env));
    assert_eq!(all.lines().count(), 4, "{all}");
}

#[test]
fn a_separate_operator_listener_and_url() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let operator = free_port();
    std::fs::write(
        dir.path().join("config.js.toml"),
        format!("operator_address = \"127.0.0.1:{operator}\"\n"),
    )
    .unwrap();
    let env = [
        ("PORT", port.as_str()),
        ("OPERATOR_API_KEYS", KEY),
        SECRETS[0],
        SECRETS[1],
    ];
    let _server = serve(dir.path(), &env);
    assert_eq!(ok(&workspaces(dir.path(), &["list"], &env)).lines().count(), 1);

    // From elsewhere, with the same key and the API's address given.
    let elsewhere = tempfile::tempdir().unwrap();
    let away = [("PORT", "1"), ("OPERATOR_API_KEYS", KEY), SECRETS[0], SECRETS[1]];
    let url = format!("http://127.0.0.1:{operator}");
    let out = ok(&workspaces(elsewhere.path(), &["list", "--url", &url], &away));
    assert_eq!(out.lines().count(), 1, "{out}");
    let api_root = format!("{url}/api/v1/");
    let out = workspaces(elsewhere.path(), &["--url", &api_root, "show", "_nothing"], &away);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stderr).contains("not_found"), "{out:?}");
}
