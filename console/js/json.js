// JSON as the editor needs it: a syntax check that says where (the same in every browser, as
// engines word and place their errors differently), and numbers kept exactly as written.

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

const utf8 = new TextEncoder();

/** Keys in the order PostgreSQL's jsonb keeps them (shorter first, then bytewise), so a draft
 * compares with a stored version by content, not by how its keys were typed. */
export function storedOrder(value) {
  if (Array.isArray(value)) return value.map(storedOrder);
  if (value === null || typeof value !== "object" || JSON.isRawJSON?.(value)) return value;
  const keys = Object.keys(value).map((key) => [key, utf8.encode(key)]);
  keys.sort(([, a], [, b]) => a.length - b.length || compareBytes(a, b));
  return Object.fromEntries(keys.map(([key]) => [key, storedOrder(value[key])]));
}

function compareBytes(a, b) {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
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
