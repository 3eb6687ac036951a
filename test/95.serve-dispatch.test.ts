// pmem serve's command lookup: a request's name matched as bytes, in any
// ASCII case, against every command of the table, and nothing else found.
import { COMMANDS } from '../lib/server/commands/table';
import { CommandIndex } from '../lib/server/dispatch';
import { seededRandom } from '../lib/testing/random';

const index = new CommandIndex(COMMANDS);
const find = (name: string): string | undefined => index.find(Buffer.from(name, 'latin1'))?.cmd.name;

describe('CommandIndex', () => {
  test('every command is found by its name in lower, upper and mixed case', () => {
    const rand = seededRandom(3);
    for (const name of COMMANDS.keys()) {
      expect(find(name)).toBe(name);
      expect(find(name.toUpperCase())).toBe(name);
      const mixed = [...name].map((ch) => (rand() < 0.5 ? ch.toUpperCase() : ch)).join('');
      expect(find(mixed)).toBe(name);
    }
    expect(COMMANDS.size).toBeGreaterThan(150);
  });

  test('a name with any byte changed is found only when the byte is the same letter in the other case', () => {
    let tried = 0;
    const wrong: string[] = [];
    for (const name of COMMANDS.keys()) {
      for (let i = 0; i < name.length; i++) {
        for (let b = 0; b < 256; b++) {
          const other = name.slice(0, i) + String.fromCharCode(b) + name.slice(i + 1);
          const same = other.toLowerCase() === name || String.fromCharCode(b) === name[i].toUpperCase();
          if (!same && COMMANDS.has(other.toLowerCase())) continue; // another command's name
          if (find(other) !== (same ? name : undefined)) wrong.push(other);
          tried++;
        }
      }
      expect(find(name.slice(0, -1)) === undefined || COMMANDS.has(name.slice(0, -1))).toBe(true);
      expect(find(`${name}x`) === undefined || COMMANDS.has(`${name}x`)).toBe(true);
    }
    expect(wrong).toEqual([]);
    expect(tried).toBeGreaterThan(200000);
    expect(find('')).toBeUndefined();
    // Case folding is ASCII only: latin1 'É' (0xc9) is not 'é' (0xe9), and neither is 'e'.
    expect(find('g\xc9t')).toBeUndefined();
    expect(find('SEt')).toBe('set');
  });
});
