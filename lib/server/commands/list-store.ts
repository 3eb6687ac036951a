// Lists in the keyspace: the collection type's registration (how a list is
// rebuilt from its element records at open) and the record writes of the
// list commands. An element's id is its position (collections.ts,
// positionId: big-endian, offset by 2^63, so byte order is list order);
// its payload is the value.
import { idPosition, positionId, registerType, TYPE_LIST, type Collection } from '../collections';
import { ListValue } from '../list';
import type { RespServer } from '../server';

registerType<ListValue>({
  type: TYPE_LIST,
  name: 'list',
  create: () => new ListValue(),
  load: (l, id, payload) => l.load(idPosition(id), payload),
  size: (l) => l.length,
  // Redis 7.0 reports every list as a quicklist.
  encoding: () => 'quicklist',
  *elements(l) {
    for (let i = 0; i < l.length; i++) yield [positionId(l.posAt(i)), l.at(i)];
  },
  *ids(l) {
    for (let i = 0; i < l.length; i++) yield positionId(l.posAt(i));
  },
});

/** The list at `key`, or undefined when absent. @throws ReplyError WRONGTYPE */
export function listOf(s: RespServer, db: number, key: string): ListValue | undefined {
  return s.keyspace.collection<ListValue>(db, key, TYPE_LIST)?.data;
}

/** Whether `key` holds a list (no error for another type). */
export function isList(s: RespServer, db: number, key: string): boolean {
  return s.keyspace.type(db, key) === TYPE_LIST;
}

function coll(s: RespServer, db: number, key: string): Collection<ListValue> {
  return s.keyspace.collection<ListValue>(db, key, TYPE_LIST) as Collection<ListValue>;
}

/** The list at `key`, created empty when absent (the caller then pushes). @throws ReplyError WRONGTYPE */
export function listFor(s: RespServer, db: number, key: string): ListValue {
  return s.keyspace.createCollection<ListValue>(db, key, TYPE_LIST).data;
}

/** Writes (or, with null, deletes) the element record at position `pos` of the list at `key`, in the batch. */
export function writeAt(s: RespServer, db: number, key: string, pos: number, value: Buffer | null): void {
  const c = coll(s, db, key);
  if (value === null) s.keyspace.deleteElement(c, positionId(pos));
  else s.keyspace.putElement(c, positionId(pos), value);
}

/** Deletes the key of a list that has no elements left (its records are already deleted). */
export function deleteList(s: RespServer, db: number, key: string): void {
  s.keyspace.deleteIfEmpty(coll(s, db, key));
}
