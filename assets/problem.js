// A plain message when the server could not handle an event (state/failures.py): the database or
// Redis not answering, a full disk, or a bug. Shown on any page as an alert with Dismiss, in the
// page's language; a question that was just being sent goes back into the message box, so what
// was typed is not lost. Nothing here needs the server (Redis may be the thing that is down).
(function () {
  if (window.fabrixProblem) return;
  var sent = { text: "", at: 0 };
  document.addEventListener("submit", function (event) {
    var box = event.target && event.target.querySelector && event.target.querySelector("#composer-input");
    if (box && box.value) sent = { text: box.value, at: Date.now() };
  }, true);

  function language() {
    var stored = "";
    try { stored = window.localStorage.getItem("fabrix_lang") || ""; } catch (e) { stored = ""; }
    return stored.indexOf("ko") >= 0 || document.documentElement.lang === "ko" ? "ko" : "en";
  }

  function giveBackQuestion() {
    var input = document.getElementById("composer-input");
    if (!input || input.value || !sent.text || Date.now() - sent.at > 30000) return;
    // Asked after all (its question is on the page): nothing to give back.
    var questions = document.querySelectorAll("article[data-message-role='user']");
    var last = questions.length ? questions[questions.length - 1].textContent : "";
    if (last.indexOf(sent.text.trim()) >= 0) return;
    input.value = sent.text;
    sent = { text: "", at: 0 };
  }

  window.fabrixProblem = function (texts) {
    var words = texts[language()] || texts.en;
    var box = document.getElementById("server-problem");
    if (!box) {
      box = document.createElement("div");
      box.id = "server-problem";
      box.setAttribute("role", "alert");
      box.className = "chat-alert server-problem";
      var text = document.createElement("span");
      text.className = "alert-text";
      var dismiss = document.createElement("button");
      dismiss.type = "button";
      dismiss.className = "button";
      dismiss.addEventListener("click", function () { box.remove(); });
      box.appendChild(text);
      box.appendChild(dismiss);
      document.body.appendChild(box);
    }
    box.querySelector(".alert-text").textContent = words.text;
    box.querySelector("button").textContent = words.dismiss;
    giveBackQuestion();
  };

  // Reload the page and show the message on it (state/failures.reload_saying): the tab's state
  // was gone, and only a page load rebuilds it. The message waits in sessionStorage, this tab's.
  var KEPT = "fabrix_problem_after_reload";
  window.fabrixReloadSaying = function (texts) {
    try { window.sessionStorage.setItem(KEPT, JSON.stringify(texts)); } catch (e) { /* no storage: reload without it */ }
    window.location.reload();
  };
  function showKept() {
    var kept = null;
    try {
      kept = window.sessionStorage.getItem(KEPT);
      window.sessionStorage.removeItem(KEPT);
    } catch (e) { kept = null; }
    if (!kept) return;
    try { window.fabrixProblem(JSON.parse(kept)); } catch (e) { console.warn("fabrix: a kept message could not be shown", e); }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", showKept);
  else showKept();
})();
