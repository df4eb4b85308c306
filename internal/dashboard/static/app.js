// labd dashboard: the live parts. Every value from the server is put into
// the page with textContent, never as HTML: transcripts are typed by
// students (and by anyone who can reach a port).
"use strict";

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function clock(ms) {
  const d = new Date(ms);
  return d.toTimeString().slice(0, 8);
}

function duration(startMs, endMs) {
  const s = Math.max(0, Math.round(((endMs || Date.now()) - startMs) / 1000));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return (h ? h + "h" : "") + (h || m ? m + "m" : "") + r + "s";
}

// word translates the few words the live parts write, with the
// translations the page carries (data-open... on <body>, server.language).
function word(w, english) {
  return document.body.dataset[w] || english || w;
}

function state(s) {
  return s === "open" || s === "closed" ? word(s) : s;
}

function getJSON(url) {
  return fetch(url, { credentials: "same-origin" }).then((r) => {
    if (!r.ok) throw new Error(r.status);
    return r.json();
  });
}

// --- sessions page ---
function sessionRow(s) {
  const tr = el("tr");
  tr.id = "s-" + s.id;
  tr.className = s.open ? "open" : "closed";
  tr.dataset.start = s.start_ms;
  tr.dataset.end = s.end_ms || "";
  if (s.node) tr.appendChild(el("td", s.node));
  const a = el("a", s.id);
  a.href = "/labd/sessions/" + encodeURIComponent(s.id);
  const id = el("td"); id.appendChild(a); tr.appendChild(id);
  const p = el("td", s.proto);
  if (s.tls) { p.appendChild(document.createTextNode(" ")); p.appendChild(el("span", "TLS", "tls")); }
  tr.appendChild(p);
  tr.appendChild(el("td", s.remote, "mono"));
  tr.appendChild(el("td", s.local, "mono"));
  tr.appendChild(el("td", s.user || ""));
  tr.appendChild(el("td", clock(s.start_ms)));
  tr.appendChild(el("td", duration(s.start_ms, s.end_ms), "dur"));
  tr.appendChild(el("td", s.bytes_in, "num"));
  tr.appendChild(el("td", s.bytes_out, "num"));
  tr.appendChild(el("td", state(s.state)));
  return tr;
}

function initSessions() {
  const table = document.getElementById("sessions");
  if (!table) return;
  const tbody = table.tBodies[0];
  const q = new URLSearchParams();
  if (table.dataset.proto) q.set("proto", table.dataset.proto);
  if (table.dataset.user) q.set("user", table.dataset.user);
  if (table.dataset.all) q.set("all", "1");
  const es = new EventSource("/labd/api/events?" + q.toString());
  const upsert = (ev) => {
    const s = JSON.parse(ev.data);
    const row = sessionRow(s);
    const old = document.getElementById(row.id);
    if (!table.dataset.all && s.attrs && s.attrs.dashboard) {
      // A connection that turned out to carry dashboard requests.
      if (old) old.remove();
      return;
    }
    if (old) old.replaceWith(row);
    else tbody.insertBefore(row, tbody.firstChild);
  };
  ["open", "update", "close"].forEach((k) => es.addEventListener(k, upsert));
  es.addEventListener("hide", (ev) => {
    const old = document.getElementById("s-" + JSON.parse(ev.data).id);
    if (old) old.remove();
  });
  es.onopen = () => document.body.classList.add("connected");
  es.onerror = () => document.body.classList.remove("connected");
  setInterval(() => {
    for (const tr of tbody.querySelectorAll("tr.open")) {
      const cell = tr.querySelector(".dur");
      if (cell) cell.textContent = duration(Number(tr.dataset.start), 0);
    }
  }, 1000);
}

// --- overview and class board: counts ---
function setCounts(counts, rowPrefix, makeRow, container) {
  for (const c of counts) {
    let row = document.getElementById(rowPrefix + c.proto);
    if (!row) { row = makeRow(c); container.appendChild(row); }
    row.querySelector(".live").textContent = c.live;
    row.querySelector(".today").textContent = c.today;
  }
}

function initOverview() {
  const table = document.getElementById("counts");
  if (!table) return;
  const tbody = table.tBodies[0];
  const make = (c) => {
    const tr = el("tr"); tr.id = "count-" + c.proto;
    const td = el("td"); const a = el("a", c.proto);
    a.href = "/labd/sessions?proto=" + encodeURIComponent(c.proto);
    td.appendChild(a); tr.appendChild(td);
    tr.appendChild(el("td", c.live, "num live"));
    tr.appendChild(el("td", c.today, "num today"));
    return tr;
  };
  let pending = false;
  const refresh = () => {
    if (pending) return;
    pending = true;
    setTimeout(() => {
      getJSON("/labd/api/summary").then((d) => setCounts(d.counts, "count-", make, tbody)).finally(() => { pending = false; });
    }, 200);
  };
  const es = new EventSource("/labd/api/events");
  ["open", "close"].forEach((k) => es.addEventListener(k, refresh));
  es.onopen = () => document.body.classList.add("connected");
  es.onerror = () => document.body.classList.remove("connected");
}

