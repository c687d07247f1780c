//! What the operator (the API, for an application's backend) asks of the
//! core. The operator is not a member: its key was checked before, and its
//! requests name workspaces and attendees directly. The changes go through
//! the same store steps and yield the same events as the members' own, with
//! their own reasons (`LeaveReason::Removed`, `DestroyReason::Operator`).

use super::{Alert, Done, Joined, LeaveReason, NewWorkspace, Profile, Rejection, Workspaces};
use super::{DestroyReason, Hold};
use crate::model::{Attendee, AttendeeId, PinCheck, Workspace, WorkspaceId};
use crate::store::{JoinError, JoinRefusal, WorkspaceUpdate};

/// One page of the workspaces, ordered by id.
#[derive(Debug)]
pub struct Page {
    pub workspaces: Vec<Workspace>,
    /// The id to continue after; `None` on the last page.
    pub next: Option<WorkspaceId>,
}

/// What the operator may change; `None` leaves it as it is.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    pub name: Option<String>,
    pub avatar: Option<String>,
    /// A new PIN, which also retires every invite handed out before.
    pub pin: Option<String>,
}

/// Characters of an invite's version (`Tokens::invite_token`).
const INVITE_VERSION_LEN: usize = 8;

impl Workspaces {
    /// Up to `limit` workspaces whose id sorts after `after`.
    pub async fn page(&self, after: Option<&WorkspaceId>, limit: usize) -> Result<Page, Rejection> {
        let mut ids = self.store.ids().await?;
        ids.sort_unstable();
        let start = after.map_or(0, |a| ids.partition_point(|id| id <= a));
        let mut workspaces = Vec::with_capacity(limit.min(ids.len()));
        let mut rest = ids[start..].iter();
        let mut last = None;
        for id in rest.by_ref() {
            // One gone between the listing and the read is left out.
            if let Some(w) = self.store.get(id).await? {
                workspaces.push(w);
            }
            last = Some(id);
            if workspaces.len() == limit {
                break;
            }
        }
        let next = match rest.next() {
            Some(_) => last.cloned(),
            None => None,
        };
        Ok(Page { workspaces, next })
    }

    /// The workspace `id` as stored.
    pub async fn find(&self, id: &WorkspaceId) -> Result<Workspace, Rejection> {
        self.store.get(id).await?.ok_or(Rejection::Destroyed)
    }

    /// A workspace made for the app's backend: within the live cap, but not
    /// the per-address one (the backend is one address creating for all its
    /// users). Nobody holds its owner yet: the owner's browser binds with
    /// `re-attend` and the access token returned here.
    pub async fn create_for_operator(&self, spec: NewWorkspace) -> Result<Done<Joined>, Rejection> {
        let live = self.store.workspace_count().await?;
        if live >= self.limits.settings.max_live_workspaces {
            return Err(JoinError::Refused(JoinRefusal::LiveLimit).into());
        }
        let (workspace, owner, access_token) = self.new_workspace(spec);
        self.store.create(workspace.clone()).await?;
        Ok(self.created(workspace, owner, access_token, Hold::ToRecord))
    }

    /// Changes a workspace's name, avatar or PIN; returns it after.
    pub async fn change(&self, id: &WorkspaceId, changes: Changes) -> Result<Workspace, Rejection> {
        let pin = changes.pin.map(|pin| {
            let version = crate::model::random_token(INVITE_VERSION_LEN);
            let check = PinCheck::Keyed(self.tokens.pin_check_for(id, Some(&version), &pin));
            (check, self.tokens.invite_token(id, Some(&version)))
        });
        let update = WorkspaceUpdate {
            name: changes.name,
            avatar: changes.avatar,
            pin,
        };
        self.store.update(id, update).await?;
        self.find(id).await
    }

    /// A seat minted by the app's backend: a newcomer let in without the
    /// PIN, within the capacity. Its browser binds with `re-attend` and the
    /// access token returned here.
    pub async fn seat(&self, id: &WorkspaceId, profile: Profile) -> Result<Done<Joined>, Rejection> {
        let attendee = self.new_attendee(profile);
        let workspace = self
            .store
            .add_attendee(id, attendee.clone(), self.rules.capacity)
            .await?;
        Ok(self.joined(workspace, attendee, Hold::ToRecord))
    }

    /// Removes a member for good; the owner cannot be removed.
    pub async fn remove_by_operator(&self, id: &WorkspaceId, target: &AttendeeId) -> Result<Done<Attendee>, Rejection> {
        let workspace = self.find(id).await?;
        if workspace.owner == *target {
            return Err(Rejection::Alert(Alert::OwnerCannotBeKicked));
        }
        self.remove(id, target, LeaveReason::Removed).await
    }

    /// Deletes the workspace, as its owner's `destroy` would.
    pub async fn destroy_by_operator(&self, id: &WorkspaceId) -> Result<Done<Workspace>, Rejection> {
        self.delete(id, DestroyReason::Operator).await
    }
}
