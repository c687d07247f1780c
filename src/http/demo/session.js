// The stored session (what re-attends after a reload) and the invite link.
//
// The session lives in localStorage, under a key of this tab's own (kept in
// sessionStorage, which survives a reload of the tab but is not shared with
// other tabs): two tabs of one browser are two attendees, not one.

const TAB_KEY = 'wrw-demo-tab';
const PREFIX = 'wrw-demo-session:';

function tabId() {
  let id = sessionStorage.getItem(TAB_KEY);
  if (!id) {
    id = crypto.getRandomValues(new Uint32Array(2)).join('-');
    sessionStorage.setItem(TAB_KEY, id);
  }
  return id;
}

const key = () => PREFIX + tabId();

/** {workspace, attendee, accessToken} or null. */
export function load() {
  try {
    const s = JSON.parse(localStorage.getItem(key()) || 'null');
    return s && s.workspace && s.attendee && s.accessToken ? s : null;
  } catch {
    return null;
  }
}

export function save(session) {
  localStorage.setItem(key(), JSON.stringify(session));
}

export function clear() {
  localStorage.removeItem(key());
}

// The invite travels in the URL fragment: browsers never send it to a
// server, so it stays out of access logs and Referer headers.

/** The link that joins `workspace`; `pin` says whether to ask for a PIN. */
export function inviteLink(workspace, pin) {
  const params = new URLSearchParams({ invite: workspace.token });
  if (pin) params.set('pin', '1');
  return `${location.origin}/demo#${params}`;
}

/** {token, pin} from this page's URL, or null. */
export function invite() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('invite');
  return token ? { token, pin: params.get('pin') === '1' } : null;
}
