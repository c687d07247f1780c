//! The settings tests: values, errors naming their key, secrets kept out of
//! `Debug`, and `config.js.toml`, `env-sample` and the README held against the
//! declarations in `keys.rs`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn err(pairs: &[(&str, &str)], toml: Option<&str>) -> String {
    Settings::from_sources(&env(pairs), None, toml.map(|t| ("config.js.toml", t)))
        .unwrap_err()
        .to_string()
}

const SECRETS: [(&str, &str); 2] = [
    ("MAGICK_TOKEN", "a-real-secret-123"),
    ("SALT_STRING", "another-secret-456"),
];

#[test]
fn nothing_at_all_is_a_working_development_server() {
    let s = Settings::from_sources(&env(&[]), None, None).unwrap();
    assert!(s.development);
    assert_eq!(s.port, 9090);
    assert!(s.secrets.ephemeral);
    assert_eq!(s.max_capacity_of_workspace, 4);
    assert_eq!(s.workspace_id_len, 10);
    assert_eq!(s.ice_servers.len(), 5);
    assert_eq!(s.ping_interval, Duration::from_secs(25));
    assert_eq!(s.ping_timeout, Duration::from_secs(12));
    assert_eq!(s.max_payload_bytes, 1_000_000);
    assert_eq!(s.cors_origins, CorsOrigins::Any);
    assert_eq!(s.flush_window, Duration::ZERO);
    assert_eq!(s.presence_grace, Duration::from_secs(60));
    assert_eq!(s.workspace_expiry, Duration::from_secs(86_400));
    assert_eq!(s.metrics, MetricsEndpoint::SamePort);
    assert_eq!(s.log_format, LogFormat::Text);
    assert_eq!(s.legacy_tokens, LegacyTokens::Auto);
    // The original config.js's defaults.
    assert_eq!(s.untitled_workspace, "Untitled Workspace");
    assert_eq!(s.anonymous_attendee, "Anonymous Attendee");
    assert_eq!(s.default_workspace_avatar, "");
    assert_eq!(s.default_attendee_avatar, "");
}

#[test]
fn legacy_tokens_takes_auto_on_off_only() {
    let s = |v: &str| {
        Settings::from_sources(
            &env(&SECRETS),
            None,
            Some(("config.js.toml", &format!("legacy_tokens = \"{v}\""))),
        )
    };
    assert_eq!(s("on").unwrap().legacy_tokens, LegacyTokens::On);
    assert_eq!(s("off").unwrap().legacy_tokens, LegacyTokens::Off);
    assert!(s("maybe").unwrap_err().to_string().contains("legacy_tokens"));
    assert!(LegacyTokens::Auto.enabled(true) && !LegacyTokens::Auto.enabled(false));
}

#[test]
fn production_refuses_missing_or_placeholder_secrets_by_name() {
    assert!(err(&[("DEVELOPMENT", "false")], None).contains("MAGICK_TOKEN"));
    assert!(err(&[("MAGICK_TOKEN", "real-one-xyz")], None).contains("SALT_STRING"));
    assert!(err(&[("MAGICK_TOKEN", "change-me"), ("SALT_STRING", "x-real")], None).contains("MAGICK_TOKEN"));
    let s = Settings::from_sources(&env(&SECRETS), None, None).unwrap();
    assert!(!s.secrets.ephemeral);
    assert_eq!(s.secrets.jwt.expose(), b"a-real-secret-123");
}

