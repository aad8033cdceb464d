/**
 * A seeded pseudo-random source: xoshiro128** (Blackman and Vigna), seeded through splitmix32.
 * Small, fast, and the same sequence on every machine for the same seed, which is all a
 * simulator needs (no cryptographic use).
 */
export class Random {
  #a: number
  #b: number
  #c: number
  #d: number

  constructor(readonly seed: number) {
    let state = seed >>> 0
    const next = () => {
      state = (state + 0x9e3779b9) >>> 0
      let z = state
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
      return (z ^ (z >>> 16)) >>> 0
    }
    this.#a = next()
    this.#b = next()
    this.#c = next()
    this.#d = next()
    // All zero is the one state xoshiro cannot leave.
    if ((this.#a | this.#b | this.#c | this.#d) === 0) this.#a = 1
  }

  /** 32 random bits as an unsigned integer. */
  uint32(): number {
    const result = Math.imul(rotl(Math.imul(this.#b, 5) >>> 0, 7), 9) >>> 0
    const t = (this.#b << 9) >>> 0
    this.#c ^= this.#a
    this.#d ^= this.#b
    this.#b ^= this.#c
    this.#a ^= this.#d
    this.#c ^= t
    this.#d = rotl(this.#d, 11)
    return result
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.uint32() / 0x1_0000_0000
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list')
    return items[this.int(items.length)] as T
  }

  /** A new Fisher-Yates shuffled copy. */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items]
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const t = out[i] as T
      out[i] = out[j] as T
      out[j] = t
    }
    return out
  }
}

const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0

/** The seed of node `index`'s own source in a run seeded `seed`: decorrelated from the run's and each other's. */
export const nodeSeed = (seed: number, index: number): number =>
  (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0
