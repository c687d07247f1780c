// The self-test panel's measurements: the ICE servers as the server handed
// them out (secrets masked), the selected candidate pair of a connection, and
// whether the configured TURN server gives a relay candidate.

const urlsOf = (server) => [].concat(server.urls || server.url || []);
const isTurn = (url) => /^turns?:/i.test(url);

/** One line per ICE server, the credential masked (the username says only when it expires). */
export function describeIceServers(servers) {
  return servers.map((s) => {
    const parts = [urlsOf(s).join(', ')];
    if (s.username) parts.push(`username ${s.username}`);
    if (s.credential) parts.push('credential •••• (hidden)');
    return parts.join(' · ');
  });
}

/** {state, local, remote, rttMs} of the pair ICE selected; local/remote null before one is. */
export async function selectedPair(pc) {
  const stats = await pc.getStats();
  let pair = null;
  stats.forEach((r) => {
    if (r.type === 'transport' && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId) || pair;
  });
  if (!pair) {
    stats.forEach((r) => {
      if (r.type === 'candidate-pair' && r.state === 'succeeded' && (r.selected || r.nominated)) pair = r;
    });
  }
  const local = pair && stats.get(pair.localCandidateId);
  const remote = pair && stats.get(pair.remoteCandidateId);
  return {
    state: pc.connectionState,
    local: local ? local.candidateType : null,
    remote: remote ? remote.candidateType : null,
    rttMs: pair && typeof pair.currentRoundTripTime === 'number' ? Math.round(pair.currentRoundTripTime * 1000) : null,
  };
}

/**
 * Gathers candidates through the TURN servers of `servers` only
 * (iceTransportPolicy 'relay'). Resolves {ok, text}: whether a relay
 * candidate came, and if not the likely reason.
 */
export async function testTurn(servers, { timeoutMs = 10_000 } = {}) {
  const turn = servers.filter((s) => urlsOf(s).some(isTurn));
  if (turn.length === 0) {
    return {
      ok: false,
      text: 'No TURN server is configured: this server hands out no turn: URL, so calls between networks '
        + 'that block direct connections will fail. Set TURN_SECRET and turn_urls (coturn) or the Twilio '
        + 'credentials.',
    };
  }
  const pc = new RTCPeerConnection({ iceServers: turn, iceTransportPolicy: 'relay' });
  const relays = [];
  const errors = [];
  let timer;
  try {
    const done = new Promise((resolve) => {
      pc.onicecandidate = (e) => {
        if (!e.candidate) resolve(true);
        else if (e.candidate.type === 'relay') relays.push({ candidate: e.candidate, url: e.url });
      };
      pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && resolve(true);
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    pc.onicecandidateerror = (e) => errors.push({ url: e.url, code: e.errorCode, text: e.errorText });
    pc.createDataChannel('turn-test');
    await pc.setLocalDescription(await pc.createOffer());
    const finished = await done;
    if (relays.length > 0) {
      const { candidate: c, url } = relays[0];
      return {
        ok: true,
        text: `TURN works: relay candidate ${c.address}:${c.port} (${c.protocol}) from ${url || urlsOf(turn[0])[0]}.`,
      };
    }
    const refused = errors.find((e) => e.code === 401 || e.code === 403 || e.code === 431);
    if (refused) {
      return {
        ok: false,
        text: `No relay candidate: the TURN server refused the credentials (${refused.code} ${refused.text || ''}`.trim()
          + ` at ${refused.url}). TURN_SECRET must equal coturn's static-auth-secret, and both clocks must be right.`,
      };
    }
    const where = turn.flatMap(urlsOf).filter(isTurn).join(', ');
    const detail = errors.length ? ` (${errors.map((e) => `${e.code} ${e.text || ''}`.trim()).join('; ')})` : '';
    return {
      ok: false,
      text: `No relay candidate: the TURN server did not answer${finished ? '' : ` within ${timeoutMs / 1000} s`}`
        + `${detail}. It is unreachable from this browser: check the host and port of ${where}, the transport, and `
        + 'firewalls (UDP and TCP to the TURN port).',
    };
  } finally {
    clearTimeout(timer);
    pc.close();
  }
}
