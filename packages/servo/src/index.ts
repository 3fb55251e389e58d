export type { ServoDriver } from "./driver.ts";
export { isServoError, ServoError, type ServoErrorCode, type ServoErrorDetails } from "./errors.ts";
export {
  checkOscillatorHz,
  type EdgeTimer,
  type MeasureOscillatorOptions,
  measurePca9685Oscillator,
  type OscillatorMeasurement,
  oscillatorFromPeriod,
  oscillatorMeasurement,
  PCA9685_OSCILLATOR_RANGE_HZ,
} from "./oscillator.ts";
export {
  channelRegister,
  frequencyForPrescale,
  LED_FULL,
  MODE1,
  MODE2,
  openPca9685,
  oscillatorFromMeasurement,
  PCA9685_ADDRESS,
  PCA9685_OSCILLATOR_HZ,
  PCA9685_REG,
  Pca9685,
  type Pca9685Options,
  prescaleForFrequency,
  WAKE_DELAY_MS,
} from "./pca9685.ts";
export {
  angleToPulseUs,
  createServo,
  DEFAULT_SERVO_CALIBRATION,
  type MoveOptions,
  type MoveResult,
  pulseUsToAngle,
  Servo,
  type ServoCalibration,
  ServoMotion,
  type ServoOptions,
  servoCalibration,
  travelTimeMs,
} from "./servo.ts";
export {
  type FindPwmChipOptions,
  findPwmChip,
  listPwmChips,
  openSysfsPwm,
  type PwmChipInfo,
  RASPBERRY_PI_PWM_CONTROLLERS,
  type SysfsFs,
  SysfsPwm,
  type SysfsPwmOptions,
} from "./sysfs.ts";
