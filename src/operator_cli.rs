//! `workspaces …`: the operator API (`/api/v1`) from a shell, so that an
//! operator needs neither curl nor the key on a command line (where `ps` and
//! the shell's history would show it): the address and the key come from the
//! `.env` and `config.js.toml` the server itself reads.
//!
//! Exit codes as the server's: 2 when the settings cannot say where to call
//! or with what (the same words a start would print), 1 when the call fails.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use reqwest::{Client, Method, StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use wrw::settings::{OperatorEndpoint, Secret, Settings, SettingsError};

use crate::healthcheck::{self, Peer};

/// Bound on each request: a hung server is reported, not waited on forever.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Where the API sits under the server's URL.
const API_PATH: [&str; 2] = ["api", "v1"];
/// The API's largest page.
const PAGE_MAX: usize = 200;
/// Without `--limit`, a listing stops here: a terminal (or a script that
/// forgot `--limit`) is no place for an unbounded number of lines.
const LIST_BOUND: usize = 10_000;

#[derive(Args)]
pub struct Workspaces {
    /// The server's URL (e.g. https://signal.example.com, or with /api/v1)
    /// instead of the one these settings start; its certificate is verified.
    #[arg(long, value_name = "URL", global = true)]
    url: Option<String>,
    /// Print the API's JSON as is, for scripts (destroy and kick: nothing, the API answers 204).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// List the workspaces in id order (all of them, up to 10 000, unless --limit).
    List {
        /// At most N workspaces.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        limit: Option<u32>,
    },
    /// Show a workspace and its attendees.
    Show {
        #[arg(value_parser = id)]
        id: String,
    },
    /// Destroy a workspace: its room hears `destroyed` and every socket leaves it.
    Destroy {
        #[arg(value_parser = id)]
        id: String,
    },
    /// Remove an attendee (not the owner): the room hears `kicked`, and its
    /// access token is refused from then on.
    Kick {
        #[arg(value_parser = id)]
        id: String,
        #[arg(value_parser = id)]
        attendee: String,
    },
}

/// An id for a path segment. Any other text is sent encoded, and the server
/// answers `not_found`; but "", "." and ".." would be read as path steps
/// (`show ..` would list, `kick .. ..` would call another path).
fn id(text: &str) -> Result<String, String> {
    match text {
        "" | "." | ".." => Err("not an id".into()),
        id => Ok(id.to_string()),
    }
}

/// Runs `workspaces …` and exits: 0 done, 1 the call failed, 2 a configuration problem.
pub fn run(settings: Result<Settings, SettingsError>, args: &Workspaces) -> ! {
    let api = match settings
        .map_err(|e| anyhow!("configuration error: {e}"))
        .and_then(|s| Api::new(s, args.url.as_deref()))
    {
        Ok(api) => api,
        Err(e) => {
            eprintln!("{e:#}");
            std::process::exit(2);
        }
    };
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
        .and_then(|rt| rt.block_on(api.act(&args.action, args.json)));
    match outcome {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(out.as_bytes()).and_then(|()| stdout.flush()) {
                // `… | head` having read enough is no failure.
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    eprintln!("writing the output: {e}");
                    std::process::exit(1);
                }
                _ => std::process::exit(0),
            }
        }
        Err(e) => {
            eprintln!("{e:#}");
            std::process::exit(1);
        }
    }
}

/// The operator API of one server, and the key to call it with.
struct Api {
    client: Client,
    /// The API's root (`…/api/v1`), to which each call appends its path segments.
    root: Url,
    key: Secret<String>,
}

impl Api {
    fn new(settings: Settings, url: Option<&str>) -> anyhow::Result<Api> {
        let key = settings
            .operator_api_keys
            .as_ref()
            .map(|keys| keys.first().clone())
            .ok_or_else(|| anyhow!("OPERATOR_API_KEYS is not set: the operator API is off"))?;
        let (client, server) = match url {
            Some(url) => {
                let client = healthcheck::client(Peer::Elsewhere, TIMEOUT).map_err(|e| anyhow!(e))?;
                (client, server_url(url)?)
            }
            None => {
                let origin = match settings.operator {
                    OperatorEndpoint::SamePort => healthcheck::origin(&settings),
                    OperatorEndpoint::Separate(addr) if addr.port() == 0 => {
                        Err("operator_address has port 0 (any free port): there is no known port to connect to".into())
                    }
                    OperatorEndpoint::Separate(addr) => Ok(format!("http://{}", healthcheck::reachable(addr))),
                };
                let origin = origin.map_err(|e| anyhow!(e))?;
                let client = healthcheck::client(Peer::OwnServer, TIMEOUT).map_err(|e| anyhow!(e))?;
                (
                    client,
                    Url::parse(&origin).with_context(|| format!("the server's URL {origin}"))?,
                )
            }
        };
        Ok(Api {
            client,
            root: api_root(server),
            key,
        })
    }

