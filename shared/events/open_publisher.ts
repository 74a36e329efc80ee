/**
 * The event publisher as the service runs it, built from the `kafka` settings section: every
 * accepted event is first in the write-ahead log in `kafka.spool_dir`, then goes to the Kafka
 * producer when brokers are set (topics ensured first when asked; a failure there only warns,
 * events wait in the log until the broker is reachable), else to the local JSON-lines event
 * log. Records the broker refuses for good go to `dead_letters.jsonl` (and the dead-letter
 * topic). Also the publisher's health check.
 *
 * @module
 */
import { join } from "node:path";
import type { KafkaSettings } from "../config.ts";
import { errorMessage } from "../errors.ts";
import type { HealthCheck } from "../health.ts";
import type { Logger } from "../logger.ts";
import type { FessMetrics } from "../metrics.ts";
import { createDeadLetterLog } from "./dead_letters.ts";
import { createEventLogSink } from "./event_log_sink.ts";
import { createKafkaClient } from "./kafka_client.ts";
import { createKafkaProducer } from "./kafka_producer.ts";
import { createPublisher, type Publisher } from "./publisher.ts";
import { ensureTopics } from "./topics.ts";
import type { MessageSink } from "./types.ts";
import { createWriteAheadLog } from "./wal.ts";

/** Dependencies of {@link openPublisher}. */
export interface OpenPublisherDeps {
  readonly settings: KafkaSettings;
  readonly logger: Logger;
  readonly metrics?: FessMetrics;
}

/** Builds the configured sink and a started publisher over it (logged events delivered). */
export async function openPublisher(deps: OpenPublisherDeps): Promise<Publisher> {
  const { settings: k, logger } = deps;
  const publisher = createPublisher({
    sink: await openEventSink(deps),
    logger,
    topics: k.topics,
    queueCapacity: k.queue_max,
    wal: createWriteAheadLog({
      dir: k.spool_dir,
      logger,
      fsync: k.fsync,
      segmentBytes: k.wal_segment_bytes,
    }),
    deadLetters: createDeadLetterLog({ path: join(k.spool_dir, "dead_letters.jsonl") }),
    deadLetterTopic: k.brokers.length > 0 ? k.topics.dead_letter : undefined,
    legacySpoolDir: k.spool_dir,
    maxEventBytes: k.max_event_bytes,
    maxBacklogAgeMs: k.max_backlog_age_ms,
    maxWalBytes: k.wal_max_bytes,
    metrics: deps.metrics,
  });
  await publisher.start();
  return publisher;
}

/** Builds the configured event sink. */
export async function openEventSink(deps: OpenPublisherDeps): Promise<MessageSink> {
  const { settings: k, logger } = deps;
  if (k.brokers.length === 0) {
    logger.info("no Kafka brokers configured: events go to the local event log", {
      path: k.event_log_path,
    });
    return createEventLogSink({ path: k.event_log_path, logger });
  }
  const connection = {
    brokers: k.brokers,
    clientId: k.client_id,
    ssl: k.tls,
    retries: k.retries,
    sasl: k.sasl.mechanism === "none" ? undefined : {
      mechanism: k.sasl.mechanism,
      username: k.sasl.username ?? "",
      password: k.sasl.password ?? "",
    },
  };
  if (k.create_topics) {
    try {
      await ensureTopics({
        kafka: createKafkaClient({ ...connection, logger }),
        logger,
        topics: Object.values(k.topics),
        partitions: k.topic_partitions,
        replicationFactor: k.replication_factor,
      });
    } catch (err) {
      // Not fatal: events spool until the broker is reachable; topics may be made by ops.
      logger.warn("could not ensure Kafka topics", { reason: errorMessage(err) });
    }
  }
  return createKafkaProducer({
    ...connection,
    logger,
    acks: k.acks,
    compression: k.compression,
    batchBytes: k.batch_bytes,
    lingerMs: k.linger_ms,
    maxInFlight: k.max_in_flight,
  });
}

/**
 * The publisher's non-critical health check, named `kafka`: the sink's state, the backlog and
 * its oldest event's age (degraded past `kafka.max_backlog_age_ms`), dead letters.
 */
export function publisherHealthCheck(publisher: Publisher, settings: KafkaSettings): HealthCheck {
  return {
    name: "kafka",
    critical: false,
    check: () => Promise.resolve({ ...publisher.healthCheck(), brokers: settings.brokers }),
  };
}
