// Line differences (Myers' algorithm) and their display as a unified diff.

import { h, hidden } from "./dom.js";

// Beyond this many differing lines, the middle is shown as replaced wholesale: the search's
// memory grows with the square of the differences.
const MAX_EDITS = 2000;
const CONTEXT = 3;

/** [[op, line]] with op " " (both), "-" (only in a), "+" (only in b). */
export function diffLines(a, b) {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const middle = myers(a.slice(start, endA), b.slice(start, endB));
  return [
    ...a.slice(0, start).map((line) => [" ", line]),
    ...middle,
    ...a.slice(endA).map((line) => [" ", line]),
  ];
}

function myers(a, b) {
  const n = a.length;
  const m = b.length;
  if (!n || !m) return [...a.map((l) => ["-", l]), ...b.map((l) => ["+", l])];
  const offset = n + m + 1;
  const v = new Int32Array(2 * offset + 1);
  const trace = [];
  let found = -1;
  search: for (let d = 0; d <= Math.min(n + m, MAX_EDITS); d++) {
    trace.push(v.slice(offset - d, offset + d + 1));
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[offset + k - 1] < v[offset + k + 1]) ? v[offset + k + 1] : v[offset + k - 1] + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) {
        found = d;
        break search;
      }
    }
  }
  if (found < 0) return [...a.map((l) => ["-", l]), ...b.map((l) => ["+", l])];
  const ops = [];
  let x = n;
  let y = m;
  for (let d = found; d > 0; d--) {
    const before = trace[d]; // v as step d found it: index k + d
    const k = x - y;
    const down = k === -d || (k !== d && before[k - 1 + d] < before[k + 1 + d]);
    const previousK = down ? k + 1 : k - 1;
    const previousX = before[previousK + d];
    const previousY = previousX - previousK;
    while (x > previousX && y > previousY) ops.push([" ", a[--x], y--]);
    if (down) ops.push(["+", b[--y]]);
    else ops.push(["-", a[--x]]);
  }
  while (x > 0 && y > 0) ops.push([" ", a[--x], y--]);
  return ops.reverse().map(([op, line]) => [op, line]);
}

/** A unified diff of two texts, unchanged stretches folded to a few lines of context. */
export function diffView(oldText, newText, { oldLabel, newLabel, label }) {
  const ops = diffLines(oldText.split("\n"), newText.split("\n"));
  const removed = ops.filter(([op]) => op === "-").length;
  const added = ops.filter(([op]) => op === "+").length;
  const summary =
    removed || added
      ? `${removed} line${removed === 1 ? "" : "s"} only in ${oldLabel}, ${added} only in ${newLabel}.`
      : `No differences: ${oldLabel} and ${newLabel} are the same.`;
  const lines = [];
  const near = ops.map(() => false);
  ops.forEach(([op], i) => {
    if (op === " ") return;
    for (let j = Math.max(0, i - CONTEXT); j <= Math.min(ops.length - 1, i + CONTEXT); j++) near[j] = true;
  });
  for (let i = 0; i < ops.length; i++) {
    const [op, text] = ops[i];
    if (!near[i]) {
      let j = i;
      while (j < ops.length && !near[j]) j++;
      lines.push(h("span", { class: "fold" }, `⋯ ${j - i} unchanged line${j - i === 1 ? "" : "s"}\n`));
      i = j - 1;
      continue;
    }
    const kind = op === "-" ? "del" : op === "+" ? "ins" : "same";
    const said = op === "-" ? `only in ${oldLabel}: ` : op === "+" ? `only in ${newLabel}: ` : "";
    lines.push(
      h("span", { class: kind }, h("span", { class: "mark", "aria-hidden": "true" }, `${op} `), said ? hidden(said) : null, h("span", { class: "text" }, text), "\n"),
    );
  }
  return h(
    "section",
    { class: "diff", "aria-label": label },
    h(
      "p",
      { class: "legend" },
      h("span", { class: "del" }, `− ${oldLabel}`),
      " ",
      h("span", { class: "ins" }, `+ ${newLabel}`),
    ),
    h("p", { class: "diff-summary" }, summary),
    removed || added ? h("pre", { class: "diff-lines", tabindex: "0" }, lines) : null,
  );
}
