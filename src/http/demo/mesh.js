// The call: one RTCPeerConnection per other attendee (a mesh), set up with
// the protocol's `ring` / `answer` / `icecandidate` (docs/PROTOCOL.md § Client → server events).
//
// A `ring` always starts a fresh connection: that is how a reloaded page
// comes back into a call (its peers drop the connection they had to it).
// Two attendees may ring each other at the same moment; then the ring of the
// smaller id wins on both sides, and the other one answers it.
//
// Candidates are held back until the ring or answer they belong to has been
// sent, and applied only once the connection has its remote description (the
// server may forward a candidate before the ring it followed).

export class Mesh {
  /**
   * @param {object} o
   * @param {() => string} o.me          this attendee's id
   * @param {() => RTCIceServer[]} o.iceServers
   * @param {() => MediaStream|null} o.stream  local media (null: receive only)
   * @param {(name: string, payload: object) => void} o.send  emits with workspace and token added
   * @param {(peerId: string, stream: MediaStream) => void} o.onStream  a new connection's remote media
   * @param {(peerId: string) => void} o.onChange  a connection changed (state, added, removed)
   */
  constructor(o) {
    Object.assign(this, o);
    /** peer id → {pc, ours (we rang), held (outgoing candidates), queued (incoming)} */
    this.peers = new Map();
    /** incoming candidates of peers with no connection yet */
    this.early = new Map();
  }

  ids() {
    return [...this.peers.keys()];
  }

  pc(peerId) {
    const p = this.peers.get(peerId);
    return p ? p.pc : null;
  }

  /** Rings `peerId` into call `call` ({id}). */
  async ring(peerId, call) {
    const p = this.open(peerId, true);
    const offer = await p.pc.createOffer();
    await p.pc.setLocalDescription(offer);
    if (this.peers.get(peerId) !== p) return;
    this.send('ring', {
      workspace: { call },
      attendee: { id: this.me() },
      call,
      callee: { id: peerId },
      offer: p.pc.localDescription.toJSON(),
      nonce: '',
    });
    this.release(peerId, p);
  }

  /** A `ring` from `caller`: answers it, unless our own ring to it wins. */
  async onRing({ caller, offer, call }) {
    const mine = this.peers.get(caller.id);
    if (mine && mine.ours && mine.pc.signalingState === 'have-local-offer' && this.me() < caller.id) return;
    const p = this.open(caller.id, false);
    await p.pc.setRemoteDescription(offer);
    this.drain(caller.id, p);
    const answer = await p.pc.createAnswer();
    await p.pc.setLocalDescription(answer);
    if (this.peers.get(caller.id) !== p) return;
    this.send('answer', {
      attendee: { id: this.me() },
      call,
      caller: { id: caller.id },
      answer: p.pc.localDescription.toJSON(),
      nonce: '',
    });
    this.release(caller.id, p);
  }

  async onAnswer({ callee, answer }) {
    const p = this.peers.get(callee.id);
    if (!p || !p.ours || p.pc.signalingState !== 'have-local-offer') return;
    await p.pc.setRemoteDescription(answer);
    this.drain(callee.id, p);
  }

  onCandidate({ broadcaster, candidate }) {
    if (!candidate) return;
    const p = this.peers.get(broadcaster.id);
    if (p && p.pc.remoteDescription) {
      p.pc.addIceCandidate(candidate).catch(() => { /* one of an older connection */ });
    } else if (p) {
      p.queued.push(candidate);
    } else {
      const early = this.early.get(broadcaster.id) || [];
      if (early.length < 100) early.push(candidate);
      this.early.set(broadcaster.id, early);
    }
  }

  /** Ends the connection to `peerId` (it hung up, left, was kicked). */
  forget(peerId) {
    this.early.delete(peerId);
    this.close(peerId);
  }

  closeAll() {
    this.early.clear();
    for (const id of this.ids()) this.close(id);
  }

  // ------------------------------------------------------------ internals

  close(peerId) {
    const p = this.peers.get(peerId);
    if (!p) return;
    this.peers.delete(peerId);
    p.pc.close();
    this.onChange(peerId);
  }

  open(peerId, ours) {
    this.close(peerId);
    const pc = new RTCPeerConnection({ iceServers: this.iceServers() });
    const p = { pc, ours, held: [], queued: [], sent: false };
    this.peers.set(peerId, p);
    const stream = this.stream();
    if (stream) {
      for (const track of stream.getTracks()) pc.addTrack(track, stream);
    } else {
      pc.addTransceiver('audio', { direction: 'recvonly' });
      pc.addTransceiver('video', { direction: 'recvonly' });
    }
    pc.onicecandidate = (e) => {
      if (!e.candidate) return;
      const msg = { attendee: { id: peerId }, broadcaster: { id: this.me() }, candidate: e.candidate.toJSON() };
      if (p.sent) this.send('icecandidate', msg);
      else p.held.push(msg);
    };
    let announced = false;
    pc.ontrack = (e) => {
      if (announced || this.peers.get(peerId) !== p) return;
      announced = true;
      this.onStream(peerId, e.streams[0] || new MediaStream([e.track]));
    };
    pc.onconnectionstatechange = () => this.onChange(peerId);
    this.onChange(peerId);
    return p;
  }

  /** Our ring/answer is out: the candidates held back may follow it. */
  release(peerId, p) {
    p.sent = true;
    for (const msg of p.held.splice(0)) this.send('icecandidate', msg);
  }

  /** The remote description is set: apply what arrived before it. */
  drain(peerId, p) {
    const waiting = [...(this.early.get(peerId) || []), ...p.queued.splice(0)];
    this.early.delete(peerId);
    for (const c of waiting) p.pc.addIceCandidate(c).catch(() => { /* one of an older connection */ });
  }
}
