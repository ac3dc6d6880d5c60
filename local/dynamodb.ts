/**
 * The embedded DynamoDB: dynalite (pure JS, ~70 ms start), persisted under DATA_DIR so a restart
 * loses nothing. Runway needs only conditional writes, queries and a GSI — no transactions — so
 * dynalite suffices (STACK-NOTES compares it with DynamoDB Local).
 */
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DescribeTableCommand, type DynamoDBClient, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import { createRequire } from 'node:module';
import dynalite from 'dynalite';
import { TABLE_SCHEMA } from '../functions/adapters/dynamodb/store.js';
import { dynamoClient } from '../functions/services.js';

/**
 * dynalite 4 turns level 10 iterators into streams and, when a stream ends or is destroyed, closes
 * the iterator with `iterator.return()` — which abstract-level iterators do not have (they have
 * `close()`). Every Query/Scan then leaks a native iterator and the LevelDB snapshot it holds, so
 * memory grows with every write made while iterators are open (hundreds of MB over a long log).
 * Give the iterators the `return()` dynalite calls, on the copy of abstract-level it loads.
 */
function closeDynaliteIterators(): void {
  const requireFromDynalite = createRequire(createRequire(import.meta.url).resolve('dynalite'));
  const abstractLevel = requireFromDynalite(requireFromDynalite.resolve('abstract-level', { paths: [requireFromDynalite.resolve('level')] })) as Record<string, { prototype: Record<string, unknown> } | undefined>;
  for (const name of ['AbstractIterator', 'AbstractKeyIterator', 'AbstractValueIterator']) {
    const proto = abstractLevel[name]?.prototype as { return?: unknown; close(): Promise<void> } | undefined;
    if (proto && proto.return === undefined) proto.return = function (this: { close(): Promise<void> }) { return this.close(); };
  }
}
closeDynaliteIterators();

export interface EmbeddedDynamo {
  endpoint: string;
  client: DynamoDBClient;
  stop(): Promise<void>;
}

export async function startDynamo(path: string | undefined, table: string): Promise<EmbeddedDynamo> {
  if (path) mkdirSync(path, { recursive: true });
  const server = dynalite({ path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = dynamoClient({ DYNAMODB_ENDPOINT: endpoint });
  try {
    await client.send(new DescribeTableCommand({ TableName: table }));
  } catch (err) {
    if (!(err instanceof ResourceNotFoundException)) throw err;
    await client.send(new CreateTableCommand({ TableName: table, ...structuredClone(TABLE_SCHEMA) } as never));
  }
  // dynalite activates a new table on its next tick; its API offers no event for it, so poll.
  for (let i = 0; ; i++) {
    const d = await client.send(new DescribeTableCommand({ TableName: table }));
    if (d.Table?.TableStatus === 'ACTIVE') break;
    if (i > 500) throw new Error(`table ${table} did not become active`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return {
    endpoint,
    client,
    stop: () =>
      new Promise<void>((resolve) => {
        client.destroy();
        server.close(() => resolve());
      }),
  };
}
