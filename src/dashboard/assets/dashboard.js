// roomrunner dashboard: fills the server-rendered shell from /dashboard/api and refreshes the visible panel every
// two seconds. Plain DOM code, no framework, no build step; every value goes in through textContent.
const POLL_MS = 2000;
const PAGE = 50;
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const live = document.getElementById('live');
const state = { panel: 'rooms', roomsOffset: 0, deliveriesLimit: PAGE, openDelivery: null, timer: undefined };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'class') node.className = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(child ?? ''));
  return node;
}

function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { hour12: false });
}

function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

async function api(path, init = {}) {
  const response = await fetch(`/dashboard/api${path}`, {
    ...init,
    headers: { accept: 'application/json', ...(init.method === 'POST' ? { 'x-csrf-token': csrf } : {}), ...(init.headers ?? {}) },
    credentials: 'same-origin',
  });
  if (response.status === 401) {
    window.location.assign('/dashboard');
    throw new Error('signed out');
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body?.error?.message ?? `HTTP ${response.status}`);
  return body;
}

function filters(form) {
  const params = new URLSearchParams();
  for (const [key, value] of new FormData(form)) {
    if (key === 'attach' || value === '') continue;
    params.set(key, key === 'since' ? new Date(value).toISOString() : value);
  }
  return params;
}

function confirmAction(text) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true }));
}

function status(text, isError = false) {
  live.textContent = text;
  live.classList.toggle('error', isError);
}

// --- rooms ---
async function renderRooms() {
  const params = filters(document.getElementById('rooms-filter'));
  params.set('limit', String(PAGE));
  params.set('offset', String(state.roomsOffset));
  const { rooms, total } = await api(`/rooms?${params}`);
  const body = document.querySelector('#rooms-table tbody');
  body.replaceChildren(
    ...rooms.map((r) =>
      el(
        'tr',
        { 'data-room': r.room },
        el('th', { scope: 'row' }, r.room),
        el('td', {}, el('span', { class: `badge ${r.state}` }, r.state)),
        el('td', {}, r.trigger ?? '—'),
        el('td', {}, r.owner ?? 'unowned'),
        el('td', {}, r.epoch ?? '—'),
        el('td', {}, String(r.attempts)),
        el('td', { class: 'error-text' }, r.lastError ?? ''),
        el('td', {}, when(r.since)),
        el('td', {}, r.agents.join(', ')),
        el('td', {}, el('button', { type: 'button', class: 'quiet', 'aria-label': `Detach ${r.room}`, onclick: () => detach(r.room) }, 'Detach')),
      ),
    ),
  );
  if (rooms.length === 0) body.append(el('tr', {}, el('td', { colspan: 10, class: 'empty' }, 'No rooms yet.')));
  document.getElementById('rooms-count').textContent = `${total} room${total === 1 ? '' : 's'}`;
  pager(document.getElementById('rooms-pager'), state.roomsOffset, total, (offset) => {
    state.roomsOffset = offset;
    void refresh();
  });
}

function pager(node, offset, total, go) {
  const pages = Math.max(1, Math.ceil(total / PAGE));
  const page = Math.floor(offset / PAGE) + 1;
  node.replaceChildren(
    el('button', { type: 'button', class: 'quiet', disabled: page <= 1, onclick: () => go(offset - PAGE) }, '← Newer'),
    el('span', {}, ` page ${page} of ${pages} `),
    el('button', { type: 'button', class: 'quiet', disabled: page >= pages, onclick: () => go(offset + PAGE) }, 'Older →'),
  );
}

async function attach() {
  const input = document.getElementById('attach-name');
  const room = input.value.trim();
  if (room === '') {
    input.focus();
    return;
  }
  try {
    const { result } = await api(`/rooms/${encodeURIComponent(room)}/attach`, { method: 'POST' });
    status(`attach ${room}: ${result}`);
    input.value = '';
  } catch (err) {
    status(`attach ${room} failed: ${err.message}`, true);
  }
  await refresh();
}

async function detach(room) {
  if (!(await confirmAction(`Detach the agents from room “${room}”?`))) return;
  try {
    await api(`/rooms/${encodeURIComponent(room)}/detach`, { method: 'POST' });
    status(`detached ${room}`);
  } catch (err) {
    status(`detach ${room} failed: ${err.message}`, true);
  }
  await refresh();
}

