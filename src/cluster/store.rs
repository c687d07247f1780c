//! `Store` over Redis: one hash per workspace (its fields), one for its
//! attendees and one for its lapsed attendees, each change one script (see
//! `lua/prelude.lua` for the layout). Membership answers come from this
//! node's view when it has them.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::Cluster;
use crate::model::{Attendee, AttendeeId, PinCheck, Workspace, WorkspaceId};
use crate::store::{
    Attended, CreateGate, Hold, JoinError, JoinRefusal, Membership, PinGate, Store, StoreError, StoreStats,
    WorkspaceUpdate,
};

pub struct RedisStore(pub Arc<Cluster>);

/// A script's answer with a workspace: status, then its hashes as flat lists.
type Dump = (String, Vec<String>, Vec<String>, Vec<String>);
/// A script's answer with one attendee: status, then its JSON ("" when none).
type One = (String, String);

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("unreadable workspace in Redis: {what}"))
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serializes")
}

fn pairs(flat: Vec<String>) -> impl Iterator<Item = (String, String)> {
    let mut it = flat.into_iter();
    std::iter::from_fn(move || Some((it.next()?, it.next()?)))
}

fn attendees(flat: Vec<String>) -> Result<BTreeMap<AttendeeId, Attendee>, StoreError> {
    pairs(flat)
        .map(|(_, v)| {
            let a: Attendee = serde_json::from_str(&v).map_err(corrupt)?;
            Ok((a.id.clone(), a))
        })
        .collect()
}

fn workspace(id: &WorkspaceId, (_, meta, at, lapsed): Dump) -> Result<Workspace, StoreError> {
    let mut fields: BTreeMap<String, String> = pairs(meta).collect();
    let mut take = |k: &str| fields.remove(k).ok_or_else(|| corrupt(format!("{id}: no {k}")));
    Ok(Workspace {
        id: id.clone(),
        name: take("name")?,
        avatar: take("avatar")?,
        owner: serde_json::from_value(serde_json::Value::String(take("owner")?)).map_err(corrupt)?,
        created: take("created")?.parse().map_err(corrupt)?,
        token: take("token")?,
        pin_check: serde_json::from_str(&take("pin")?).map_err(corrupt)?,
        call: serde_json::from_str(&take("call")?).map_err(corrupt)?,
        attendees: attendees(at)?,
        lapsed: attendees(lapsed)?,
    })
}

/// The workspace of an `ok` answer; the other statuses as the store's errors.
fn dumped(id: &WorkspaceId, d: Dump) -> Result<Option<Workspace>, StoreError> {
    match d.0.as_str() {
        "ok" => workspace(id, d).map(Some),
        "none" => Ok(None),
        "notfound" => Err(StoreError::NotFound),
        "full" => Err(StoreError::Full),
        other => Err(corrupt(other)),
    }
}

fn one(o: One) -> Result<Option<Attendee>, StoreError> {
    match o.0.as_str() {
        "ok" => serde_json::from_str(&o.1).map(Some).map_err(corrupt),
        "none" => Ok(None),
        "notfound" => Err(StoreError::NotFound),
        other => Err(corrupt(other)),
    }
}

fn status(s: String) -> Result<(), StoreError> {
    match s.as_str() {
        "ok" => Ok(()),
        "notfound" => Err(StoreError::NotFound),
        "collision" => Err(StoreError::Backend("workspace id collision".into())),
        other => Err(corrupt(other)),
    }
}

