export { checkDurationMs, type DelayOptions, delay, MAX_TIMER_MS, type OperationOptions } from "./abort.ts";
export { type Clock, systemClock } from "./clock.ts";
export {
  errorGuard,
  isSkittleError,
  ServiceError,
  type ServiceErrorDetails,
  SkittleError,
} from "./errors.ts";
export { type LogFields, type Logger, noopLogger } from "./logger.ts";
export { type JsonObject, mergePatch } from "./merge-patch.ts";
export {
  type EndableMqttClient,
  type EndMqttClientOptions,
  endMqttClient,
  type MqttEndpoint,
  type MqttEndpointOptions,
  type MqttTransport,
  packageUserAgent,
  resolveMqttEndpoint,
  type TrustedCa,
} from "./mqtt.ts";
export { abortable, type Deferred, deferred, type LinkedSignal, linkSignals } from "./signals.ts";
export { UNTRUSTED_CERTIFICATE_CODES } from "./tls.ts";
