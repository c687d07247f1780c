//! The one table of the events a client may send. Each entry gives the wire
//! name, the handler and, for a token-checked event, what the guard requires
//! of its sender; the enum, the name lookup, the metric label and the
//! handler lookup are generated from it. `dispatch`, which puts the guard in
//! front of every token-checked handler, is plain code below the table.
//! Adding a token-checked event is one entry here and one handler function.

use serde_json::Value;
use socketioxide::adapter::Adapter;

use super::guard::{self, Member, Rule};
use super::payload::Payload;
use super::{call, relay, workspace, Ctx, Rejection};

macro_rules! events {
    (
        unguarded { $($u:ident = $uname:literal => $uhandler:path,)* }
        guarded { $($g:ident = $gname:literal, $grule:expr => $ghandler:path,)* }
    ) => {
        /// An event a client may send.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum EventName {
            $($u,)*
            $($g,)*
        }

        impl EventName {
            /// Every event, in table order.
            pub const ALL: &'static [EventName] = &[$(EventName::$u,)* $(EventName::$g,)*];

            pub fn from_wire(name: &str) -> Option<EventName> {
                match name {
                    $($uname => Some(EventName::$u),)*
                    $($gname => Some(EventName::$g),)*
                    _ => None,
                }
            }

            /// The wire name, which is also its metric label.
            pub fn wire(self) -> &'static str {
                match self {
                    $(EventName::$u => $uname,)*
                    $(EventName::$g => $gname,)*
                }
            }

        }

        /// How an event is handled: as it comes, or after the guard admitted its sender.
        enum Kind {
            Open(Open),
            Guarded(Guarded, Rule),
        }

        /// An event that carries no access token.
        #[derive(Clone, Copy)]
        enum Open {
            $($u,)*
        }

        /// A token-checked event.
        #[derive(Clone, Copy)]
        enum Guarded {
            $($g,)*
        }

        impl EventName {
            fn kind(self) -> Kind {
                match self {
                    $(EventName::$u => Kind::Open(Open::$u),)*
                    $(EventName::$g => Kind::Guarded(Guarded::$g, $grule),)*
                }
            }
        }

        impl Open {
            async fn run<A: Adapter>(self, ctx: &mut Ctx<'_, A>, data: Result<Payload, String>) -> Result<(), Rejection> {
                match self {
                    $(Open::$u => $uhandler(ctx, data).await,)*
                }
            }
        }

        impl Guarded {
            async fn run<A: Adapter>(self, ctx: &mut Ctx<'_, A>, member: Member) -> Result<(), Rejection> {
                match self {
                    $(Guarded::$g => $ghandler(ctx, member).await,)*
                }
            }
        }
    };
}

events! {
    unguarded {
        IceServers = "iceservers" => workspace::iceservers,
        Create = "create" => workspace::create,
        Attend = "attend" => workspace::attend,
    }
    guarded {
        ReAttend = "re-attend", Rule::RESTORES_LAPSED => workspace::re_attend,
        Attendees = "attendees", Rule::MEMBER => workspace::attendees,
        Leave = "leave", Rule::MEMBER => workspace::leave,
        Kick = "kick", Rule::OWNER => workspace::kick,
        Destroy = "destroy", Rule::OWNER => workspace::destroy,
        Ring = "ring", Rule::MEMBER => call::ring,
        Answer = "answer", Rule::MEMBER => call::answer,
        Busy = "busy", Rule::MEMBER => call::busy,
        Hangup = "hangup", Rule::MEMBER => call::hangup,
        MicToggle = "mic-toggle", Rule::MEMBER => call::mic_toggle,
        CamToggle = "cam-toggle", Rule::MEMBER => call::cam_toggle,
        IceCandidate = "icecandidate", Rule::BROADCASTER => relay::icecandidate,
        Negotiation = "negotiation", Rule::BROADCASTER => relay::negotiation,
    }
}

impl EventName {
    /// What the guard requires of the sender; `None` for events that carry no access token.
    pub fn rule(self) -> Option<Rule> {
        match self.kind() {
            Kind::Guarded(_, rule) => Some(rule),
            Kind::Open(_) => None,
        }
    }
}

/// Runs the event's handler. A token-checked event's handler gets the
/// member the guard admitted, and nothing else: no handler touches workspace
/// state for a sender the guard did not admit.
pub(super) async fn dispatch<A: Adapter>(
    ctx: &mut Ctx<'_, A>,
    event: EventName,
    data: Result<Payload, String>,
) -> Result<(), Rejection> {
    match event.kind() {
        Kind::Open(open) => open.run(ctx, data).await,
        Kind::Guarded(guarded, rule) => {
            let member = guard::admit(&ctx.app.workspaces, &mut ctx.session.tokens, rule, data).await?;
            if !rule.restores_lapsed {
                // `re-attend` binds once the core has restored its sender.
                ctx.bind_member(&member).await;
            }
            guarded.run(ctx, member).await
        }
    }
}

/// The table as JSON, for the test suites (`--list-events`): each event's
/// name and, for token-checked ones, its sender field and whether it is owner-only.
pub fn as_json() -> Value {
    Value::Array(
        EventName::ALL
            .iter()
            .map(|e| match e.rule() {
                None => serde_json::json!({ "name": e.wire(), "guarded": false }),
                Some(r) => serde_json::json!({
                    "name": e.wire(),
                    "guarded": true,
                    "sender": r.sender,
                    "owner_only": r.owner_only,
                    "restores_lapsed": r.restores_lapsed,
                }),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_maps_back_to_its_event() {
        for e in EventName::ALL {
            assert_eq!(EventName::from_wire(e.wire()), Some(*e));
        }
        assert_eq!(EventName::from_wire("nope"), None);
    }
}