#[test]
fn bad_values_name_their_key() {
    assert!(err(&[("PORT", "90x"), SECRETS[0], SECRETS[1]], None).starts_with("PORT"));
    assert!(err(&[("DEVELOPMENT", "maybe")], None).starts_with("DEVELOPMENT"));
    assert!(err(&SECRETS, Some("max_capacity_of_workspace = 0")).starts_with("max_capacity_of_workspace"));
    assert!(err(&SECRETS, Some("WORKSPACE_ID_LEN = 2")).starts_with("WORKSPACE_ID_LEN"));
    assert!(err(&SECRETS, Some("host = \"nowhere\"")).starts_with("host"));
    assert!(err(&SECRETS, Some("cors_origins = [\"example.com\"]")).starts_with("cors_origins"));
    assert!(err(&SECRETS, Some("ice_servers = [\"http://x\"]")).starts_with("ice_servers"));
    assert!(err(&SECRETS, Some("max_capacity = 3")).contains("unknown field"));
    assert!(err(&SECRETS, Some("presence_grace_secs = 0")).starts_with("presence_grace_secs"));
    assert!(err(&SECRETS, Some("metrics_address = \"nine\"")).starts_with("metrics_address"));
    assert!(err(&SECRETS, Some("log_format = \"xml\"")).starts_with("log_format"));
    assert!(err(&SECRETS, Some("trusted_proxies = [\"proxy\"]")).starts_with("trusted_proxies"));
    assert!(err(&SECRETS, Some("max_connections_per_ip = 0")).starts_with("max_connections_per_ip"));
    assert!(err(&SECRETS, Some("events_per_second = -1.0")).starts_with("events_per_second"));
    assert!(err(&SECRETS, Some("max_capacity_of_workspace = \"four\"")).contains("config.js.toml"));
    assert!(err(&[("ENABLE_HTTPS", "true"), SECRETS[0], SECRETS[1]], None).starts_with("https"));
    assert!(err(&[("TWILIO_ACCOUNT_SID", "AC1"), SECRETS[0], SECRETS[1]], None).starts_with("TWILIO_AUTH_TOKEN"));
}

#[test]
fn cors_origins_are_origins_and_nothing_else() {
    let parsed = |list: &str| {
        Settings::from_sources(&env(&SECRETS), None, Some(("c", &format!("cors_origins = {list}"))))
            .map(|s| s.cors_origins)
    };
    for bad in [
        "https://example.com/path",
        "https://example.com/",
        "https://example.com?x=1",
        "https://user@example.com",
        "https://example.com:0",
        "https://example.com:99999",
        "https://exa mple.com",
        "https://",
        "example.com",
    ] {
        let e = parsed(&format!("[{bad:?}]")).unwrap_err().to_string();
        assert!(e.starts_with("cors_origins") && e.contains(bad), "{bad}: {e}");
    }
    // Case and default ports name the same origin as a browser sends it.
    assert_eq!(
        parsed(
            r#"["HTTPS://App.Example.com:443", "http://localhost:8080", "http://[::1]:80", "capacitor://localhost"]"#
        )
        .unwrap(),
        CorsOrigins::List(vec![
            "https://app.example.com".into(),
            "http://localhost:8080".into(),
            "http://[::1]".into(),
            "capacitor://localhost".into(),
        ])
    );
}

#[test]
fn development_mode_only_when_asked_or_nothing_is_configured() {
    let start = |pairs: &[(&str, &str)], env_file: Option<&str>, config: Option<&str>| {
        Settings::from_sources(
            &env(pairs),
            env_file.map(std::path::Path::new),
            config.map(|t| ("c", t)),
        )
    };
    // Nothing at all (RUST_LOG is a log filter, not a deployment): development mode.
    assert!(start(&[], None, None).unwrap().development);
    assert!(start(&[("RUST_LOG", "debug")], None, None).unwrap().development);
    assert!(
        start(&[("DEVELOPMENT", "true"), ("PORT", "1")], Some(".env"), Some(""))
            .unwrap()
            .development
    );
    // Anything configured, and no secrets: refused, naming the key and how to make one.
    for (pairs, env_file, config) in [
        (&[("PORT", "8080")][..], Some(".env"), None),
        (&[("PORT", "8080"), ("ENABLE_HTTPS", "true")][..], Some(".env"), None),
        (&[][..], None, Some("json_storage_file = \"data/w.json\"")),
        (&[][..], Some(".env"), None),
        (&[("PORT", "8080")][..], None, None),
        (&[("SALT_STRING", "a-real-salt-1")][..], None, None),
    ] {
        let e = start(pairs, env_file, config).unwrap_err().to_string();
        assert!(
            e.starts_with("MAGICK_TOKEN is not set") && e.contains("openssl rand -hex 32"),
            "{pairs:?} {env_file:?} {config:?}: {e}"
        );
    }
    let e = start(&[("DEVELOPMENT", "false")], None, None).unwrap_err().to_string();
    assert!(
        e.starts_with("MAGICK_TOKEN is not set") && e.contains("DEVELOPMENT is false"),
        "{e}"
    );
}

