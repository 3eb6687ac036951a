// pmem serve's CONFIG SET with several parameter/value pairs, all or nothing
// as in Redis 7.0: a refused value or a repeated parameter leaves every
// parameter as it was, with Redis's error texts.

import { type RawClient, text } from './fixtures/serve/raw';
import { serveFixture } from './fixtures/serve/each';

const MB = 1024 * 1024;
const failed = (k: string, why: string): string => `-ERR CONFIG SET failed (possibly related to argument '${k}') - ${why}`;
const RANGE = 'argument must be between 1 and 4294967295 inclusive';

describe('pmem serve: CONFIG SET is all or nothing', () => {
  // A server each: what one test leaves set does not reach the next.
  const { client } = serveFixture('config.kv');

  const PARAMS = ['maxmemory', 'proto-max-bulk-len', 'notify-keyspace-events', 'maxclients', 'requirepass', 'x-pmem-unknown'];
  /** CONFIG GET of each of PARAMS: [name, value], or [name] for a parameter CONFIG GET does not list. */
  async function snapshot(c: RawClient): Promise<string[][]> {
    const out: string[][] = [];
    for (const p of PARAMS) out.push([p, ...((text(await c.call('CONFIG', 'GET', p)) as string[]).slice(1))]);
    return out;
  }

  test('a refused value leaves every parameter of the command as it was, those before it too; the first refused one is named', async () => {
    const c = await client();
    const before = await snapshot(c);
    expect(before).toEqual([
      ['maxmemory', '0'], ['proto-max-bulk-len', String(64 * MB)], ['notify-keyspace-events', ''], ['maxclients', '10000'],
      ['requirepass', ''], ['x-pmem-unknown'],
    ]);
    expect(text(await c.call(
      'CONFIG', 'SET', 'maxmemory', '5mb', 'notify-keyspace-events', 'KEA', 'proto-max-bulk-len', '2mb', 'requirepass', 'pw',
      'x-pmem-unknown', '1', 'maxclients', '0',
    ))).toBe(failed('maxclients', RANGE));
    expect(await snapshot(c)).toEqual(before);
    // What is in force is unchanged too: no password, and a bulk past 2 MB is taken.
    const other = await client();
    expect(text(await other.call('SET', 'big', 'x'.repeat(3 * MB)))).toBe('OK');
    // The first pair whose value is refused is the one named, as Redis sets them in order.
    expect(text(await c.call('CONFIG', 'SET', 'maxclients', 'abc', 'proto-max-bulk-len', '1k'))).toBe(
      failed('maxclients', "argument couldn't be parsed into an integer"),
    );
    expect(text(await c.call('CONFIG', 'SET', 'proto-max-bulk-len', '1k', 'maxclients', 'abc'))).toBe(
      failed('proto-max-bulk-len', "argument must be between 1mb and 64mb (the store's largest value)"),
    );
    expect(text(await c.call('CONFIG', 'SET', 'maxmemory', '1mb', 'notify-keyspace-events', 'Kq'))).toMatch(
      /^-ERR CONFIG SET failed \(possibly related to argument 'notify-keyspace-events'\) - /,
    );
    expect(await snapshot(c)).toEqual(before);
    // All valid: all applied.
    expect(text(await c.call('CONFIG', 'SET', 'maxmemory', '5mb', 'notify-keyspace-events', 'KEA', 'x-pmem-unknown', '1', 'maxclients', '500'))).toBe('OK');
    expect(await snapshot(c)).toEqual([
      ['maxmemory', String(5 * MB)], ['proto-max-bulk-len', String(64 * MB)], ['notify-keyspace-events', 'AKE'], ['maxclients', '500'],
      ['requirepass', ''], ['x-pmem-unknown', '1'],
    ]);
  });

  test('a parameter named twice is refused before any value is looked at; the last repeat is named as the client spelt it', async () => {
    const c = await client();
    const before = await snapshot(c);
    expect(text(await c.call('CONFIG', 'SET', 'maxmemory', '10000001', 'maxmemory', '10000002'))).toBe(failed('maxmemory', 'duplicate parameter'));
    // A repeat is found in any case, and wins over a value that is refused.
    expect(text(await c.call('CONFIG', 'SET', 'maxclients', 'abc', 'MaxClients', '5'))).toBe(failed('MaxClients', 'duplicate parameter'));
    expect(text(await c.call('CONFIG', 'SET', 'maxmemory', '1', 'maxmemory', '2', 'maxclients', '7', 'MAXCLIENTS', '8'))).toBe(
      failed('MAXCLIENTS', 'duplicate parameter'),
    );
    // A parameter pmem serve does not know (and remembers) counts as one too.
    expect(text(await c.call('CONFIG', 'SET', 'x-pmem-unknown', '1', 'maxmemory', '1mb', 'x-pmem-unknown', '2'))).toBe(
      failed('x-pmem-unknown', 'duplicate parameter'),
    );
    expect(await snapshot(c)).toEqual(before);
  });

  test('an odd number of arguments past CONFIG SET is a syntax error, as in Redis; fewer than two, the arity error', async () => {
    const c = await client();
    expect(text(await c.call('CONFIG', 'SET', 'maxmemory', '1mb', 'maxclients'))).toBe('-ERR syntax error');
    expect(text(await c.call('CONFIG', 'SET', 'maxmemory'))).toBe("-ERR wrong number of arguments for 'config|set' command");
    expect(text(await c.call('CONFIG', 'GET', 'maxmemory'))).toEqual(['maxmemory', '0']);
  });
});
