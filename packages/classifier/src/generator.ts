import { REFERENCE_READINGS } from "./default.ts";
import type { RgbcLike } from "./labels.ts";

/** A small, fast, seedable PRNG (mulberry32): uniform numbers in [0, 1). Same seed, same sequence. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw (Box–Muller) from a uniform source. */
export function gaussian(random: () => number): number {
  const u = Math.max(random(), Number.MIN_VALUE);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

export interface SkittleGeneratorOptions {
  /** Uniform [0, 1) source; use {@link seededRandom} for repeatable tests. */
  random: () => number;
  /** Mean counts per class. Default: the classifier's reference readings (five colours and "empty"). */
  references?: Readonly<Record<string, Readonly<RgbcLike>>> | undefined;
  /** Each candy's overall brightness varies uniformly by ± this fraction (position, orientation). Default 0.15. */
  brightnessSpread?: number | undefined;
  /** Each candy's channels vary by this fraction (1σ), independently: dye and coating differences. Default 0.02. */
  colorSpread?: number | undefined;
  /** Each read's channels vary by this fraction (1σ) on top of shot noise (√counts). Default 0.01. */
  readNoise?: number | undefined;
  /** Counts are clamped here. Default 65535. */
  fullScale?: number | undefined;
}

export interface SkittleGenerator {
  /** The labels it can make. */
  readonly labels: readonly string[];
  /** One candy (or empty slot) of a class: its noise-free counts. */
  skittle(label: string): RgbcLike;
  /** One noisy sensor read of a candy. */
  read(target: RgbcLike): RgbcLike;
  /** `count` reads of one fresh candy of `label`. */
  reads(label: string, count: number): RgbcLike[];
}

/** Makes noisy, repeatable emulated sensor readings of Skittles and the empty slot. */
export function createSkittleGenerator(options: SkittleGeneratorOptions): SkittleGenerator {
  const {
    random,
    references = REFERENCE_READINGS as Readonly<Record<string, Readonly<RgbcLike>>>,
    brightnessSpread = 0.15,
    colorSpread = 0.02,
    readNoise = 0.01,
    fullScale = 65535,
  } = options;
  const labels = Object.keys(references);
  const skittle = (label: string): RgbcLike => {
    const reference = references[label];
    if (reference === undefined) {
      throw new RangeError(`No reference reading for "${label}"; known labels: ${labels.join(", ")}.`);
    }
    const brightness = 1 + brightnessSpread * (2 * random() - 1);
    const channel = (value: number): number => value * brightness * (1 + colorSpread * gaussian(random));
    return {
      clear: channel(reference.clear),
      red: channel(reference.red),
      green: channel(reference.green),
      blue: channel(reference.blue),
    };
  };
  const read = (target: RgbcLike): RgbcLike => {
    const channel = (value: number): number => {
      const noisy =
        value * (1 + readNoise * gaussian(random)) + Math.sqrt(Math.max(value, 0)) * gaussian(random);
      return Math.max(0, Math.min(fullScale, Math.round(noisy)));
    };
    const clear = channel(target.clear);
    return {
      clear,
      red: channel(target.red),
      green: channel(target.green),
      blue: channel(target.blue),
      saturated: clear >= fullScale,
    };
  };
  return {
    labels,
    skittle,
    read,
    reads: (label, count) => {
      const target = skittle(label);
      return Array.from({ length: count }, () => read(target));
    },
  };
}
