/**
 * The dashboard's HTML: a sign-in page, a "turned off" page, and the shell the script fills in. Everything is
 * rendered on the server from fixed templates; the only dynamic values are escaped. No inline script or style,
 * so the Content-Security-Policy can forbid both.
 */

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

function layout(title: string, body: string, head = ''): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="/dashboard/assets/dashboard.css">
<link rel="icon" href="data:,">
${head}
</head>
<body>
${body}
</body>
</html>
`;
}

/** The sign-in form; `failed` adds one line saying the token was wrong, and nothing else. */
export function signInPage(failed: boolean): string {
  return layout(
    'roomrunner · sign in',
    `<main class="sign-in">
  <h1>roomrunner</h1>
  <form method="post" action="/dashboard/login">
    <label for="token">Admin token</label>
    <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
    ${failed ? '<p class="error" role="alert" id="sign-in-error">That is not the admin token.</p>' : ''}
    <button type="submit">Sign in</button>
  </form>
  <p class="hint">The token is the value of <code>ROOMRUNNER_ADMIN_TOKEN</code> (or <code>--admin-token</code>).</p>
</main>`,
  );
}

/** What `/dashboard` shows when no admin token is configured. */
export function disabledPage(): string {
  return layout(
    'roomrunner · dashboard off',
    `<main class="sign-in">
  <h1>roomrunner</h1>
  <p>The dashboard is off because no admin token is set.</p>
  <p>Start roomrunner with <code>ROOMRUNNER_ADMIN_TOKEN=&lt;a long random string&gt;</code> (or <code>--admin-token</code>),
  then open this page again and sign in with that token.</p>
</main>`,
  );
}

/** The signed-in shell: navigation and empty panels that dashboard.js fills from /dashboard/api. */
export function shellPage(csrfToken: string, withEmulator: boolean): string {
  const tab = (id: string, label: string) => `<a href="#${id}" role="tab" id="tab-${id}" aria-controls="panel-${id}" aria-selected="false">${label}</a>`;
  return layout(
    'roomrunner · dashboard',
    `<header>
  <h1>roomrunner</h1>
  <nav role="tablist" aria-label="Dashboard sections">
    ${tab('rooms', 'Rooms')}
    ${tab('deliveries', 'Deliveries')}
    ${withEmulator ? tab('emulator', 'Emulator') : ''}
    ${tab('health', 'Health')}
  </nav>
  <span id="live" class="live" aria-live="polite">connecting…</span>
  <form id="sign-out" method="post" action="/dashboard/logout"><button type="submit" class="quiet">Sign out</button></form>
</header>
<main>
  <section id="panel-rooms" role="tabpanel" aria-labelledby="tab-rooms" hidden>
    <h2>Rooms</h2>
    <form class="filters" id="rooms-filter">
      <label>Room <input name="q" type="search" placeholder="name contains"></label>
      <label>State <select name="state"><option value="">any</option><option>attaching</option><option>attached</option><option>failed</option><option>pending</option><option>detaching</option></select></label>
      <label>Trigger <select name="trigger"><option value="">any</option><option>room.call</option><option>room.started</option><option>reconcile</option><option>claim</option><option>manual</option></select></label>
      <span class="actions"><label>Attach a room <input name="attach" placeholder="room name" id="attach-name"></label><button type="button" id="attach-button">Attach</button></span>
    </form>
    <p class="count" id="rooms-count"></p>
    <div class="table-wrap"><table id="rooms-table"><thead><tr>
      <th scope="col">Room</th><th scope="col">State</th><th scope="col">Trigger</th><th scope="col">Owner</th><th scope="col">Epoch</th>
      <th scope="col">Attempts</th><th scope="col">Last error</th><th scope="col">Since</th><th scope="col">Agents</th><th scope="col"><span class="sr-only">Actions</span></th>
    </tr></thead><tbody></tbody></table></div>
    <div class="pager" id="rooms-pager"></div>
  </section>
  <section id="panel-deliveries" role="tabpanel" aria-labelledby="tab-deliveries" hidden>
    <h2>Deliveries</h2>
    <form class="filters" id="deliveries-filter">
      <label>Event <input name="event" placeholder="room.started"></label>
      <label>Room <input name="room"></label>
      <label>Result <select name="result"><option value="">any</option><option>pending</option><option>processed</option><option>ignored</option><option>failed</option></select></label>
      <label>Since <input name="since" type="datetime-local"></label>
    </form>
    <p class="count" id="deliveries-count"></p>
    <div class="table-wrap"><table id="deliveries-table"><thead><tr>
      <th scope="col">Received</th><th scope="col">Event</th><th scope="col">Room</th><th scope="col">Scheme</th><th scope="col">Result</th>
      <th scope="col">Attempts</th><th scope="col">To last outcome</th>
    </tr></thead><tbody></tbody></table></div>
    <div class="pager" id="deliveries-pager"></div>
    <article id="delivery" hidden aria-live="polite"></article>
  </section>
  ${
    withEmulator
      ? `<section id="panel-emulator" role="tabpanel" aria-labelledby="tab-emulator" hidden>
    <h2>Emulator deliveries</h2>
    <p class="hint">What the local platform emulator sent: every attempt's status and latency.</p>
    <div class="table-wrap"><table id="emulator-table"><thead><tr>
      <th scope="col">Created</th><th scope="col">Event</th><th scope="col">To</th><th scope="col">Status</th><th scope="col">Attempts</th>
    </tr></thead><tbody></tbody></table></div>
  </section>`
      : ''
  }
  <section id="panel-health" role="tabpanel" aria-labelledby="tab-health" hidden>
    <h2>Health</h2>
    <div id="readiness"></div>
    <h3>Replicas</h3>
    <div class="table-wrap"><table id="replicas-table"><thead><tr>
      <th scope="col">Replica</th><th scope="col">Live</th><th scope="col">Draining</th><th scope="col">Capacity</th><th scope="col">Lease ends</th><th scope="col">Heartbeat</th>
    </tr></thead><tbody></tbody></table></div>
    <h3>Webhook acknowledgement latency</h3>
    <figure class="chart" id="chart-ack"></figure>
    <h3>Room attach latency</h3>
    <figure class="chart" id="chart-attach"></figure>
  </section>
</main>
<dialog id="confirm"><form method="dialog"><p id="confirm-text"></p>
  <menu><button value="cancel" class="quiet">Cancel</button><button value="ok" id="confirm-ok">Confirm</button></menu></form></dialog>`,
    `<meta name="csrf-token" content="${escapeHtml(csrfToken)}">\n<script type="module" src="/dashboard/assets/dashboard.js"></script>`,
  );
}
