// pmem serve's SLOWLOG through raw RESP: what is logged (every command at
// slowlog-log-slower-than 0, none at -1; EXEC's commands and not EXEC; a
// blocking command once it is served; an error reply's command), what an
// entry holds (arguments cut as Redis cuts them, passwords redacted, the
// client's address and name), slowlog-max-len, GET's count and the
// subcommands' errors. Redis's own unit/slowlog runs in `npm run
// test:redis`. Whether a command is logged is decided by thresholds of 0
// and -1 only: no test depends on how long anything takes.
import * as fs from 'node:fs';

import { createServer, type RespServer } from '../lib';
import { RawClient, text } from './fixtures/serve/raw';
import { tmpFile } from './helpers';

let file: string;
let server: RespServer;
let port: number;

async function client(): Promise<RawClient> {
  const c = new RawClient(port);
  await c.ready;
  return c;
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((resolve) => setTimeout(resolve, 2));
}

/** The logged arguments of the newest entries, newest first. */
async function logged(c: RawClient, count = 10): Promise<string[][]> {
  const entries = text(await c.call('SLOWLOG', 'GET', String(count))) as unknown[][];
  return entries.map((e) => (e[3] as string[]).map(String));
}

beforeAll(async () => {
  file = tmpFile('slowlog.kv');
  server = createServer({ file, requirepass: 'sekrit' });
  port = await server.listen(0, '127.0.0.1');
});

afterAll(async () => {
  await server.close();
  fs.rmSync(file, { force: true });
});

test('at 0 every command is logged, newest first, with its client; at -1 none; EXEC only through its commands', async () => {
  const c = await client();
  expect(text(await c.call('AUTH', 'sekrit'))).toBe('OK');
  expect(text(await c.call('CLIENT', 'SETNAME', 'logger'))).toBe('OK');
  expect(text(await c.call('CONFIG', 'SET', 'slowlog-log-slower-than', '0'))).toBe('OK');
  expect(text(await c.call('SLOWLOG', 'RESET'))).toBe('OK');
  expect(text(await c.call('SET', 'k', 'v'))).toBe('OK');
  await c.call('LPUSH', 'k', 'x'); // WRONGTYPE: an error reply is logged too
  expect(text(await c.call('MULTI'))).toBe('OK');
  expect(text(await c.call('INCR', 'n'))).toBe('QUEUED');
  expect(text(await c.call('EXEC'))).toEqual([1]);
  const all = text(await c.call('SLOWLOG', 'GET', '-1')) as unknown[][];
  // The arguments as sent (this client sends names in capitals).
  expect(all.map((e) => (e[3] as string[]).join(' '))).toEqual(['INCR n', 'MULTI', 'LPUSH k x', 'SET k v', 'SLOWLOG RESET']);
  const [newest] = all;
  expect(newest).toHaveLength(6);
  expect(newest[4]).toBe(`127.0.0.1:${c.socket.localPort}`);
  expect(newest[5]).toBe('logger');
  expect(Math.abs((newest[1] as number) - Date.now() / 1000)).toBeLessThan(3600);
  expect(newest[2]).toBeGreaterThanOrEqual(0);
  // The ids count up.
  expect((all[0][0] as number) - (all[4][0] as number)).toBe(4);
  expect(text(await c.call('CONFIG', 'SET', 'slowlog-log-slower-than', '-1'))).toBe('OK');
  expect(text(await c.call('SLOWLOG', 'RESET'))).toBe('OK');
  await c.call('SET', 'k2', 'v');
  expect(await c.call('SLOWLOG', 'LEN')).toBe(0);
  c.close();
});

