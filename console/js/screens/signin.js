// Signing in with an access token (when the service runs with AUTH=tokens).

import { call } from "../api.js";
import { h } from "../dom.js";
import { explain } from "../messages.js";

/** The sign-in form; `signedIn(identity, secret)` is called once the service accepts a token. */
export function signInScreen({ reason, signedIn }) {
  const input = h("input", { id: "token", type: "password", autocomplete: "off", spellcheck: "false", "aria-describedby": "token-hint token-error" });
  const problem = h("p", { id: "token-error", class: "field-error", role: "alert", hidden: true });
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    { class: "form narrow", novalidate: true },
    h("div", { class: "field" }, h("label", { for: "token" }, "Token"), input),
    h(
      "p",
      { id: "token-hint", class: "hint" },
      "An access token (it starts with cfs_). The console keeps it in this browser tab only (sessionStorage): ",
      "closing the tab or signing out forgets it.",
    ),
    problem,
    h("div", { class: "actions" }, button),
  );
  const fail = (text) => {
    problem.textContent = text;
    problem.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.focus();
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const secret = input.value.trim();
    if (!secret) return fail("Enter a token.");
    button.disabled = true;
    try {
      const { data } = await call("GET", "/tokens/current", { token: secret, quiet401: true });
      signedIn(data, secret);
    } catch (error) {
      if (error.status === 401) fail("The service does not accept this token: it is wrong, expired or revoked.");
      else {
        const { title, text } = explain(error);
        fail(`${title}. ${text}`);
      }
    } finally {
      button.disabled = false;
    }
  });
  const heading = h("h1", { tabindex: "-1" }, "Sign in");
  return {
    title: "Sign in",
    element: h(
      "section",
      { class: "screen" },
      heading,
      reason ? h("p", { class: "notice-inline", role: "status" }, reason) : null,
      h("p", {}, "This service asks for an access token."),
      form,
    ),
    focus: input,
  };
}
