/**
 * Topic routing (event type -> topic) and topic creation at startup.
 *
 * @module
 */
import type { Kafka } from "kafkajs";
import type { EventType } from "../events.ts";
import type { Logger } from "../logger.ts";

/** Topic of each event family. */
export interface TopicMap {
  readonly motion: string;
  readonly face: string;
  readonly alert: string;
  readonly system: string;
}

/** Default topic names. */
export const DEFAULT_TOPICS: TopicMap = Object.freeze({
  motion: "motion.detection.events",
  face: "face.recognition.events",
  alert: "alert.events",
  system: "system.status.events",
});

/** Fills unset topic names with the defaults. */
export function resolveTopics(topics: Partial<TopicMap> = {}): TopicMap {
  return { ...DEFAULT_TOPICS, ...topics };
}

/** The topic an event type goes to. */
export function topicFor(type: EventType, topics: TopicMap): string {
  switch (type) {
    case "motion_detection":
      return topics.motion;
    case "face_recognition":
      return topics.face;
    case "alert":
      return topics.alert;
    case "system_status":
      return topics.system;
  }
}

/** Options of {@link ensureTopics}. */
export interface EnsureTopicsOptions {
  /** A kafkajs client (see `createKafkaClient`). */
  readonly kafka: Kafka;
  readonly logger: Logger;
  /** Topic names to create when missing. */
  readonly topics: readonly string[];
  /** Partitions of created topics. Default 3. */
  readonly partitions?: number;
  /** Replication factor of created topics. Default 1. */
  readonly replicationFactor?: number;
}

/** Creates the missing topics (existing ones are left as they are); returns those created. */
export async function ensureTopics(options: EnsureTopicsOptions): Promise<string[]> {
  const admin = options.kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = [...new Set(options.topics)].filter((t) => !existing.has(t));
    if (missing.length === 0) return [];
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((topic) => ({
        topic,
        numPartitions: options.partitions ?? 3,
        replicationFactor: options.replicationFactor ?? 1,
      })),
    });
    options.logger.info("created kafka topics", { topics: missing });
    return missing;
  } finally {
    await admin.disconnect();
  }
}
