// Chat page behaviour that must not wait for the server: the buffer of streamed answers, Esc
// stops an answer, the conversation follows a streaming answer unless the reader has scrolled up,
// and the message field gets the focus back when an answer ends.
(function () {
  if (window.__fabrixChat) return;
  window.__fabrixChat = true;

  // Streamed answers (state/live_answer.py). The server pushes each batch as the text it added,
  // numbered from 1; a batch that does not follow the last one means some were lost (a dropped
  // connection), and the page asks for the whole text (reset). A finished answer comes with the
  // number of its batches; it stays here: the server does not send its text a second time.
  var answers = {};
  var asked = {};
  function entry(id) {
    return answers[id] || (answers[id] = { part: 0, text: "", status: "", done: false, listeners: [] });
  }
  function view(a) { return { text: a.text, status: a.status, done: a.done }; }
  function notify(a) { a.listeners.forEach(function (f) { f(view(a)); }); }
  function resync(id) {
    var now = Date.now();
    if (asked[id] && now - asked[id] < 1000) return;
    asked[id] = now;
    var field = document.getElementById("live-resync");
    if (!field) return;
    // React sees a change only through the value setter it does not own.
    Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set.call(field, id + ":" + now);
    field.dispatchEvent(new Event("input", { bubbles: true }));
  }
  window.fabrixLive = {
    // A new answer (its id may be one the database has used before: start afresh).
    begin: function (id) {
      var a = entry(id);
      a.part = 0; a.text = ""; a.status = ""; a.done = false;
      notify(a);
    },
    push: function (id, first, last, added, status) {
      var a = entry(id);
      if (first === 1 && (a.done || a.part)) window.fabrixLive.begin(id);  // the id of a deleted answer, reused
      if (a.done || last <= a.part) return;
      if (first !== a.part + 1) { resync(id); return; }
      a.part = last;
      a.text += added;
      if (status !== null) a.status = status;
      notify(a);
    },
    reset: function (id, part, text, status, done) {
      var a = entry(id);
      if (a.done || part < a.part) return;
      a.part = part; a.text = text; a.status = status; a.done = done;
      notify(a);
    },
    get: function (id) { return view(entry(id)); },
    // `parts`: how many batches a finished answer was sent (0 while it streams).
    listen: function (id, listener, finished, parts) {
      var a = entry(id);
      if (!finished && a.done) window.fabrixLive.begin(id);  // a streaming answer is never done
      if (finished && !a.done && a.part >= parts) { a.done = true; a.status = ""; notify(a); }
      a.listeners.push(listener);
      listener(view(a));
      // A finished answer missing batches, or a streaming one with nothing yet (the page was
      // loaded in its middle, before this file): ask for the whole text.
      if (finished && !a.done) resync(id);
      if (!finished) setTimeout(function () { if (!a.done && a.part === 0) resync(id); }, 500);
      return function () { a.listeners = a.listeners.filter(function (f) { return f !== listener; }); };
    },
    copy: function (id) {
      var a = answers[id];
      if (a && navigator.clipboard) navigator.clipboard.writeText(a.text);
    },
  };

  // Gemini's shortcuts (the Keyboard shortcuts dialog lists them): the elements they work are
  // marked with data-shortcut, so the keys do what a click or a focus there would.
  function marked(name) { return document.querySelector('[data-shortcut="' + name + '"]'); }
  function inTextField(el) {
    return !!el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }
  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented) return;
    var key = (event.key || "").toLowerCase();
    var mod = event.ctrlKey || event.metaKey;
    var target = null;
    if (mod && event.shiftKey && key === "o") target = marked("new-chat");
    else if (mod && !event.shiftKey && key === "k") { target = marked("search"); if (target) target.focus(); }
    else if (event.shiftKey && key === "escape") { target = document.getElementById("composer-input"); if (target) target.focus(); }
    else if (mod && event.shiftKey && key === "c") {
      var copies = document.querySelectorAll('[data-shortcut="copy-answer"]');
      target = copies.length ? copies[copies.length - 1] : null;
    } else if (event.key === "?" && !mod && !inTextField(event.target)) target = marked("shortcuts");
    else return;
    if (!target) return;
    event.preventDefault();
    if (target.tagName === "BUTTON") target.click();
  }, true);

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || event.shiftKey || event.defaultPrevented) return;
    // Esc inside an open dialog closes the dialog; it does not stop the answer.
    if (event.target && event.target.closest && event.target.closest("[role=dialog],[role=alertdialog]")) return;
    var stop = document.getElementById("stop-button");
    if (stop) { event.preventDefault(); stop.click(); }
  });

  // "Pinned" while the reader is at (or near) the bottom; scrolling up unpins, coming back pins.
  var pinned = true;
  var path = location.pathname;
  document.addEventListener("scroll", function (event) {
    var el = event.target;
    if (!el || el.id !== "chat-scroller") return;
    pinned = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
  }, true);
  // Sending a question always brings the new answer into view.
  document.addEventListener("submit", function () { pinned = true; }, true);

  var finePointer = window.matchMedia && window.matchMedia("(pointer: fine)").matches;
  var wasStreaming = false;
  new MutationObserver(function () {
    if (location.pathname !== path) { path = location.pathname; pinned = true; }
    var el = document.getElementById("chat-scroller");
    if (el && pinned && el.scrollHeight - el.scrollTop - el.clientHeight > 1) el.scrollTop = el.scrollHeight;
    var streaming = !!document.getElementById("stop-button");
    if (wasStreaming && !streaming && finePointer) {
      var input = document.getElementById("composer-input");
      var active = document.activeElement;
      if (input && !input.disabled && (!active || active === document.body)) input.focus();
    }
    wasStreaming = streaming;
  }).observe(document.documentElement, { childList: true, subtree: true, characterData: true });
})();
