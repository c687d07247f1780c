//! `wrw_events_total{event, outcome}`. The handled events' counters are
//! registered once and kept: `metrics::counter!` builds its key, hashes it
//! and looks it up in the recorder's sharded map on every call, which a
//! profile of the `mic-toggle` broadcast showed next to the guard's own cost.
//! Refusals keep the lookup: they are rare, and their outcome label varies.

use std::sync::OnceLock;

use metrics::Counter;

use super::events::EventName;
use crate::telemetry::{self, EVENTS_TOTAL as METRIC};

const OK: &str = "ok";

/// Counts one event: `event` is `None` for a name not in the table (labelled
/// `unknown`, so a client cannot grow the label set); `refused` carries the
/// refusal's outcome label (`Rejection::event`).
pub fn count(event: Option<EventName>, refused: Option<&'static str>) {
    match (event, refused) {
        (Some(e), None) => handled()[e as usize].increment(1),
        (e, outcome) => {
            let label = e.map(EventName::wire).unwrap_or("unknown");
            metrics::counter!(METRIC, "event" => label, "outcome" => outcome.unwrap_or(OK)).increment(1)
        }
    }
}

/// One handle per event, in table order (`EventName as usize` indexes it).
fn handled() -> &'static [Counter] {
    static HANDLES: OnceLock<Vec<Counter>> = OnceLock::new();
    HANDLES.get_or_init(|| {
        // A handle taken before the recorder is installed would count nowhere, for good.
        telemetry::recorder();
        EventName::ALL
            .iter()
            .map(|e| metrics::counter!(METRIC, "event" => e.wire(), "outcome" => OK))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_order_is_the_enum_order() {
        for (i, e) in EventName::ALL.iter().enumerate() {
            assert_eq!(*e as usize, i, "{e:?}");
        }
    }
}
