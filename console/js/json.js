// JSON as the editor needs it: a syntax check that says where (the same in every browser, as
// engines word and place their errors differently), numbers kept exactly as written, and
// documents laid out from their text (keys in the order written, as the service keeps them).

// Where the browser can (JSON.parse source text access), numbers keep their text: a 40-digit
// number or 1.50 comes back from the service and goes back to it unchanged, not as a double.
const EXACT = typeof JSON.rawJSON === "function";

function keepNumberText(_key, value, context) {
  if (typeof value === "number" && typeof context?.source === "string") return JSON.rawJSON(context.source);
  return value;
}

/** Parse keeping each number's text (where supported); for documents, not for metadata. */
export function parseExact(text) {
  return EXACT ? JSON.parse(text, keepNumberText) : JSON.parse(text);
}

export function pretty(value) {
  return JSON.stringify(value, null, 2);
}

/** JSON text laid out with two-space indents, everything else as it is: keys in the order they
 * are written (JSON.parse would put integer-like keys first), strings and numbers as written.
 * For text that is one JSON value (the service's, or text checkJson accepted). */
export function prettyText(text, indent = "  ") {
  let out = "";
  let depth = 0;
  const n = text.length;
  const newline = () => "\n" + indent.repeat(depth);
  for (let i = 0; i < n; i++) {
    const c = text[i];
    if (c === '"') {
      const end = stringEnd(text, i);
      out += text.slice(i, end);
      i = end - 1;
    } else if (c === "{" || c === "[") {
      let next = i + 1;
      while (next < n && " \t\r\n".includes(text[next])) next++;
      if (text[next] === (c === "{" ? "}" : "]")) {
        out += c + text[next];
        i = next;
      } else {
        depth++;
        out += c + newline();
      }
    } else if (c === "}" || c === "]") {
      depth--;
      out += newline() + c;
    } else if (c === ",") {
      out += "," + newline();
    } else if (c === ":") {
      out += ": ";
    } else if (!" \t\r\n".includes(c)) {
      out += c;
    }
  }
  return out;
}

/** Where the string that opens at `start` ends (just after its closing quote). */
function stringEnd(text, start) {
  let i = start + 1;
  while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
  return i + 1;
}

/** The text of member `key` of the top-level object, or of each object of a top-level array
 * (a view, or a page of views), as written: [text, ...] in order; undefined where missing. */
export function memberTexts(text, key) {
  const found = [];
  const wanted = JSON.stringify(key);
  let depth = 0;
  let inArray = false;
  let current;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const end = stringEnd(text, i);
      const level = inArray ? 2 : 1;
      if (depth === level && text.slice(i, end) === wanted) {
        let start = end;
        while (" \t\r\n:".includes(text[start])) start++;
        current = start;
        i = valueEnd(text, start) - 1;
        found[found.length - 1] = text.slice(current, i + 1);
      } else {
        i = end - 1;
      }
    } else if (c === "{" || c === "[") {
      if (depth === 0 && c === "[") inArray = true;
      depth++;
      if (c === "{" && depth === (inArray ? 2 : 1)) found.push(undefined);
    } else if (c === "}" || c === "]") {
      depth--;
    }
  }
  return found;
}

/** Where the JSON value that starts at `start` ends. */
function valueEnd(text, start) {
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      i = stringEnd(text, i) - 1;
      if (depth === 0) return i + 1;
    } else if (c === "{" || c === "[") {
      depth++;
    } else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0) return i + 1;
      if (depth < 0) return i;
    } else if (depth === 0 && (c === "," || " \t\r\n".includes(c))) {
      return i; // a number, true, false or null ends here
    }
  }
  return text.length;
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const ESCAPES = new Set(['"', "\\", "/", "b", "f", "n", "r", "t"]);
const HEX4 = /^[0-9a-fA-F]{4}$/;

