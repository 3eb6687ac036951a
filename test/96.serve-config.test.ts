// pmem serve's CONFIG SET with several parameter/value pairs, all or nothing
// as in Redis 7.0: a refused value or a repeated parameter leaves every
// parameter as it was, with Redis's error texts; the parameters it refuses
// whatever their value (immutable, protected, port and bind), and what
// CONFIG GET answers for them; Redis's aliases.

import * as fs from 'node:fs';
import * as path from 'node:path';

import { type RawClient, text } from './fixtures/serve/raw';
import { serveFixture } from './fixtures/serve/each';
import { testDir } from './helpers';

const MB = 1024 * 1024;
const failed = (k: string, why: string): string => `-ERR CONFIG SET failed (possibly related to argument '${k}') - ${why}`;
const RANGE = 'argument must be between 1 and 4294967295 inclusive';

describe('pmem serve: CONFIG SET, all or nothing, and the parameters it refuses', () => {
  // A server each: what one test leaves set does not reach the next.
  const fixture = serveFixture('config.kv');
  const { client } = fixture;

  const PARAMS = ['client-query-buffer-limit', 'proto-max-bulk-len', 'notify-keyspace-events', 'maxclients', 'requirepass', 'x-pmem-unknown'];
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
      ['client-query-buffer-limit', String(65 * MB)], ['proto-max-bulk-len', String(64 * MB)], ['notify-keyspace-events', ''], ['maxclients', '10000'],
      ['requirepass', ''], ['x-pmem-unknown'],
    ]);
    expect(text(await c.call(
      'CONFIG', 'SET', 'client-query-buffer-limit', '5mb', 'notify-keyspace-events', 'KEA', 'proto-max-bulk-len', '2mb', 'requirepass', 'pw',
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
    expect(text(await c.call('CONFIG', 'SET', 'client-query-buffer-limit', '2mb', 'notify-keyspace-events', 'Kq'))).toMatch(
      /^-ERR CONFIG SET failed \(possibly related to argument 'notify-keyspace-events'\) - /,
    );
    expect(await snapshot(c)).toEqual(before);
    // All valid: all applied.
    expect(text(await c.call('CONFIG', 'SET', 'client-query-buffer-limit', '5mb', 'notify-keyspace-events', 'KEA', 'x-pmem-unknown', '1', 'maxclients', '500'))).toBe('OK');
    expect(await snapshot(c)).toEqual([
      ['client-query-buffer-limit', String(5 * MB)], ['proto-max-bulk-len', String(64 * MB)], ['notify-keyspace-events', 'AKE'], ['maxclients', '500'],
      ['requirepass', ''], ['x-pmem-unknown', '1'],
    ]);
  });

  test('a parameter named twice is refused before any value is looked at; the first repeat is named as the client spelt it', async () => {
    const c = await client();
    const before = await snapshot(c);
    expect(text(await c.call('CONFIG', 'SET', 'maxmemory', '10000001', 'maxmemory', '10000002'))).toBe(failed('maxmemory', 'duplicate parameter'));
    // A repeat is found in any case, and wins over a value that is refused.
    expect(text(await c.call('CONFIG', 'SET', 'maxclients', 'abc', 'MaxClients', '5'))).toBe(failed('MaxClients', 'duplicate parameter'));
    // Redis stops at the first repeat in the command's order.
    expect(text(await c.call('CONFIG', 'SET', 'maxmemory', '1', 'maxmemory', '2', 'maxclients', '7', 'MAXCLIENTS', '8'))).toBe(
      failed('maxmemory', 'duplicate parameter'),
    );
    expect(text(await c.call('CONFIG', 'SET', 'maxmemory', '1', 'maxclients', '2', 'MAXclients', '3', 'maxmemory', '4'))).toBe(
      failed('MAXclients', 'duplicate parameter'),
    );
    // A parameter pmem serve does not know (and remembers) counts as one too.
    expect(text(await c.call('CONFIG', 'SET', 'x-pmem-unknown', '1', 'maxmemory', '1mb', 'x-pmem-unknown', '2'))).toBe(
      failed('x-pmem-unknown', 'duplicate parameter'),
    );
    expect(await snapshot(c)).toEqual(before);
  });

  test("Redis's immutable parameters are refused as Redis refuses them, whatever the value, and are not remembered", async () => {
    const c = await client();
    const before = await snapshot(c);
    const immutable = (k: string): string => failed(k, "can't set immutable config");
    for (const [k, v] of [['daemonize', 'yes'], ['databases', '3'], ['replicaof', 'no one'], ['slaveof', '127.0.0.1 6380'], ['enable-debug-command', 'yes'],
      ['io-threads', '4'], ['logfile', '/tmp/x.log'], ['pidfile', '/tmp/x.pid'], ['unixsocket', '/tmp/x.sock'], ['appendfilename', 'x.aof']]) {
      expect([k, text(await c.call('CONFIG', 'SET', k, v))]).toEqual([k, immutable(k)]);
    }
    // Named as the client spelt it, found in any case.
    expect(text(await c.call('CONFIG', 'SET', 'Daemonize', 'yes'))).toBe(immutable('Daemonize'));
    // CONFIG GET tells the truth: databases is what the server has, and the others were not taken.
    expect(text(await c.call('CONFIG', 'GET', 'databases'))).toEqual(['databases', '16']);
    for (const [k, v] of [['daemonize', 'no'], ['replicaof', ''], ['slaveof', ''], ['enable-debug-command', 'no'], ['logfile', '']]) {
      expect(text(await c.call('CONFIG', 'GET', k))).toEqual([k, v]);
    }
    expect(text(await c.call('SELECT', '15'))).toBe('OK');
    expect(text(await c.call('SELECT', '16'))).toBe('-ERR DB index is out of range');
    // The first name refused in the command's order is the error, before any value is looked at; nothing is applied.
    expect(text(await c.call('CONFIG', 'SET', 'maxmemory', '1mb', 'daemonize', 'yes', 'maxmemory', '2mb'))).toBe(immutable('daemonize'));
    expect(text(await c.call('CONFIG', 'SET', 'maxmemory', '1mb', 'maxmemory', '2mb', 'daemonize', 'yes'))).toBe(failed('maxmemory', 'duplicate parameter'));
    expect(text(await c.call('CONFIG', 'SET', 'maxclients', 'abc', 'databases', '2'))).toBe(immutable('databases'));
    expect(text(await c.call('CONFIG', 'SET', 'x-pmem-unknown', '1', 'maxclients', '5', 'daemonize', 'no'))).toBe(immutable('daemonize'));
    expect(await snapshot(c)).toEqual(before);
  });

  test('CONFIG GET answers for every parameter CONFIG SET refuses, with what is true of pmem serve', async () => {
    const c = await client();
    const TRUE_HERE: [string, string][] = [
      ['daemonize', 'no'], ['supervised', 'no'], ['pidfile', ''], ['logfile', ''], ['syslog-enabled', 'no'], ['syslog-ident', ''], ['syslog-facility', ''],
      ['always-show-logo', 'no'], ['set-proc-title', 'no'], ['disable-thp', 'no'], ['io-threads', '1'], ['io-threads-do-reads', 'no'],
      ['cluster-enabled', 'no'], ['cluster-config-file', ''], ['cluster-port', '0'], ['aclfile', ''], ['unixsocket', ''], ['unixsocketperm', '0'],
      ['appendfilename', ''], ['appenddirname', ''], ['server_cpulist', ''], ['bio_cpulist', ''], ['aof_rewrite_cpulist', ''], ['bgsave_cpulist', ''],
      ['enable-protected-configs', 'no'], ['enable-debug-command', 'no'], ['enable-module-command', 'no'], ['lua-enable-deprecated-api', 'no'],
      ['tcp-backlog', '511'], ['socket-mark-id', '0'], ['rdbchecksum', 'yes'], ['replicaof', ''], ['slaveof', ''], ['databases', '16'],
      ['port', String(fixture.port)], ['bind', '127.0.0.1'],
    ];
    for (const [k, v] of TRUE_HERE) {
      expect([k, text(await c.call('CONFIG', 'GET', k))]).toEqual([k, [k, v]]);
      // Each is one CONFIG SET refuses whatever the value.
      expect(text(await c.call('CONFIG', 'SET', k, v))).toMatch(/^-ERR CONFIG SET failed \(possibly related to argument '[^']+'\) - can't /);
    }
    // dir/dbfilename is the store file.
    const [, dir] = text(await c.call('CONFIG', 'GET', 'dir')) as string[];
    const [, file] = text(await c.call('CONFIG', 'GET', 'dbfilename')) as string[];
    expect(path.isAbsolute(dir)).toBe(true);
    expect(file).toMatch(/^[^/]+-config\.kv$/);
    expect(fs.statSync(path.join(dir, file)).isFile()).toBe(true);
    expect(dir).toBe(path.resolve(testDir()));
  });

  test('CONFIG GET of a name replies with it as the client spelt it; a pattern lists names in lower case, and never the hidden ones', async () => {
    const c = await client();
    expect(text(await c.call('CONFIG', 'GET', 'DaemonIZE'))).toEqual(['DaemonIZE', 'no']);
    // One parameter named twice is one pair, under its first spelling; a pattern does not list it again.
    expect(text(await c.call('CONFIG', 'GET', 'IO-Threads', 'io-threads', 'io-thread?'))).toEqual(['IO-Threads', '1']);
    expect(text(await c.call('CONFIG', 'GET', 'SlaveOf'))).toEqual(['SlaveOf', '']);
    const map = async (...args: string[]): Promise<Map<string, string>> => {
      const pairs = text(await c.call('CONFIG', 'GET', ...args)) as string[];
      return new Map(pairs.flatMap((k, i) => (i % 2 === 0 ? [[k, pairs[i + 1]] as [string, string]] : [])));
    };
    expect(await map('SYSLOG-*')).toEqual(new Map([['syslog-enabled', 'no'], ['syslog-ident', ''], ['syslog-facility', '']]));
    expect(await map('*of')).toEqual(new Map([['replicaof', ''], ['slaveof', '']]));
    // A hidden parameter is found by its name only.
    expect(await map('lua-enable-deprecated-api')).toEqual(new Map([['lua-enable-deprecated-api', 'no']]));
    expect(await map('lua-enable*')).toEqual(new Map());
    expect((await map('*')).has('lua-enable-deprecated-api')).toBe(false);
    expect((await map('*')).get('daemonize')).toBe('no');
    // An unknown name is no pair.
    expect(text(await c.call('CONFIG', 'GET', 'x-pmem-none'))).toEqual([]);
  });

  test('dir and dbfilename are refused as Redis refuses protected parameters (enable-protected-configs no)', async () => {
    const c = await client();
    const [, dir] = text(await c.call('CONFIG', 'GET', 'dir')) as string[];
    const [, file] = text(await c.call('CONFIG', 'GET', 'dbfilename')) as string[];
    expect(text(await c.call('CONFIG', 'SET', 'dir', '/tmp'))).toBe(failed('dir', "can't set protected config"));
    expect(text(await c.call('CONFIG', 'SET', 'DBFilename', 'x.rdb'))).toBe(failed('DBFilename', "can't set protected config"));
    expect(text(await c.call('CONFIG', 'SET', 'maxmemory', 'abc', 'dir', '/tmp'))).toBe(failed('dir', "can't set protected config"));
    expect(text(await c.call('CONFIG', 'GET', 'dir'))).toEqual(['dir', dir]);
    expect(text(await c.call('CONFIG', 'GET', 'dbfilename'))).toEqual(['dbfilename', file]);
    expect(text(await c.call('CONFIG', 'GET', 'maxmemory'))).toEqual(['maxmemory', '0']);
  });

  test('port and bind are refused with the option that sets them: CONFIG GET says where the server listens', async () => {
    const c = await client();
    const { port } = fixture;
    expect(text(await c.call('CONFIG', 'SET', 'port', '6390'))).toBe(failed('port', "can't change where a running pmem serve listens: restart it with --port"));
    expect(text(await c.call('CONFIG', 'SET', 'BIND', '0.0.0.0'))).toBe(failed('BIND', "can't change where a running pmem serve listens: restart it with --bind"));
    expect(text(await c.call('CONFIG', 'SET', 'maxmemory', '1mb', 'port', String(port)))).toBe(
      failed('port', "can't change where a running pmem serve listens: restart it with --port"),
    );
    expect(text(await c.call('CONFIG', 'GET', 'port'))).toEqual(['port', String(port)]);
    expect(text(await c.call('CONFIG', 'GET', 'bind'))).toEqual(['bind', '127.0.0.1']);
    expect(text(await c.call('CONFIG', 'GET', 'maxmemory'))).toEqual(['maxmemory', '0']);
    // And it does listen there.
    expect(text(await (await client()).call('PING'))).toBe('PONG');
  });

  test("Redis's old names and new ones are one parameter; as in Redis 7.0, the two in one command are set in order, not a repeat", async () => {
    const c = await client();
    expect(text(await c.call('CONFIG', 'SET', 'slave-read-only', 'no', 'replica-read-only', 'yes'))).toBe('OK');
    expect(text(await c.call('CONFIG', 'GET', 'slave-read-only'))).toEqual(['slave-read-only', 'yes']);
    expect(text(await c.call('CONFIG', 'SET', 'replica-read-only', 'yes', 'SLAVE-read-only', 'no'))).toBe('OK');
    expect(text(await c.call('CONFIG', 'GET', 'replica-read-only'))).toEqual(['replica-read-only', 'no']);
    // CONFIG GET lists both names of one that was set, as Redis does.
    const pairs = text(await c.call('CONFIG', 'GET', '*read-only')) as string[];
    expect(new Map(pairs.flatMap((k, i) => (i % 2 === 0 ? [[k, pairs[i + 1]]] : [])))).toEqual(new Map([['replica-read-only', 'no'], ['slave-read-only', 'no']]));
    expect(text(await c.call('CONFIG', 'SET', 'lua-time-limit', '7'))).toBe('OK');
    expect(text(await c.call('CONFIG', 'GET', 'busy-reply-threshold'))).toEqual(['busy-reply-threshold', '7']);
    expect(text(await c.call('CONFIG', 'GET', 'lua-time-limit'))).toEqual(['lua-time-limit', '7']);
    // One name twice is a repeat, in any case.
    expect(text(await c.call('CONFIG', 'SET', 'slave-priority', '1', 'SLAVE-PRIORITY', '2'))).toBe(failed('SLAVE-PRIORITY', 'duplicate parameter'));
    // replicaof and slaveof are immutable under either name, first in the command's order named.
    expect(text(await c.call('CONFIG', 'SET', 'slaveof', 'no one', 'replicaof', 'no one'))).toBe(failed('slaveof', "can't set immutable config"));
  });

  test('an odd number of arguments past CONFIG SET is a syntax error, as in Redis; fewer than two, the arity error', async () => {
    const c = await client();
    expect(text(await c.call('CONFIG', 'SET', 'maxmemory', '1mb', 'maxclients'))).toBe('-ERR syntax error');
    expect(text(await c.call('CONFIG', 'SET', 'maxmemory'))).toBe("-ERR wrong number of arguments for 'config|set' command");
    expect(text(await c.call('CONFIG', 'GET', 'maxmemory'))).toEqual(['maxmemory', '0']);
  });
});

describe('pmem serve: CONFIG GET enable-debug-command', () => {
  const { client } = serveFixture('config-debug.kv', { enableDebugCommand: 'local' });

  test("is the server's enableDebugCommand", async () => {
    const c = await client();
    expect(text(await c.call('CONFIG', 'GET', 'enable-debug-command'))).toEqual(['enable-debug-command', 'local']);
  });
});
