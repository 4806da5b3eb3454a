// tfctl web UI: forms that call the JSON API (with the session's CSRF token), and the live
// log of a run page (Server-Sent Events, which resume by themselves after a reconnect).
(function () {
  "use strict";

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  async function call(url, method, body) {
    var response = await fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json",
                 "X-CSRF-Token": csrf() },
      body: body === undefined ? undefined : JSON.stringify(body)
    });
    var data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      var message = data && data.error ? data.error.message
        : response.status + " " + response.statusText;
      throw new Error(message);
    }
    return data;
  }

  function formBody(form) {
    var body = {};
    new FormData(form).forEach(function (value, key) {
      if (typeof value === "string" && value.trim() !== "") { body[key] = value.trim(); }
    });
    return body;
  }

  document.addEventListener("submit", async function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("api")) { return; }
    event.preventDefault();
    var out = form.querySelector("output.error");
    var buttons = Array.prototype.filter.call(form.querySelectorAll("button"),
      function (b) { return !b.disabled; });
    if (out) { out.textContent = ""; }
    buttons.forEach(function (b) { b.disabled = true; });
    try {
      var data = await call(form.dataset.url, form.dataset.method || "POST", formBody(form));
      if (form.dataset.then === "run" && data && data.id) {
        location.assign("/infra/terraform/runs/" + encodeURIComponent(data.id));
      } else {
        location.reload();
      }
    } catch (error) {
      if (out) { out.textContent = error.message; }
      buttons.forEach(function (b) { b.disabled = false; });
    }
  });

  document.addEventListener("click", async function (event) {
    if (!event.target.matches || !event.target.matches("[data-logout]")) { return; }
    try { await call("/logout", "POST"); } finally { location.assign("/login"); }
  });

  var welcome = document.getElementById("welcome");
  if (welcome) { location.replace(welcome.dataset.next); }

  var log = document.getElementById("log");
  if (log && log.dataset.live === "1") { follow(log); }

  function follow(log) {
    var run = log.dataset.run;
    var url = "/terraform/runs/" + encodeURIComponent(run) + "/events?after=" +
      encodeURIComponent(log.dataset.next || "0");
    var source = new EventSource(url);
    source.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.type === "log") {
        appendLine(log, message);
      } else if (message.type === "status") {
        showStatus(message.status);
      } else if (message.type === "end") {
        source.close();
        showStatus(message.status);
        var note = document.getElementById("live-note");
        if (note) { note.textContent = "(finished)"; }
        setTimeout(function () { location.reload(); }, 400);
      }
    };
  }

  function appendLine(log, message) {
    var atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    var span = document.createElement("span");
    span.className = "l-" + message.stream;
    span.dataset.seq = message.seq;
    span.textContent = message.text + "\n";
    log.appendChild(span);
    log.dataset.next = message.seq;
    if (atBottom) { log.scrollTop = log.scrollHeight; }
  }

  function showStatus(status) {
    var badge = document.querySelector(".runline [data-status]");
    if (!badge || !status) { return; }
    badge.textContent = status.replace(/_/g, " ");
    badge.className = "status s-" + status;
  }
})();
