/**
 * The event publisher as the service runs it, built from the `kafka` settings section: events
 * go to the Kafka producer when brokers are set (topics ensured first when asked; a failure
 * there only warns, events spool until the broker is reachable), else to the local JSON-lines
 * event log. Also the publisher's health check.
 *
 * @module
 */
import type { KafkaSettings } from "../config.ts";
import { errorMessage } from "../errors.ts";
import type { HealthCheck } from "../health.ts";
import type { Logger } from "../logger.ts";
import type { FessMetrics } from "../metrics.ts";
import { createEventLogSink } from "./event_log_sink.ts";
import { createKafkaClient } from "./kafka_client.ts";
import { createKafkaProducer } from "./kafka_producer.ts";
import { createPublisher, type Publisher } from "./publisher.ts";
import { createSpool } from "./spool.ts";
import { ensureTopics } from "./topics.ts";
import type { MessageSink } from "./types.ts";

/** Dependencies of {@link openPublisher}. */
export interface OpenPublisherDeps {
  readonly settings: KafkaSettings;
  readonly logger: Logger;
  readonly metrics?: FessMetrics;
}

/** Builds the configured sink and a started publisher over it (spooled events replayed). */
export async function openPublisher(deps: OpenPublisherDeps): Promise<Publisher> {
  const publisher = createPublisher({
    sink: await openEventSink(deps),
    logger: deps.logger,
    topics: deps.settings.topics,
    queueCapacity: deps.settings.queue_max,
    spool: createSpool({ dir: deps.settings.spool_dir, logger: deps.logger }),
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
  });
}

/** The publisher's non-critical health check, named `kafka`: the sink's state and backlog. */
export function publisherHealthCheck(publisher: Publisher, settings: KafkaSettings): HealthCheck {
  return {
    name: "kafka",
    critical: false,
    check() {
      const connected = publisher.state === "connected";
      return Promise.resolve({
        healthy: connected,
        mode: settings.brokers.length > 0 ? "kafka" : "event_log",
        brokers: settings.brokers,
        state: publisher.state,
        queued: publisher.queued,
        spooled: publisher.spooled,
        ...(connected
          ? {}
          : { error: `event sink is ${publisher.state}; events are spooled to disk` }),
      });
    },
  };
}
