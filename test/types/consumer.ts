// Compiled by test/91.types.test.ts against the built declarations, as a
// consumer's code importing 'pmem' and 'pmem/testing'. Every
// `@ts-expect-error` line must fail to compile: tsc reports one that does not.
import {
  compareExchange64, createServer, externalSort, fetchAdd64, KVStore, load64, Mapping, ObjPool, ObjTx, openMapping, parseKey, PmemError,
  SharedAppendList, Wal, type KVRangeOptions, type Region, type ServerOptions, type SortResult,
} from 'pmem';
import { CrashSim, crashTest, killTest, seededRandom, type CrashSimOptions } from 'pmem/testing';

declare const db: KVStore;
declare const encoding: 'buffer' | 'utf8';
declare const options: KVRangeOptions;

// range, keys and entries: Buffers by default and for 'buffer', strings for 'utf8'.
for (const [k, v] of db.range()) console.log(k.readUInt8(0), v.byteLength);
for (const [k, v] of db.range({ prefix: 'user:', limit: 10, encoding: 'buffer' })) console.log(k.readUInt8(0), v.byteLength);
for (const [k, v] of db.range({ gte: 'a', reverse: true, encoding: 'utf8' })) console.log(k.toUpperCase(), v.toUpperCase());
for (const k of db.keys({ encoding: 'utf8' })) console.log(k.toUpperCase());
for (const k of db.keys()) console.log(k.readUInt8(0));
for (const [k, v] of db.entries({ encoding: 'utf8' })) console.log(k.toUpperCase(), v.toUpperCase());
for (const [k, v] of db.entries()) console.log(k.readUInt8(0), v.byteLength);
for (const [k, v] of db.unordered('user:')) console.log(k.readUInt8(0), v.byteLength);
for (const [k, v] of db.unordered(undefined, { encoding: 'latin1' })) console.log(k.toUpperCase(), v.toUpperCase());
// @ts-expect-error a value from a Buffer-encoded unordered walk is not a string
for (const [, v] of db.unordered()) console.log(v.toUpperCase());
const someKey: Buffer | string | undefined = [...db.keys({ encoding })][0];
const someEntry: [Buffer, Buffer] | [string, string] | undefined = [...db.range(options)][0];
console.log(someKey, someEntry);

// @ts-expect-error a value from a Buffer-encoded range is not a string
for (const [, v] of db.range()) console.log(v.toUpperCase());
// @ts-expect-error nor from an explicit 'buffer' one
for (const [, v] of db.range({ encoding: 'buffer' })) console.log(v.toUpperCase());
// @ts-expect-error a key from a utf8 range is not a Buffer
for (const [k] of db.range({ encoding: 'utf8' })) console.log(k.readUInt8(0));
// @ts-expect-error a utf8 key is not a Buffer
for (const k of db.keys({ encoding: 'utf8' })) console.log(k.readUInt8(0));
// @ts-expect-error an entry value is a Buffer by default
for (const [, v] of db.entries()) console.log(v.toUpperCase());
// @ts-expect-error an encoding that is not known at compile time gives either
const b: Buffer | undefined = [...db.keys({ encoding })][0];
// @ts-expect-error no such encoding
db.range({ encoding: 'hex' });
console.log(b);

// Symbol.dispose on what holds a mapping or a pool.
const m = openMapping('/dev/shm/x', { size: 4096, create: true });
m[Symbol.dispose]();
db[Symbol.dispose]();
declare const wal: Wal;
wal[Symbol.dispose]();
declare const pool: ObjPool;
pool[Symbol.dispose]();

// What is marked internal is not in the declarations.
declare const tx: ObjTx;
// @ts-expect-error commit is internal: a transaction commits when its function returns
tx.commit();
// @ts-expect-error the constructor takes the native handle; it is not a no-argument one
new Mapping();

// pmem/testing.
const simOptions: CrashSimOptions = { mode: 'adr' };
const sim: Region = new CrashSim(4096, simOptions);
console.log(sim.length, typeof crashTest, typeof killTest, seededRandom(1));
// @ts-expect-error no such mode
new CrashSim(4096, { mode: 'fast' });
const e: PmemError = new PmemError('ERR_PMEM_CLOSED', 'closed');
console.log(e.code);

// The atomics: bigints back, bigints or numbers in.
const word: bigint = m.load64(0) + m.compareExchange64(8, 0n, 1) + m.fetchAdd64(16, -1) + load64(sim, 0);
m.store64(24, word);
const swapped: bigint = compareExchange64(sim, 0, 0, 1n) + fetchAdd64(sim, 8, 1);
console.log(swapped);
// @ts-expect-error an operand is a bigint or a number
m.store64(0, '1');
const shared = SharedAppendList.open(sim);
shared.append('event');
// @ts-expect-error appendSteps is internal: it interleaves producers in tests
shared.appendSteps('x');
// externalSort: options and counters.
const sorted: SortResult = externalSort('in.txt', 'out.txt', { memory: 1 << 20, keys: [parseKey('2,2')], numeric: true, onProgress: (p) => console.log(p.phase, p.done) });
console.log(sorted.mergePasses, sorted.peakRss);
// @ts-expect-error mergeBuffers is 'pmem' or 'dram'
externalSort('in.txt', 'out.txt', { mergeBuffers: 'disk' });
// pmem serve, embedded.
const serverOptions: ServerOptions = { file: '/dev/shm/x.kv', requirepass: 'pw', databases: 4 };
const server = createServer(serverOptions);
void server.listen(0, '127.0.0.1').then((port: number) => console.log(port, server.store.count));
// @ts-expect-error file is required
createServer({ port: 6379 });