function initBoard() {
  const tiles = document.getElementById("board-counts");
  if (!tiles) return;
  const tbody = document.getElementById("board").tBodies[0];
  const make = (c) => {
    const t = el("div", null, "tile"); t.id = "tile-" + c.proto;
    t.appendChild(el("div", c.proto, "proto"));
    t.appendChild(el("div", c.live, "big live"));
    const s = el("div", null, "small");
    s.appendChild(document.createTextNode("now · "));
    s.appendChild(el("span", c.today, "today"));
    s.appendChild(document.createTextNode(" today"));
    t.appendChild(s);
    return t;
  };
  const tick = () => getJSON("/labd/api/board").then((d) => {
    document.body.classList.add("connected");
    setCounts(d.counts, "tile-", make, tiles);
    const rows = document.createDocumentFragment();
    for (const s of d.recent) {
      const tr = el("tr");
      [s.proto, s.remote, s.user || "", clock(s.start_ms), word(s.open ? "open" : "closed")].forEach((v, i) => tr.appendChild(el("td", v, i === 1 ? "mono" : "")));
      rows.appendChild(tr);
    }
    tbody.replaceChildren(rows);
  }).catch(() => document.body.classList.remove("connected"));
  setInterval(tick, 3000);
}

// --- transcript: poll while the session runs ---
function transcriptRow(l) {
  const dir = l.dir === "*" ? "n" : l.dir;
  const tr = el("tr", null, "dir-" + dir + (l.encrypted ? " enc" : "") + (l.tls ? " in-tls" : ""));
  tr.appendChild(el("td", l.clock, "t"));
  tr.appendChild(el("td", l.dir, "d"));
  const x = el("td", null, "x");
  if (l.encrypted) {
    x.textContent = "[" + l.encrypted + " bytes encrypted]";
  } else {
    x.appendChild(document.createTextNode(l.pre || ""));
    if (l.secret) x.appendChild(el("span", l.masked ? "********" : l.secret, l.masked ? "masked" : "secret"));
    if (l.post) x.appendChild(document.createTextNode(l.post));
    if (l.decoded) { x.appendChild(document.createTextNode(" ")); x.appendChild(el("span", word("b64", "base64 of:") + " " + l.decoded, "decoded")); }
  }
  if (l.label) { x.appendChild(document.createTextNode(" ")); x.appendChild(el("span", l.label, "badge " + (l.class || ""))); }
  tr.appendChild(x);
  return tr;
}

function initTranscript() {
  const table = document.getElementById("transcript");
  if (!table || !table.dataset.open) return;
  const url = "/labd/api/sessions/" + encodeURIComponent(table.dataset.id) + (table.dataset.unmask ? "?unmask=1" : "");
  let last = "";
  const poll = () => getJSON(url).then((d) => {
    const sig = JSON.stringify(d.lines);
    if (sig !== last) {
      last = sig;
      const frag = document.createDocumentFragment();
      d.lines.forEach((l) => frag.appendChild(transcriptRow(l)));
      table.tBodies[0].replaceChildren(frag);
    }
    const st = document.getElementById("state");
    if (st) { st.textContent = state(d.session.state); st.className = d.session.open ? "open" : "closed"; }
    if (d.session.open) setTimeout(poll, 1000);
  }).catch(() => setTimeout(poll, 3000));
  setTimeout(poll, 1000);
}

// --- users: load a roster file into the textarea; print the sheet ---
function initUsers() {
  const f = document.getElementById("roster-file");
  if (f) f.addEventListener("change", () => {
    if (f.files.length) f.files[0].text().then((t) => { document.getElementById("roster").value = t; });
  });
  const p = document.getElementById("print");
  if (p) p.addEventListener("click", () => window.print());
}

// The progress grid is rebuilt on the server: when sessions end, reload
// it (at most once a second), keeping the scroll position.
function initProgress() {
  if (!document.getElementById("progress")) return;
  let pending = false;
  const refresh = () => {
    if (pending) return;
    pending = true;
    setTimeout(() => {
      fetch(location.href, { credentials: "same-origin" }).then((r) => r.text()).then((html) => {
        const doc = new DOMParser().parseFromString(html, "text/html");
        const fresh = doc.getElementById("progress");
        if (fresh) document.getElementById("progress").replaceWith(fresh);
      }).finally(() => { pending = false; });
    }, 1000);
  };
  const es = new EventSource("/labd/api/events");
  es.addEventListener("close", refresh);
  es.onopen = () => document.body.classList.add("connected");
  es.onerror = () => document.body.classList.remove("connected");
}

document.addEventListener("DOMContentLoaded", () => {
  initSessions();
  initOverview();
  initBoard();
  initProgress();
  initTranscript();
  initUsers();
});
