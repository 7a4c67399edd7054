/** A least-recently-used map bounded by the total byte length of its values. */
export class ByteLru<V extends { readonly length: number }> {
  private readonly map = new Map<string, V>();
  private bytes = 0;

  constructor(readonly maxBytes: number) {}

  get usedBytes(): number {
    return this.bytes;
  }

  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      // Re-inserted as most recently used (a Map iterates in insertion order).
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  /** Stores `v`, then drops the least recently used entries beyond the limit. */
  set(key: string, v: V): void {
    const old = this.map.get(key);
    if (old !== undefined) {
      this.map.delete(key);
      this.bytes -= old.length;
    }
    this.map.set(key, v);
    this.bytes += v.length;
    for (const [k, b] of this.map) {
      if (this.bytes <= this.maxBytes) break;
      this.map.delete(k);
      this.bytes -= b.length;
    }
  }
}
