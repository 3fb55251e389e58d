export { type ServoDriverHarness, servoDriverConformance } from "./conformance.ts";
export {
  createFakeSysfsPwm,
  type FakePwmChannelState,
  FakeSysfsPwm,
  type FakeSysfsPwmOptions,
  type PwmOutputChange,
} from "./fake-sysfs.ts";
export {
  Pca9685Emulator,
  type Pca9685EmulatorOptions,
  type Pca9685OutputChange,
} from "./pca9685-emulator.ts";
