// NODE.DC Agent Gateway pages: small behaviours on top of htmx (no inline scripts, the
// CSP forbids them). Live/Reconnecting indicator, feed pause and "N new events",
// filter chips, tabs, copy buttons, dialogs, the sign-in link's auto-post.
(function () {
  "use strict";

  function setLive(state, text) {
    document.querySelectorAll("[data-live-indicator]").forEach(function (el) {
      el.dataset.state = state;
      el.textContent = text;
    });
  }

  // --- the stream's state -------------------------------------------------------------
  document.addEventListener("htmx:sseOpen", function () { setLive("live", "Live"); });
  document.addEventListener("htmx:sseError", function () {
    setLive("reconnecting", "Reconnecting… (updates paused; what you see may be stale)");
  });
  document.addEventListener("htmx:sseClose", function () { setLive("reconnecting", "Disconnected"); });

  // --- the admin feed: pause, "N new events", chips -------------------------------------
  var buffered = [];
  var paused = false;
  function feed() { return document.getElementById("feed"); }
  function newer() { return document.querySelector("[data-feed-newer]"); }
  function showNewer() {
    var btn = newer();
    if (!btn) return;
    btn.hidden = buffered.length === 0;
    var count = btn.querySelector("[data-count]");
    if (count) count.textContent = String(buffered.length);
  }
  function insert(html) {
    var list = feed();
    if (!list) return;
    var tpl = document.createElement("template");
    tpl.innerHTML = html.trim();
    while (tpl.content.firstChild) list.insertBefore(tpl.content.lastChild, list.firstChild);
    while (list.children.length > 300) list.removeChild(list.lastChild);
  }
  function flush() {
    buffered.forEach(insert);
    buffered = [];
    showNewer();
  }
  document.addEventListener("htmx:sseBeforeMessage", function (evt) {
    if (evt.target && evt.target.id === "feed") {
      evt.preventDefault();
      var list = feed();
      // Never jump under the reader: while paused or scrolled down, count instead.
      if (paused || (list && list.scrollTop > 4)) {
        buffered.unshift(evt.detail.data);
        showNewer();
      } else {
        insert(evt.detail.data);
      }
    }
  });

  document.addEventListener("click", function (evt) {
    var t = evt.target.closest ? evt.target.closest("button, a") : null;
    if (!t) return;
    if (t.matches("[data-feed-pause]")) {
      paused = !paused;
      t.setAttribute("aria-pressed", String(paused));
      t.textContent = paused ? "Resume" : "Pause";
      if (!paused) flush();
    } else if (t.matches("[data-feed-newer]")) {
      var list = feed();
      if (list) list.scrollTop = 0;
      flush();
    } else if (t.matches("[data-filter]")) {
      var on = t.getAttribute("aria-pressed") !== "true";
      t.setAttribute("aria-pressed", String(on));
      var hidden = [];
      document.querySelectorAll("[data-filter]").forEach(function (chip) {
        if (chip.getAttribute("aria-pressed") !== "true") hidden.push(chip.dataset.filter);
      });
      if (feed()) feed().dataset.hide = hidden.join(" ");
    } else if (t.matches("[data-copy]")) {
      var src = document.getElementById(t.dataset.copy);
      if (!src) return;
      var text = src.value !== undefined && src.tagName === "INPUT" ? src.value : src.textContent;
      var done = function () { t.textContent = "Copied"; setTimeout(function () { t.textContent = "Copy"; }, 1500); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () {});
      } else if (src.select) {
        src.select(); document.execCommand("copy"); done();
      }
    } else if (t.matches("[data-revoke]")) {
      var rd = document.getElementById("revoke-dialog");
      if (!rd) return;
      rd.querySelector("form").setAttribute("action", t.dataset.revoke);
      rd.querySelector("[data-revoke-name]").textContent = t.dataset.name;
      rd.querySelector("button[type=submit]").textContent = "Revoke " + t.dataset.name;
      rd.querySelector("input[name=reason]").value = "";
      rd.showModal();
    } else if (t.matches("[data-dialog-open]")) {
      var dialog = document.getElementById(t.dataset.dialogOpen);
      if (dialog && dialog.showModal) dialog.showModal();
    } else if (t.matches("[data-dialog-close]")) {
      var d = t.closest("dialog");
      if (d) d.close();
    } else if (t.matches("[data-close-drawer]")) {
      var drawer = document.getElementById("drawer");
      if (drawer) drawer.innerHTML = "";
    } else if (t.getAttribute("role") === "tab") {
      selectTab(t);
    }
  });

  // --- tabs (arrow keys move between them) ---------------------------------------------
  function selectTab(tab) {
    var list = tab.closest("[role=tablist]");
    if (!list) return;
    list.querySelectorAll("[role=tab]").forEach(function (other) {
      var selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.tabIndex = selected ? 0 : -1;
      var panel = document.getElementById(other.getAttribute("aria-controls"));
      if (panel) panel.hidden = !selected;
    });
    tab.focus();
  }
  document.addEventListener("keydown", function (evt) {
    var tab = evt.target;
    if (!tab.getAttribute || tab.getAttribute("role") !== "tab") return;
    if (evt.key !== "ArrowRight" && evt.key !== "ArrowLeft") return;
    var tabs = Array.prototype.slice.call(tab.closest("[role=tablist]").querySelectorAll("[role=tab]"));
    var i = tabs.indexOf(tab) + (evt.key === "ArrowRight" ? 1 : -1);
    selectTab(tabs[(i + tabs.length) % tabs.length]);
    evt.preventDefault();
  });

  // --- dialogs answered by htmx open as modals -----------------------------------------
  document.addEventListener("htmx:afterSwap", function (evt) {
    var d = evt.target.querySelector && evt.target.querySelector("dialog[data-auto-modal]");
    if (d && d.showModal) { if (d.open) d.close(); d.showModal(); }
  });

  // --- the sign-in link: the secret is in the fragment, posted once --------------------
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form[data-autosubmit=link]");
    if (!form) return;
    var m = /(?:^#|&)link=([0-9a-fA-F]{64})/.exec(window.location.hash);
    if (!m) {
      form.insertAdjacentHTML("beforebegin", "<p class=\"alert error\" role=\"alert\">This link is incomplete: copy the whole link, or ask for a new one.</p>");
      return;
    }
    form.elements.link.value = m[1];
    history.replaceState(null, "", window.location.pathname);
    form.submit();
  });
})();
