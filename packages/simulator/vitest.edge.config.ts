import { edgeConfig } from "../../vitest.shared.ts";

export default edgeConfig;
