// Previous / next page buttons for the lists (the API pages by keyset: `after` from Link).

import { h } from "./dom.js";

export function pager(label, { previous, next }) {
  const previousButton = h("button", { type: "button", onclick: () => previous() }, "Previous page");
  const nextButton = h("button", { type: "button", onclick: () => next() }, "Next page");
  const where = h("span", { class: "page-number" });
  const element = h("nav", { class: "pager", "aria-label": label }, previousButton, where, nextButton);
  return {
    element,
    update(page, hasNext) {
      const focused = document.activeElement;
      previousButton.disabled = page <= 1;
      nextButton.disabled = !hasNext;
      where.textContent = `Page ${page}`;
      element.hidden = page <= 1 && !hasNext;
      // A button that just became disabled drops the keyboard focus: hand it to the other one.
      if (focused === nextButton && nextButton.disabled) previousButton.focus();
      if (focused === previousButton && previousButton.disabled) (hasNext ? nextButton : where).focus?.();
    },
  };
}
