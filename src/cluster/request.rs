//! Reads, from the adapter's msgpack request as it is published, whether it
//! is a broadcast to exactly one room, and which: such a request only
//! concerns the nodes holding a socket in that room, so it goes on that
//! room's channel (`rooms.rs`) instead of the channel every node hears.
//!
//! The request is socketioxide-core's `RequestOut`, written by rmp-serde as
//! an array: `[node_id, id, type, packet, rooms, opts, (ack_timeout_ms)]`,
//! `opts` being `[flags, rooms, except, sid, server_id]`. The packet (an SDP
//! of kilobytes, which rmp-serde writes as an array of one integer per byte)
//! is stepped over, never decoded; the options after it are read.
//! Anything unexpected answers `None`, and the request takes the shared
//! channel as before: a wrong guess can only cost the filtering, never a
//! message.

/// The request type of a plain broadcast (`RequestTypeOut::Broadcast`).
const BROADCAST: u8 = 0;

/// The room of a broadcast to one room, or None.
pub fn single_room(msg: &[u8]) -> Option<&str> {
    let mut r = Reader { buf: msg, pos: 0 };
    if r.array()? < 6 {
        return None;
    }
    r.skip()?; // node_id
    r.skip()?; // id
    if r.uint()? != u64::from(BROADCAST) {
        return None;
    }
    r.skip()?; // packet
    r.skip()?; // rooms (of AddSockets/DelSockets: nil here)
    if r.array()? < 3 {
        return None;
    }
    r.skip()?; // flags
    if r.array()? != 1 {
        return None;
    }
    r.str()
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn be(&mut self, n: usize) -> Option<u64> {
        Some(self.take(n)?.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    fn array(&mut self) -> Option<usize> {
        match self.byte()? {
            b @ 0x90..=0x9f => Some(usize::from(b & 0x0f)),
            0xdc => self.be(2).map(|n| n as usize),
            0xdd => self.be(4).map(|n| n as usize),
            _ => None,
        }
    }

    fn uint(&mut self) -> Option<u64> {
        match self.byte()? {
            b @ 0x00..=0x7f => Some(u64::from(b)),
            0xcc => self.be(1),
            0xcd => self.be(2),
            0xce => self.be(4),
            0xcf => self.be(8),
            _ => None,
        }
    }

    fn str(&mut self) -> Option<&'a str> {
        let n = match self.byte()? {
            b @ 0xa0..=0xbf => usize::from(b & 0x1f),
            0xd9 => self.be(1)? as usize,
            0xda => self.be(2)? as usize,
            0xdb => self.be(4)? as usize,
            _ => return None,
        };
        std::str::from_utf8(self.take(n)?).ok()
    }

    /// Steps over one value of any type. Depth is bounded by the input's
    /// length (each level costs a byte), and the input is our own adapter's.
    fn skip(&mut self) -> Option<()> {
        let m = self.byte()?;
        let (data, items) = match m {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
            0x80..=0x8f => (0, 2 * usize::from(m & 0x0f)),
            0x90..=0x9f => (0, usize::from(m & 0x0f)),
            0xa0..=0xbf => (usize::from(m & 0x1f), 0),
            0xcc | 0xd0 => (1, 0),
            0xcd | 0xd1 => (2, 0),
            0xce | 0xd2 | 0xca => (4, 0),
            0xcf | 0xd3 | 0xcb => (8, 0),
            0xd4 => (2, 0),
            0xd5 => (3, 0),
            0xd6 => (5, 0),
            0xd7 => (9, 0),
            0xd8 => (17, 0),
            0xc4 | 0xd9 => (self.be(1)? as usize, 0),
            0xc5 | 0xda => (self.be(2)? as usize, 0),
            0xc6 | 0xdb => (self.be(4)? as usize, 0),
            0xc7 => (self.be(1)? as usize + 1, 0),
            0xc8 => (self.be(2)? as usize + 1, 0),
            0xc9 => (self.be(4)? as usize + 1, 0),
            0xdc => (0, self.be(2)? as usize),
            0xdd => (0, self.be(4)? as usize),
            0xde => (0, 2 * self.be(2)? as usize),
            0xdf => (0, 2 * self.be(4)? as usize),
            _ => return None,
        };
        self.take(data)?;
        let mut left = items;
        while left > 0 {
            // The packet's text arrives as an array of byte-sized integers
            // (a 3.5 KB SDP: 3 500 items, nearly all ASCII): eight one-byte
            // integers at a time where they are, else one item.
            if let Some(eight) = self.buf.get(self.pos..self.pos + 8).filter(|_| left >= 8) {
                let word = u64::from_le_bytes(eight.try_into().expect("eight bytes"));
                if word & 0x8080_8080_8080_8080 == 0 {
                    self.pos += 8;
                    left -= 8;
                    continue;
                }
            }
            match self.buf.get(self.pos) {
                Some(0x00..=0x7f) => self.pos += 1,
                Some(0xcc) => self.take(2).map(drop)?,
                _ => self.skip()?,
            }
            left -= 1;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socketioxide_core::adapter::remote_packet::{RequestOut, RequestTypeOut};
    use socketioxide_core::adapter::BroadcastOptions;
    use socketioxide_core::packet::Packet;
    use socketioxide_core::{Sid, Uid, Value};

    fn encoded(r#type: RequestTypeOut<'_>, rooms: &[&str], except: &[&str]) -> Vec<u8> {
        let mut opts = BroadcastOptions::new(Sid::new());
        opts.rooms = rooms.iter().map(|r| r.to_string().into()).collect();
        opts.except = except.iter().map(|r| r.to_string().into()).collect();
        rmp_serde::to_vec(&RequestOut::new(Uid::new(), r#type, &opts)).unwrap()
    }

    #[test]
    fn a_broadcast_to_one_room_names_it_and_nothing_else_does() {
        // ASCII, and bytes above 0x7f (written as two-byte integers), mixed.
        let sdp = format!("{}a=é✓\r\n{}", "v=0\r\n".repeat(350), "o=ü\r\n".repeat(233));
        let packet = Packet::event(
            "/",
            Value::Str(format!("[\"negotiation\",{{\"sdp\":\"{sdp}\"}}]").into(), None),
        );
        let one = encoded(RequestTypeOut::Broadcast(&packet), &["at:_abcdefghij"], &[]);
        assert_eq!(single_room(&one), Some("at:_abcdefghij"));
        let except = encoded(RequestTypeOut::Broadcast(&packet), &["ws:_abcdefghij"], &["at:_x"]);
        assert_eq!(
            single_room(&except),
            Some("ws:_abcdefghij"),
            "except narrows it further"
        );
        for (what, msg) in [
            (
                "two rooms",
                encoded(RequestTypeOut::Broadcast(&packet), &["a", "b"], &[]),
            ),
            (
                "no room (everyone)",
                encoded(RequestTypeOut::Broadcast(&packet), &[], &[]),
            ),
            (
                "with acks",
                encoded(RequestTypeOut::BroadcastWithAck(&packet), &["a"], &[]),
            ),
            (
                "a room change",
                encoded(RequestTypeOut::DelSockets(&vec!["a".into()]), &["a"], &[]),
            ),
            ("a disconnect", encoded(RequestTypeOut::DisconnectSockets, &["a"], &[])),
            ("a fetch", encoded(RequestTypeOut::FetchSockets, &["a"], &[])),
        ] {
            assert_eq!(single_room(&msg), None, "{what}");
        }
        // Cut before the room's last byte: no room, and never a panic.
        let room_end = one.windows(14).position(|w| w == b"at:_abcdefghij").unwrap() + 14;
        for n in 0..room_end {
            assert_eq!(single_room(&one[..n]), None, "cut at {n}");
        }
    }
}
