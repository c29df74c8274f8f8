// Reads what an auth link left in this page's address (GoTrue puts the session or the error in the
// fragment, which browsers never send to a server) and says what happened. Tokens are neither shown
// nor sent anywhere, and are removed from the address bar and the history entry at once.
(function () {
  "use strict";
  var SUCCESS = {
    signup: ["Email address confirmed", "Your email address is confirmed and you are signed in."],
    invite: ["Invitation accepted", "Your email address is confirmed. Set a password in the app to finish."],
    magiclink: ["Signed in", "The sign-in link worked: you are signed in."],
    recovery: ["Set a new password next",
      "The recovery link worked and you are signed in. Choose a new password in the app now."],
    email_change: ["Email address changed", "Your new email address is confirmed."]
  };
  var DEV = "This is backstack's own page: set auth_site_url (or pass redirect_to) to your app's URL " +
    "so that the app receives the session.";

  function outcomeOf(hash, query) {
    function param(name) { return hash.get(name) || query.get(name) || ""; }
    if (param("error") || param("error_code") || param("error_description")) {
      var code = param("error_code");
      return {
        kind: "error", type: "error", title: "That link did not work",
        message: param("error_description") || "The link could not be used.",
        detail: "Error: " + [param("error"), code].filter(Boolean).join(", "),
        hint: code === "otp_expired"
          ? "The link has expired or was already used. Ask the app for a new one."
          : "Ask the app for a new link."
      };
    }
    if (hash.get("access_token")) {
      var type = hash.get("type") || "";
      var text = Object.prototype.hasOwnProperty.call(SUCCESS, type) ? SUCCESS[type]  // not `__proto__`
        : ["Signed in", "The link worked: you are signed in."];
      return { kind: "ok", type: type, title: text[0], message: text[1], detail: "", hint: DEV };
    }
    if (hash.has("message")) {  // the first half of a secure email change
      return { kind: "ok", type: "message", title: "Almost done", message: hash.get("message"), detail: "",
        hint: "" };
    }
    if (query.get("code")) {  // PKCE: the app that sent the link exchanges the code
      return {
        kind: "ok", type: "code", title: "Link accepted",
        message: "The app that sent this link finishes signing in with the code it was given.",
        detail: "", hint: "Open the link in the same browser as the app."
      };
    }
    return null;
  }

  function show() {
    var outcome = outcomeOf(new URLSearchParams(location.hash.replace(/^#/, "")),
      new URLSearchParams(location.search));
    if (!outcome) return;
    history.replaceState(null, "", location.pathname);
    document.title = outcome.title;
    document.body.setAttribute("data-outcome", outcome.kind);
    document.body.setAttribute("data-type", outcome.type);
    document.getElementById("server").hidden = true;
    document.getElementById("result").hidden = false;
    document.getElementById("result-title").textContent = outcome.title;
    document.getElementById("result-message").textContent = outcome.message;
    document.getElementById("result-detail").textContent = outcome.detail;
    document.getElementById("result-hint").textContent = outcome.hint;
  }

  var base = document.getElementById("base-url");
  if (base) base.textContent = location.origin;
  show();
  window.addEventListener("hashchange", show);  // a link opened in a tab that already shows this page
})();
