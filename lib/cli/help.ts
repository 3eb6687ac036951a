// The help of the commands that parse their own options (`pmem help sort`,
// `pmem help serve`, `pmem help replica`), apart from the commands: a help
// loads none of the sort, the server or the replication.

export const SORT_HELP = `pmem sort [options] <input | -> [-o <output>]
  Sorts a file far larger than memory: runs are sorted in DRAM within
  --memory and written to --pmem, then merged all at once, each run read in
  place from PMem (one merge pass; more when there are more runs than the
  limit on open files lets the merge hold: each earlier pass merges them in
  groups of as many, and writes the input's bytes once more). Lines are compared as bytes (LC_ALL=C);
  a last line without a newline gets one. The output replaces <output> only
  when complete. Progress is checkpointed; a sort that was killed continues
  with --resume and gives the same output. The input is only read.
  -o FILE            the output (not the input); without it, or with -o -,
                     stdout, once the sort is whole (written first to a
                     directory beside --pmem, or in TMPDIR, then removed)
  An input of - is stdin, copied to its end into such a directory (beside
  --pmem, else beside the output) before the sort; --resume needs a file.
  -k F[.C][,F[.C]]   a key field, as GNU sort reads it (repeatable)
  -t SEP             the field separator (one byte, or '\\0' for NUL); default: blanks
  -n                 compare keys as numbers
  -r                 reverse the order
  -u                 output only the first of lines with equal keys
  -s                 stable: lines with equal keys keep their input order
  -S, --memory SIZE  the DRAM budget (default 64M)
  --pmem DIR         runs and checkpoint (default <output>.pmem-sort)
  --resume           continue the sort a checkpoint in DIR describes
  --record-size N    fixed-size binary records (gensort: 100) instead of lines
  --key-offset N, --key-length N
                     binary records: the key's bytes (default 0 and 10)
  --parallel N       threads that form runs, the budget split between them
                     (default: the CPUs, at most 8); the output is the same
  --merge-buffers pmem|dram
                     dram: read runs through DRAM buffers (more passes)
  --verbose          counters on stderr: runs, merge passes, bytes written
                     to temporary space, peak RSS
  --json             the counters on stdout, as one JSON object
  Exits 3 for an input or output it cannot use (missing, a file of /proc,
  the output is the input, a line longer than 40% of --memory, no space, an
  unfinished sort in DIR without --resume, a limit on open files that
  leaves fewer than two runs open, another sort running in DIR or into the
  same output, an output that a store's writer or another sort holds open:
  ERR_PMEM_LOCKED), 4 for a damaged checkpoint.`;

export const SERVE_HELP = `pmem serve [--port 6379] [--bind 127.0.0.1] [--dir DIR | --file FILE] [--requirepass PW]
           [--databases 16] [--max-size SIZE] [--timeout SECS]
           [--replica HOST:PORT ...] [--journal FILE] [--replica-timeout MS]
           [--enable-debug-command no|yes|local]
  A Redis-protocol (RESP2/RESP3) server over a KV store. A write command's
  reply is sent only after its effects are durable on the store file (one
  fence per batch of the requests read in one event-loop turn). The store
  is DIR/serve.kv (default: where npm start puts its files), or FILE;
  created when missing. SIGTERM, SIGINT and SHUTDOWN close it cleanly.
  With --replica (repeatable), every write goes first to a journal (FILE, or
  the store's path and '.journal') that each backup persists, and a write
  command's reply waits until every backup did; a backup is run with
  startStoreReplica (docs/api.md). DEBUG, which can stall the server (DEBUG
  SLEEP), is refused unless --enable-debug-command is yes, or local for
  clients on a loopback address. --timeout closes a client idle for more
  than SECS seconds (default 0: never), as Redis's timeout; blocked clients
  and subscribers are never closed for it. docs/server.md lists the commands.`;

export const REPLICA_HELP = `pmem replica --listen PORT --file FILE [--bind 127.0.0.1] [--create] [--size SIZE] [--store STORE]
             [--max-size SIZE] [--hello-timeout MS]
pmem replica promote --file FILE [--store STORE]
  A backup of a replicated journal (ReplicatedWal): it appends a primary's
  records to FILE under the same LSNs and acknowledges them only once they
  are durable there. --create makes a missing FILE of SIZE bytes (default
  64M). It prints its address when ready; SIGTERM and SIGINT close it
  cleanly. --hello-timeout closes a connection that has not sent its
  HELLO within MS milliseconds (default 5000; 1 to 2147483647).
  'promote' raises the epoch of a stopped backup's FILE and makes it a
  primary's: the old primary can no longer commit on it; open FILE with
  ReplicatedWal.open. Deciding when to promote is left to the operator.
  --store STORE makes it the backup of a replicated store (ReplicatedStore,
  pmem serve --replica): FILE is its journal, and the journal's records are
  applied to the KV store STORE as they are persisted (once known
  committed). 'promote --store STORE' also applies to STORE every record
  FILE holds; then serve STORE (pmem serve --file STORE, and --journal
  FILE --replica ... to have it replicated again).
  STORE grows as the records need, up to --max-size (default 1G, as pmem
  serve's store: give it the primary's --max-size when that is more).`;
