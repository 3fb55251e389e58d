export {
  type AutoRangeOptions,
  type ColorSensor,
  DEFAULT_RANGE_STEPS,
  openTcs34725,
  POWER_ON_DELAY_MS,
  type RangeStep,
  type ReadOptions,
  type RgbcReading,
  Tcs34725,
  type Tcs34725Options,
  type Tcs34725Settings,
} from "./driver.ts";
export { isTcs34725Error, Tcs34725Error, type Tcs34725ErrorCode } from "./errors.ts";
export {
  AUTO_INCREMENT,
  COMMAND_BIT,
  ENABLE,
  KNOWN_IDS,
  REG,
  SF_CLEAR_INTERRUPT,
  SPECIAL_FUNCTION,
  STATUS,
  TCS34725_ADDRESS,
} from "./registers.ts";
export {
  atimeForIntegrationTime,
  CYCLE_MS,
  type Dn40Options,
  type Dn40Result,
  dn40,
  integrationTimeForAtime,
  maxCount,
  type Rgbc,
  saturationThreshold,
  type Tcs34725Gain,
} from "./settings.ts";