// --- deliveries ---
async function renderDeliveries() {
  const params = filters(document.getElementById('deliveries-filter'));
  params.set('limit', String(state.deliveriesLimit));
  const { deliveries } = await api(`/deliveries?${params}`);
  const body = document.querySelector('#deliveries-table tbody');
  body.replaceChildren(
    ...deliveries.map((d) =>
      el(
        'tr',
        { 'data-key': d.key, class: d.key === state.openDelivery ? 'selected' : undefined },
        el('td', {}, el('a', { href: `#deliveries/${encodeURIComponent(d.key)}`, onclick: (e) => openDelivery(e, d.key) }, when(d.receivedAt))),
        el('td', {}, d.event),
        el('td', {}, d.room ?? '—'),
        el('td', {}, d.scheme),
        el('td', {}, el('span', { class: `badge ${d.result}` }, d.result)),
        el('td', {}, String(d.attempts)),
        el('td', {}, d.result === 'pending' ? '—' : duration(new Date(d.updatedAt) - new Date(d.receivedAt))),
      ),
    ),
  );
  if (deliveries.length === 0) body.append(el('tr', {}, el('td', { colspan: 7, class: 'empty' }, 'No deliveries match.')));
  document.getElementById('deliveries-count').textContent = `${deliveries.length} newest shown`;
  const more = document.getElementById('deliveries-pager');
  more.replaceChildren(
    deliveries.length >= state.deliveriesLimit && state.deliveriesLimit < 1000
      ? el(
          'button',
          {
            type: 'button',
            class: 'quiet',
            onclick: () => {
              state.deliveriesLimit = Math.min(1000, state.deliveriesLimit + PAGE);
              void refresh();
            },
          },
          'Show more',
        )
      : '',
  );
  if (state.openDelivery !== null) await renderDelivery(state.openDelivery);
}

function openDelivery(event, key) {
  event.preventDefault();
  state.openDelivery = key;
  history.replaceState(null, '', `#deliveries/${encodeURIComponent(key)}`);
  void refresh();
}

async function renderDelivery(key) {
  const article = document.getElementById('delivery');
  const { delivery: d } = await api(`/deliveries/${encodeURIComponent(key)}`);
  article.hidden = false;
  article.replaceChildren(
    el('h3', {}, `${d.event} · ${d.room ?? 'no room'}`),
    el(
      'dl',
      {},
      el('dt', {}, 'Key'),
      el('dd', {}, el('code', {}, d.key)),
      el('dt', {}, 'Scheme'),
      el('dd', {}, d.scheme),
      el('dt', {}, 'Received'),
      el('dd', {}, when(d.receivedAt)),
      el('dt', {}, 'Result'),
      el('dd', { 'data-field': 'result' }, d.result),
      el('dt', {}, 'Attempts'),
      el('dd', { 'data-field': 'attempts' }, String(d.attempts)),
      el('dt', {}, 'Last outcome'),
      el('dd', {}, when(d.updatedAt)),
      el('dt', {}, 'Last error'),
      el('dd', { class: 'error-text' }, d.lastError ?? 'none'),
    ),
    el('h4', {}, 'Body'),
    el('pre', { class: 'body', tabindex: 0, 'aria-label': 'Request body' }, d.body),
    el(
      'p',
      {},
      el('button', { type: 'button', id: 'replay', onclick: () => replay(d.key) }, 'Replay'),
      ' ',
      el('button', { type: 'button', class: 'quiet', onclick: closeDelivery }, 'Close'),
    ),
  );
}

function closeDelivery() {
  state.openDelivery = null;
  document.getElementById('delivery').hidden = true;
  history.replaceState(null, '', '#deliveries');
  void refresh();
}

async function replay(key) {
  if (!(await confirmAction('Replay this delivery? Its hook runs again with the body as it was received.'))) return;
  try {
    const { result } = await api(`/deliveries/${encodeURIComponent(key)}/replay`, { method: 'POST' });
    status(`replayed: ${result}`);
  } catch (err) {
    status(`replay failed: ${err.message}`, true);
  }
  await refresh();
}

// --- emulator ---
async function renderEmulator() {
  const { deliveries } = await api('/emulator');
  const body = document.querySelector('#emulator-table tbody');
  body.replaceChildren(
    ...deliveries.map((d) =>
      el(
        'tr',
        {},
        el('td', {}, when(d.createdAt)),
        el('td', {}, d.event),
        el('td', {}, d.url),
        el('td', {}, el('span', { class: `badge ${d.status}` }, d.status)),
        el('td', {}, d.attempts.map((a) => `${a.status ?? a.error ?? '?'} in ${duration(a.latencyMs)}`).join(' · ')),
      ),
    ),
  );
  if (deliveries.length === 0) body.append(el('tr', {}, el('td', { colspan: 5, class: 'empty' }, 'The emulator has sent nothing yet.')));
}

