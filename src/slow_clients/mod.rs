//! Clients that read slower than they are sent to, or stopped reading. Two
//! halves, at two layers, with one bound (`stalled_socket_timeout_ms`):
//! `sends` handles a Socket.IO send that found a socket's queue full (sent
//! again once there is room, else dropped, counted and logged), and
//! `connections` cuts the TCP connection of a client that has read nothing
//! for that long, which is the only way to end such a socket (see there).
//! `backlog` keeps, in order, the relays from other nodes that wait for a
//! full socket's queue.

pub mod backlog;
pub mod connections;
pub mod sends;
