/**
 * Reads FESS events back from a real broker for integration tests. Every record must satisfy
 * the published contract (FessEventSchema); one that does not fails the read.
 *
 * @module
 */
import { Kafka, logLevel } from "kafkajs";
import { type FessEvent, FessEventSchema } from "../../shared/events.ts";
import { registerSnappyCodec } from "../../shared/events/kafka_client.ts";

/** One consumed record. */
export interface Consumed {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly headers: Record<string, string>;
  /** The JSON value as sent. */
  readonly raw: unknown;
  readonly event: FessEvent;
}

/** Reads `topics` from the beginning until `until` says enough, or fails after `timeoutMs`. */
export async function consumeEvents(
  brokers: string[],
  topics: string[],
  until: (got: Consumed[]) => boolean,
  timeoutMs = 60_000,
): Promise<Consumed[]> {
  registerSnappyCodec();
  const kafka = new Kafka({ brokers, clientId: "fess-test-consumer", logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `test-${crypto.randomUUID()}` });
  const got: Consumed[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`consumed ${got.length} records before timing out`)),
        timeoutMs,
      );
      consumer.run({
        eachMessage: ({ topic, partition, message }) => {
          const raw: unknown = JSON.parse(message.value!.toString());
          const parsed = FessEventSchema.safeParse(raw);
          if (!parsed.success) {
            clearTimeout(timer);
            reject(new Error(`record on ${topic} fails FessEventSchema: ${parsed.error.message}`));
            return Promise.resolve();
          }
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
          got.push({
            topic,
            partition,
            offset: message.offset,
            key: message.key?.toString() ?? null,
            headers,
            raw,
            event: parsed.data,
          });
          if (until(got)) {
            clearTimeout(timer);
            resolve();
          }
          return Promise.resolve();
        },
      }).catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return got;
}