// --- health ---
function chart(node, points, intervalMs) {
  const width = 600;
  const height = 120;
  const values = points.map((p) => p.p95Ms ?? p.meanMs).filter((v) => v !== null);
  const top = Math.max(1, ...values);
  const step = points.length > 1 ? width / (points.length - 1) : width;
  const line = (key) =>
    points
      .map((p, i) => (p[key] === null ? null : `${(i * step).toFixed(1)},${(height - (p[key] / top) * (height - 10)).toFixed(1)}`))
      .filter(Boolean)
      .join(' ');
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('role', 'img');
  const last = points.at(-1);
  const label = last ? `last ${duration(intervalMs)}: ${last.count} observed, mean ${duration(last.meanMs)}, p95 ≤ ${duration(last.p95Ms)}` : 'no data yet';
  svg.setAttribute('aria-label', label);
  for (const [key, cls] of [
    ['p95Ms', 'p95'],
    ['meanMs', 'mean'],
  ]) {
    const poly = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    poly.setAttribute('points', line(key));
    poly.setAttribute('class', cls);
    svg.append(poly);
  }
  node.replaceChildren(svg, el('figcaption', {}, `${label} (scale: ${duration(top)}; solid p95 bound, dashed mean; one point per ${duration(intervalMs)})`));
}

async function renderHealth() {
  const { readiness, status: st, replicas, latency } = await api('/health');
  const box = document.getElementById('readiness');
  box.replaceChildren(
    el('p', { class: `badge ${readiness.ready ? 'attached' : 'failed'}` }, readiness.ready ? 'ready' : 'not ready'),
    readiness.reasons?.length
      ? el(
          'ul',
          {},
          readiness.reasons.map((r) => el('li', {}, r)),
        )
      : '',
    st
      ? el(
          'p',
          {},
          `${st.rooms} of ${st.maxRooms} rooms${st.replica ? ` · replica ${st.replica.replicaId}` : ''} · reconcile ${st.reconcile.enabled ? `last ${when(st.reconcile.lastAt)}${st.reconcile.lastError ? ` (failed: ${st.reconcile.lastError})` : ''}` : 'off'}`,
        )
      : '',
  );
  const body = document.querySelector('#replicas-table tbody');
  body.replaceChildren(
    ...replicas.map((r) =>
      el(
        'tr',
        {},
        el('th', { scope: 'row' }, r.id),
        el('td', {}, r.live ? 'yes' : 'no'),
        el('td', {}, r.draining ? 'yes' : 'no'),
        el('td', {}, String(r.capacity)),
        el('td', {}, when(r.leaseExpiresAt)),
        el('td', {}, when(r.heartbeatAt)),
      ),
    ),
  );
  if (replicas.length === 0) body.append(el('tr', {}, el('td', { colspan: 6, class: 'empty' }, 'One process, no replicas (MemoryStore).')));
  chart(document.getElementById('chart-ack'), latency.series.ack ?? [], latency.intervalMs);
  chart(document.getElementById('chart-attach'), latency.series.attach ?? [], latency.intervalMs);
}

// --- navigation and polling ---
const RENDER = { rooms: renderRooms, deliveries: renderDeliveries, emulator: renderEmulator, health: renderHealth };

function route() {
  const [panel, key] = window.location.hash.replace(/^#/, '').split('/');
  state.panel = RENDER[panel] && document.getElementById(`panel-${panel}`) ? panel : 'rooms';
  if (state.panel === 'deliveries' && key) state.openDelivery = decodeURIComponent(key);
  for (const name of Object.keys(RENDER)) {
    const section = document.getElementById(`panel-${name}`);
    const tab = document.getElementById(`tab-${name}`);
    if (section) section.hidden = name !== state.panel;
    if (tab) tab.setAttribute('aria-selected', String(name === state.panel));
  }
  void refresh();
}

async function refresh() {
  clearTimeout(state.timer);
  try {
    await RENDER[state.panel]();
    if (!live.classList.contains('error')) status(`live · updated ${new Date().toLocaleTimeString(undefined, { hour12: false })}`);
  } catch (err) {
    if (err.message !== 'signed out') status(`could not refresh: ${err.message}`, true);
  } finally {
    state.timer = setTimeout(() => {
      live.classList.remove('error');
      void refresh();
    }, POLL_MS);
  }
}

for (const id of ['rooms-filter', 'deliveries-filter']) {
  const form = document.getElementById(id);
  form.addEventListener('submit', (e) => e.preventDefault());
  form.addEventListener('input', (e) => {
    if (e.target.name === 'attach') return;
    state.roomsOffset = 0;
    void refresh();
  });
}
document.getElementById('attach-button').addEventListener('click', () => void attach());
document.getElementById('attach-name').addEventListener('keydown', (e) => {
  if (e.key === 'Enter') {
    e.preventDefault();
    void attach();
  }
});
window.addEventListener('hashchange', route);
route();
