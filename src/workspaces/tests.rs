//! The core's rules, each shown by a refusal or an event that would change
//! if the rule were gone.

use super::testing::{core, created, guest, profile, IP};
use super::*;
use crate::store::Membership;

fn alert(a: Alert) -> Rejection {
    Rejection::Alert(a)
}

#[tokio::test]
async fn the_owner_cannot_leave() {
    let (core, _) = core(10);
    let (_, owner, _) = created(&core).await;
    assert_eq!(core.leave(&owner).await.unwrap_err(), alert(Alert::OwnerCannotLeave));
    assert_eq!(
        core.membership(&owner.workspace, &owner.attendee).await,
        Ok(Membership::Member { owner: true })
    );
}

#[tokio::test]
async fn the_owner_cannot_kick_itself_nor_a_stranger() {
    let (core, _) = core(10);
    let (_, owner, _) = created(&core).await;
    assert_eq!(
        core.kick(&owner, &owner.attendee).await.unwrap_err(),
        alert(Alert::OwnerCannotBeKicked)
    );
    let stranger = crate::model::AttendeeId::generate(10);
    assert_eq!(
        core.kick(&owner, &stranger).await.unwrap_err(),
        alert(Alert::TargetNotMember)
    );
}

#[tokio::test]
async fn a_kicked_attendee_is_out_for_good_and_cannot_come_back() {
    let (core, recorded) = core(10);
    let (ws, owner, _) = created(&core).await;
    let (guest, _) = guest(&core, &ws, "guest").await;
    recorded.take();
    let done = core.kick(&owner, &guest.attendee).await.unwrap();
    assert_eq!(done.value.id, guest.attendee);
    assert!(matches!(
        &done.events[..],
        [WorkspaceEvent::Left { reason: LeaveReason::Kicked, attendee, .. }] if attendee.id == guest.attendee
    ));
    assert_eq!(recorded.take(), done.events, "the sink hears what the caller gets");
    assert_eq!(
        core.membership(&ws.id, &guest.attendee).await,
        Ok(Membership::NotMember)
    );
    // The guard lets a non-member try `re-attend` as lapsed; only a lapse may come back.
    let comeback = Caller {
        role: Role::Lapsed,
        ..guest
    };
    assert_eq!(core.re_attend(&comeback).await.unwrap_err(), alert(Alert::NoAccess));
}

#[tokio::test]
async fn a_lapsed_attendee_comes_back_with_re_attend() {
    let (core, recorded) = core(10);
    let (ws, _, _) = created(&core).await;
    let (guest, _) = guest(&core, &ws, "guest").await;
    let lapsed = core.lapse(&ws.id, &guest.attendee).await.unwrap().expect("lapsed");
    assert!(matches!(
        &lapsed.events[..],
        [WorkspaceEvent::Left {
            reason: LeaveReason::Lapsed,
            ..
        }]
    ));
    recorded.take();
    let back = Caller {
        role: Role::Lapsed,
        ..guest.clone()
    };
    let done = core.re_attend(&back).await.unwrap();
    assert_eq!(done.value.1.id, guest.attendee);
    assert!(matches!(
        &done.events[..],
        [WorkspaceEvent::Rejoined { restored: true, .. }]
    ));
    assert_eq!(recorded.take(), done.events);
    assert_eq!(
        core.membership(&ws.id, &guest.attendee).await,
        Ok(Membership::Member { owner: false })
    );
}

#[tokio::test]
async fn the_owner_never_lapses() {
    let (core, _) = core(10);
    let (ws, owner, _) = created(&core).await;
    assert!(core.lapse(&ws.id, &owner.attendee).await.unwrap().is_none());
}

#[tokio::test]
async fn attend_needs_the_invite_and_the_pin_and_a_seat() {
    let (core, recorded) = core(2);
    let (ws, _, _) = created(&core).await;
    recorded.take();
    let refused = |r: Result<Done<Joined>, Rejection>| r.unwrap_err();
    assert_eq!(
        refused(core.attend("not a token", "1234", profile("x"), IP).await),
        alert(Alert::WrongPin)
    );
    assert_eq!(
        refused(core.attend(&ws.token, "4321", profile("x"), IP).await),
        alert(Alert::WrongPin)
    );
    assert!(recorded.take().is_empty(), "a refusal causes no event");
    let (guest, _) = guest(&core, &ws, "guest").await;
    assert!(matches!(
        &recorded.take()[..],
        [WorkspaceEvent::Joined { attendee, .. }] if attendee.id == guest.attendee
    ));
    assert_eq!(
        refused(core.attend(&ws.token, "1234", profile("third"), IP).await),
        Rejection::Full
    );
}

