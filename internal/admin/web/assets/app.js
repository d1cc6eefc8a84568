// The dashboard's live parts: the overview's figures and event list, and the uploads'
// progress bars, from the event stream (/api/v1/events, with the session cookie); and a
// confirmation before any form that removes something.
"use strict";

function human(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  n = Number(n) || 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n.toFixed(0) : n.toFixed(1)) + " " + units[i];
}

function text(el, s) { if (el) el.textContent = s; }

document.addEventListener("click", (e) => {
  const b = e.target.closest("button[data-confirm]");
  if (b && !window.confirm(b.dataset.confirm)) e.preventDefault();
});

function refreshOverview() {
  fetch("/api/v1/overview", { credentials: "same-origin" }).then((r) => r.ok ? r.json() : null).then((o) => {
    if (!o) return;
    document.querySelectorAll("[data-stat]").forEach((el) => {
      const v = o[el.dataset.stat];
      if (v === undefined) return;
      if (el.dataset.format === "bytes") text(el, human(v));
      else if (el.dataset.format === "rate") text(el, human(v) + "/s");
      else text(el, String(v));
    });
  }).catch(() => {});
}

const labels = {
  upload_started: ["upload started", ""], upload_progress: ["uploading", ""], upload_committed: ["stored", "good"],
  upload_failed: ["upload failed", "bad"], download_started: ["download", ""], file_removed: ["removed", "bad"],
};

function addEvent(list, ev) {
  if (ev.type === "upload_progress") return;
  const empty = list.querySelector(".muted");
  if (empty) empty.remove();
  const li = document.createElement("li");
  const t = document.createElement("span");
  t.className = "t";
  t.textContent = new Date(ev.time).toLocaleTimeString();
  const tag = document.createElement("span");
  const [label, cls] = labels[ev.type] || [ev.type, ""];
  tag.className = "tag " + cls;
  tag.textContent = label;
  const name = document.createElement("span");
  name.className = "path";
  name.textContent = ev.name || ev.id || "";
  li.append(t, tag, name);
  const extra = ev.size ? human(ev.size) : ev.error || ev.client || "";
  if (extra) { const x = document.createElement("span"); x.className = "muted small"; x.textContent = extra; li.append(x); }
  list.prepend(li);
  while (list.children.length > 100) list.lastChild.remove();
}

function uploadCard(ev) {
  let card = document.querySelector('[data-upload="' + CSS.escape(ev.id) + '"]');
  if (card || ev.type === "upload_committed" || ev.type === "upload_failed") return card;
  const none = document.getElementById("no-uploads");
  if (none) none.remove();
  card = document.createElement("div");
  card.className = "card upload";
  card.dataset.upload = ev.id;
  card.dataset.length = ev.length;
  card.innerHTML = '<div class="row"><span class="path"></span><span class="proto"></span></div>' +
    '<div class="bar big" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="0"><span style="width: 0%"></span></div>' +
    '<div class="row muted"><span><span data-field="offset"></span> of <span data-field="length"></span></span><span data-field="rate"></span></div>';
  text(card.querySelector(".path"), ev.name || ev.id);
  text(card.querySelector(".proto"), ev.protocol || "");
  text(card.querySelector('[data-field="length"]'), ev.length >= 0 ? human(ev.length) : "unknown");
  document.getElementById("uploads").prepend(card);
  return card;
}

function updateUpload(ev) {
  const card = uploadCard(ev);
  if (!card) return;
  const length = Number(card.dataset.length);
  const offset = ev.type === "upload_committed" ? length : ev.offset || 0;
  const pct = length > 0 ? Math.min(100, Math.floor(offset * 100 / length)) : 0;
  const bar = card.querySelector(".bar");
  bar.setAttribute("aria-valuenow", String(pct));
  bar.firstElementChild.style.width = pct + "%";
  text(card.querySelector('[data-field="offset"]'), human(offset));
  const rate = card.querySelector('[data-field="rate"]');
  if (ev.type === "upload_committed") { text(rate, "stored"); card.classList.add("done"); }
  else if (ev.type === "upload_failed") text(rate, "paused: " + (ev.error || "interrupted"));
  else text(rate, human(ev.rate || 0) + "/s");
}

function follow() {
  const page = document.body.dataset.page;
  if (page !== "overview" && page !== "uploads") return;
  const list = document.getElementById("events");
  const es = new EventSource("/api/v1/events");
  let pending = false;
  const onEvent = (m) => {
    const ev = JSON.parse(m.data);
    if (page === "overview") {
      addEvent(list, ev);
      if (!pending) { pending = true; setTimeout(() => { pending = false; refreshOverview(); }, 500); }
    } else if (ev.type.startsWith("upload_")) {
      updateUpload(ev);
    }
  };
  Object.keys(labels).forEach((k) => es.addEventListener(k, onEvent));
  if (page === "overview") setInterval(refreshOverview, 5000);
}

document.addEventListener("DOMContentLoaded", follow);
