/**
 * The stand-in's one web page (`GET /`): the incident list with Acknowledge / Resolve / Escalate
 * buttons, acting as a chosen PagerDuty user "from their phone" (through the inspection API), plus
 * the webhook subscription's state and the latest delivery attempts. Plain HTML, inline CSS and
 * script, no CDN; everything rendered with textContent (incident titles come from alerts).
 */
export function renderPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>PagerDuty (local stand-in)</title>
<style>
  :root { --green:#048a24; --red:#c0262d; --amber:#c77c02; --grey:#5f6b7a; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background:#f4f5f7; color:#1d2330; }
  header { background:#005a24; color:#fff; padding:12px 20px; display:flex; gap:16px; align-items:center; flex-wrap:wrap; }
  header h1 { font-size:18px; margin:0; flex:1; }
  header label { font-size:13px; }
  select, button { font:inherit; }
  main { padding:16px 20px; max-width:1100px; margin:0 auto; }
  .card { background:#fff; border-radius:6px; box-shadow:0 1px 2px rgba(0,0,0,.12); margin-bottom:12px; padding:12px 14px; }
  .row { display:flex; gap:12px; align-items:flex-start; }
  .status { font-weight:600; text-transform:uppercase; font-size:12px; padding:2px 8px; border-radius:10px; color:#fff; white-space:nowrap; }
  .triggered { background:var(--red); } .acknowledged { background:var(--amber); } .resolved { background:var(--green); }
  .title { font-weight:600; font-size:15px; }
  .meta { color:var(--grey); font-size:12px; margin-top:4px; }
  .actions { margin-left:auto; display:flex; gap:6px; flex-wrap:wrap; }
  button { border:1px solid #b8c0cc; background:#fff; border-radius:4px; padding:5px 10px; cursor:pointer; }
  button.ack { border-color:var(--amber); color:#7a4b00; } button.res { border-color:var(--green); color:var(--green); }
  button:disabled { opacity:.4; cursor:default; }
  #msg { min-height:20px; color:var(--red); margin-bottom:8px; }
  table { width:100%; border-collapse:collapse; font-size:12px; }
  td, th { text-align:left; padding:3px 6px; border-bottom:1px solid #eceff3; }
  .empty { color:var(--grey); }
</style>
</head>
<body>
<header>
  <h1>PagerDuty <small>(local stand-in)</small></h1>
  <label>Act as (from the PagerDuty app on their phone):
    <select id="user"></select>
  </label>
</header>
<main>
  <div id="msg" role="status"></div>
  <section id="incidents"><p class="empty">Loading…</p></section>
  <section class="card">
    <div class="title">Webhook subscription</div>
    <div id="subscription" class="meta"></div>
    <table><thead><tr><th>at</th><th>event</th><th>incident</th><th>attempt</th><th>status</th><th>outcome</th></tr></thead>
    <tbody id="attempts"></tbody></table>
  </section>
</main>
<script>
(function () {
  var userSelect = document.getElementById('user');
  var msg = document.getElementById('msg');
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function api(method, path, body) {
    return fetch(path, {
      method: method,
      headers: body ? { 'Content-Type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined
    }).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) throw new Error((j && j.error && j.error.message) || ('HTTP ' + r.status));
        return j;
      });
    });
  }
  function act(id, action, extra) {
    var body = { user: userSelect.value };
    if (extra) for (var k in extra) body[k] = extra[k];
    msg.textContent = '';
    api('POST', '/_local/incidents/' + encodeURIComponent(id) + '/' + action, body)
      .then(refresh)
      .catch(function (e) { msg.textContent = action + ' failed: ' + e.message; });
  }
  function renderIncidents(list) {
    var root = document.getElementById('incidents');
    root.textContent = '';
    if (list.length === 0) { root.appendChild(el('p', 'empty', 'No incidents yet. Send an event to /v2/enqueue.')); return; }
    list.slice().reverse().forEach(function (i) {
      var card = el('div', 'card');
      card.setAttribute('data-incident-id', i.id);
      var row = el('div', 'row');
      row.appendChild(el('span', 'status ' + i.status, i.status));
      var text = el('div');
      text.appendChild(el('div', 'title', '#' + i.incident_number + ' ' + i.title));
      var who = (i.assignments || []).map(function (a) { return a.assignee.summary; }).join(', ') || '—';
      text.appendChild(el('div', 'meta', (i.service ? i.service.summary : '') + ' · urgency ' + i.urgency +
        ' · level ' + i.escalation_level + ' · assigned to ' + who + ' · triggers ' + i.trigger_count +
        ' · key ' + i.incident_key + ' · ' + i.created_at));
      row.appendChild(text);
      var actions = el('div', 'actions');
      var ack = el('button', 'ack', 'Acknowledge');
      ack.disabled = i.status !== 'triggered';
      ack.onclick = function () { act(i.id, 'ack'); };
      var res = el('button', 'res', 'Resolve');
      res.disabled = i.status === 'resolved';
      res.onclick = function () { act(i.id, 'resolve'); };
      var esc = el('button', '', 'Escalate');
      esc.disabled = i.status === 'resolved' || i.escalation_level >= i.escalation_levels;
      esc.onclick = function () { act(i.id, 'escalate', { level: i.escalation_level + 1 }); };
      actions.appendChild(ack); actions.appendChild(res); actions.appendChild(esc);
      row.appendChild(actions);
      card.appendChild(row);
      root.appendChild(card);
    });
  }
  function renderWebhooks(w) {
    var s = w.subscription;
    document.getElementById('subscription').textContent = s.url + ' · ' + (s.enabled ? 'enabled' : 'DISABLED until ' + s.disabled_until) +
      ' · consecutive drops ' + s.consecutive_drops;
    var body = document.getElementById('attempts');
    body.textContent = '';
    w.attempts.slice(-15).reverse().forEach(function (a) {
      var tr = el('tr');
      [a.at, a.event_type, a.incident_id, String(a.attempt), a.status === null ? (a.error || '—') : String(a.status), a.outcome]
        .forEach(function (v) { tr.appendChild(el('td', '', v)); });
      body.appendChild(tr);
    });
  }
  function refresh() {
    return Promise.all([api('GET', '/_local/incidents'), api('GET', '/_local/webhooks')])
      .then(function (r) { renderIncidents(r[0]); renderWebhooks(r[1]); })
      .catch(function (e) { msg.textContent = 'refresh failed: ' + e.message; });
  }
  api('GET', '/_local/users').then(function (users) {
    users.forEach(function (u) {
      var o = el('option', '', u.name + ' <' + u.email + '>');
      o.value = u.email;
      userSelect.appendChild(o);
    });
    refresh();
    setInterval(refresh, 2000);
  });
})();
</script>
</body>
</html>
`;
}