#[tokio::test]
async fn destroy_names_every_member_and_expire_finds_nothing_after() {
    let (core, _) = core(10);
    let (ws, owner, _) = created(&core).await;
    let (guest, _) = guest(&core, &ws, "guest").await;
    let done = core.destroy(&owner).await.unwrap();
    let [WorkspaceEvent::Destroyed {
        reason: DestroyReason::Owner,
        attendees,
        ..
    }] = &done.events[..]
    else {
        panic!("{:?}", done.events)
    };
    assert!(attendees.contains(&owner.attendee) && attendees.contains(&guest.attendee));
    assert_eq!(core.destroy(&owner).await.unwrap_err(), Rejection::Destroyed);
    assert!(core.expire(&ws.id).await.unwrap().is_none());
}

#[tokio::test]
async fn a_leave_is_told_once() {
    let (core, recorded) = core(10);
    let (ws, _, _) = created(&core).await;
    let (guest, _) = guest(&core, &ws, "guest").await;
    recorded.take();
    core.leave(&guest).await.unwrap();
    assert_eq!(core.leave(&guest).await.unwrap_err(), alert(Alert::NoAccess));
    assert_eq!(recorded.take().len(), 1);
}

#[tokio::test]
async fn the_operator_cannot_remove_the_owner_and_removes_a_member_for_good() {
    let (core, recorded) = core(10);
    let (ws, owner, _) = created(&core).await;
    let (guest, _) = guest(&core, &ws, "guest").await;
    recorded.take();
    assert_eq!(
        core.remove_by_operator(&ws.id, &owner.attendee).await.unwrap_err(),
        alert(Alert::OwnerCannotBeKicked)
    );
    assert!(recorded.take().is_empty(), "a refusal causes nothing");
    let done = core.remove_by_operator(&ws.id, &guest.attendee).await.unwrap();
    assert!(matches!(
        &done.events[..],
        [WorkspaceEvent::Left { reason: LeaveReason::Removed, attendee, .. }] if attendee.id == guest.attendee
    ));
    assert_eq!(
        core.membership(&ws.id, &guest.attendee).await,
        Ok(Membership::NotMember)
    );
    assert_eq!(
        core.remove_by_operator(&ws.id, &guest.attendee).await.unwrap_err(),
        alert(Alert::TargetNotMember)
    );
}

#[tokio::test]
async fn a_new_pin_retires_every_earlier_invite() {
    let (core, _) = core(10);
    let (ws, _, _) = created(&core).await;
    let changes = Changes {
        pin: Some("9876".into()),
        ..Changes::default()
    };
    let after = core.change(&ws.id, changes).await.unwrap();
    assert_ne!(after.token, ws.token);
    for (invite, pin) in [(&ws.token, "9876"), (&ws.token, "1234"), (&after.token, "1234")] {
        assert_eq!(
            core.attend(invite, pin, profile("late"), IP).await.unwrap_err(),
            alert(Alert::WrongPin),
            "{pin} with the {} invite",
            if *invite == ws.token { "old" } else { "new" }
        );
    }
    core.attend(&after.token, "9876", profile("in"), IP).await.unwrap();
}

#[tokio::test]
async fn a_seat_minted_by_the_operator_respects_the_capacity() {
    let (core, recorded) = core(2);
    let (ws, _, _) = created(&core).await;
    recorded.take();
    let seat = core.seat(&ws.id, profile("seat")).await.unwrap();
    assert!(
        matches!(&seat.events[..], [WorkspaceEvent::Joined { attendee, .. }] if attendee.id == seat.value.attendee.id)
    );
    assert_eq!(
        core.seat(&ws.id, profile("one too many")).await.unwrap_err(),
        Rejection::Full
    );
}

#[tokio::test]
async fn an_operator_destroy_says_who_was_in_it() {
    let (core, _) = core(10);
    let (ws, owner, _) = created(&core).await;
    let (guest, _) = guest(&core, &ws, "guest").await;
    let done = core.destroy_by_operator(&ws.id).await.unwrap();
    let [WorkspaceEvent::Destroyed {
        reason: DestroyReason::Operator,
        attendees,
        ..
    }] = &done.events[..]
    else {
        panic!("{:?}", done.events)
    };
    assert_eq!(attendees.len(), 2);
    assert!(attendees.contains(&owner.attendee) && attendees.contains(&guest.attendee));
    assert_eq!(
        core.destroy_by_operator(&ws.id).await.unwrap_err(),
        Rejection::Destroyed
    );
}
