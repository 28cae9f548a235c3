// The sign-in form: sign up or log in over HTTP, then hand the issued
// {user, token, expires} to the page.

import { $ } from "./dom.js";
import { authenticate, sentence } from "./protocol.js";

const USER_NAME = /^[A-Za-z0-9_.-]{1,32}$/;

export function showSignIn(message = "") {
  $("chat").hidden = true;
  $("auth").hidden = false;
  $("auth-error").textContent = message;
  $("username").focus();
}

export function setUpSignIn(onSignedIn) {
  $("auth-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const kind = event.submitter?.value === "register" ? "register" : "login";
    const username = $("username").value.trim();
    const error = $("auth-error");
    error.textContent = "";
    if (!USER_NAME.test(username)) {
      error.textContent = "User names are 1 to 32 letters, digits, dots, dashes or underscores.";
      return;
    }
    try {
      const issued = await authenticate(kind, username, $("password").value);
      $("password").value = "";
      onSignedIn(issued);
    } catch (failure) {
      const wait = failure.retryAfter ? ` Try again in ${failure.retryAfter} s.` : "";
      error.textContent = sentence(failure.message) + wait;
    }
  });
}