/// The hash fields of a workspace, as `create` and `create_joined` store them.
fn fields(w: &Workspace) -> [(&'static str, String); 7] {
    [
        ("name", w.name.clone()),
        ("avatar", w.avatar.clone()),
        ("owner", w.owner.to_string()),
        ("created", w.created.to_string()),
        ("token", w.token.clone()),
        ("pin", json(&w.pin_check)),
        ("call", json(&w.call)),
    ]
}

fn refused(why: JoinRefusal) -> JoinError {
    JoinError::Refused(why)
}

impl RedisStore {
    async fn set_fields(&self, id: &WorkspaceId, fields: &[(&str, String)]) -> Result<(), StoreError> {
        let c = &self.0;
        let mut inv = c.invoke(&c.scripts.set_fields);
        inv.arg(id.as_str());
        for (k, v) in fields {
            inv.arg(*k).arg(v);
        }
        status(c.run(&inv).await?)
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn create(&self, w: Workspace) -> Result<(), StoreError> {
        let c = &self.0;
        let owner = w
            .attendees
            .get(&w.owner)
            .ok_or_else(|| corrupt("owner not an attendee"))?;
        let mut inv = c.invoke(&c.scripts.create);
        inv.arg(w.id.as_str()).arg(w.owner.as_str()).arg(json(owner));
        for (k, v) in fields(&w) {
            inv.arg(k).arg(v);
        }
        status(c.run(&inv).await?)
    }

    /// One script call: the limits, the insert and this node's hold.
    async fn create_joined(&self, w: Workspace, gate: &CreateGate) -> Result<Hold, JoinError> {
        let CreateGate::Shared {
            max_live,
            by_ip,
            max_by_ip,
            window,
        } = gate
        else {
            self.create(w).await?;
            return Ok(Hold::ToRecord);
        };
        let c = &self.0;
        let owner = w
            .attendees
            .get(&w.owner)
            .ok_or_else(|| corrupt("owner not an attendee"))?;
        let mut inv = c.invoke(&c.scripts.create_joined);
        inv.arg(w.id.as_str())
            .arg(w.owner.as_str())
            .arg(json(owner))
            .arg(&c.node_id)
            .arg(*max_live)
            .arg(by_ip)
            .arg(*max_by_ip)
            .arg(window.as_millis() as u64)
            .arg(c.join_deadline());
        for (k, v) in fields(&w) {
            inv.arg(k).arg(v);
        }
        // Counted as held before Redis records it: a reconcile in between
        // must not take the hold back (see `Cluster::hold_recorded`).
        let hold = c.hold_recorded(&w.id, &w.owner);
        let answer: String = c.run_join(&inv, &w.id, &w.owner).await.inspect_err(|_| hold.unsure())?;
        match answer.as_str() {
            "ok" => Ok(hold.keep()),
            "late" => Err(StoreError::Unavailable.into()),
            "live" => Err(refused(JoinRefusal::LiveLimit)),
            "limit" => Err(refused(JoinRefusal::CreateLimit)),
            other => Err(status(other.to_string()).err().unwrap_or_else(|| corrupt(other)).into()),
        }
    }

    /// One script call: the read, the PIN limit and check, the capacity
    /// check and insert, and this node's hold.
    async fn attend(
        &self,
        id: &WorkspaceId,
        attendee: Attendee,
        capacity: usize,
        offered: &str,
        gate: &PinGate,
    ) -> Result<Attended, JoinError> {
        let PinGate::Shared {
            by_ip,
            by_workspace,
            max_by_ip,
            max_by_workspace,
            window,
        } = gate
        else {
            return Err(corrupt("a local PIN gate on the shared store").into());
        };
        let c = &self.0;
        let mut inv = c.invoke(&c.scripts.attend);
        inv.arg(id.as_str())
            .arg(attendee.id.as_str())
            .arg(json(&attendee))
            .arg(capacity)
            .arg(json(&PinCheck::Keyed(offered.to_string())))
            .arg(&c.node_id)
            .arg(by_ip)
            .arg(by_workspace)
            .arg(*max_by_ip)
            .arg(*max_by_workspace)
            .arg(window.as_millis() as u64)
            .arg(c.join_deadline());
        let epoch = c.membership.epoch();
        let hold = c.hold_recorded(id, &attendee.id);
        let answer: Dump = c
            .run_join(&inv, id, &attendee.id)
            .await
            .inspect_err(|_| hold.unsure())?;
        match answer.0.as_str() {
            "joined" => {
                let workspace = workspace(id, answer)?;
                c.membership
                    .learn(epoch, id, &attendee.id, Membership::Member { owner: false });
                Ok(Attended::Joined(workspace, hold.keep()))
            }
            "ok" => Ok(Attended::Unchecked(workspace(id, answer)?)),
            "late" => Err(StoreError::Unavailable.into()),
            "locked" => Err(refused(JoinRefusal::PinLocked)),
            "wrongpin" => Err(refused(JoinRefusal::WrongPin)),
            _ => Err(dumped(id, answer)
                .err()
                .unwrap_or_else(|| corrupt("an attend's answer"))
                .into()),
        }
    }

    async fn get(&self, id: &WorkspaceId) -> Result<Option<Workspace>, StoreError> {
        let c = &self.0;
        match dumped(id, c.run(c.invoke(&c.scripts.get).arg(id.as_str())).await?) {
            Err(StoreError::NotFound) => Ok(None),
            other => other,
        }
    }

    async fn membership(&self, id: &WorkspaceId, attendee: &AttendeeId) -> Result<Membership, StoreError> {
        let c = &self.0;
        if let Some(known) = c.membership.get(id, attendee) {
            return Ok(known);
        }
        let epoch = c.membership.epoch();
        let code: i64 = c
            .run(c.invoke(&c.scripts.membership).arg(id.as_str()).arg(attendee.as_str()))
            .await?;
        let answer = match code {
            0 => Membership::NoWorkspace,
            1 => Membership::NotMember,
            2 => Membership::Member { owner: false },
            _ => Membership::Member { owner: true },
        };
        c.membership.learn(epoch, id, attendee, answer);
        Ok(answer)
    }

    async fn add_attendee(
        &self,
        id: &WorkspaceId,
        attendee: Attendee,
        capacity: usize,
    ) -> Result<Workspace, StoreError> {
        let c = &self.0;
        let mut inv = c.invoke(&c.scripts.add_attendee);
        inv.arg(id.as_str())
            .arg(attendee.id.as_str())
            .arg(json(&attendee))
            .arg(capacity);
        dumped(id, c.run(&inv).await?)?.ok_or(StoreError::NotFound)
    }

    async fn remove_attendee(&self, id: &WorkspaceId, attendee: &AttendeeId) -> Result<Option<Attendee>, StoreError> {
        let c = &self.0;
        let gone = one(c
            .run(
                c.invoke(&c.scripts.remove_attendee)
                    .arg(id.as_str())
                    .arg(attendee.as_str()),
            )
            .await?);
        c.membership.invalidate(id);
        gone
    }

    async fn set_pin_check(&self, id: &WorkspaceId, check: PinCheck, token: String) -> Result<(), StoreError> {
        self.set_fields(id, &[("pin", json(&check)), ("token", token)]).await
    }

    async fn update(&self, id: &WorkspaceId, update: WorkspaceUpdate) -> Result<(), StoreError> {
        let mut fields = Vec::new();
        if let Some(name) = update.name {
            fields.push(("name", name));
        }
        if let Some(avatar) = update.avatar {
            fields.push(("avatar", avatar));
        }
        if let Some((check, token)) = update.pin {
            fields.push(("pin", json(&check)));
            fields.push(("token", token));
        }
        self.set_fields(id, &fields).await
    }

    async fn set_call(&self, id: &WorkspaceId, call: serde_json::Value) -> Result<(), StoreError> {
        self.set_fields(id, &[("call", json(&call))]).await
    }

    async fn destroy(&self, id: &WorkspaceId) -> Result<Option<Workspace>, StoreError> {
        let c = &self.0;
        let before = c.run(c.invoke(&c.scripts.destroy).arg(id.as_str())).await?;
        c.membership.invalidate(id);
        match dumped(id, before) {
            Err(StoreError::NotFound) => Ok(None),
            other => other,
        }
    }

    async fn lapse_attendee(&self, id: &WorkspaceId, attendee: &AttendeeId) -> Result<Option<Attendee>, StoreError> {
        let c = &self.0;
        let gone = one(c
            .run(
                c.invoke(&c.scripts.lapse_attendee)
                    .arg(id.as_str())
                    .arg(attendee.as_str()),
            )
            .await?);
        c.membership.invalidate(id);
        gone
    }

    async fn restore_attendee(
        &self,
        id: &WorkspaceId,
        attendee: &AttendeeId,
        capacity: usize,
    ) -> Result<Option<Workspace>, StoreError> {
        let c = &self.0;
        let mut inv = c.invoke(&c.scripts.restore_attendee);
        inv.arg(id.as_str()).arg(attendee.as_str()).arg(capacity);
        dumped(id, c.run(&inv).await?)
    }

    async fn ids(&self) -> Result<Vec<WorkspaceId>, StoreError> {
        let c = &self.0;
        let ids: Vec<String> = c
            .query(redis::cmd("SMEMBERS").arg(format!("{}:workspaces", c.prefix)))
            .await?;
        Ok(ids.iter().filter_map(|s| WorkspaceId::parse(s, c.id_len)).collect())
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let c = &self.0;
        let mut pipe = redis::pipe();
        pipe.cmd("SCARD")
            .arg(format!("{}:workspaces", c.prefix))
            .cmd("GET")
            .arg(format!("{}:attendees", c.prefix));
        let (workspaces, attendees): (usize, Option<i64>) = c.query_pipe(&pipe).await?;
        Ok(StoreStats {
            workspaces,
            attendees: attendees.unwrap_or(0).max(0) as usize,
        })
    }

    async fn workspace_count(&self) -> Result<usize, StoreError> {
        let c = &self.0;
        c.query(redis::cmd("SCARD").arg(format!("{}:workspaces", c.prefix)))
            .await
    }
}
