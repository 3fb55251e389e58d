export {
  createSkittleGenerator,
  gaussian,
  type SkittleGenerator,
  type SkittleGeneratorOptions,
  seededRandom,
} from "./generator.ts";
