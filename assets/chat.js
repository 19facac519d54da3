// Chat page behaviour that must not wait for the server: Esc stops an answer, the conversation
// follows a streaming answer unless the reader has scrolled up, and the message field gets the
// focus back when an answer ends.
(function () {
  if (window.__fabrixChat) return;
  window.__fabrixChat = true;

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || event.defaultPrevented) return;
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
