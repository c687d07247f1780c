//! Smoke test of the load generator (examples/loadgen.rs, included here as a
//! module) against the real server binary: every mode runs for a moment with
//! tiny sizes, loses nothing and reports numbers. Every wait is bounded.

#[path = "../examples/loadgen.rs"]
#[allow(dead_code)]
mod loadgen;

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

/// The binary with the test settings, small workspaces and fast heartbeats,
/// plus `extra` (TOML lines).
fn start_server(extra: &str) -> common::bin::Serving {
    common::app()
        .config("max_capacity_of_workspace = 4\nping_interval_secs = 1\nping_timeout_secs = 1\n")
        .config(extra)
        .spawn_bin()
}

fn opts(addr: SocketAddr, pid: u32, mode: loadgen::Mode, eio: u8) -> loadgen::Opts {
    loadgen::Opts {
        addr,
        mode,
        eio,
        workspaces: 3,
        attendees: 3,
        depth: 2,
        warmup: Duration::from_millis(200),
        duration: Duration::from_millis(600),
        rate: 200.0,
        conns: 24,
        joined: 0.5,
        hold: None,
        server_pid: Some(pid),
        concurrency: 4,
        max_joins: 2_000,
        label: "smoke".into(),
        ..loadgen::Opts::default()
    }
}

async fn run(o: loadgen::Opts) -> Value {
    let what = format!("{:?} EIO={}", o.mode, o.eio);
    let r = tokio::time::timeout(Duration::from_secs(30), loadgen::run(&o))
        .await
        .unwrap_or_else(|_| panic!("{what}: no result within 30 s"))
        .unwrap_or_else(|e| panic!("{what}: {e:#}"));
    println!("{}", loadgen::summary(&r));
    r
}

fn assert_clean(what: &str, r: &Value) {
    assert_eq!(r["lost"], 0, "{what}: losses in {r}");
    assert_eq!(r["errors"], 0, "{what}: errors in {r}");
    assert_eq!(r["reordered"], 0, "{what}: reordering in {r}");
    assert_eq!(r["closed_sockets"], 0, "{what}: sockets closed in {r}");
    assert!(r["sent"].as_u64().unwrap() > 0, "{what}: nothing sent: {r}");
    assert!(r["msgs_per_s"].as_f64().unwrap() > 0.0, "{what}: no throughput: {r}");
    assert!(
        r["latency"]["samples"].as_u64().unwrap() > 0,
        "{what}: no latency samples: {r}"
    );
    assert!(r["latency"]["p99_ms"].as_f64().unwrap() > 0.0, "{what}: no p99: {r}");
    assert!(
        r["server_cpu_us_per_msg"].is_number(),
        "{what}: no CPU per message: {r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mode_runs_against_the_server_without_losses() {
    let server = start_server("");
    let (addr, pid) = (server.addr, server.pid());
    use loadgen::{Mode, Msg};

    for eio in [3, 4] {
        for msg in [Msg::Negotiation, Msg::IceCandidate] {
            let r = run(loadgen::Opts {
                msg,
                ..opts(addr, pid, Mode::Relay, eio)
            })
            .await;
            assert_clean(&format!("relay {msg:?} EIO={eio}"), &r);
        }
    }

    let r = run(opts(addr, pid, Mode::RelayOpen, 4)).await;
    assert_clean("relay-open", &r);
    assert_eq!(r["skipped_open_loop"], 0, "open loop fell behind: {r}");

    for eio in [3, 4] {
        let r = run(opts(addr, pid, Mode::Auth, eio)).await;
        assert_clean("mic-toggle", &r["mic_toggle"]);
        assert_clean("ring/answer", &r["ring_answer"]);
        // Every mic-toggle reaches the K-1 other attendees.
        let mic = &r["mic_toggle"];
        assert_eq!(
            mic["delivered"].as_u64().unwrap(),
            mic["sent"].as_u64().unwrap() * 2,
            "{mic}"
        );
    }

    let r = run(opts(addr, pid, Mode::Join, 4)).await;
    assert_eq!(r["errors"], 0, "join errors: {r}");
    assert!(r["server_cpu_us_per_join"].is_number(), "no CPU per join: {r}");
    assert!(r["joins_per_s"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["latency"]["p99_ms"].as_f64().unwrap() > 0.0, "{r}");

    let r = run(loadgen::Opts {
        prefill: 50,
        prefill_conns: 4,
        // `max_joins` also bounds the measured creates: let them outlast the warm-up.
        max_joins: 100_000,
        ..opts(addr, pid, Mode::Create, 4)
    })
    .await;
    assert_eq!(r["prefilled"], 50, "{r}");
    for field in ["errors", "unanswered", "mismatched", "closed_sockets"] {
        assert_eq!(r[field], 0, "create {field}: {r}");
    }
    assert!(r["creates_per_s"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["latency"]["p99_ms"].as_f64().unwrap() > 0.0, "{r}");

    for eio in [3, 4] {
        let r = run(opts(addr, pid, Mode::Idle, eio)).await;
        assert_eq!(r["all_up"], true, "idle EIO={eio}: sockets dropped: {r}");
        assert_eq!(r["conns"], 24, "{r}");
        assert_eq!(r["pinged"], 24, "idle EIO={eio}: heartbeats missing: {r}");
        assert!(r["rss_after_kib"].as_u64().unwrap() > 0, "{r}");
        assert!(r["hold_s"].as_f64().unwrap() >= 2.0, "{r}");
    }
}

/// Churn on a server of its own (its store must hold nothing else): after the
/// grace, no attendee, workspace or socket is left, and the curve is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_leaves_no_ghost() {
    let server = start_server("presence_grace_secs = 1\nworkspace_expiry_secs = 1\n");
    let (addr, pid) = (server.addr, server.pid());
    for eio in [3, 4] {
        let r = run(loadgen::Opts {
            cycles: 300,
            sample_every: 50,
            grace: Duration::from_secs(2),
            max_secs: Duration::from_secs(20),
            ..opts(addr, pid, loadgen::Mode::Churn, eio)
        })
        .await;
        let what = format!("churn EIO={eio}");
        assert_eq!(r["cycles"], 300, "{what}: {r}");
        assert_eq!(r["errors"], 0, "{what}: {r}");
        assert_eq!(r["clean_disconnects"], 150, "{what}: {r}");
        assert_eq!(r["dropped_disconnects"], 150, "{what}: {r}");
        assert_eq!(r["ghosts_checked"], true, "{what}: {r}");
        assert_eq!(r["ghosts"], 0, "{what}: ghosts left: {r}");
        assert_eq!(r["curve"].as_array().map(Vec::len), Some(6), "{what}: {r}");
        for point in r["curve"]
            .as_array()
            .unwrap()
            .iter()
            .chain([&r["warm"], &r["half"], &r["final"]])
        {
            assert!(point["rss_kib"].as_u64().unwrap() > 0, "{what}: {point}");
            assert!(point["fds"].as_u64().unwrap() > 0, "{what}: {point}");
        }
        assert_eq!(r["warm"]["cycles"], 30, "{what}: {r}");
        assert!(r["rss_return_pct"].is_number(), "{what}: {r}");
        assert!(r["fd_return_pct"].is_number(), "{what}: {r}");
        assert_eq!(r["half"]["cycles"], 150, "{what}: {r}");
        assert!(r["rss_second_half_pct"].is_number(), "{what}: {r}");
    }
}
