// Hash routes (so deep links work on a static server): which screen the address shows, and the
// life of the open screen (its requests are cancelled when it closes).

import { currentRoute } from "./address.js";
import { isAbort } from "./api.js";
import { clearNotices, h, sleep } from "./dom.js";
import { errorScreen } from "./messages.js";
import { applicationScreen, newConfigurationScreen } from "./screens/application.js";
import { applicationsScreen, newApplicationScreen } from "./screens/applications.js";
import { configurationScreen } from "./screens/configuration.js";
import { historyScreen } from "./screens/history.js";

const ID = "([0-9A-Za-z]{26})";
const ROUTES = [
  [/^\/applications$/, applicationsScreen],
  [/^\/applications\/new$/, newApplicationScreen],
  [new RegExp(`^/applications/${ID}$`), applicationScreen],
  [new RegExp(`^/applications/${ID}/new-configuration$`), newConfigurationScreen],
  [new RegExp(`^/configurations/${ID}$`), configurationScreen],
  [new RegExp(`^/configurations/${ID}/history$`), historyScreen],
];

export class Router {
  constructor({ main, before }) {
    this.main = main;
    this.before = before; // awaited before the first screen loads
    this.open = null; // {controller, screen}
    this.onHashChange = () => this.show();
  }

  start() {
    window.addEventListener("hashchange", this.onHashChange);
    this.show();
  }

  stop() {
    window.removeEventListener("hashchange", this.onHashChange);
    this.#close();
  }

  /** A change from the feed, for the open screen. */
  changed(change) {
    this.open?.screen?.onChange?.(change);
  }

  #close() {
    this.open?.controller.abort();
    this.open?.screen?.dispose?.();
    this.open = null;
  }

  async show() {
    this.#close();
    const { path, query } = currentRoute();
    if (path === "/" || path === "") {
      location.replace("#/applications");
      return;
    }
    const controller = new AbortController();
    const open = { controller, screen: null };
    this.open = open;
    const signal = controller.signal;
    clearNotices();
    // "Loading" only when it takes a moment, so quick screens do not flicker.
    sleep(200, signal).then(() => {
      if (!signal.aborted && !open.screen) this.main.replaceChildren(h("p", { class: "loading", role: "status" }, "Loading…"));
    });
    try {
      await this.before?.();
      const route = ROUTES.map(([pattern, screen]) => [pattern.exec(path), screen]).find(([match]) => match);
      if (!route) throw Object.assign(new Error(`There is no page at ${path}.`), { name: "RouteError" });
      const [match, screen] = route;
      const shown = await screen({ params: match.slice(1), query, signal });
      if (signal.aborted) {
        shown.dispose?.();
        return;
      }
      open.screen = shown;
      this.main.replaceChildren(shown.element);
      document.title = `${shown.title} · Config Service`;
      (shown.focus ?? shown.element.querySelector("h1"))?.focus();
    } catch (error) {
      if (signal.aborted || isAbort(error) || error?.status === 401) return;
      open.screen = { element: errorScreen(error, () => this.show()) };
      this.main.replaceChildren(open.screen.element);
      document.title = "Error · Config Service";
      this.main.querySelector("h1")?.focus();
    }
  }
}
