// Chat page behaviour that must not wait for the server: Esc stops an answer, and the
// conversation follows a streaming answer unless the reader has scrolled up.
(function () {
  if (window.__fabrixChat) return;
  window.__fabrixChat = true;
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var stop = document.getElementById("stop-button");
    if (stop) { event.preventDefault(); stop.click(); }
  });
  var pinned = true;
  document.addEventListener("scroll", function (event) {
    var el = event.target;
    if (!el || el.id !== "chat-scroller") return;
    pinned = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
  }, true);
  new MutationObserver(function () {
    var el = document.getElementById("chat-scroller");
    if (el && pinned) el.scrollTop = el.scrollHeight;
  }).observe(document.documentElement, { childList: true, subtree: true, characterData: true });
})();
