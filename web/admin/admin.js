// feitpd's admin page: polls the JSON API once a second with the bearer token the operator
// typed (kept in sessionStorage, i.e. this tab only). Builds the DOM with textContent only:
// user names and paths come from clients and are never parsed as HTML.
"use strict";

const state = { token: sessionStorage.getItem("feitpd-token") || "", timer: null, last: new Map() };
const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const c of children) e.append(c);
  return e;
}

function bytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n.toFixed(0) : n.toFixed(1)) + " " + units[i];
}

function duration(s) {
  s = Math.max(0, Math.round(s));
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}

async function api(method, path, body) {
  const opts = { method, headers: { Authorization: "Bearer " + state.token }, cache: "no-store" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (res.status === 401) throw Object.assign(new Error("wrong token"), { status: 401 });
  if (!res.ok) throw new Error((data && data.error) || res.status + " " + res.statusText);
  return data;
}

function setStatus(text, kind) {
  const s = $("status");
  s.textContent = text;
  s.className = "status " + (kind || "");
}

function message(text) { $("message").textContent = text; }

function showLogin(error) {
  clearInterval(state.timer);
  state.timer = null;
  $("login").hidden = false;
  $("dashboard").hidden = true;
  $("logout").hidden = true;
  $("login-error").hidden = !error;
  $("login-error").textContent = error || "";
  setStatus("not connected");
}

function renderCounters(c) {
  const cards = [
    ["sessions", "sessions"], ["transfers_active", "transfers"], ["connections_admitted", "connections"],
    ["logins", "logins"], ["login_failures", "failed logins"], ["uploads", "uploads"],
    ["downloads", "downloads"], ["bytes_in", "received"], ["bytes_out", "sent"],
    ["bans_active", "bans"], ["worker_restarts", "worker restarts"],
  ];
  const box = $("counters");
  box.replaceChildren(...cards.map(([key, label]) => {
    const v = c[key];
    const text = key.startsWith("bytes") ? bytes(v || 0) : String(v ?? "–");
    return el("div", { className: "card", id: "counter-" + key },
      el("div", { className: "value", textContent: text }), el("div", { className: "label", textContent: label }));
  }));
}

function progressCell(t) {
  const bar = el("div", { className: "bar" }, el("span"));
  if (t.progress !== null && t.progress !== undefined) {
    bar.firstChild.style.width = (t.progress * 100).toFixed(1) + "%";
  } else {
    bar.classList.add("indeterminate");
  }
  const pct = t.progress !== null && t.progress !== undefined ? " " + (t.progress * 100).toFixed(0) + "%" : "";
  const label = el("span", { className: "bytes", textContent: bytes(t.bytes) + (t.size ? " of " + bytes(t.size) : "") + pct });
  label.dataset.bytes = String(t.bytes);
  return el("td", { className: "progress" }, bar, label);
}

function renderSessions(list) {
  const now = performance.now();
  const seen = new Map();
  const rows = list.map((s) => {
    const t = s.transfer;
    let rate = "";
    if (t) {
      // The rate over the last poll when there is one, else the average since the start.
      const prev = state.last.get(s.id);
      let r = t.rate_bytes_per_second;
      if (prev && prev.path === t.path && now > prev.at && t.bytes >= prev.bytes) {
        r = (t.bytes - prev.bytes) / ((now - prev.at) / 1000);
      }
      seen.set(s.id, { bytes: t.bytes, at: now, path: t.path });
      rate = bytes(r) + "/s";
    }
    const kick = el("button", { className: "kick danger", type: "button", textContent: "Kick", title: "Close this session" });
    kick.addEventListener("click", () => kickSession(s.id));
    const ban = el("button", { className: "ban danger", type: "button", textContent: "Ban", title: "Ban this address for an hour" });
    ban.addEventListener("click", () => banAddress(s.address, 3600));
    const tr = el("tr", {},
      el("td", { textContent: s.id }),
      el("td", { className: "user", textContent: s.user || "(not logged in)" }),
      el("td", { textContent: s.address + ":" + s.port }),
      el("td", { textContent: String(s.worker) }),
      el("td", { textContent: s.tls ? "yes" : "no" }),
      el("td", { className: "command", textContent: s.command }),
      el("td", { className: "path", textContent: t ? t.direction + " " + t.path : "–", title: t ? t.path : "" }),
      t ? progressCell(t) : el("td", { textContent: "connected " + duration(s.connected_seconds) }),
      el("td", { className: "rate", textContent: rate }),
      el("td", { className: "actions" }, kick, ban));
    tr.dataset.id = s.id;
    return tr;
  });
  state.last = seen;
  $("sessions").tBodies[0].replaceChildren(...rows);
  $("no-sessions").hidden = list.length !== 0;
  $("session-count").textContent = "(" + list.length + ")";
}

function renderBans(list) {
  $("bans").tBodies[0].replaceChildren(...list.map((b) => {
    const un = el("button", { type: "button", textContent: "Unban" });
    un.addEventListener("click", () => unban(b.address));
    const tr = el("tr", {}, el("td", { textContent: b.address }), el("td", { textContent: duration(b.seconds_left) }),
      el("td", { className: "actions" }, un));
    tr.dataset.address = b.address;
    return tr;
  }));
}

async function refresh() {
  try {
    const [sessions, counters, bans] = await Promise.all([
      api("GET", "/api/v1/sessions"), api("GET", "/api/v1/counters"), api("GET", "/api/v1/bans")]);
    renderSessions(sessions.sessions);
    renderCounters(counters);
    renderBans(bans.bans);
    setStatus("live, updated " + new Date().toLocaleTimeString(), "ok");
  } catch (e) {
    if (e.status === 401) {
      sessionStorage.removeItem("feitpd-token");
      state.token = "";
      showLogin("The server refused this token.");
      return;
    }
    setStatus("error: " + e.message, "bad");
  }
}

function start() {
  $("login").hidden = true;
  $("dashboard").hidden = false;
  $("logout").hidden = false;
  refresh();
  clearInterval(state.timer);
  state.timer = setInterval(refresh, 1000);
}

async function kickSession(id) {
  try {
    await api("POST", "/api/v1/sessions/" + encodeURIComponent(id) + "/kick");
    message("Session " + id + " kicked.");
  } catch (e) { message("Kick failed: " + e.message); }
  refresh();
}

async function banAddress(address, seconds) {
  try {
    const r = await api("POST", "/api/v1/bans", { address, seconds });
    message(r.address + " banned for " + duration(r.seconds) + ".");
  } catch (e) { message("Ban failed: " + e.message); }
  refresh();
}

async function unban(address) {
  try {
    await api("DELETE", "/api/v1/bans/" + encodeURIComponent(address));
    message(address + " unbanned.");
  } catch (e) { message("Unban failed: " + e.message); }
  refresh();
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  state.token = $("token").value.trim();
  $("token").value = "";
  try {
    await api("GET", "/api/v1/counters");
    sessionStorage.setItem("feitpd-token", state.token);
    start();
  } catch (e) {
    showLogin(e.status === 401 ? "The server refused this token." : "Cannot reach the API: " + e.message);
  }
});
$("logout").addEventListener("click", () => {
  sessionStorage.removeItem("feitpd-token");
  state.token = "";
  showLogin();
});
$("ban-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  banAddress($("ban-address").value.trim(), parseInt($("ban-seconds").value, 10) || 3600);
});
$("reload").addEventListener("click", async () => {
  try {
    await api("POST", "/api/v1/reload");
    message("Reload requested.");
  } catch (e) { message("Reload failed: " + e.message); }
});

if (state.token) start(); else showLogin();
