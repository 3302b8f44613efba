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

  // Live thread page: poll the newest id; when it changes, fetch this page
  // again and swap in its history table.
  var hist = document.getElementById("history");
  if (hist && hist.dataset.live === "true" && hist.dataset.head) {
    var newest = hist.dataset.newest || "";
    var busy = false;
    setInterval(function () {
      if (busy || document.hidden) { return; }
      busy = true;
      fetch(hist.dataset.head, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (h) {
          if (!h || h.newest === newest) { return null; }
          return fetch(window.location.href, { credentials: "same-origin" })
            .then(function (r) { return r.text(); })
            .then(function (html) {
              var doc = new DOMParser().parseFromString(html, "text/html");
              var fresh = doc.getElementById("history");
              if (fresh) {
                newest = fresh.dataset.newest || "";
                hist.replaceWith(document.importNode(fresh, true));
                hist = document.getElementById("history");
                var live = document.getElementById("live");
                if (live) { live.textContent = "live · updated " + new Date().toLocaleTimeString(); }
              }
            });
        })
        .catch(function () {})
        .finally(function () { busy = false; });
    }, 2000);
  }
});