#[test]
fn placeholder_secrets_are_refused() {
    for placeholder in [
        "9f1c…(64 random hex characters)",
        "change-me-to-a-long-random-string",
        "CHANGEME",
        "<your secret>",
        "...",
        "xxxxxxxxxxxxxxxx",
        "secret",
    ] {
        let e = err(&[("MAGICK_TOKEN", placeholder), SECRETS[1]], None);
        assert!(e.starts_with("MAGICK_TOKEN is a placeholder"), "{placeholder}: {e}");
    }
    // …but development mode replaces it, as it does a missing one.
    let s = Settings::from_sources(
        &env(&[("DEVELOPMENT", "true"), ("MAGICK_TOKEN", "changeme")]),
        None,
        None,
    )
    .unwrap();
    assert!(s.secrets.ephemeral);
}

#[test]
fn original_config_keys_are_read() {
    let s = Settings::from_sources(
        &env(&SECRETS),
        None,
        Some((
            "c",
            r#"
tokenDelimiter = "|"
WORKSPACE_ID_LEN = 12
untitled_workspace = "U"
default_workspace_avatar = "w.png"
anonymous_attendee = "A"
default_attendee_avatar = "a.png"
json_storage_file = ""
max_capacity_of_workspace = 8
cors_origins = ["https://app.example.com"]
[https]
key = "k.pem"
cert = "c.pem"
"#,
        )),
    )
    .unwrap();
    assert_eq!(s.token_delimiter, "|");
    assert_eq!(s.workspace_id_len, 12);
    assert_eq!(s.untitled_workspace, "U");
    assert_eq!(s.default_attendee_avatar, "a.png");
    assert_eq!(s.json_storage_file, None);
    assert_eq!(s.max_capacity_of_workspace, 8);
    assert_eq!(s.https.key, Some(PathBuf::from("k.pem")));
    assert_eq!(
        s.cors_origins,
        CorsOrigins::List(vec!["https://app.example.com".into()])
    );
}

#[test]
fn twilio_turn_and_limits_pairs_name_their_key() {
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&'static str, &'static str)> {
        SECRETS.iter().chain(extra).copied().collect()
    };
    assert!(err(&with(&[("TWILIO_AUTH_TOKEN", "tok")]), None).starts_with("TWILIO_ACCOUNT_SID"));
    assert!(err(&with(&[("TURN_SECRET", "north")]), None).starts_with("turn_urls"));
    assert!(err(&SECRETS, Some("turn_urls = [\"turn:t.example.com\"]")).starts_with("TURN_SECRET"));
    assert!(err(&SECRETS, Some("turn_urls = [\"stun:t.example.com\"]")).starts_with("turn_urls"));
    assert!(err(&SECRETS, Some("events_per_second = 5\nevent_burst = 0.5")).starts_with("event_burst"));
    assert!(err(&SECRETS, Some("[https]\nkey = \"k.pem\"\ncrt = \"c.pem\"")).contains("unknown field `crt`"));
    assert!(err(&SECRETS, Some("flush_window_ms = 60001")).starts_with("flush_window_ms"));
    assert!(err(&SECRETS, Some("twilio_api_base = \"ftp://x\"")).starts_with("twilio_api_base"));
    assert!(err(&SECRETS, Some("tokenDelimiter = \"\"")).starts_with("tokenDelimiter"));

    let s = Settings::from_sources(
        &env(&with(&[
            ("TURN_SECRET", "north"),
            ("TWILIO_ACCOUNT_SID", "AC1"),
            ("TWILIO_AUTH_TOKEN", "tok"),
        ])),
        None,
        Some(("c", "turn_urls = [\"turn:t.example.com\"]\nturn_ttl_secs = 600")),
    )
    .unwrap();
    let turn = s.turn_rest.unwrap();
    assert_eq!(turn.secret.expose(), "north");
    assert_eq!(turn.ttl, Duration::from_secs(600));
    let (sid, token) = s.twilio.unwrap();
    assert_eq!((sid.as_str(), token.expose().as_str()), ("AC1", "tok"));
}

