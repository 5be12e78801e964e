// A TCP listener's test behaviours (config/behaviour.ts) on one connection: what replaces the plain
// echo's write-back when the listener has options. A listener without options never loads this path.
import type { Socket } from 'node:net';
import { drawDelay, type CloseTrigger, type TcpBehaviour } from '../config/behaviour.js';

/** What the pump asks of its connection. */
export interface BehaviourHooks {
  /** The trigger fired: close with a FIN (flush what was echoed) or with a RST. */
  closeByBehaviour(how: 'close' | 'reset'): void;
  /** Reading paused because echo is queued beyond the socket's buffer size (counted as a backpressure pause). */
  pausedForQueue(): void;
}

interface Queued {
  chunk: Buffer;
  readonly releaseAt: number;
}

/**
 * Echo shaped by delay and rate, counted for close_after/reset_after, or not echoed at all (discard,
 * stall). Order is kept: a chunk is never released before the one read ahead of it.
 */
export class BehaviourPump {
  private readonly queue: Queued[] = [];
  private queuedBytes = 0;
  private echoedBytes = 0;
  private tokens: number;
  private tokensAt: number;
  private timer: NodeJS.Timeout | undefined;
  private triggerTimer: NodeJS.Timeout | undefined;
  private waitingForDrain = false;
  private pausedByQueue = false;
  private stopped = false;
  private readonly trigger: { readonly how: 'close' | 'reset'; readonly when: CloseTrigger } | undefined;
  private readonly shaped: boolean;

  constructor(
    private readonly socket: Socket,
    private readonly behaviour: TcpBehaviour,
    private readonly hooks: BehaviourHooks,
    private readonly now: () => number,
  ) {
    this.shaped = behaviour.delay !== undefined || behaviour.rateBytesPerSecond !== undefined;
    this.tokens = behaviour.rateBytesPerSecond ?? 0;
    this.tokensAt = now();
    const { closeAfter, resetAfter } = behaviour;
    this.trigger = closeAfter ? { how: 'close', when: closeAfter } : resetAfter ? { how: 'reset', when: resetAfter } : undefined;
    if (this.trigger && 'afterMs' in this.trigger.when) {
      const { how } = this.trigger;
      this.triggerTimer = setTimeout(() => this.fire(how), this.trigger.when.afterMs);
    }
    if (behaviour.stall) socket.pause();
  }

  /** Stall never reads. */
  get reads(): boolean {
    return this.behaviour.stall !== true;
  }

  onData(chunk: Buffer): void {
    if (this.stopped) return;
    if (this.behaviour.discard) {
      this.count(chunk.length);
      return;
    }
    if (!this.shaped) {
      this.write(chunk);
      return;
    }
    const delay = this.behaviour.delay;
    const last = this.queue.at(-1);
    const releaseAt = Math.max(this.now() + (delay ? drawDelay(delay) : 0), last?.releaseAt ?? 0);
    this.queue.push({ chunk, releaseAt });
    this.queuedBytes += chunk.length;
    // What is queued counts against the socket's buffer: beyond it, stop reading, as the plain echo does.
    if (this.queuedBytes >= this.socket.writableHighWaterMark && !this.pausedByQueue) {
      this.pausedByQueue = true;
      this.socket.pause();
      this.hooks.pausedForQueue();
    }
    this.pump();
  }

  /** The socket's write buffer drained. */
  onDrain(): void {
    this.waitingForDrain = false;
    this.pump();
  }

  /** The connection is closing or closed: no more echo, no timers. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.triggerTimer);
    this.queue.length = 0;
    this.queuedBytes = 0;
  }

  private pump(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const rate = this.behaviour.rateBytesPerSecond;
    while (!this.stopped && !this.waitingForDrain && this.queue.length > 0) {
      const head = this.queue[0] as Queued;
      const at = this.now();
      if (head.releaseAt > at) {
        this.timer = setTimeout(() => this.pump(), head.releaseAt - at);
        return;
      }
      let chunk = head.chunk;
      if (rate !== undefined) {
        this.tokens = Math.min(rate, this.tokens + ((at - this.tokensAt) * rate) / 1000);
        this.tokensAt = at;
        const allowed = Math.floor(this.tokens);
        if (allowed < 1) {
          this.timer = setTimeout(() => this.pump(), Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / rate)));
          return;
        }
        if (allowed < chunk.length) {
          head.chunk = chunk.subarray(allowed);
          chunk = chunk.subarray(0, allowed);
        } else {
          this.queue.shift();
        }
        this.tokens -= chunk.length;
      } else {
        this.queue.shift();
      }
      this.queuedBytes -= chunk.length;
      this.write(chunk);
    }
    if (this.pausedByQueue && this.queuedBytes < this.socket.writableHighWaterMark && !this.stopped) {
      this.pausedByQueue = false;
      this.socket.resume();
    }
  }

  /** Writes echo, stopping at a close_after/reset_after byte count. */
  private write(chunk: Buffer): void {
    const limit = this.byteLimit();
    const part = limit === undefined || this.echoedBytes + chunk.length <= limit ? chunk : chunk.subarray(0, Math.max(0, limit - this.echoedBytes));
    if (part.length > 0 && !this.socket.write(part)) this.waitingForDrain = true;
    this.count(part.length);
  }

  private count(length: number): void {
    this.echoedBytes += length;
    const limit = this.byteLimit();
    if (limit !== undefined && this.echoedBytes >= limit && this.trigger) this.fire(this.trigger.how);
  }

  private byteLimit(): number | undefined {
    return this.trigger && 'afterBytes' in this.trigger.when ? this.trigger.when.afterBytes : undefined;
  }

  private fire(how: 'close' | 'reset'): void {
    if (this.stopped) return;
    this.stop();
    this.hooks.closeByBehaviour(how);
  }
}
