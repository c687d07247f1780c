//! This node's view of who is a member of which workspace, so a relayed
//! `icecandidate`, `negotiation` or toggle costs no Redis round trip for its
//! membership check.
//!
//! Only answers that cannot become wrong without an invalidation are kept:
//! "member" (and whether owner), which only a kick, leave, lapse or destroy
//! undoes — each of which publishes the workspace on the invalidation
//! channel from inside the script that made the change — and "no such
//! workspace", which is final (ids are never reused). "Not a member" is never
//! kept: a join on another node would make it wrong without a message.
//!
//! A lookup that raced an invalidation (the answer read from Redis before the
//! change, the invalidation handled before the answer arrived) must not be
//! kept: every invalidation bumps `epoch`, and an answer is only stored when
//! the epoch did not move while it was being fetched.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;

use crate::model::{AttendeeId, WorkspaceId};
use crate::store::Membership;

/// Beyond this many workspaces the view starts over (memory stays bounded).
const MAX_WORKSPACES: usize = 200_000;

#[derive(Default)]
pub struct MembershipCache {
    workspaces: DashMap<WorkspaceId, Known>,
    epoch: AtomicU64,
}

enum Known {
    Destroyed,
    /// Members seen so far, and whether each is the owner.
    Members(HashMap<AttendeeId, bool>),
}

impl MembershipCache {
    /// What this node knows for sure, or None (ask Redis).
    pub fn get(&self, ws: &WorkspaceId, attendee: &AttendeeId) -> Option<Membership> {
        match &*self.workspaces.get(ws)? {
            Known::Destroyed => Some(Membership::NoWorkspace),
            Known::Members(m) => m.get(attendee).map(|&owner| Membership::Member { owner }),
        }
    }

    /// Taken before asking Redis; handed back to `learn` with the answer.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Keeps an answer fetched since `epoch`, if nothing was invalidated meanwhile.
    pub fn learn(&self, epoch: u64, ws: &WorkspaceId, attendee: &AttendeeId, answer: Membership) {
        if self.workspaces.len() >= MAX_WORKSPACES {
            self.clear();
        }
        let mut entry = match answer {
            Membership::NotMember => return,
            Membership::NoWorkspace => {
                self.workspaces.insert(ws.clone(), Known::Destroyed);
                return;
            }
            Membership::Member { .. } => self
                .workspaces
                .entry(ws.clone())
                .or_insert_with(|| Known::Members(HashMap::new())),
        };
        // Checked under the entry's lock: an invalidation takes the same lock.
        if self.epoch() != epoch {
            return;
        }
        if let (Known::Members(m), Membership::Member { owner }) = (&mut *entry, answer) {
            m.insert(attendee.clone(), owner);
        }
    }

    /// A workspace's membership shrank somewhere in the cluster.
    pub fn invalidate(&self, ws: &WorkspaceId) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        if let Some(mut known) = self.workspaces.get_mut(ws) {
            if let Known::Members(m) = &mut *known {
                m.clear();
            }
        }
    }

    /// Forgets everything (invalidations may have been missed while the
    /// subscription was down).
    pub fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.workspaces.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_that_raced_an_invalidation_is_not_kept() {
        let cache = MembershipCache::default();
        let (ws, at) = (WorkspaceId::generate(10), AttendeeId::generate(10));
        let before = cache.epoch();
        cache.invalidate(&ws);
        cache.learn(before, &ws, &at, Membership::Member { owner: false });
        assert_eq!(cache.get(&ws, &at), None);
        cache.learn(cache.epoch(), &ws, &at, Membership::Member { owner: false });
        assert_eq!(cache.get(&ws, &at), Some(Membership::Member { owner: false }));
        cache.invalidate(&ws);
        assert_eq!(cache.get(&ws, &at), None);
    }

    #[test]
    fn not_a_member_is_never_kept_and_destroyed_is_final() {
        let cache = MembershipCache::default();
        let (ws, at) = (WorkspaceId::generate(10), AttendeeId::generate(10));
        cache.learn(cache.epoch(), &ws, &at, Membership::NotMember);
        assert_eq!(cache.get(&ws, &at), None);
        cache.learn(cache.epoch(), &ws, &at, Membership::NoWorkspace);
        cache.invalidate(&ws);
        assert_eq!(cache.get(&ws, &at), Some(Membership::NoWorkspace));
    }
}