#[test]
fn the_process_environment_values_are_read_as_given() {
    // Blank is unset; values keep their spaces except where they are parsed.
    let s = Settings::from_sources(
        &env(&[
            ("PORT", " 8080 "),
            ("DEVELOPMENT", " "),
            ("ENABLE_HTTPS", "no"),
            SECRETS[0],
            SECRETS[1],
        ]),
        None,
        None,
    )
    .unwrap();
    assert_eq!(s.port, 8080);
    assert!(!s.development && !s.enable_https && !s.secrets.ephemeral);
    // DEVELOPMENT=true with no secrets: random ones.
    let s = Settings::from_sources(&env(&[("DEVELOPMENT", "yes")]), None, None).unwrap();
    assert!(s.development && s.secrets.ephemeral);
    assert_ne!(s.secrets.jwt.expose(), s.secrets.salt.expose());
}

#[test]
fn no_secret_is_printable() {
    let values = [
        "jwt-value-1111",
        "salt-value-2222",
        "twilio-token-3333",
        "turn-secret-4444",
    ];
    let s = Settings::from_sources(
        &env(&[
            ("MAGICK_TOKEN", values[0]),
            ("SALT_STRING", values[1]),
            ("TWILIO_ACCOUNT_SID", "AC-not-secret"),
            ("TWILIO_AUTH_TOKEN", values[2]),
            ("TURN_SECRET", values[3]),
        ]),
        None,
        Some(("c", "turn_urls = [\"turn:t.example.com\"]")),
    )
    .unwrap();
    // Set, and readable through expose()…
    assert_eq!(s.secrets.jwt.expose(), values[0].as_bytes());
    assert_eq!(s.twilio.as_ref().unwrap().1.expose(), values[2]);
    assert_eq!(s.turn_rest.as_ref().unwrap().secret.expose(), values[3]);
    // …but never printed.
    for printed in [
        format!("{s:?}"),
        format!("{s:#?}"),
        format!("{:?}", s.secrets),
        format!("{:?}", s.turn_rest),
        format!("{:?} {}", s.twilio, s.twilio.as_ref().unwrap().1),
    ] {
        for v in values {
            assert!(!printed.contains(v), "{v} printed in {printed}");
        }
        assert!(printed.contains("[redacted]"), "{printed}");
    }
    assert!(format!("{s:?}").contains("AC-not-secret"));
}

#[test]
fn public_stun_is_the_default_of_ice_servers() {
    let s = Settings::from_sources(&env(&SECRETS), None, None).unwrap();
    assert_eq!(s.ice_servers, PUBLIC_STUN);
}

#[test]
fn limit_and_https_defaults_are_the_declared_ones() {
    let s = Settings::from_sources(&env(&SECRETS), None, None).unwrap();
    assert_eq!(format!("{:?}", LimitSettings::default()), format!("{:?}", s.limits));
    assert_eq!(format!("{:?}", HttpsFiles::default()), format!("{:?}", s.https));
    assert_eq!(s.limits.failed_pin_window, Duration::from_secs(60));
}

