// The console's start: who is signed in, the header, live updates, then the screens.

import { configureApi, get } from "./api.js";
import { clearNotices, h, sleep } from "./dom.js";
import { Live } from "./live.js";
import { errorScreen, warnAbout } from "./messages.js";
import { Router } from "./router.js";
import { signInScreen } from "./screens/signin.js";
import { describeIdentity, forgetToken, keepToken, session, storedToken, token } from "./session.js";

const main = document.getElementById("main");
const identityBox = document.getElementById("identity");
const liveBox = document.getElementById("live-status");

const live = new Live({
  onChange: (change) => router.changed(change),
  onState: (state, seconds) => {
    liveBox.dataset.state = state;
    liveBox.textContent = {
      connecting: "Connecting…",
      live: "Live",
      retrying: `Live updates paused; retrying in ${seconds} s`,
      off: "Live updates off",
    }[state];
  },
});
// Screens wait for live updates to know where they start (at most a moment), so none is missed.
const router = new Router({ main, before: () => Promise.race([live.ready, sleep(3000)]) });

configureApi({
  token,
  onUnauthorized: () => {
    if (session.identity) signOut("The service no longer accepts your token (expired or revoked?). Sign in again.");
  },
});

function renderIdentity() {
  const identity = session.identity;
  identityBox.replaceChildren();
  document.getElementById("main-nav").hidden = !identity;
  if (!identity) return;
  identityBox.append(h("span", { class: "who" }, describeIdentity(identity)));
  if (identity.auth === "tokens") {
    identityBox.append(h("button", { type: "button", class: "quiet", onclick: () => signOut("Signed out.") }, "Sign out"));
  }
}

function signedIn(identity) {
  session.identity = identity;
  renderIdentity();
  live.start();
  router.start();
}

function signOut(reason) {
  live.stop();
  router.stop();
  liveBox.textContent = "";
  session.identity = null;
  forgetToken();
  renderIdentity();
  showSignIn(reason);
}

function showSignIn(reason) {
  clearNotices();
  const screen = signInScreen({
    reason,
    signedIn: (identity, secret) => {
      keepToken(secret);
      signedIn(identity);
    },
  });
  main.replaceChildren(screen.element);
  document.title = `${screen.title} · Config Service`;
  screen.focus.focus();
}

async function start() {
  main.replaceChildren(h("p", { class: "loading", role: "status" }, "Loading…"));
  const hadToken = Boolean(storedToken());
  try {
    const { data } = await get("/tokens/current", { quiet401: true });
    signedIn(data);
  } catch (error) {
    if (error.status === 401) {
      forgetToken();
      showSignIn(hadToken ? "The service no longer accepts the token of this tab. Sign in again." : null);
    } else if (error.status === 404) {
      // A service from before access control: everything is allowed.
      signedIn({ auth: "off", id: null, name: null, scope: "admin", applications: null });
    } else {
      main.replaceChildren(errorScreen(error, start));
      main.querySelector("h1")?.focus();
    }
  }
}

// A last resort: whatever slips through is also said on the page, not only in the browser's
// console (where it stays, for the tests to see). A cancelled request is no news at all.
window.addEventListener("unhandledrejection", (event) => {
  if (event.reason?.name === "AbortError") event.preventDefault();
  else warnAbout(event.reason);
});
window.addEventListener("error", (event) => warnAbout(event.error ?? event.message));

document.getElementById("skip").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});

start();
