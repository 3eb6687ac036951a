// `using` with the package's classes: compiled by test/91.types.test.ts with
// lib esnext.disposable, as a consumer on TypeScript >= 5.2 would.
import { KVStore, openMapping } from 'pmem';

export function demo(path: string): string | undefined {
  using db = KVStore.open(path, { create: true });
  using m = openMapping(`${path}.map`, { size: 4096, create: true });
  m.persist(0, 8);
  const d: Disposable = db;
  console.log(d);
  return db.getString('k');
}