// --- the documentation, held against the declarations ------------------------

const CONFIG_JS_TOML: &str = include_str!("../../config.js.toml");
const README: &str = include_str!("../../README.md");
const ENV_SAMPLE: &str = include_str!("../../env-sample");

/// The declared keys, a table's keys as `table.key`.
fn flat(keys: &'static [Key]) -> BTreeMap<String, &'static Key> {
    let mut out = BTreeMap::new();
    for k in keys {
        if k.table.is_empty() {
            out.insert(k.name.to_string(), k);
        } else {
            for t in k.table {
                out.insert(format!("{}.{}", k.name, t.name), t);
            }
        }
    }
    out
}

/// What is wrong with a config file that should list every key with its default.
fn config_file_problems(text: &str) -> Vec<String> {
    fn walk(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>) {
        for (k, v) in table {
            let name = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(t) => walk(&name, t, out),
                v => {
                    out.insert(name, v.to_string());
                }
            }
        }
    }
    let table: toml::Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => return vec![format!("does not parse: {e}")],
    };
    let mut written = BTreeMap::new();
    walk("", &table, &mut written);
    let declared = flat(FILE_KEYS);
    let mut problems = Vec::new();
    for (name, key) in &declared {
        match written.get(name) {
            None => problems.push(format!("{name} is missing")),
            Some(v) if !key.is_default(v) => problems.push(format!(
                "{name} = {v}, but its default is {}",
                key.default.unwrap_or("none")
            )),
            Some(_) => {}
        }
    }
    problems.extend(
        written
            .keys()
            .filter(|k| !declared.contains_key(*k))
            .map(|k| format!("{k} is not a key")),
    );
    problems
}

/// A README table row: its key and its default (`None`: "—").
type Row = (String, Option<String>);

/// The `(key, default)` rows of the tables under "## Settings": a key is the
/// first `code` of its cell; a default is the first `code` of its cell, or `—` for none.
fn readme_tables(readme: &str) -> Result<Vec<Vec<Row>>, String> {
    let start = readme.find("\n## Settings\n").ok_or("no ## Settings section")?;
    let section = &readme[start + 1..];
    let section = &section[..section[1..].find("\n## ").map_or(section.len(), |e| e + 1)];
    let code = |cell: &str| -> Option<String> {
        let rest = cell.trim().strip_prefix('`')?;
        Some(rest[..rest.find('`')?].to_string())
    };
    let mut tables: Vec<Vec<Row>> = Vec::new();
    let mut in_table = false;
    for line in section.lines() {
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        if !in_table {
            // The header row; the separator row follows.
            tables.push(Vec::new());
            in_table = true;
            continue;
        }
        let cells: Vec<&str> = line.split('|').collect();
        if cells.len() < 4 || cells[1].trim().starts_with("---") {
            continue;
        }
        let key = code(cells[1]).ok_or(format!("row without a `key`: {line}"))?;
        let default = if cells[2].trim().starts_with('—') {
            None
        } else {
            Some(code(cells[2]).ok_or(format!("{key}: the default is neither `code` nor —: {line}"))?)
        };
        tables.last_mut().expect("a table").push((key, default));
    }
    Ok(tables)
}

/// What is wrong with a README table that should list `declared`, with their defaults.
fn table_problems(rows: &[Row], declared: &BTreeMap<String, &'static Key>) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, key) in declared {
        let found: Vec<_> = rows.iter().filter(|(k, _)| k == name).collect();
        match (found.as_slice(), key.default) {
            ([], _) => problems.push(format!("{name} has no row")),
            ([(_, None)], None) => {}
            ([(_, Some(w))], Some(_)) if key.is_default(w) => {}
            ([(_, w)], d) => problems.push(format!("{name}: the README says {w:?}, the declaration {d:?}")),
            _ => problems.push(format!("{name} has {} rows", found.len())),
        }
    }
    problems.extend(
        rows.iter()
            .filter(|(k, _)| !declared.contains_key(k))
            .map(|(k, _)| format!("{k} is not a key")),
    );
    problems
}

