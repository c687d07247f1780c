//! The guard's rules, on the core a server runs (in-memory store), without
//! sockets: each test fails if its rule is taken out of `admit`.

use serde_json::{json, Value};

use super::*;
use crate::workspaces::testing::{core, created, guest};

/// What a client sends: the workspace, the sender under `field`, a token.
fn sent(workspace: &str, field: &str, attendee: &str, token: &str) -> Value {
    json!({ "workspace": { "id": workspace }, field: { "id": attendee }, "accessToken": token })
}

async fn admit_as(core: &Workspaces, rule: Rule, payload: Value) -> Result<Member, Rejection> {
    admit_rule(core, &mut TokenCache::default(), rule, payload).await
}

async fn admit_rule(
    core: &Workspaces,
    cache: &mut TokenCache,
    rule: Rule,
    payload: Value,
) -> Result<Member, Rejection> {
    admit(core, cache, rule, Ok(Payload::from_json(&payload.to_string()))).await
}

fn alert(a: Alert) -> Result<Role, Rejection> {
    Err(Rejection::Alert(a))
}

fn role(admitted: Result<Member, Rejection>) -> Result<Role, Rejection> {
    admitted.map(|m| m.role)
}

#[tokio::test]
async fn owner_only_events_admit_the_owner_alone() {
    let (core, _) = core(10);
    let (ws, owner, owner_token) = created(&core).await;
    let (guest, guest_token) = guest(&core, &ws, "guest").await;
    let as_guest = sent(ws.id.as_str(), "attendee", guest.attendee.as_str(), &guest_token);
    let as_owner = sent(ws.id.as_str(), "attendee", owner.attendee.as_str(), &owner_token);
    assert_eq!(
        role(admit_as(&core, Rule::OWNER, as_guest.clone()).await),
        alert(Alert::NotOwner)
    );
    assert_eq!(role(admit_as(&core, Rule::OWNER, as_owner).await), Ok(Role::Owner));
    assert_eq!(role(admit_as(&core, Rule::MEMBER, as_guest).await), Ok(Role::Attendee));
}

#[tokio::test]
async fn one_who_left_is_no_member_any_more() {
    let (core, _) = core(10);
    let (ws, _, _) = created(&core).await;
    let (guest, token) = guest(&core, &ws, "guest").await;
    core.leave(&guest).await.unwrap();
    let payload = sent(ws.id.as_str(), "attendee", guest.attendee.as_str(), &token);
    assert_eq!(
        role(admit_as(&core, Rule::MEMBER, payload).await),
        alert(Alert::NoAccess)
    );
}

#[tokio::test]
async fn a_kicked_attendees_token_opens_nothing_not_even_re_attend() {
    let (core, _) = core(10);
    let (ws, owner, _) = created(&core).await;
    let (guest, token) = guest(&core, &ws, "guest").await;
    core.kick(&owner, &guest.attendee).await.unwrap();
    let payload = sent(ws.id.as_str(), "attendee", guest.attendee.as_str(), &token);
    for rule in [Rule::MEMBER, Rule::BROADCASTER, Rule::OWNER] {
        let payload = sent(ws.id.as_str(), rule.sender, guest.attendee.as_str(), &token);
        assert_eq!(role(admit_as(&core, rule, payload).await), alert(Alert::NoAccess));
    }
    // `re-attend` admits a non-member as lapsed; the core then finds it was not.
    let member = admit_as(&core, Rule::RESTORES_LAPSED, payload).await.unwrap();
    assert_eq!(member.role, Role::Lapsed);
    assert_eq!(
        core.re_attend(&member).await.unwrap_err(),
        Rejection::Alert(Alert::NoAccess)
    );
}

#[tokio::test]
async fn a_token_must_name_its_sender_even_once_it_verified_on_the_socket() {
    let (core, _) = core(10);
    let (ws, owner, _) = created(&core).await;
    let (guest, token) = guest(&core, &ws, "guest").await;
    let cache = &mut TokenCache::default();
    let names = |attendee: &AttendeeId| sent(ws.id.as_str(), "attendee", attendee.as_str(), &token);
    // Unknown to the cache: the signature is checked, and it names the guest only.
    let refused = admit_cached(&core, cache, names(&owner.attendee)).await;
    assert_eq!(role(refused), alert(Alert::BadAccessToken));
    assert_eq!(
        role(admit_cached(&core, cache, names(&guest.attendee)).await),
        Ok(Role::Attendee)
    );
    // Now cached: the guest's token still does not speak for the owner.
    let refused = admit_cached(&core, cache, names(&owner.attendee)).await;
    assert_eq!(role(refused), alert(Alert::BadAccessToken));
}

async fn admit_cached(core: &Workspaces, cache: &mut TokenCache, payload: Value) -> Result<Member, Rejection> {
    admit_rule(core, cache, Rule::MEMBER, payload).await
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_refused() {
    let (core, _) = core(10);
    let (other, _) = crate::workspaces::testing::core_with_secret(10, b"another secret");
    let (ws, owner, _) = created(&core).await;
    let forged = other.tokens().access_token(&ws.id, &owner.attendee, true);
    let payload = sent(ws.id.as_str(), "attendee", owner.attendee.as_str(), &forged);
    assert_eq!(
        role(admit_as(&core, Rule::OWNER, payload).await),
        alert(Alert::BadAccessToken)
    );
}

/// The order of `docs/PROTOCOL.md` § The guard: the payload, the workspace
/// id, the sender's id, a token at all, the token, the store, ownership.
#[tokio::test]
async fn the_checks_run_in_the_protocols_order() {
    let (core, _) = core(10);
    let (ws, owner, owner_token) = created(&core).await;
    let (guest, guest_token) = guest(&core, &ws, "guest").await;
    let (ws_id, guest_id) = (ws.id.as_str(), guest.attendee.as_str());
    let not_an_object = admit(&core, &mut TokenCache::default(), Rule::OWNER, Err("[]".into())).await;
    assert_eq!(role(not_an_object), alert(Alert::NotAnObject));
    let cases = [
        (sent("bad", "attendee", "bad", ""), alert(Alert::BadWorkspaceId)),
        (sent(ws_id, "attendee", "bad", ""), alert(Alert::BadAttendeeId)),
        // The sender's field is the rule's: a relay names it `broadcaster`.
        (
            sent(ws_id, "broadcaster", guest_id, &guest_token),
            alert(Alert::BadAttendeeId),
        ),
        (sent(ws_id, "attendee", guest_id, ""), alert(Alert::NoAccess)),
        (
            sent(ws_id, "attendee", guest_id, "forged"),
            alert(Alert::BadAccessToken),
        ),
        (sent(ws_id, "attendee", guest_id, &guest_token), alert(Alert::NotOwner)),
    ];
    for (payload, expected) in cases {
        assert_eq!(
            role(admit_as(&core, Rule::OWNER, payload.clone()).await),
            expected,
            "{payload}"
        );
    }
    // The token is checked before the store is asked: a destroyed workspace
    // tells a forger nothing, and its members that it is gone.
    core.destroy(&owner).await.unwrap();
    let forged = sent(ws_id, "attendee", guest_id, "forged");
    assert_eq!(
        role(admit_as(&core, Rule::MEMBER, forged).await),
        alert(Alert::BadAccessToken)
    );
    let gone = sent(ws_id, "attendee", owner.attendee.as_str(), &owner_token);
    assert_eq!(
        role(admit_as(&core, Rule::MEMBER, gone).await),
        Err(Rejection::Destroyed)
    );
}
