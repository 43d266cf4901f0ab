// The trail above a screen's heading: links to the screens it sits under, then itself.

import { h } from "./dom.js";

/** links: [[text, href], ..., [text]]; the last, without href, is the current page. */
export function breadcrumbs(links) {
  return h(
    "nav",
    { class: "breadcrumbs", "aria-label": "Breadcrumbs" },
    h(
      "ol",
      {},
      links.map(([text, href]) => h("li", {}, href ? h("a", { href }, text) : h("span", { "aria-current": "page" }, text))),
    ),
  );
}
