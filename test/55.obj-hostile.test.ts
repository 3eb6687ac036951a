// ObjTx under hostile use: getters that end a transaction while its method runs.
import { ObjPool } from '../lib';
import { expectPmemError, expectThrowName, tmpFile } from './helpers';

const MiB = 1024 * 1024;

function fresh(name: string): ObjPool {
  return ObjPool.create(tmpFile(name), { layout: 'hostile', size: 16 * MiB });
}

describe('ObjTx', () => {
  test('a getter on alloc options that aborts the transaction leaves no transaction open', () => {
    const pool = fresh('getter-abort');
    const obj = pool.alloc(64, { zero: true });
    expectPmemError(
      () =>
        pool.transaction((tx) => {
          tx.write(obj, Buffer.from([1]));
          return tx.alloc(32, {
            get zero() {
              tx.abort();
              return false;
            },
          });
        }),
      'ERR_PMEM_TX_ENDED',
    );
    // No native transaction survived the aborted one: pool.alloc is allowed,
    // and a later transaction commits only its own work.
    const before = pool.stats().currAllocated;
    const p = pool.alloc(8);
    pool.free(p);
    pool.transaction((tx) => tx.write(obj, Buffer.from([2])));
    expect(pool.stats().currAllocated).toBe(before);
    expect(pool.view(obj, 1)[0]).toBe(2);
    pool.close();
  });

  test('alloc refuses options it does not know', () => {
    const pool = fresh('alloc-options');
    expectThrowName(() => pool.alloc(8, { zeroed: true } as never), 'TypeError');
    expectThrowName(() => pool.transaction((tx) => tx.alloc(8, { zeroed: true } as never)), 'TypeError');
    expectThrowName(() => pool.alloc(8, null as never), 'TypeError');
    pool.close();
  });
});
