export {
  createFakeSysfsPwm,
  type FakePwmChannelState,
  type FakePwmChip,
  FakeSysfsPwm,
  type FakeSysfsPwmOptions,
  type PwmOutputChange,
  RASPBERRY_PI_PWM_LAYOUTS,
} from "./fake-sysfs.ts";
export {
  Pca9685Emulator,
  type Pca9685EmulatorOptions,
  type Pca9685OutputChange,
} from "./pca9685-emulator.ts";
