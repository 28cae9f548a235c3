// A message's text as the Markdown subset of PROTOCOL.md, built as DOM nodes
// (never HTML): paragraphs and line breaks, **bold**, *italic*, _italic_,
// `code`, fenced code blocks (with Copy), "> " quotes, "- ", "* " and "1. "
// lists, [text](url) and bare URLs (http, https and mailto only). Unclosed
// markers stay literal. One pass over the characters, nesting bounded.

import { button, element } from "./dom.js";

const MAX_DEPTH = 8;
const LIST_ITEM = /^ {0,3}(?:([-*])|(\d{1,9})\.) (.*)$/;
const SCHEMES = new Set(["http:", "https:", "mailto:"]);

// `url` if it is an absolute http, https or mailto URL, else null.
export function safeUrl(url) {
  if (!url || /[\s\u0000-\u001f]/.test(url)) return null;
  try {
    const parsed = new URL(url);
    if (!SCHEMES.has(parsed.protocol)) return null;
    if (parsed.protocol !== "mailto:" && !/^https?:\/\/[^/]/i.test(url)) return null;
    return url;
  } catch {
    return null;
  }
}

function anchor(url, label) {
  const link = element("a");
  link.href = url;
  link.target = "_blank";
  link.rel = "noopener noreferrer nofollow";
  link.append(label);
  return link;
}

// Each position's next occurrence of `char` at or after it (text.length if none).
function nextOf(text, char) {
  const next = new Int32Array(text.length + 1);
  next[text.length] = text.length;
  for (let i = text.length - 1; i >= 0; i--) next[i] = text[i] === char ? i : next[i + 1];
  return next;
}

const isSpace = (c) => c === undefined || /\s/.test(c);
const isWord = (c) => c !== undefined && /[\p{L}\p{N}_]/u.test(c);