fn readme_problems(readme: &str) -> Vec<String> {
    let tables = match readme_tables(readme) {
        Ok(t) => t,
        Err(e) => return vec![e],
    };
    let [env_table, file_table] = tables.as_slice() else {
        return vec![format!("expected two tables under ## Settings, found {}", tables.len())];
    };
    let env_keys: BTreeMap<String, &'static Key> = ENV_KEYS.iter().map(|k| (k.name.to_string(), k)).collect();
    let mut problems = table_problems(env_table, &env_keys);
    problems.extend(table_problems(file_table, &flat(FILE_KEYS)));
    // Defaults quoted elsewhere, as "`key` (number)" (the Security table).
    let declared = flat(FILE_KEYS);
    for (name, key) in &declared {
        let quoted = format!("`{name}` (");
        for (at, _) in readme.match_indices(&quoted) {
            let rest = &readme[at + quoted.len()..];
            let value = &rest[..rest.find(')').unwrap_or(0)];
            if value.parse::<f64>().is_ok() && !key.is_default(value) {
                problems.push(format!(
                    "{name}: the README quotes ({value}), the default is {:?}",
                    key.default
                ));
            }
        }
    }
    problems
}

#[test]
fn config_js_toml_lists_every_key_with_its_default() {
    assert_eq!(config_file_problems(CONFIG_JS_TOML), Vec::<String>::new());
    // And reading it changes nothing.
    let without = Settings::from_sources(&env(&SECRETS), None, None).unwrap();
    let with = Settings::from_sources(&env(&SECRETS), None, Some(("config.js.toml", CONFIG_JS_TOML))).unwrap();
    assert_eq!(format!("{without:?}"), format!("{with:?}"));
}

#[test]
fn the_readme_tables_list_every_key_with_its_default() {
    assert_eq!(readme_problems(README), Vec::<String>::new());
}

#[test]
fn env_sample_lists_every_env_key() {
    for key in ENV_KEYS {
        let set = ENV_SAMPLE.lines().any(|l| {
            let l = l.trim_start_matches(['#', ' ']);
            l.strip_prefix(key.name).is_some_and(|rest| rest.starts_with('='))
        });
        assert!(set, "env-sample has no line {}=…", key.name);
    }
}

#[test]
fn the_documentation_checks_catch_a_drift() {
    let drifted = CONFIG_JS_TOML.replace("max_capacity_of_workspace = 4", "max_capacity_of_workspace = 5");
    assert_eq!(
        config_file_problems(&drifted),
        ["max_capacity_of_workspace = 5, but its default is 4"]
    );
    let missing = CONFIG_JS_TOML.replace("ca = \"\"", "");
    assert_eq!(config_file_problems(&missing), ["https.ca is missing"]);
    let extra = format!("{CONFIG_JS_TOML}\nnot_a_key = 1\n");
    assert_eq!(config_file_problems(&extra), ["https.not_a_key is not a key"]);

    let drifted = README.replace("| `WORKSPACE_ID_LEN` | `10` |", "| `WORKSPACE_ID_LEN` | `12` |");
    assert_eq!(readme_problems(&drifted).len(), 1, "{:?}", readme_problems(&drifted));
    let drifted = README.replace("`max_live_workspaces` (100000)", "`max_live_workspaces` (1000)");
    assert_eq!(readme_problems(&drifted).len(), 1, "{:?}", readme_problems(&drifted));
    let missing: String = README
        .lines()
        .filter(|l| !l.starts_with("| `TURN_SECRET`"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(readme_problems(&missing), ["TURN_SECRET has no row"]);
}
