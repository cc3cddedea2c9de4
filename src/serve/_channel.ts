/**
 * A single-consumer async queue: the scheduler pushes a row's tokens as the
 * engine produces them, and the route drains them at the client's pace. It
 * never blocks the producer, so a slow client cannot stall the whole batch
 * (its buffer is bounded by `max_tokens`).
 *
 * @module
 */
export class Channel<T> implements AsyncIterable<T> {
  #items: T[] = [];
  #done = false;
  #error: unknown = undefined;
  #failed = false;
  #wake: (() => void) | null = null;

  /** Queue one item (ignored after close). */
  push(item: T): void {
    if (this.#done) return;
    this.#items.push(item);
    this.#notify();
  }

  /** End the stream normally. */
  close(): void {
    this.#done = true;
    this.#notify();
  }

  /** End the stream with an error (thrown by the consumer's next read). */
  fail(error: unknown): void {
    if (this.#done) return;
    this.#failed = true;
    this.#error = error;
    this.#done = true;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    while (true) {
      if (this.#items.length) {
        yield this.#items.shift()!;
        continue;
      }
      if (this.#done) {
        if (this.#failed) throw this.#error;
        return;
      }
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }
}
