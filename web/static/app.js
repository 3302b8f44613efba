// ckpt history browser: a little progressive enhancement. Every page works
// without this file; it only loads large values in place, asks before a
// delete and keeps the first page of a thread live. Served as a file: the
// Content-Security-Policy allows no inline script. It never builds markup
// from data: what it inserts is server-rendered, escaped HTML.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  // Large values: fetch the server-rendered tree and put it in place.
  document.querySelectorAll("a.load[data-fragment]").forEach(function (a) {
    a.addEventListener("click", function (ev) {
      ev.preventDefault();
      fetch(a.dataset.fragment, { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var tree = doc.querySelector(".jtree");
          if (tree) { a.parentNode.replaceWith(document.importNode(tree, true)); }
        })
        .catch(function () { window.location.href = a.href; });
    });
  });

  // Destructive actions ask first.
  document.querySelectorAll("button.confirm").forEach(function (b) {
    b.addEventListener("click", function (ev) {
      if (!window.confirm(b.dataset.confirm || "Sure?")) { ev.preventDefault(); }
    });
  });

  // Diff of two ticked rows: the form works without this; the script
  // keeps at most two ticked (the newest tick replaces the oldest), enables
  // the button only for two, and keeps the ticks when the live table is
  // swapped for a fresh one (wireDiff).
  // A ticked row that new checkpoints pushed off the live page stays
  // ticked: the form sends it as a hidden field, and the note says so.
  var ticked = [];
  var noteText = null;
  var wireDiff = function () {
    var form = document.getElementById("pick");
    var button = document.getElementById("diff-picked");
    if (!form || !button) { return; }
    form.querySelectorAll("input.kept").forEach(function (k) { k.remove(); });
    var boxes = form.querySelectorAll('input[type="checkbox"][name="pick"]');
    boxes.forEach(function (b) { b.checked = ticked.indexOf(b.value) >= 0; });
    var off = ticked.filter(function (v) {
      return !Array.prototype.some.call(boxes, function (b) { return b.value === v; });
    });
    off.forEach(function (v) {
      var k = document.createElement("input");
      k.type = "hidden"; k.name = "pick"; k.value = v; k.className = "kept";
      form.appendChild(k);
    });
    var note = document.getElementById("pick-note");
    if (note) {
      if (noteText === null) { noteText = note.textContent; }
      note.textContent = off.length ? off.length + " ticked " + (off.length === 1 ? "row is" : "rows are") +
        " no longer on this page: " + off.join(", ") : noteText;
    }
    button.disabled = ticked.length !== 2;
  };
  document.addEventListener("change", function (ev) {
    var b = ev.target;
    if (!b.matches || !b.matches('#pick input[type="checkbox"][name="pick"]')) { return; }
    ticked = ticked.filter(function (v) { return v !== b.value; });
    if (b.checked) { ticked.push(b.value); }
    if (ticked.length > 2) { ticked.shift(); }
    wireDiff();
  });
  wireDiff();

  // Live thread page: the server's event stream (/events) names the
  // newest checkpoint whenever it changes; then fetch this page again and
  // swap in its history table and the summary above it. Without
  // EventSource, poll /head every 2 s.
  var hist = document.getElementById("history");
  if (hist && hist.dataset.live === "true" && hist.dataset.head) {
    var newest = hist.dataset.newest || "";
    var busy = false, again = false;
    var refresh = function () {
      if (busy) { again = true; return; }
      busy = true;
      fetch(window.location.href, { credentials: "same-origin" })
        .then(function (r) { return r.text(); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById("history");
          if (fresh) {
            newest = fresh.dataset.newest || "";
            // The summary above counts the checkpoints and names the
            // newest time: it follows the rows.
            var sum = document.querySelector("p.summary"), freshSum = doc.querySelector("p.summary");
            if (sum && freshSum) { sum.replaceWith(document.importNode(freshSum, true)); }
            hist.replaceWith(document.importNode(fresh, true));
            hist = document.getElementById("history");
            wireDiff();
            var live = document.getElementById("live");
            // UTC, as every time on the pages.
            if (live) { live.textContent = "live · updated " + new Date().toISOString().slice(11, 19) + " UTC"; }
          }
        })
        .catch(function () {})
        .finally(function () {
          busy = false;
          if (again) { again = false; refresh(); }
        });
    };
    var seen = function (id) { if (id !== newest) { refresh(); } };
    if (window.EventSource && hist.dataset.events) {
      var es = new EventSource(hist.dataset.events);
      es.onmessage = function (ev) {
        try { seen(JSON.parse(ev.data).newest || ""); } catch (e) { /* not ours */ }
      };
    } else {
      setInterval(function () {
        if (busy || document.hidden) { return; }
        fetch(hist.dataset.head, { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (h) { if (h) { seen(h.newest); } })
          .catch(function () {});
      }, 2000);
    }
  }
});
