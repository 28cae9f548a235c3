// The sign-in form: sign up or log in over HTTP, then hand the issued
// {user, token, expires} to the page. A login with a name nobody has says
// so and offers to sign up with it: Sign up then becomes what Enter does.

import { $, button } from "./dom.js";
import { authenticate, sentence } from "./protocol.js";

const USER_NAME = /^[A-Za-z0-9_.-]{1,32}$/;

export function showSignIn(message = "") {
  $("chat").hidden = true;
  $("auth").hidden = false;
  $("auth-error").textContent = message;
  preferSignUp(false);
  $("username").focus();
}

// Which button is the form's first, the one Enter presses: Log in, or
// (`signUp`) Sign up.
function preferSignUp(signUp) {
  const form = $("auth-form");
  const login = form.querySelector('button[value="login"]');
  const register = form.querySelector('button[value="register"]');
  const [first, second] = signUp ? [register, login] : [login, register];
  first.parentElement.prepend(first);
  first.classList.remove("secondary");
  second.classList.add("secondary");
}

export function setUpSignIn(onSignedIn) {
  $("username").addEventListener("input", () => preferSignUp(false));
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
      preferSignUp(false);
      onSignedIn(issued);
    } catch (failure) {
      if (kind === "login" && failure.noAccount) {
        offerSignUp(username);
        return;
      }
      const wait = failure.retryAfter ? ` Try again in ${failure.retryAfter} s.` : "";
      error.textContent = sentence(failure.message) + wait;
    }
  });
}

// No account has that name here: say so, with a button that makes the form
// a sign-up with the name kept.
function offerSignUp(username) {
  const error = $("auth-error");
  const signUp = button("link", `Sign up as ${username}`, () => {
    preferSignUp(true);
    error.textContent = `Choose a password for ${username} (8 characters or more), then Sign up.`;
    $("password").focus();
    $("password").select();
  });
  error.replaceChildren(`There is no account named ${username} here. `, signUp);
}
