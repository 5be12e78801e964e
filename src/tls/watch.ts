// Certificate files that change on disk: cert-manager renews a Secret, the kubelet writes the new
// files to a fresh directory and swaps the `..data` symlink the file paths go through (Kubernetes
// never sends SIGHUP). Watching each file's directory sees the swap as well as a file written in place.
import { watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';

export interface FileWatch {
  close(): void;
}

export interface WatchOptions {
  /** Quiet time after the last change before `onSettled`: a writer that replaces the files one by one is done by then. */
  readonly settleMs: number;
  readonly onSettled: () => void;
  readonly logger: Logger;
}

/** Calls `onSettled` once the directories of `paths` have been quiet for `settleMs` after a change. */
export function watchFiles(paths: readonly string[], { settleMs, onSettled, logger }: WatchOptions): FileWatch {
  let timer: NodeJS.Timeout | undefined;
  const changed = () => {
    clearTimeout(timer);
    timer = setTimeout(onSettled, settleMs);
  };
  const watchers: FSWatcher[] = [];
  for (const directory of new Set(paths.map((path) => dirname(path)))) {
    try {
      // Not persistent: a watch must not keep a stopping process alive.
      const watcher = watch(directory, { persistent: false }, changed);
      watcher.on('error', (error) => logger.warn({ event: 'tls_watch_failed', directory, err: error }, 'cannot watch certificate directory; SIGHUP still reloads'));
      watchers.push(watcher);
    } catch (error) {
      logger.warn({ event: 'tls_watch_failed', directory, err: error }, 'cannot watch certificate directory; SIGHUP still reloads');
    }
  }
  return {
    close() {
      clearTimeout(timer);
      for (const watcher of watchers) watcher.close();
    },
  };
}
