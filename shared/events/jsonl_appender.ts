/**
 * Durable append-only JSON-lines writer with group commit: lines appended while a write is in
 * progress are written (and fsync'd) together in the next one, so durability costs one fsync
 * per burst rather than one per record. A line is acknowledged only after its fsync.
 *
 * @module
 */

/** Options of {@link createJsonlAppender}. */
export interface JsonlAppenderOptions {
  /** File to append to (created with its directory when missing). */
  readonly path: string;
  /** fsync after each write. Default true; tests of unrelated logic may turn it off. */
  readonly fsync?: boolean;
}

/** An append-only JSON-lines file. */
export interface JsonlAppender {
  /** Appends lines (no newlines inside); resolves once they are on disk. */
  append(lines: readonly string[]): Promise<void>;
  /** Waits for pending writes. Later appends reject. */
  close(): Promise<void>;
}

/** Creates the appender. The file is opened per write burst, so no handle outlives a write. */
export function createJsonlAppender(options: JsonlAppenderOptions): JsonlAppender {
  const fsync = options.fsync ?? true;
  const encoder = new TextEncoder();
  let queued: { lines: readonly string[]; resolve: () => void; reject: (e: unknown) => void }[] =
    [];
  let writing: Promise<void> | null = null;
  let closed = false;
  let dirReady = false;

  const writeQueued = async () => {
    while (queued.length > 0) {
      const burst = queued;
      queued = [];
      try {
        if (!dirReady) {
          const slash = options.path.lastIndexOf("/");
          if (slash > 0) await Deno.mkdir(options.path.slice(0, slash), { recursive: true });
          dirReady = true;
        }
        let text = "";
        for (const item of burst) for (const line of item.lines) text += line + "\n";
        const file = await Deno.open(options.path, { append: true, create: true });
        try {
          const bytes = encoder.encode(text);
          let written = 0;
          while (written < bytes.length) written += await file.write(bytes.subarray(written));
          if (fsync) await file.syncData();
        } finally {
          file.close();
        }
        for (const item of burst) item.resolve();
      } catch (err) {
        for (const item of burst) item.reject(err);
      }
    }
  };

  const kick = () => {
    if (writing !== null) return;
    writing = writeQueued().finally(() => {
      writing = null;
      // Lines appended between the loop's last check and this callback still need a write.
      if (queued.length > 0) kick();
    });
  };

  return {
    append: (lines) => {
      if (closed) return Promise.reject(new Error(`${options.path}: appender is closed`));
      if (lines.length === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        queued.push({ lines, resolve, reject });
        kick();
      });
    },
    close: async () => {
      closed = true;
      while (writing !== null) await writing;
    },
  };
}
