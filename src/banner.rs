//! What the server says on stdout once it listens: the address (tests and
//! scripts read the port from it), the mode, the store and the ICE servers it
//! hands out. Plain lines, or with `log_format = "json"` one JSON object per
//! line shaped like the log lines, so a log collector reads the start too. It
//! bypasses `RUST_LOG`: whoever started the server needs the address whatever
//! the log filter.

use std::net::SocketAddr;

use serde_json::json;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use wrw::settings::{LogFormat, Settings};

/// What the banner reports, gathered before `serve` consumes the settings.
pub struct Banner {
    format: LogFormat,
    mode: &'static str,
    store: String,
    ice_servers: String,
    operator_api: bool,
    webhook_urls: usize,
}

impl Banner {
    pub fn new(settings: &Settings) -> Banner {
        let store = match (&settings.redis_url, &settings.json_storage_file) {
            (Some(_), _) => format!("cluster node {}, workspaces in Redis", settings.node_id),
            (None, Some(file)) => format!("workspaces stored in {}", file.display()),
            (None, None) => "in-memory store".to_string(),
        };
        Banner {
            format: settings.log_format,
            mode: if settings.development {
                "development mode"
            } else {
                "production mode"
            },
            store,
            ice_servers: wrw::ice::describe(settings),
            operator_api: settings.operator_api_keys.is_some(),
            webhook_urls: settings.webhook_urls.len(),
        }
    }

    /// Prints the banner for a server listening at `scheme://addr`.
    /// `metrics` and `operator`: their listeners, when they have their own.
    pub fn print(&self, scheme: &str, addr: SocketAddr, metrics: Option<SocketAddr>, operator: Option<SocketAddr>) {
        let url = format!("{scheme}://{addr}");
        self.line(
            format!(
                "webRTCWorkspaces signaling server {} listening on {url} ({}, {})",
                wrw::VERSION,
                self.mode,
                self.store
            ),
            json!({"version": wrw::VERSION, "url": url, "mode": self.mode, "store": self.store}),
        );
        self.line(
            format!("ICE servers handed out: {}", self.ice_servers),
            json!({"ice_servers": self.ice_servers}),
        );
        if let Some(addr) = metrics {
            let url = format!("http://{addr}/metrics");
            self.line(format!("metrics on {url}"), json!({"metrics_url": url}));
        }
        if self.operator_api {
            let api = match operator {
                Some(addr) => format!("http://{addr}/api/v1"),
                None => format!("{url}/api/v1"),
            };
            self.line(format!("operator API on {api}"), json!({"operator_api_url": api}));
        }
        if self.webhook_urls > 0 {
            self.line(
                format!("webhooks to {} URL(s)", self.webhook_urls),
                json!({"webhook_urls": self.webhook_urls}),
            );
        }
    }

    fn line(&self, message: String, fields: serde_json::Value) {
        match self.format {
            LogFormat::Text => println!("{message}"),
            LogFormat::Json => {
                let mut timestamp = String::new();
                let _ = SystemTime.format_time(&mut Writer::new(&mut timestamp));
                let mut fields = fields;
                fields["message"] = json!(message);
                println!(
                    "{}",
                    json!({"timestamp": timestamp, "level": "INFO", "fields": fields, "target": module_path!()})
                );
            }
        }
    }
}