test('arguments are cut at 32 and 128 bytes, and passwords are redacted', async () => {
  const c = await client();
  await c.call('AUTH', 'sekrit');
  await c.call('CONFIG', 'SET', 'slowlog-log-slower-than', '0');
  await c.call('SLOWLOG', 'RESET');
  const many = Array.from({ length: 40 }, (_, i) => `m${i}`);
  await c.call('SADD', 's', ...many);
  await c.call('SET', 'long', 'A'.repeat(130));
  await c.call('AUTH', 'sekrit');
  await c.call('AUTH', 'default', 'sekrit');
  await c.call('HELLO', '2', 'AUTH', 'default', 'sekrit', 'SETNAME', 'n');
  await c.call('CONFIG', 'SET', 'requirepass', 'sekrit', 'slowlog-max-len', '128');
  const [config, hello, auth2, auth1, long, sadd] = await logged(c, 6);
  expect(sadd).toHaveLength(32);
  expect(sadd.slice(0, 3)).toEqual(['SADD', 's', 'm0']);
  expect(sadd[31]).toBe('... (11 more arguments)');
  expect(long).toEqual(['SET', 'long', `${'A'.repeat(128)}... (2 more bytes)`]);
  expect(auth1).toEqual(['AUTH', '(redacted)']);
  expect(auth2).toEqual(['AUTH', '(redacted)', '(redacted)']);
  expect(hello).toEqual(['HELLO', '2', 'AUTH', '(redacted)', '(redacted)', 'SETNAME', 'n']);
  expect(config).toEqual(['CONFIG', 'SET', 'requirepass', '(redacted)', 'slowlog-max-len', '128']);
  c.close();
});

test('slowlog-max-len keeps the newest; GET counts; a blocking command is logged when it is served', async () => {
  const c = await client();
  await c.call('AUTH', 'sekrit');
  await c.call('CONFIG', 'SET', 'slowlog-log-slower-than', '0', 'slowlog-max-len', '3');
  for (let i = 0; i < 10; i++) await c.call('PING');
  expect(await c.call('SLOWLOG', 'LEN')).toBe(3);
  expect(text(await c.call('CONFIG', 'GET', 'slowlog-max-len'))).toEqual(['slowlog-max-len', '3']);
  expect(await logged(c, 0)).toEqual([]);
  expect(await logged(c, 1)).toHaveLength(1);
  await c.call('CONFIG', 'SET', 'slowlog-max-len', '128');
  const b = await client();
  await b.call('AUTH', 'sekrit');
  b.send(Buffer.from('*3\r\n$5\r\nBLPOP\r\n$2\r\nbq\r\n$1\r\n0\r\n'));
  await until(() => server.blocking.blockedClients === 1);
  // Blocked: not logged yet.
  expect((await logged(c, 1))[0]).not.toEqual(['BLPOP', 'bq', '0']);
  await c.call('RPUSH', 'bq', 'x');
  expect(text(await b.read())).toEqual(['bq', 'x']);
  expect((await logged(c, 2)).map((a) => a.join(' '))).toEqual(['BLPOP bq 0', 'RPUSH bq x']);
  b.close();
  c.close();
});

test("the subcommands' errors and HELP, as Redis 7.0 words them; the thresholds' ranges", async () => {
  const c = await client();
  await c.call('AUTH', 'sekrit');
  const err = async (...args: string[]): Promise<string> => (text(await c.call(...args)) as string).slice(1);
  expect(await err('SLOWLOG')).toBe("ERR wrong number of arguments for 'slowlog' command");
  expect(await err('SLOWLOG', 'foo')).toBe("ERR unknown subcommand 'foo'. Try SLOWLOG HELP.");
  expect(await err('SLOWLOG', 'LEN', 'x')).toBe("ERR wrong number of arguments for 'slowlog|len' command");
  expect(await err('SLOWLOG', 'GET', '1', '2')).toBe("ERR unknown subcommand or wrong number of arguments for 'GET'. Try SLOWLOG HELP.");
  expect(await err('SLOWLOG', 'GET', '-2')).toBe('ERR count should be greater than or equal to -1');
  expect(await err('SLOWLOG', 'GET', 'x')).toBe('ERR count should be greater than or equal to -1');
  expect(await err('CONFIG', 'SET', 'slowlog-log-slower-than', '-2')).toMatch(/argument must be between -1 and 9223372036854775807 inclusive/);
  expect(await err('CONFIG', 'SET', 'slowlog-max-len', '-1')).toMatch(/argument must be between 0 and 9223372036854775807 inclusive/);
  const help = text(await c.call('SLOWLOG', 'HELP')) as string[];
  expect(help[0]).toBe('SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:');
  expect(help).toHaveLength(12);
  expect(text(await c.call('ROLE'))).toEqual(['master', 0, []]);
  c.close();
});
