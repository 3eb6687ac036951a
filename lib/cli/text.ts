// How `pmem kv` writes keys and values out: as JSON (export, --json), where
// bytes that are not UTF-8 go in base64 so that import gives them back, and
// as scan's one-line text, escaped so that no entry spans two lines and no
// two entries print alike.

/** A value as JSON: a string when it is valid UTF-8, else base64. */
export function jsonValue(b: Buffer): { value: string } | { valueBase64: string } {
  const s = b.toString('utf8');
  return Buffer.from(s, 'utf8').equals(b) ? { value: s } : { valueBase64: b.toString('base64') };
}

/** A key as JSON, as a value is (import takes both forms back). */
export function jsonKey(b: Buffer): { key: string } | { keyBase64: string } {
  const s = b.toString('utf8');
  return Buffer.from(s, 'utf8').equals(b) ? { key: s } : { keyBase64: b.toString('base64') };
}

/**
 * A key or value in scan's text form, one entry a line: a backslash, tab,
 * line feed and carriage return as \\, \t, \n and \r, any other control
 * character (U+0000..U+001F, U+007F) and each byte that is not part of valid
 * UTF-8 as \xHH; everything else as it is. Two entries never print alike,
 * and no entry spans two lines.
 */
export function escapeText(b: Buffer): string {
  // Most keys and values: UTF-8 with nothing to escape, as they are. (A
  // U+FFFD here may be one the bytes hold: the loop below tells.)
  const s = b.toString('utf8');
  if (!PLAIN_NOT.test(s)) return s;
  let out = '';
  let i = 0;
  while (i < b.length) {
    const n = utf8Length(b, i);
    if (n === 0) {
      out += `\\x${b[i].toString(16).padStart(2, '0')}`;
      i++;
      continue;
    }
    const c = b[i];
    if (n > 1) out += b.toString('utf8', i, i + n);
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += String.fromCharCode(c);
    i += n;
  }
  return out;
}

/**
 * A path as a message or `info`'s and `check`'s text name it: its UTF-8
 * bytes escaped as escapeText escapes a key, so that the message stays one
 * line and names the path exactly (`--json` gives it as it is: JSON
 * escapes it).
 */
export function pathText(p: string): string {
  return escapeText(Buffer.from(p, 'utf8'));
}

/**
 * A path as a shell command line names it, for a command a user copies: as
 * it is when no shell treats any of its characters specially; else in
 * single quotes; with a control character or bytes that are not UTF-8, in
 * bash's $'...' form, escaped as pathText escapes it (one line, exact).
 */
export function shellWord(p: string): string {
  if (/^[A-Za-z0-9_/.,:@%+=-]+$/.test(p)) return p;
  const text = pathText(p);
  if (text === p) return `'${p.replace(/'/g, "'\\''")}'`;
  return `$'${text.replace(/'/g, "\\'")}'`;
}

/** What scan's text form does not print as it is (or may not: U+FFFD). */
const PLAIN_NOT = /[\\\x00-\x1f\x7f\uFFFD]/;

/** Bytes of the well-formed UTF-8 character at b[i], or 0 if none starts there. */
function utf8Length(b: Buffer, i: number): number {
  const c = b[i];
  if (c < 0x80) return 1;
  const cont = (k: number): boolean => i + k < b.length && (b[i + k] & 0xc0) === 0x80;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80; // no overlong form
    const hi = c === 0xed ? 0x9f : 0xbf; // no surrogate
    return i + 1 < b.length && b[i + 1] >= lo && b[i + 1] <= hi && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xf4 ? 0x8f : 0xbf; // at most U+10FFFF
    return i + 1 < b.length && b[i + 1] >= lo && b[i + 1] <= hi && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}