// Tokens of one block's inline text: strings, nodes, and emphasis delimiters.
function tokenize(text, leaf, depth, links) {
  const tokens = [];
  const closeBracket = nextOf(text, "]");
  const closeParen = nextOf(text, ")");
  // Backtick runs by length, to find a code span's closing run in one pass.
  const runs = new Map();
  for (let i = 0; i < text.length; ) {
    if (text[i] !== "`") { i++; continue; }
    let j = i;
    while (text[j] === "`") j++;
    if (!runs.has(j - i)) runs.set(j - i, { at: [], next: 0 });
    runs.get(j - i).at.push(i);
    i = j;
  }
  let plain = "";
  const flush = () => { if (plain) tokens.push(plain); plain = ""; };
  const urls = new Map(); // by closing bracket: one check each
  for (let i = 0; i < text.length; ) {
    const c = text[i];
    if (c === "`") {
      let j = i;
      while (text[j] === "`") j++;
      const run = runs.get(j - i);
      while (run.next < run.at.length && run.at[run.next] <= i) run.next++;
      if (run.next < run.at.length) {
        const end = run.at[run.next];
        flush();
        tokens.push(element("code", "", text.slice(j, end)));
        i = end + (j - i);
      } else {
        plain += text.slice(i, j);
        i = j;
      }
      continue;
    }
    if (c === "[" && links && depth < MAX_DEPTH) {
      const close = closeBracket[i];
      if (close < text.length && text[close + 1] === "(") {
        const end = closeParen[close + 2];
        if (!urls.has(close)) urls.set(close, end < text.length ? safeUrl(text.slice(close + 2, end)) : null);
        const url = urls.get(close);
        if (url && close > i + 1) {
          flush();
          tokens.push(anchor(url, inline(text.slice(i + 1, close), leaf, depth + 1, false)));
          i = end + 1;
          continue;
        }
      }
    }
    if ((c === "h" || c === "H") && links && !isWord(text[i - 1]) && /^https?:\/\//i.test(text.slice(i, i + 8))) {
      let j = i;
      while (j < text.length && !/[\s<>"]/.test(text[j])) j++;
      while (j > i && /[.,;:!?'")\]*_]/.test(text[j - 1])) j--;
      const url = safeUrl(text.slice(i, j));
      if (url) {
        flush();
        tokens.push(anchor(url, url));
        i = j;
        continue;
      }
    }
    if (c === "*" || c === "_") {
      // A run of one marker opens or closes by the characters around it.
      let j = i;
      while (text[j] === c) j++;
      const before = text[i - 1];
      const after = text[j];
      const word = c === "_";
      const canOpen = !isSpace(after) && !(word && isWord(before));
      const canClose = !isSpace(before) && !(word && isWord(after));
      if (canOpen || canClose) {
        flush();
        for (let k = i; k < j; ) {
          const kind = c === "*" && j - k >= 2 ? "**" : c;
          tokens.push({ kind, canOpen, canClose, pair: -1 });
          k += kind.length;
        }
      } else {
        plain += text.slice(i, j);
      }
      i = j;
      continue;
    }
    plain += c;
    i++;
  }
  flush();
  return tokens;
}

// Pair emphasis delimiters with a stack of at most MAX_DEPTH open ones.
function pair(tokens, depth) {
  const stack = [];
  tokens.forEach((token, index) => {
    if (typeof token !== "object" || !token.kind) return;
    if (token.canClose) {
      const at = stack.findLastIndex((open) => tokens[open].kind === token.kind);
      if (at >= 0 && stack[at] !== index - 1) {
        token.pair = stack[at];
        tokens[stack[at]].pair = index;
        stack.length = at;
        return;
      }
    }
    if (token.canOpen && stack.length + depth < MAX_DEPTH) stack.push(index);
  });
}

// `text`'s inline Markdown as a fragment; plain text goes through `leaf`.
export function inline(text, leaf, depth = 0, links = true) {
  const tokens = tokenize(text, leaf, depth, links);
  pair(tokens, depth);
  const root = document.createDocumentFragment();
  const open = [root];
  let plain = "";
  const flush = () => { if (plain) open.at(-1).append(leaf(plain)); plain = ""; };
  tokens.forEach((token, index) => {
    if (typeof token === "string") { plain += token; return; }
    if (!token.kind) { flush(); open.at(-1).append(token); return; }
    if (token.pair < 0) { plain += token.kind; return; }
    flush();
    if (token.pair > index) {
      const node = element(token.kind === "**" ? "strong" : "em");
      open.at(-1).append(node);
      open.push(node);
    } else {
      open.pop();
    }
  });
  flush();
  return root;
}

// Lines with <br> between them.
function lines(parent, rows, leaf, depth) {
  rows.forEach((row, n) => {
    if (n) parent.append(element("br"));
    parent.append(inline(row, leaf, depth));
  });
}

function copyButton(code) {
  const copy = button("copy-code", "Copy", () => {
    const done = () => { copy.textContent = "Copied"; setTimeout(() => { copy.textContent = "Copy"; }, 1500); };
    const select = () => {
      const range = document.createRange();
      range.selectNodeContents(code);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      try { if (document.execCommand("copy")) done(); } catch { /* selected: the user copies */ }
    };
    if (navigator.clipboard?.writeText) navigator.clipboard.writeText(code.textContent).then(done, select);
    else select();
  });
  copy.setAttribute("aria-label", "Copy the code");
  return copy;
}

function codeBlock(lang, rows) {
  const box = element("div", "code-block");
  const code = element("code", "", rows.join("\n"));
  if (lang) code.dataset.lang = lang;
  const pre = element("pre");
  pre.append(code);
  box.append(copyButton(code), pre);
  return box;
}

// `text` as blocks in a fragment; plain text goes through `leaf` (a
// function from a string to a node: mentions, say).
export function markdown(text, leaf = (s) => s, depth = 0) {
  const root = document.createDocumentFragment();
  const rows = text.split("\n");
  let paragraph = [];
  let fences = true; // false once a fence is unclosed: none after it closes
  const end = () => {
    if (!paragraph.length) return;
    const p = element("p");
    lines(p, paragraph, leaf, depth);
    root.append(p);
    paragraph = [];
  };
  for (let i = 0; i < rows.length; ) {
    const row = rows[i];
    const fence = fences && /^ {0,3}```\s*([\w+#.-]*)\s*$/.exec(row);
    if (fence) {
      let close = i + 1;
      while (close < rows.length && !/^ {0,3}```\s*$/.test(rows[close])) close++;
      if (close < rows.length) {
        end();
        root.append(codeBlock(fence[1], rows.slice(i + 1, close)));
        i = close + 1;
        continue;
      }
      fences = false;
    }
    if (/^ {0,3}>/.test(row) && depth < MAX_DEPTH) {
      end();
      const quoted = [];
      while (i < rows.length && /^ {0,3}>/.test(rows[i])) quoted.push(rows[i++].replace(/^ {0,3}> ?/, ""));
      const quote = element("blockquote");
      quote.append(markdown(quoted.join("\n"), leaf, depth + 1));
      root.append(quote);
      continue;
    }
    const item = LIST_ITEM.exec(row);
    if (item) {
      end();
      const ordered = Boolean(item[2]);
      const list = element(ordered ? "ol" : "ul");
      if (ordered && item[2] !== "1") list.start = Number(item[2]);
      for (let m = item; m && Boolean(m[2]) === ordered; m = LIST_ITEM.exec(rows[++i] ?? "")) {
        const li = element("li");
        li.append(inline(m[3], leaf, depth));
        list.append(li);
      }
      root.append(list);
      continue;
    }
    if (row.trim() === "") end();
    else paragraph.push(row);
    i++;
  }
  end();
  return root;
}