    /// What the action prints on success.
    async fn act(&self, action: &Action, json: bool) -> anyhow::Result<String> {
        match action {
            Action::List { limit } => self.list(limit.map_or(LIST_BOUND, |n| n as usize), json).await,
            Action::Show { id } => {
                let body = self.call(Method::GET, &["workspaces", id], &[]).await?;
                if json {
                    return Ok(line(body));
                }
                let shown: Shown = parse(&body, "a workspace")?;
                Ok(shown.render())
            }
            Action::Destroy { id } => {
                self.call(Method::DELETE, &["workspaces", id], &[]).await?;
                Ok(if json {
                    String::new()
                } else {
                    format!("destroyed workspace {id}\n")
                })
            }
            Action::Kick { id, attendee } => {
                self.call(Method::DELETE, &["workspaces", id, "attendees", attendee], &[])
                    .await?;
                Ok(if json {
                    String::new()
                } else {
                    format!("kicked attendee {attendee} from workspace {id}\n")
                })
            }
        }
    }

    /// Up to `cap` workspaces, page after page. With `json`, the pages'
    /// workspaces as one page of the API's shape, whose `next_cursor` says
    /// where the listing stopped (null: at the end).
    async fn list(&self, cap: usize, json: bool) -> anyhow::Result<String> {
        let mut listed: Vec<Box<RawValue>> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let size = cap.saturating_sub(listed.len()).min(PAGE_MAX);
            let mut query = vec![("limit", size.to_string())];
            if let Some(c) = &cursor {
                query.push(("cursor", c.clone()));
            }
            let page: Page = parse(
                &self.call(Method::GET, &["workspaces"], &query).await?,
                "a page of workspaces",
            )?;
            // A page with nothing on it and a cursor would never end.
            if page.workspaces.is_empty() && page.next_cursor.is_some() {
                bail!("the server answered an empty page that is not the last one");
            }
            listed.extend(page.workspaces);
            cursor = page.next_cursor;
            if cursor.is_none() || listed.len() >= cap {
                break;
            }
        }
        if cursor.is_some() {
            eprintln!(
                "(stopped after {} workspaces; more follow{})",
                listed.len(),
                if cap == LIST_BOUND {
                    ""
                } else {
                    ": a larger --limit lists them"
                }
            );
        }
        if json {
            let page = serde_json::to_string(&Listed {
                workspaces: &listed,
                next_cursor: cursor.as_deref(),
            })?;
            return Ok(line(page));
        }
        let rows = listed
            .iter()
            .map(|raw| {
                let w: Summary = parse(raw.get(), "a workspace")?;
                Ok(vec![
                    w.id,
                    w.attendees.to_string(),
                    w.connected.to_string(),
                    created(&w.created),
                    printable(&w.name),
                ])
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(table(&["ID", "ATTENDEES", "CONNECTED", "CREATED", "NAME"], rows))
    }

    /// One request; the body of a 2xx answer, else the API's error as the error.
    async fn call(&self, method: Method, path: &[&str], query: &[(&str, String)]) -> anyhow::Result<String> {
        let mut url = self.root.clone();
        url.path_segments_mut().expect("an http(s) URL has a path").extend(path);
        let what = format!("{method} {url}");
        let response = self
            .client
            .request(method, url)
            .bearer_auth(self.key.expose())
            .query(query)
            .send()
            .await
            .map_err(reqwest::Error::without_url)
            .with_context(|| what.clone())?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .text()
            .await
            .map_err(reqwest::Error::without_url)
            .with_context(|| format!("{what}: reading the answer"))?;
        if status.is_success() {
            return Ok(body);
        }
        let mut reason = match serde_json::from_str::<ApiError>(&body) {
            Ok(ApiError { error }) => format!("{} ({}, {status})", error.message, error.code),
            Err(_) if status == StatusCode::NOT_FOUND => {
                format!("{status}: no operator API there (is OPERATOR_API_KEYS set where the server runs?)")
            }
            Err(_) => format!("{status}: {}", printable(&body.chars().take(200).collect::<String>())),
        };
        if let Some(secs) = retry_after {
            let _ = write!(reason, "; retry after {secs} s");
        }
        bail!("{what}: {reason}")
    }
}

/// The URL `--url` names: a server, or its API root.
fn server_url(url: &str) -> anyhow::Result<Url> {
    let parsed = Url::parse(url).with_context(|| format!("--url {url}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.query().is_some() || parsed.fragment().is_some() {
        bail!("--url {url}: expected http(s)://host[:port][/path]");
    }
    Ok(parsed)
}

/// `server` + `/api/v1`, unless `server` already ends with it.
fn api_root(mut server: Url) -> Url {
    let ends_with_api = {
        let segments: Vec<&str> = server
            .path_segments()
            .map(|s| s.filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        segments.ends_with(&API_PATH)
    };
    let mut path = server.path_segments_mut().expect("an http(s) URL has a path");
    path.pop_if_empty();
    if !ends_with_api {
        path.extend(API_PATH);
    }
    drop(path);
    server
}

fn parse<'a, T: Deserialize<'a>>(body: &'a str, what: &str) -> anyhow::Result<T> {
    serde_json::from_str(body).with_context(|| format!("the server's answer is not {what} of the operator API"))
}

/// `text` ending with one newline, so that a shell prompt starts on a line of its own.
fn line(mut text: String) -> String {
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

#[derive(Deserialize)]
struct ApiError {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
}

#[derive(Deserialize)]
struct Page {
    workspaces: Vec<Box<RawValue>>,
    next_cursor: Option<String>,
}

/// The pages read, as one page: each workspace as the server wrote it.
#[derive(Serialize)]
struct Listed<'a> {
    workspaces: &'a [Box<RawValue>],
    next_cursor: Option<&'a str>,
}

#[derive(Deserialize)]
struct Summary {
    id: String,
    name: String,
    created: serde_json::Value,
    attendees: u64,
    connected: u64,
}

#[derive(Deserialize)]
struct Shown {
    id: String,
    name: String,
    created: serde_json::Value,
    owner: String,
    token: String,
    attendees: Vec<Member>,
}

#[derive(Deserialize)]
struct Member {
    id: String,
    name: String,
    owner: bool,
    connected: bool,
}

impl Shown {
    fn render(&self) -> String {
        let yes = |b: bool| if b { "yes" } else { "no" }.to_string();
        let connected = self.attendees.iter().filter(|a| a.connected).count();
        let mut out = columns(&[
            vec!["id:".into(), self.id.clone()],
            vec!["name:".into(), printable(&self.name)],
            vec!["owner:".into(), self.owner.clone()],
            vec!["created:".into(), created(&self.created)],
            vec!["invite token:".into(), self.token.clone()],
            vec![
                "attendees:".into(),
                format!("{} ({connected} connected)", self.attendees.len()),
            ],
        ]);
        out.push('\n');
        let rows: Vec<Vec<String>> = self
            .attendees
            .iter()
            .map(|a| vec![a.id.clone(), yes(a.owner), yes(a.connected), printable(&a.name)])
            .collect();
        out + &table(&["ATTENDEE", "OWNER", "CONNECTED", "NAME"], rows)
    }
}

/// `rows` under `header`.
fn table(header: &[&str], mut rows: Vec<Vec<String>>) -> String {
    rows.insert(0, header.iter().map(|h| h.to_string()).collect());
    columns(&rows)
}

/// Columns padded to their widest cell, the last one (free text) not padded.
fn columns(rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        widths.resize(widths.len().max(row.len()), 0);
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let last = row.len().saturating_sub(1);
        for (i, cell) in row.iter().enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                let _ = write!(out, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.truncate(out.trim_end_matches(' ').len());
        out.push('\n');
    }
    out
}

/// A name as one line: a name is anyone's text, and a newline or an escape
/// sequence in it must not forge lines or drive the terminal.
fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// `created` (milliseconds since the epoch) as an ISO-8601 UTC time; anything else as it came.
fn created(value: &serde_json::Value) -> String {
    match value.as_u64().and_then(iso8601) {
        Some(t) => t,
        None => value.to_string(),
    }
}

/// Milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`, for years up to 9999.
fn iso8601(millis: u64) -> Option<String> {
    /// 9999-12-31T23:59:59.999Z.
    const LAST: u64 = 253_402_300_799_999;
    (millis <= LAST).then(|| wrw::model::iso8601(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc() {
        assert_eq!(iso8601(0).unwrap(), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_123).unwrap(), "2000-02-29T00:00:00.123Z");
        assert_eq!(iso8601(1_796_667_882_000).unwrap(), "2026-12-07T18:24:42.000Z");
        assert_eq!(iso8601(253_402_300_799_999).unwrap(), "9999-12-31T23:59:59.999Z");
        assert_eq!(iso8601(253_402_300_800_000), None);
        assert_eq!(created(&serde_json::json!("soon")), "\"soon\"");
    }

    #[test]
    fn the_api_root_is_appended_once() {
        for (given, root) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/api/v1"),
            ("https://h.example/", "https://h.example/api/v1"),
            ("https://h.example/api/v1/", "https://h.example/api/v1"),
            ("https://h.example/signal", "https://h.example/signal/api/v1"),
        ] {
            assert_eq!(api_root(server_url(given).unwrap()).as_str(), root, "{given}");
        }
        assert!(server_url("ftp://h.example").is_err());
        assert!(server_url("h.example:8080").is_err());
    }

    #[test]
    fn names_stay_on_their_line() {
        assert_eq!(printable("a\nb\u{1b}[2Jc é"), "a\\nb\\u{1b}[2Jc é");
    }
}
