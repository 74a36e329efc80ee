/**
 * Builds kafkajs clients from plain options (brokers, client id, TLS, SASL) with FESS's logger,
 * and registers the Snappy codec kafkajs lacks. Used by the producer and by `ensureTopics`.
 *
 * @module
 */
import { CompressionCodecs, CompressionTypes, Kafka, logLevel } from "kafkajs";
import type { KafkaConfig, LogEntry, SASLOptions } from "kafkajs";
import { Buffer } from "node:buffer";
import SnappyJS from "snappyjs";
import type { Logger } from "../logger.ts";
import { patchKafkajs } from "./kafkajs_patches.ts";

/** SASL credentials (the password is never logged). */
export interface KafkaSaslOptions {
  readonly mechanism: "plain" | "scram-sha-256" | "scram-sha-512";
  readonly username: string;
  readonly password: string;
}

/** How to reach the cluster. */
export interface KafkaConnectionOptions {
  /** Bootstrap servers, `host:port`. */
  readonly brokers: readonly string[];
  /** Client id reported to the brokers. Default `fess`. */
  readonly clientId?: string;
  /** TLS: `true` for system CAs, or node `tls.connect` options. Default off. */
  readonly ssl?: boolean | Record<string, unknown>;
  /** SASL authentication. Default none. */
  readonly sasl?: KafkaSaslOptions;
  /** TCP connect timeout. Default 3000 ms. */
  readonly connectionTimeoutMs?: number;
  /** Request timeout. Default 10000 ms. */
  readonly requestTimeoutMs?: number;
  /** kafkajs-level retries of one request (connection, leader changes). Default 5. */
  readonly retries?: number;
  /** First retry delay; doubles (with jitter) up to `maxRetryTimeMs`. Default 100 ms. */
  readonly initialRetryTimeMs?: number;
  /** Largest retry delay. Default 2000 ms. */
  readonly maxRetryTimeMs?: number;
}

/** Compression codecs FESS supports. */
export type CompressionName = "none" | "gzip" | "snappy";

/** Maps a {@link CompressionName} to the kafkajs enum, registering Snappy when needed. */
export function compressionType(name: CompressionName): CompressionTypes {
  switch (name) {
    case "none":
      return CompressionTypes.None;
    case "gzip":
      return CompressionTypes.GZIP;
    case "snappy":
      registerSnappyCodec();
      return CompressionTypes.Snappy;
  }
}

// Java producers frame snappy data the xerial way; raw snappy is what brokers also accept.
const XERIAL_HEADER = [130, 83, 78, 65, 80, 80, 89, 0];

function isXerialFramed(buf: Uint8Array): boolean {
  return buf.length >= 16 && XERIAL_HEADER.every((b, i) => buf[i] === b);
}

function snappyDecompress(buf: Uint8Array): Buffer {
  if (!isXerialFramed(buf)) return Buffer.from(SnappyJS.uncompress(buf));
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const parts: Buffer[] = [];
  let offset = 16; // magic (8) + version (4) + compatible version (4)
  while (offset + 4 <= buf.length) {
    const size = view.getUint32(offset);
    offset += 4;
    parts.push(Buffer.from(SnappyJS.uncompress(buf.subarray(offset, offset + size))));
    offset += size;
  }
  return Buffer.concat(parts);
}

let snappyRegistered = false;

/**
 * Registers a Snappy codec with kafkajs (process-wide, idempotent). Producers call it when
 * configured for snappy; consumers of snappy topics (tests, tools) call it before reading.
 */
export function registerSnappyCodec(): void {
  if (snappyRegistered) return;
  snappyRegistered = true;
  const codecs = CompressionCodecs as unknown as Record<number, () => unknown>;
  codecs[CompressionTypes.Snappy] = () => ({
    compress: (encoder: { buffer: Buffer }) =>
      Promise.resolve(Buffer.from(SnappyJS.compress(encoder.buffer))),
    decompress: (buffer: Buffer) => Promise.resolve(snappyDecompress(buffer)),
  });
}

/** Routes kafkajs logs to the FESS logger (kafkajs errors are retried, so they log as warn). */
function logCreator(logger: Logger) {
  return () => ({ namespace, level, log }: LogEntry) => {
    const { message, timestamp: _ts, ...extra } = log;
    const fields = { component: "kafkajs", namespace, ...extra };
    if (level <= logLevel.WARN) logger.warn(message, fields);
    else if (level === logLevel.INFO) logger.debug(message, fields);
  };
}

/** Creates a kafkajs client. No connection is made until a producer/admin connects. */
export function createKafkaClient(
  options: KafkaConnectionOptions & { readonly logger: Logger },
): Kafka {
  if (options.brokers.length === 0) throw new Error("kafka: at least one broker is required");
  patchKafkajs();
  const config: KafkaConfig = {
    brokers: [...options.brokers],
    clientId: options.clientId ?? "fess",
    connectionTimeout: options.connectionTimeoutMs ?? 3_000,
    requestTimeout: options.requestTimeoutMs ?? 10_000,
    retry: {
      retries: options.retries ?? 5,
      initialRetryTime: options.initialRetryTimeMs ?? 100,
      maxRetryTime: options.maxRetryTimeMs ?? 2_000,
    },
    logLevel: logLevel.WARN,
    logCreator: logCreator(options.logger),
  };
  if (options.ssl) config.ssl = options.ssl === true ? true : options.ssl;
  if (options.sasl) config.sasl = { ...options.sasl } as SASLOptions;
  return new Kafka(config);
}
