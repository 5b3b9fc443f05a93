// SparkFlow UI: confirmations and live updates. Served from this origin only (the CSP allows no other
// script and no inline script).
(function () {
  "use strict";
  // Forms with data-confirm ask first (delegated: live updates replace the forms).
  document.addEventListener("submit", function (ev) {
    var msg = ev.target.getAttribute && ev.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) {
      ev.preventDefault();
    }
  });

  // The element marked data-live is re-rendered by the server every two seconds, unless the user is
  // working inside it (focus or a ticked box).
  var live = document.querySelector("[data-live]");
  if (!live) { return; }
  var busy = false;
  function userActive() {
    return live.contains(document.activeElement) || live.querySelector("input[type=checkbox]:checked") !== null;
  }
  function refresh() {
    if (busy || document.hidden || userActive()) { return; }
    busy = true;
    fetch(window.location.href, { headers: { "X-Live": "1" }, credentials: "same-origin", cache: "no-store" })
      .then(function (resp) { return resp.ok ? resp.text() : null; })
      .then(function (html) {
        if (html !== null && !userActive()) {
          live.innerHTML = html;
          document.body.classList.remove("stale");
        }
      })
      .catch(function () { document.body.classList.add("stale"); })
      .then(function () { busy = false; });
  }
  window.setInterval(refresh, 2000);
})();