/** The first syntax error of `text` as {offset, message}, or null when it is one JSON value. */
export function findSyntaxError(text) {
  const n = text.length;
  const closers = []; // what each open container waits for: "}" or "]"
  let i = 0;
  let state = "value"; // value | key | after
  const fail = (message, at = i) => ({ offset: at, message });
  const skipSpace = () => {
    while (i < n && (text[i] === " " || text[i] === "\n" || text[i] === "\r" || text[i] === "\t")) i++;
  };
  const shown = (c) => (c === undefined ? "end of the document" : `“${c}”`);

  function string() {
    const start = i++;
    while (i < n) {
      const c = text[i];
      if (c === '"') {
        i++;
        return null;
      }
      if (c === "\\") {
        const e = text[i + 1];
        if (e === "u") {
          if (!HEX4.test(text.slice(i + 2, i + 6))) return fail("\\u must be followed by four hex digits");
          i += 6;
        } else if (ESCAPES.has(e)) {
          i += 2;
        } else {
          return fail(`Invalid escape “\\${e ?? ""}” in a string`);
        }
      } else if (c < " ") {
        return fail("Line breaks and control characters in a string must be escaped (\\n, \\t)");
      } else {
        i++;
      }
    }
    return fail("Unterminated string: a closing \" is missing", start);
  }

  while (true) {
    skipSpace();
    const c = text[i];
    if (state === "value") {
      if (c === "{" || c === "[") {
        closers.push(c === "{" ? "}" : "]");
        i++;
        skipSpace();
        if (text[i] === closers.at(-1)) {
          closers.pop();
          i++;
          state = "after";
        } else {
          state = c === "{" ? "key" : "value";
        }
      } else if (c === '"') {
        const error = string();
        if (error) return error;
        state = "after";
      } else if (c === "-" || (c >= "0" && c <= "9")) {
        NUMBER.lastIndex = i;
        if (!NUMBER.test(text)) return fail("Invalid number");
        i = NUMBER.lastIndex;
        state = "after";
      } else if (text.startsWith("true", i) || text.startsWith("null", i)) {
        i += 4;
        state = "after";
      } else if (text.startsWith("false", i)) {
        i += 5;
        state = "after";
      } else if (c === undefined) {
        return fail(n === 0 || !text.trim() ? "The document is empty" : "Unexpected end: a value is missing");
      } else {
        return fail(`Unexpected ${shown(c)}: expected a value (object, array, string, number, true, false or null)`);
      }
    } else if (state === "key") {
      if (c !== '"') {
        return fail(
          c === "'"
            ? "Property names need double quotes, not single quotes"
            : `Unexpected ${shown(c)}: expected a property name in double quotes`,
        );
      }
      const error = string();
      if (error) return error;
      skipSpace();
      if (text[i] !== ":") return fail(`Unexpected ${shown(text[i])}: expected “:” after the property name`);
      i++;
      state = "value";
    } else {
      const closer = closers.at(-1);
      if (closer === undefined) {
        return c === undefined ? null : fail(`Unexpected ${shown(c)} after the end of the document`);
      }
      if (c === ",") {
        const comma = i++;
        skipSpace();
        if (text[i] === "}" || text[i] === "]") return fail(`A comma may not come before “${text[i]}”`, comma);
        state = closer === "}" ? "key" : "value";
      } else if (c === closer) {
        closers.pop();
        i++;
      } else {
        return fail(`Unexpected ${shown(c)}: expected “,” or “${closer}”`);
      }
    }
  }
}

export function lineAndColumn(text, offset) {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return { line, column: offset - before.lastIndexOf("\n") };
}

/** {ok: true, value} or {ok: false, message, offset, line, column}. */
export function checkJson(text) {
  const error = findSyntaxError(text);
  if (error) return { ok: false, ...error, ...lineAndColumn(text, error.offset) };
  return { ok: true, value: parseExact(text) };
}

/** Where the value at JSON Pointer `pointer` (RFC 6901) is in `text`, as {start, end}; null
 * when the text has no such value (a missing property: point at its object instead). */
export function pointerRange(text, pointer) {
  const tokens = pointer === "" ? [] : pointer.slice(1).split("/").map((t) => t.replaceAll("~1", "/").replaceAll("~0", "~"));
  let i = skipSpace(text, 0);
  for (const token of tokens) {
    const c = text[i];
    if (c === "{") {
      i = skipSpace(text, i + 1);
      let found = false;
      while (text[i] === '"') {
        const end = stringEnd(text, i);
        const key = JSON.parse(text.slice(i, end));
        const valueStart = skipSpace(text, skipSpace(text, end) + 1); // past the colon
        if (key === token) {
          i = valueStart;
          found = true;
          break;
        }
        i = skipSpace(text, valueEnd(text, valueStart));
        if (text[i] === ",") i = skipSpace(text, i + 1);
      }
      if (!found) return null;
    } else if (c === "[") {
      const index = Number(token);
      if (!Number.isInteger(index) || index < 0) return null;
      i = skipSpace(text, i + 1);
      for (let n = 0; n < index; n++) {
        if (text[i] === "]" || i >= text.length) return null;
        i = skipSpace(text, valueEnd(text, i));
        if (text[i] !== ",") return null;
        i = skipSpace(text, i + 1);
      }
      if (text[i] === "]") return null;
    } else {
      return null;
    }
  }
  return i < text.length ? { start: i, end: valueEnd(text, i) } : null;
}

function skipSpace(text, i) {
  while (i < text.length && " \t\r\n".includes(text[i])) i++;
  return i;
}
